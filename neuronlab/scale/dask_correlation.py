"""Correlation clustering on dask: the scatter matrix as a map-reduce on the workers, the tree in the client (issue 13).

:class:`DaskCorrelationSource` wraps a dask array of activations (:func:`neuronlab.scale.dask_arrays.view_array`)
so that :class:`~neuronlab.concepts.redundancy.StreamingCorrelation`,
:class:`~neuronlab.concepts.redundancy.CorrelationClustering` and
:class:`~neuronlab.concepts.redundancy.GeneralRedundancy` take it in place of the rows: their
:func:`~neuronlab.concepts.redundancy.correlation.accumulate_scatter` asks it for the count, mean, centred scatter
matrix and per-neuron range of all rows. Each worker summarises its row chunks (count, mean, centred cross
products, minimum, maximum), the summaries merge by Chan, Golub & LeVeque's pairwise update in a tree reduction,
and only the ``n_neurons^2`` result comes back; the client turns it into correlations, condensed distances and
SciPy's linkage exactly as the streamed path does (one ``n^2`` buffer). Same clusters as one process (tested).

References
----------
Dalvi, F., Sajjad, H., Durrani, N., Belinkov, Y. (2020). Analyzing Redundancy in Pretrained Transformer Models. EMNLP.
Chan, T. F., Golub, G. H., LeVeque, R. J. (1979). Updating formulae and a pairwise algorithm for computing sample
variances. Technical report STAN-CS-79-773, Stanford University.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuronlab.scale.stats import CoMoments, comoments_of, on_dask

__all__ = ["DaskCorrelationSource", "RangedCoMoments"]


@dataclass
class RangedCoMoments:
    """:class:`~neuronlab.scale.stats.CoMoments` with each neuron's minimum and maximum (constant neurons)."""

    co: CoMoments
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def of(cls, block: np.ndarray) -> RangedCoMoments:
        """The summary of one block of rows (float64)."""
        b = np.asarray(block, dtype=np.float64)
        if b.shape[0] == 0:
            return cls(comoments_of(b), np.full(b.shape[1], np.inf), np.full(b.shape[1], -np.inf))
        return cls(comoments_of(b), b.min(axis=0), b.max(axis=0))

    def merge(self, other: RangedCoMoments) -> RangedCoMoments:
        """The summary of both sets of rows."""
        return RangedCoMoments(self.co.merge(other.co), np.minimum(self.lo, other.lo), np.maximum(self.hi, other.hi))


class DaskCorrelationSource:
    """A dask array of activations that the correlation estimators reduce on the cluster instead of reading.

    Parameters
    ----------
    X : dask.array.Array of shape (n_rows, n_neurons)
        E.g. :func:`neuronlab.scale.dask_arrays.view_array` (the workers read the store themselves).

    Examples
    --------
    >>> from neuronlab.concepts.redundancy import GeneralRedundancy
    >>> from neuronlab.scale.dask_arrays import scheduler, view_array
    >>> with scheduler("local:2"):                                              # doctest: +SKIP
    ...     GeneralRedundancy([0.3, 0.5]).fit(DaskCorrelationSource(view_array(store)))
    """

    def __init__(self, X: Any) -> None:
        self.X = X
        self.shape = tuple(int(s) for s in X.shape)
        self.dtype = np.dtype(X.dtype)
        self.ndim = 2

    def accumulate_scatter(self, *, out: np.ndarray | None = None, progress: bool = False
                           ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``n``, mean, centred scatter matrix (written into ``out``), minimum and maximum of every neuron, from
        the workers' merged summaries (runs on the active dask scheduler).

        The counterpart of :func:`neuronlab.concepts.redundancy.correlation.accumulate_scatter`; ``progress`` is
        ignored (dask's dashboard shows the tasks).
        """
        s = on_dask(RangedCoMoments.of, self.X)
        n = self.shape[1]
        if out is None:
            out = np.empty((n, n), dtype=np.float64)
        out[...] = s.co.c
        return int(s.co.n), s.co.mean, out, s.lo, s.hi

    def __repr__(self) -> str:
        return f"<DaskCorrelationSource shape={self.shape} chunks={len(self.X.chunks[0])}>"
