"""neuronlab.concepts.probes: linear probes and control tasks.

The neuron ranking read off a probe's weights is the ``linear`` ranker
(:mod:`neuronlab.concepts.rankers.linear`); imports flow from rankers to probes, never back.
"""
from neuronlab.concepts.probes.controls import ControlTask, selectivity
from neuronlab.concepts.probes.linear import LinearProbe

__all__ = [
    "LinearProbe",
    "ControlTask",
    "selectivity",
]
