"""Multi-model neuron search and layer similarity (Bau et al. 2019; Raghu et al. 2017; Kornblith et al. 2019).

Several models run on the same corpus (stores with identical rows) are compared neuron by neuron
(``MaxCorr``, ``MinCorr``, ``LinReg``), direction by direction (``SVCCA``) or layer by layer
(``LinearCKA``). Every estimator is ``fit(Xs)`` with one activation matrix per model (or per site, for
CKA) and reads the rows once, in chunks. :data:`CROSSMODEL_METHODS` is the registry the CLI's
``neuronlab crossmodel --method`` offers; :func:`cross_model` runs one method on store files.

Importing this package does no work: names load on first access.
"""
from __future__ import annotations

import importlib

__all__ = ["MaxCorr", "MinCorr", "LinReg", "SVCCA", "LinearCKA", "joint_moments", "CROSSMODEL_METHODS",
           "cross_model", "open_aligned", "CrossModelResult"]

_LAZY = {
    "MaxCorr": "correlation", "MinCorr": "correlation", "LinReg": "linreg", "SVCCA": "svcca",
    "LinearCKA": "cka", "joint_moments": "moments", "CROSSMODEL_METHODS": "study", "cross_model": "study",
    "open_aligned": "stores", "CrossModelResult": "results",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
