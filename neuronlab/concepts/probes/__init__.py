"""neuronlab.concepts.probes: linear probes, probe-based neuron rankings and control tasks."""
from neuronlab.concepts.probes.controls import ControlTask, selectivity
from neuronlab.concepts.probes.linear import LinearProbe
from neuronlab.concepts.probes.ranking import LinearProbeRanker, neuron_ordering, select_neurons, top_neurons_per_class

__all__ = [
    "LinearProbe",
    "LinearProbeRanker",
    "top_neurons_per_class",
    "neuron_ordering",
    "select_neurons",
    "ControlTask",
    "selectivity",
]
