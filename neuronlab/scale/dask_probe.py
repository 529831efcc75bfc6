"""Probes on dask: the linear probe's loss and gradient, and the Gaussian probe's statistics and greedy steps, per row
chunk on the workers (issue 13).

:class:`DaskRows` is a row source of :class:`~neuronlab.concepts.probes.linear.LinearProbe` (see
:mod:`neuronlab.concepts.probes._chunked`): the rows are read once, chunk by chunk, **on the workers** (each task
opens the store itself; an in-memory array is scattered) and stay in the cluster's memory. Every evaluation of the
objective then broadcasts the current weights, computes each chunk's data term, ``X^T G`` and ``sum G`` where the
chunk lives (:func:`~neuronlab.concepts.probes._objective.accumulate_terms`, the in-memory kernel), and sums the
partial results in chunk order in the client, inside the same OWL-QN solver. The result equals the single-process
fit up to the order of the float64 additions of the chunk sums.

The same chunks serve the Gaussian probe (:class:`~neuronlab.concepts.probes.gaussian.GaussianProbe`):
:meth:`DaskRows.reduce_chunks` merges the class statistics on the workers (a tree reduction) and
:meth:`DaskRows.map_chunks` computes each greedy step's per-candidate sums where the rows live.

Dask is the engine (``dask.distributed`` futures); nothing here schedules, retries or moves data itself.

References
----------
Dalvi, F. et al. (2019). What is one grain of sand in the desert? Analyzing individual neurons in deep NLP models. AAAI.
Andrew, G., Gao, J. (2007). Scalable training of L1-regularized log-linear models. ICML.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from neuronlab.concepts.probes._chunked import (RowSource, _working_dtype, check_block, check_rows_shape,
                                                finish_moments, moments_of_blocks)
from neuronlab.concepts.probes._numerics import _BLOCK, _CHUNK
from neuronlab.concepts.probes._objective import accumulate_terms

__all__ = ["DaskRows", "SOURCE_RANKERS", "default_chunk_rows"]

#: rankers whose ``fit`` takes a row source, so that ``--scheduler`` runs their probe on the cluster
SOURCE_RANKERS = ("linear", "gaussian")


def default_chunk_rows(n_cols: int, itemsize: int = 4, target_bytes: int = 64 << 20) -> int:
    """Rows per worker chunk: about ``target_bytes`` (64 MB), a multiple of 8,192 rows (or 2,048) when possible."""
    rows = max(1, target_bytes // max(1, n_cols * itemsize))
    for unit in (_CHUNK, _BLOCK):
        if rows >= unit:
            return rows // unit * unit
    return rows


# ---------------------------------------------------------------- tasks (run on the workers)
def _read_rows(path: str, sites: Sequence[str], rows: np.ndarray, start: int, dtype: str) -> np.ndarray:
    """Rows ``rows`` of ``sites`` (columns side by side) of the store at ``path``, in ``dtype``, checked finite."""
    import h5py

    from neuronlab.store.view import _read

    with h5py.File(path, "r") as f:
        contiguous = rows.size > 0 and bool(np.all(np.diff(rows) == 1))
        parts = []
        for s in sites:
            ds = f["sites"][s]
            parts.append(ds[int(rows[0]):int(rows[-1]) + 1] if contiguous else _read(ds, rows))
    block = np.ascontiguousarray(np.hstack(parts), dtype=dtype)
    check_block(block, start)
    return block


def _checked(block: np.ndarray, start: int, dtype: str) -> np.ndarray:
    block = np.ascontiguousarray(block, dtype=dtype)
    check_block(block, start)
    return block


def _moments(block: np.ndarray) -> tuple:
    return moments_of_blocks(iter([block]), block.shape[1])


def _terms(block: np.ndarray, target: np.ndarray, weight: np.ndarray, Vr: np.ndarray, off: np.ndarray,
           m: int) -> tuple:
    XtG = np.zeros((block.shape[1], m), dtype=np.float64)
    gsum = np.zeros(m, dtype=np.float64)
    data = accumulate_terms(block, target, weight, Vr, off, m, XtG, gsum)
    return data, XtG, gsum


def _take(block: np.ndarray, local: np.ndarray) -> np.ndarray:
    return block[local]


def _merge_parts(merge: Any, parts: list) -> Any:
    """Merge partial results in order (one node of the tree reduction of :meth:`DaskRows.reduce_chunks`)."""
    out = parts[0]
    for p in parts[1:]:
        out = merge(out, p)
    return out


# ---------------------------------------------------------------- the row source
class DaskRows(RowSource):
    """Rows of ``X`` held by the workers of a dask cluster, in chunks; the probe's objective as a map-reduce.

    Parameters
    ----------
    X : StoreView or ndarray of shape (n_rows, n_neurons)
        A view of a store (read by the workers from the file: they must see its path) or an array (scattered).
    client : distributed.Client
        The cluster (:func:`neuronlab.scale.dask_arrays.scheduler`).
    chunk_rows : int, optional
        Rows per chunk (default :func:`default_chunk_rows`, ~64 MB).
    budget_gb : float, optional
        Memory of the client process: decides whether the warm-start subsample is gathered.

    Examples
    --------
    >>> from neuronlab.scale.dask_arrays import scheduler
    >>> with scheduler("local:2") as client:                              # doctest: +SKIP
    ...     probe = LinearProbe().fit(DaskRows(store.view(), client), y)
    """

    kind = "dask"

    def __init__(self, X: Any, client: Any, *, chunk_rows: int | None = None, budget_gb: float | None = None) -> None:
        n, d = check_rows_shape(X)
        self.shape, self.client, self.budget_gb = (n, d), client, budget_gb
        self.dtype = _working_dtype(np.dtype(X.dtype))
        self.chunk_rows = int(chunk_rows or default_chunk_rows(d, self.dtype.itemsize))
        self.bounds = [(a, min(n, a + self.chunk_rows)) for a in range(0, n, self.chunk_rows)]
        dt = self.dtype.str
        if isinstance(X, np.ndarray):
            parts = client.scatter([X[a:b] for a, b in self.bounds], hash=False)
            self.chunks = [client.submit(_checked, p, a, dt) for p, (a, _) in zip(parts, self.bounds)]
        else:  # a store view: every worker reads its chunks from the file
            path = str(X.arrays[0]._ds.file.filename)
            self.chunks = [client.submit(_read_rows, path, list(X.sites), X.rows[a:b], a, dt)
                           for a, b in self.bounds]
        self._bound: dict = {}
        self.passes = 0

    def _gather(self, futures: list) -> list:
        self.passes += 1
        return self.client.gather(futures)  # errors of a task (NaN rows, unreadable file) are raised here

    def column_moments(self, *, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Column means and deviations: per-chunk sums on the workers, summed in chunk order."""
        parts = self._gather([self.client.submit(_moments, c) for c in self.chunks])
        total = np.zeros(self.shape[1])
        sq = np.zeros(self.shape[1])
        for t, q, _ in parts:
            total += t
            sq += q
        return finish_moments(total, sq, self.shape[0], center=center)

    def _targets(self, target: np.ndarray, row_weight: np.ndarray) -> tuple[list, list]:
        """The chunks of ``target`` and ``row_weight`` scattered once per fit (the control task has its own)."""
        key = (id(target), id(row_weight))
        if key not in self._bound:
            if len(self._bound) >= 2:
                self._bound.pop(next(iter(self._bound)))
            t = self.client.scatter([target[a:b] for a, b in self.bounds], hash=False)
            w = self.client.scatter([row_weight[a:b] for a, b in self.bounds], hash=False)
            self._bound[key] = (t, w, target, row_weight)  # the arrays are kept so that their ids stay theirs
        t, w, _, _ = self._bound[key]
        return t, w

    def terms(self, target: np.ndarray, row_weight: np.ndarray, Vr: np.ndarray, off: np.ndarray,
              m: int) -> tuple[float, np.ndarray, np.ndarray]:
        """Data term and gradient sums at ``(Vr, off)``: the weights broadcast, one task per chunk, summed here."""
        t, w = self._targets(target, row_weight)
        if Vr.nbytes * len(self.chunks) > (4 << 20):  # large weights: sent once to every worker
            Vr_f, off_f = self.client.scatter([Vr, off], broadcast=True, hash=False)
        else:  # small ones travel inside the tasks (no extra round trip)
            Vr_f, off_f = Vr, off
        parts = self._gather([self.client.submit(_terms, c, tc, wc, Vr_f, off_f, m, pure=False)
                              for c, tc, wc in zip(self.chunks, t, w)])
        XtG = np.zeros((self.shape[1], m), dtype=np.float64)
        gsum = np.zeros(m, dtype=np.float64)
        data = 0.0
        for dpart, x, g in parts:
            data += dpart
            XtG += x
            gsum += g
        return data, XtG, gsum

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (sorted) gathered from the workers."""
        futures = []
        for c, (a, b) in zip(self.chunks, self.bounds):
            lo, hi = np.searchsorted(idx, [a, b])
            if lo < hi:
                futures.append(self.client.submit(_take, c, idx[lo:hi] - a))
        parts = self.client.gather(futures)
        return np.concatenate(parts, axis=0) if parts else np.empty((0, self.shape[1]), dtype=self.dtype)

    def _labels(self, y: np.ndarray) -> list:
        """The chunks of ``y`` scattered once (kept while ``y`` is the same array)."""
        key = ("labels", id(y))
        if key not in self._bound:
            self._bound = {k: v for k, v in self._bound.items() if k[0] != "labels"}
            self._bound[key] = (self.client.scatter([y[a:b] for a, b in self.bounds], hash=False), y)
        return self._bound[key][0]

    def _broadcast(self, args: tuple) -> list:
        """Arguments of a map over the chunks: large arrays sent once to every worker, the others inline."""
        out = []
        for a in args:
            if isinstance(a, np.ndarray) and a.nbytes * len(self.chunks) > (4 << 20):
                a = self.client.scatter(a, broadcast=True, hash=False)
            out.append(a)
        return out

    def map_chunks(self, fn: Any, y: np.ndarray, *args: Any) -> list:
        """``fn(chunk, y_chunk, *args)`` on the worker that holds each chunk; the results in chunk order.

        The map step of the Gaussian probe's greedy selection
        (:func:`~neuronlab.concepts.probes.gaussian_greedy.chunk_criterion_sums`): only the neuron state travels,
        the rows stay where they are.
        """
        labels = self._labels(y)
        extra = self._broadcast(args)
        return self._gather([self.client.submit(fn, c, yc, *extra, pure=False) for c, yc in zip(self.chunks, labels)])

    def reduce_chunks(self, fn: Any, merge: Any, y: np.ndarray, *args: Any, split_every: int = 8) -> Any:
        """``fn`` over the chunks on the workers, merged there by a tree reduction (``split_every`` at a time);
        only the final summary comes back (e.g. the Gaussian probe's class statistics, merged as in
        :func:`neuronlab.concepts.probes.gaussian.merge_class_statistics`)."""
        labels = self._labels(y)
        extra = self._broadcast(args)
        parts = [self.client.submit(fn, c, yc, *extra, pure=False) for c, yc in zip(self.chunks, labels)]
        while len(parts) > 1:
            parts = [self.client.submit(_merge_parts, merge, parts[i:i + split_every], pure=False)
                     for i in range(0, len(parts), split_every)]
        return self._gather(parts)[0]

    def release(self) -> None:
        """Free the chunks held by the workers."""
        self.chunks, self._bound = [], {}

    def __repr__(self) -> str:
        return f"<DaskRows shape={self.shape} chunks={len(self.bounds)} of {self.chunk_rows} rows>"
