"""Redundancy of neurons and layers (Dalvi et al. 2020): streaming correlation, correlation clustering,
general and task-specific redundancy, LayerSelector and CCFS.

Works on an activation store alone (no torch). Importing the package does no work; the public names
load on first access (PEP 562).
"""
from __future__ import annotations

import importlib

__all__ = ["StreamingCorrelation", "plan_memory", "MemoryPlan", "CorrelationClustering", "GeneralRedundancy",
           "LayerSelector", "CCFS", "TaskRedundancy", "RedundancyResult"]

_LAZY = {
    "StreamingCorrelation": ".correlation", "plan_memory": ".correlation", "MemoryPlan": ".correlation",
    "CorrelationClustering": ".clustering", "GeneralRedundancy": ".clustering",
    "LayerSelector": ".layers", "CCFS": ".ccfs", "TaskRedundancy": ".ccfs",
    "RedundancyResult": ".results",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
