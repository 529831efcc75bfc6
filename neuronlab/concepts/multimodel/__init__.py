"""Multi-model neuron search and layer similarity (Bau et al. 2019; Raghu et al. 2017; Kornblith et al. 2019).

Several models run on the same corpus (stores with identical rows) are compared neuron by neuron
(``MaxCorr``, ``MinCorr``, ``LinReg``), direction by direction (``SVCCA``) or layer by layer
(``LinearCKA``). Every estimator is ``fit(Xs)`` with one activation matrix per model (or per site, for
CKA) and reads the rows once, in chunks. :data:`CROSSMODEL_METHODS` is the registry the CLI's
``neuronlab crossmodel --method`` offers; :func:`cross_model` runs one method on store files.

Importing this package does no work: names load on first access.
"""
from __future__ import annotations

from neuronlab._lazy import lazy_names

__all__ = ["MaxCorr", "MinCorr", "LinReg", "SVCCA", "LinearCKA", "joint_moments", "CROSSMODEL_METHODS",
           "cross_model", "open_aligned", "CrossModelResult"]

_LAZY = {
    "MaxCorr": "correlation", "MinCorr": "correlation", "LinReg": "linreg", "SVCCA": "svcca",
    "LinearCKA": "cka", "joint_moments": "moments", "CROSSMODEL_METHODS": "study", "cross_model": "study",
    "open_aligned": "stores", "CrossModelResult": "results",
}

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
