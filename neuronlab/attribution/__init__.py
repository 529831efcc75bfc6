"""Attribution on the live model: which neurons a prediction used (conductance, IG, ablation, TCAV, the concept bridge,
self-attention attribution with head importance, head pruning and the attribution tree).

Every method follows one verb, ``attribute(inputs, *, target, ...)``; hyper-parameters go to
``__init__``; results carry their convergence delta and their configuration. :data:`METHODS` is the
registry of methods (a :class:`~neuronlab.registry.Registry` of :class:`MethodEntry`: class, description,
paper, command-line parameters, the command that offers it and its short name there); an entry is
callable like its class (``METHODS["layer_conductance"](live, "layers.3")``).
"""
from .ablation import NeuronAblation, ablation_effect, ablation_values
from .bridge import BridgeResult, ConceptBridge
from .attention_tree import AttributionTree, attribution_graph, attribution_tree, layer_interactions
from .greedy_ablation import GreedyAblation
from .head_pruning import HeadImportance, HeadPruning, HeadPruningResult, head_importance, prune_heads
from .layer_conductance import LayerConductance
from .layer_gradient_x_activation import LayerGradientXActivation
from .layer_integrated_gradients import LayerIntegratedGradients
from .methods import METHODS, MethodEntry, register_method
from .neuron_conductance import NeuronConductance
from .quadrature import RULES, Rule, get_rule, register_rule
from .result import AttributionResult
from .self_attention import SelfAttentionAttribution
from .summary import LayerSummary, layer_summary
from .tcav import TCAV, TCAVResult

__all__ = ["METHODS", "MethodEntry", "register_method", "LayerConductance", "NeuronConductance",
           "LayerIntegratedGradients", "LayerGradientXActivation", "NeuronAblation", "GreedyAblation",
           "ablation_effect", "ablation_values", "AttributionResult", "LayerSummary", "layer_summary", "RULES", "Rule",
           "get_rule", "register_rule", "ConceptBridge", "BridgeResult", "TCAV", "TCAVResult",
           "SelfAttentionAttribution", "HeadImportance", "HeadPruning", "HeadPruningResult", "head_importance",
           "prune_heads", "AttributionTree", "attribution_graph", "attribution_tree", "layer_interactions"]
