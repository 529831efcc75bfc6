"""The typed result of a multi-model analysis (JSON report + arrays in the first store's /results)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuronlab.results import Result, array_field

__all__ = ["CrossModelResult"]


@dataclass
class CrossModelResult(Result):
    """Neuron rankings, shared directions or layer similarities across models.

    Attributes
    ----------
    method : str
        A key of :data:`~neuronlab.concepts.multimodel.study.CROSSMODEL_METHODS`.
    stores, models : list of str
        The store paths and their short labels, in the order given (the first is the model ranked).
    sites : list of str
        Sites compared (the columns of every model).
    n_rows : int
    ranking : list of str or None
        Neuron methods: every neuron id of the first model, best first.
    scores : list of float or None
        The method's score of each neuron of ``ranking`` (``|r|`` for MaxCorr/MinCorr, ``-max error`` for LinReg).
    top : list of dict or None
        Neuron methods: the first ``top_k`` neurons with their counterpart (MaxCorr/MinCorr: best-correlated
        neuron and ``r`` per other model) or their regression error per other model (LinReg).
    other_top : dict or None
        Neuron methods: label -> the top ``top_k`` neuron ids of every other model.
    pairs : list of dict or None
        SVCCA: per pair of models (first vs each other) the SVCCA similarity, the kept dimensions, the
        canonical correlations and the top directions with their largest-loading neurons.
    blocks : list of str or None
        CKA: ``model:site`` label of every row/column of ``similarity``.
    similarity : list of list of float or None
        CKA: block x block linear CKA; SVCCA: model x model mean canonical correlation.
    seconds : float
    config : dict
    result_path : str or None
    """

    kind = "crossmodel"

    method: str
    stores: list
    models: list
    sites: list
    n_rows: int
    seconds: float
    config: dict
    ranking: list | None = None
    scores: list | None = None
    top: list | None = None
    other_top: dict | None = None
    pairs: list | None = None
    blocks: list | None = None
    similarity: list | None = None
    result_path: str | None = None
    correlations: np.ndarray | None = array_field(default=None)

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.ranking is not None:
            out["ranking"] = np.array(list(self.ranking), dtype=object)
            out["scores"] = np.asarray(self.scores, dtype=np.float64)
        if self.similarity is not None:
            out["similarity"] = np.asarray(self.similarity, dtype=np.float64)
        if self.blocks is not None:
            out["blocks"] = np.array(list(self.blocks), dtype=object)
        if self.correlations is not None:
            out["correlations"] = np.asarray(self.correlations, dtype=np.float64)
        return out

    @classmethod
    def _from_parts(cls, report: dict, arrays: dict) -> "CrossModelResult":
        return super()._from_parts(report, {k: v for k, v in arrays.items() if k == "correlations"})
