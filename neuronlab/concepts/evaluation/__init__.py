"""neuronlab.concepts.evaluation: ablation curves, retraining, minimal subsets, layer-wise views."""
from neuronlab.concepts.evaluation.ablation import AblationCurve, ablation_curve, masked_accuracy, retrain_accuracy
from neuronlab.concepts.evaluation.layerwise import layer_distribution, layerwise_accuracy, site_of
from neuronlab.concepts.evaluation.minimal import MinimalSubset, minimal_neuron_subset

__all__ = [
    "AblationCurve",
    "ablation_curve",
    "masked_accuracy",
    "retrain_accuracy",
    "MinimalSubset",
    "minimal_neuron_subset",
    "layer_distribution",
    "layerwise_accuracy",
    "site_of",
]
