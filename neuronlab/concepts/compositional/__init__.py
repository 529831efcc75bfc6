"""Compositional explanations of neurons (Mu & Andreas 2020): formulas of atomic concepts maximising IoU.

Importing the package does no work; the public names load on first access (PEP 562). No torch.
"""
from __future__ import annotations

import importlib

__all__ = ["Atoms", "Formula", "OPERATORS", "CompositionalExplainer", "CompositionalResult", "explain_neurons"]

_LAZY = {
    "Atoms": ".atoms", "Formula": ".formula", "OPERATORS": ".formula", "CompositionalExplainer": ".search",
    "CompositionalResult": ".result", "explain_neurons": ".result",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
