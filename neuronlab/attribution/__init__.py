"""Attribution on the live model: which neurons a prediction used (conductance, IG, ablation, TCAV, the concept bridge,
self-attention attribution with head importance, head pruning and the attribution tree).

Every method follows one verb, ``attribute(inputs, *, target, ...)``; hyper-parameters go to
``__init__``; results carry their convergence delta and their configuration. :data:`METHODS` is the
registry of methods (a :class:`~neuronlab.registry.Registry` of :class:`MethodEntry`: class, description,
paper, command-line parameters, the command that offers it and its short name there); an entry is
callable like its class (``METHODS["layer_conductance"](live, "layers.3")``).
"""
from .._lazy import lazy_names

__all__ = ["METHODS", "MethodEntry", "register_method", "LayerConductance", "NeuronConductance",
           "LayerIntegratedGradients", "LayerGradientXActivation", "NeuronAblation", "GreedyAblation",
           "ablation_effect", "ablation_values", "AttributionResult", "LayerSummary", "layer_summary", "RULES", "Rule",
           "get_rule", "register_rule", "ConceptBridge", "BridgeResult", "TCAV", "TCAVResult",
           "SelfAttentionAttribution", "HeadImportance", "HeadPruning", "HeadPruningResult", "head_importance",
           "prune_heads", "AttributionTree", "attribution_graph", "attribution_tree", "layer_interactions"]

# names load on first access: importing the package (e.g. the CLI reading METHODS) pulls no torch
_LAZY = {
    "NeuronAblation": "ablation", "ablation_effect": "ablation", "ablation_values": "ablation",
    "BridgeResult": "bridge", "ConceptBridge": "bridge", "AttributionTree": "attention_tree",
    "attribution_graph": "attention_tree", "attribution_tree": "attention_tree",
    "layer_interactions": "attention_tree", "GreedyAblation": "greedy_ablation", "HeadImportance": "head_pruning",
    "HeadPruning": "head_pruning", "HeadPruningResult": "head_pruning", "head_importance": "head_pruning",
    "prune_heads": "head_pruning", "LayerConductance": "layer_conductance",
    "LayerGradientXActivation": "layer_gradient_x_activation",
    "LayerIntegratedGradients": "layer_integrated_gradients", "METHODS": "methods", "MethodEntry": "methods",
    "register_method": "methods", "NeuronConductance": "neuron_conductance", "RULES": "quadrature",
    "Rule": "quadrature", "get_rule": "quadrature", "register_rule": "quadrature", "AttributionResult": "result",
    "SelfAttentionAttribution": "self_attention", "LayerSummary": "summary", "layer_summary": "summary",
    "TCAV": "tcav", "TCAVResult": "tcav",
}

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
