"""Attribution on the live model: which neurons a prediction used (conductance, IG, ablation, TCAV, the concept bridge).

Every method follows one verb, ``attribute(inputs, *, target, ...)``; hyper-parameters go to
``__init__``; results carry their convergence delta and their configuration. :data:`METHODS` is the
registry of methods (name -> class).
"""
from .ablation import NeuronAblation, ablation_effect, ablation_values
from .bridge import BridgeResult, ConceptBridge
from .greedy_ablation import GreedyAblation
from .layer_conductance import LayerConductance
from .layer_gradient_x_activation import LayerGradientXActivation
from .layer_integrated_gradients import LayerIntegratedGradients
from .neuron_conductance import NeuronConductance
from .quadrature import RULES, Rule, get_rule, register_rule
from .result import AttributionResult
from .summary import LayerSummary, layer_summary
from .tcav import TCAV, TCAVResult

#: name -> attribution class (each has ``attribute(inputs, *, target, ...)``)
METHODS = {cls.name: cls for cls in (LayerConductance, NeuronConductance, LayerIntegratedGradients,
                                     LayerGradientXActivation, NeuronAblation, GreedyAblation, ConceptBridge,
                                     TCAV)}

__all__ = ["METHODS", "LayerConductance", "NeuronConductance", "LayerIntegratedGradients", "LayerGradientXActivation",
           "NeuronAblation", "GreedyAblation", "ablation_effect", "ablation_values", "AttributionResult",
           "LayerSummary", "layer_summary", "RULES", "Rule", "get_rule", "register_rule", "ConceptBridge",
           "BridgeResult", "TCAV", "TCAVResult"]
