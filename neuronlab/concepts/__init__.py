"""Concept analysis: which neurons encode a concept (probes, rankers, controls, evaluation).

Works on an activation store alone: nothing here imports torch. Importing the package does no
work; the public names below are loaded on first access (PEP 562).

Imports flow one way: ``validation`` <- ``probes`` <- ``rankers`` <- ``evaluation`` <- ``study``
(the driver of a probing study), with ``data`` (store -> X, y) and ``results`` beside them.
"""
from __future__ import annotations

import importlib

__all__ = ["ConceptData", "load_concept", "split_by_sentence", "align_classes", "LinearProbe", "LinearProbeRanker",
           "ControlTask", "selectivity", "RANKERS", "ProbeResult", "RankingResult"]

_LAZY = {
    "ConceptData": ".data", "load_concept": ".data", "split_by_sentence": ".data", "align_classes": ".data",
    "LinearProbe": ".probes", "ControlTask": ".probes", "selectivity": ".probes",
    "LinearProbeRanker": ".rankers", "RANKERS": ".rankers",
    "ProbeResult": ".results", "RankingResult": ".results",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
