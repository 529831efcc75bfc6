"""Results of the unsupervised methods (the :class:`neuronlab.results.Result` protocol).

Fields are the JSON report (the CLI's ``--json`` output), ``array_field`` fields go into the store only:
``to_store(store, name)`` writes them under ``/results/<name>`` with the configuration and
``from_store(store, name)`` reads the whole result back (a later report plots the coordinates and
lists the components and clusters from there).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuronlab.results import Result, array_field

__all__ = ["NMFResult", "UMAPResult", "LatentConceptsResult"]


def _strings(values) -> np.ndarray:
    return np.array([str(v) for v in values], dtype=object)


def _decode(values) -> list:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(values).tolist()]


@dataclass
class NMFResult(Result):
    """Neuron groups found by NMF (:class:`~neuronlab.concepts.unsupervised.nmf.ActivationNMF`).

    ``components`` lists, per component, its share of the activation mass, its top neurons (ids and
    loadings) and its top tokens (row, word, sentence context, weight); with a concept, the concept's
    classes among the top tokens. Stored arrays: ``loadings`` (components x neurons), ``neuron_groups``,
    ``top_rows`` and the column ``neuron_ids``.
    """

    kind = "nmf"

    method: str
    store: str
    site: str
    concept: str | None
    n_rows: int
    n_neurons: int
    n_components: int
    reconstruction_err: float
    relative_err: float
    n_iter: int
    components: list
    seconds: float
    config: dict
    result_path: str | None = None
    loadings: np.ndarray = array_field(default=None)
    neuron_groups: np.ndarray = array_field(default=None)
    top_rows: np.ndarray = array_field(default=None)
    neuron_ids: list = array_field(default=None)

    def arrays(self) -> dict:
        return {"loadings": np.asarray(self.loadings, dtype=np.float32), "neuron_groups": self.neuron_groups,
                "top_rows": self.top_rows, "neuron_ids": _strings(self.neuron_ids)}

    @classmethod
    def _from_parts(cls, report: dict, arrays: dict) -> "NMFResult":
        if arrays.get("neuron_ids") is not None:
            arrays["neuron_ids"] = _decode(arrays["neuron_ids"])
        return super()._from_parts(report, arrays)


@dataclass
class UMAPResult(Result):
    """A UMAP map of neurons or tokens: coordinates to plot, with what each point is and its colour.

    Stored arrays: ``coordinates`` (points x n_components), ``points`` (neuron ids, or the rows of the
    tokens), ``tokens`` (the word of each token point; empty for neurons) and ``labels`` (the concept
    class of each point, ``""`` where there is none; for neurons, the class whose mean activation is
    highest).
    """

    kind = "umap"

    method: str
    store: str
    site: str
    of: str
    concept: str | None
    n_points: int
    n_profile_rows: int
    classes: list
    seconds: float
    config: dict
    result_path: str | None = None
    coordinates: np.ndarray = array_field(default=None)
    points: list = array_field(default=None)
    tokens: list = array_field(default=None)
    labels: list = array_field(default=None)

    def arrays(self) -> dict:
        return {"coordinates": np.asarray(self.coordinates, dtype=np.float32), "points": _strings(self.points),
                "tokens": _strings(self.tokens), "labels": _strings(self.labels)}

    @classmethod
    def _from_parts(cls, report: dict, arrays: dict) -> "UMAPResult":
        for key in ("points", "tokens", "labels"):
            if arrays.get(key) is not None:
                arrays[key] = _decode(arrays[key])
        return super()._from_parts(report, arrays)


@dataclass
class LatentConceptsResult(Result):
    """Latent concepts of a site (Dalvi et al. 2022) and, with a gold concept, how well they match it.

    ``evaluation`` holds B-cubed precision/recall/F1, the mean NPMI of each cluster with its majority
    label, the clusters aligned at 90%, and the held-out accuracy of the cluster-id classifier against the
    majority baseline (``protocol`` says exactly how it was computed). ``clusters`` lists every cluster:
    size, most frequent words, and with a concept its majority class, purity and NPMI. Stored arrays:
    ``rows`` (store rows clustered), ``labels`` (their clusters), ``centers`` and ``neuron_ids``.
    """

    kind = "latent_concepts"

    method: str
    store: str
    site: str
    concept: str | None
    n_rows: int
    n_clustered: int
    n_clusters: int
    evaluation: dict | None
    clusters: list
    seconds: float
    config: dict
    result_path: str | None = None
    rows: np.ndarray = array_field(default=None)
    labels: np.ndarray = array_field(default=None)
    centers: np.ndarray = array_field(default=None)
    neuron_ids: list = array_field(default=None)

    def arrays(self) -> dict:
        return {"rows": self.rows, "labels": self.labels, "centers": np.asarray(self.centers, dtype=np.float32),
                "neuron_ids": _strings(self.neuron_ids)}

    @classmethod
    def _from_parts(cls, report: dict, arrays: dict) -> "LatentConceptsResult":
        if arrays.get("neuron_ids") is not None:
            arrays["neuron_ids"] = _decode(arrays["neuron_ids"])
        return super()._from_parts(report, arrays)
