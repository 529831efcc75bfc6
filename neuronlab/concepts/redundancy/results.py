"""The result of a redundancy study (:func:`~neuronlab.concepts.redundancy.study.redundancy_study`).

Follows the :class:`neuronlab.results.Result` protocol: the fields are the JSON report (the CLI's ``--json``),
``to_store(store, name)`` writes the arrays under ``/results/<name>`` and ``from_store`` reads it back.

Examples
--------
>>> import numpy as np
>>> r = RedundancyResult(store="run.h5", sites=["layers.0"], n_rows=10, n_neurons=2, memory={}, general=[],
...                      constant_neurons=[], concept=None, ccfs=None, task=None, seconds=0.1, config={},
...                      neuron_ids=["layers.0:0", "layers.0:1"], thresholds=[0.5],
...                      labels=np.zeros((1, 2), dtype=np.int32), kept=np.ones((1, 2), dtype=np.uint8))
>>> sorted(r.arrays())
['kept', 'labels', 'neuron_ids', 'thresholds']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuronlab.results import Result, array_field

__all__ = ["RedundancyResult"]


@dataclass
class RedundancyResult(Result):
    """General redundancy at several thresholds and, for a concept, CCFS and task-specific redundancy.

    Attributes
    ----------
    store : str
    sites : list of str
    n_rows, n_neurons : int
        Rows and neurons the correlation was computed over.
    memory : dict
        ``matrix_gb``, ``chunk_rows``, ``chunk_gb``, ``budget_gb``, ``text``: what the correlation held.
    general : list of dict
        Per threshold: ``threshold``, ``n_clusters``, ``removable_fraction``, ``kept_per_site`` (site ->
        neurons kept).
    constant_neurons : list of str
        Neuron ids that never change over the rows (correlation 0 with every other neuron).
    concept : str or None
    ccfs : dict or None
        LayerSelector, clustering and selection counts, the kept neuron ids, and the test accuracy of the
        probe on the kept neurons against the all-neuron oracle.
    task : dict or None
        Task-specific redundancy (minimal top-k over every neuron).
    seconds : float
    config : dict
    neuron_ids : list of str
        Column order of ``labels`` and ``kept`` (stored, not in the JSON).
    thresholds : list of float
    labels : int32 ndarray of shape (n_thresholds, n_neurons)
        Cluster of each neuron at each threshold (stored).
    kept : uint8 ndarray of shape (n_thresholds, n_neurons)
        1 for the cluster representatives (stored).
    result_path : str or None
    """

    kind = "redundancy"

    store: str
    sites: list
    n_rows: int
    n_neurons: int
    memory: dict
    general: list
    constant_neurons: list
    concept: Any
    ccfs: Any
    task: Any
    seconds: float
    config: dict
    thresholds: list
    result_path: Any = None
    neuron_ids: Any = array_field(default=None)
    labels: Any = array_field(default=None)
    kept: Any = array_field(default=None)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "neuron_ids": np.array(list(self.neuron_ids), dtype=object),
            "thresholds": np.asarray(self.thresholds, dtype=np.float64),
            "labels": np.asarray(self.labels, dtype=np.int32),
            "kept": np.asarray(self.kept, dtype=np.uint8),
        }

    @classmethod
    def _from_parts(cls, report: dict, arrays: dict) -> "RedundancyResult":
        ids = arrays.get("neuron_ids")
        if ids is not None:
            arrays = dict(arrays, neuron_ids=[i.decode("utf-8") if isinstance(i, bytes) else str(i) for i in ids])
        return super()._from_parts(report, arrays)
