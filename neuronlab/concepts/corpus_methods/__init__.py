"""Corpus methods: what a neuron responds to in the corpus of a store (top contexts, top n-grams). No torch.

Importing the package does no work; the public names load on first access (PEP 562). The model-side methods
(concept alignment with replicated sentences, Gumbel-softmax generation) are in
:mod:`neuronlab.models.generation`.
"""
from __future__ import annotations

import importlib

__all__ = ["read_neurons", "resolve_neurons", "top_contexts", "top_ngrams", "ContextsResult", "NgramsResult",
           "describe_contexts"]

_LAZY = {
    "read_neurons": ".columns", "resolve_neurons": ".columns", "top_contexts": ".contexts", "top_ngrams": ".ngrams",
    "ContextsResult": ".result", "NgramsResult": ".result", "describe_contexts": ".result",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
