"""Concept analysis: which neurons encode a concept (probes, rankers, controls, evaluation).

Works on an activation store alone: nothing here imports torch.
"""
from .data import ConceptData, align_classes, load_concept, split_by_sentence
from .probes import ControlTask, LinearProbe, selectivity
from .rankers import RANKERS, LinearProbeRanker

__all__ = ["ConceptData", "load_concept", "split_by_sentence", "align_classes", "LinearProbe", "LinearProbeRanker",
           "ControlTask", "selectivity", "RANKERS"]
