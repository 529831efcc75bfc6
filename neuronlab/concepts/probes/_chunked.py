"""Row sources of :class:`~neuronlab.concepts.probes.linear.LinearProbe` that never hold the activation matrix.

The probe's objective is a sum over rows (:mod:`neuronlab.concepts.probes._objective`), so its value and gradient
are sums of the same terms over row chunks. A *row source* stands for ``X`` inside the solver and supplies

- ``shape`` and ``dtype`` (the working dtype: float32 for float16/float32 data, else float64);
- :meth:`column_moments` -- the standardisation statistics, one streamed pass;
- :meth:`terms` -- the data term, ``X^T G`` and the column sums of ``G`` at the current weights, one streamed pass;
- ``source[idx]`` -- the rows ``idx`` in memory (the warm-start subsample), when they fit the budget.

:class:`ChunkedRows` reads a lazy ``X`` (a :class:`~neuronlab.store.view.StoreView`, an h5py dataset, a memmap)
block by block in this process; :class:`neuronlab.scale.dask_probe.DaskRows` computes the same chunk terms on
the workers of a dask cluster. Chunks are multiples of the objective's block (2,048 rows) and of the moments'
block (8,192 rows) whenever the budget allows it: then every floating-point operation is the one the in-memory
fit makes, in the same order, and the streamed probe is the in-memory probe bit for bit.

References
----------
Dalvi, F. et al. (2019). What is one grain of sand in the desert? Analyzing individual neurons in deep NLP models. AAAI.
Andrew, G., Gao, J. (2007). Scalable training of L1-regularized log-linear models. ICML.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from neuronlab.concepts.probes._numerics import _BLOCK, _CHUNK
from neuronlab.concepts.probes._objective import accumulate_terms
from neuronlab.errors import InvalidParameterError

__all__ = ["ChunkedRows", "RowSource", "is_row_source", "chunk_rows_for_budget", "moments_of_blocks", "finish_moments",
           "check_block"]

GIB = float(1 << 30)
#: largest row chunk (rows); 64k float32 rows of 2,688 neurons are 0.7 GB
MAX_CHUNK_ROWS = 65536


def chunk_rows_for_budget(n_cols: int, budget_gb: float | None, *, itemsize: int = 4, copies: float = 3.0,
                          reserved_bytes: float = 0.0) -> int:
    """Rows per chunk so that ``copies`` chunks of ``n_cols`` columns fit the budget.

    Rounded down to a multiple of 8,192 (or of 2,048) rows when at least that many fit, so that the streamed sums
    are those of the in-memory pass; at most :data:`MAX_CHUNK_ROWS`.

    Raises
    ------
    InvalidParameterError
        If not even one row fits.
    """
    if budget_gb is None:
        return MAX_CHUNK_ROWS
    free = budget_gb * GIB - reserved_bytes
    rows = int(free // (copies * itemsize * max(n_cols, 1)))
    if rows < 1:
        need = (reserved_bytes + copies * itemsize * n_cols) / GIB
        raise InvalidParameterError(
            f"the memory budget of {budget_gb:g} GB cannot hold one row chunk of the probe (it needs at least "
            f"{need:.3g} GB); select fewer sites (sites=) or raise max_memory_gb=")
    rows = min(rows, MAX_CHUNK_ROWS)
    for unit in (_CHUNK, _BLOCK):
        if rows >= unit:
            return rows // unit * unit
    return rows


def moments_of_blocks(blocks: Iterator[np.ndarray], n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column sums and sums of squares (float64) of row blocks, each summed in sub-blocks of 8,192 rows.

    Returns ``(total, squares, n)`` with ``n`` a 0-d int array; :func:`finish_moments` turns them into means and
    deviations exactly as ``_column_moments`` does in memory.
    """
    total = np.zeros(n_cols)
    sq = np.zeros(n_cols)
    n = 0
    for block in blocks:
        for start in range(0, block.shape[0], _CHUNK):
            b = block[start:start + _CHUNK]
            total += b.sum(axis=0, dtype=np.float64)
            sq += np.einsum("ij,ij->j", b, b, dtype=np.float64)
        n += block.shape[0]
    return total, sq, np.asarray(n)


def finish_moments(total: np.ndarray, sq: np.ndarray, n: int, *, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Means and (root-mean-square) deviations from column sums, the formula of ``_column_moments``."""
    mean = total / n
    var = sq / n - (mean * mean if center else 0.0)
    return mean, np.sqrt(np.clip(var, 0.0, None))


def _working_dtype(dtype: Any) -> np.dtype:
    """float32 for float16/float32 data (as the in-memory probe), float64 otherwise."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype.kind == "f" and dtype.itemsize <= 4 else np.dtype(np.float64)


def check_block(block: np.ndarray, start: int) -> None:
    """Raise if a block of rows (starting at row ``start``) holds NaN or infinity."""
    if not np.isfinite(block).all():
        bad = np.argwhere(~np.isfinite(block))[0]
        raise InvalidParameterError(f"X contains NaN or infinity (first at row {start + int(bad[0])}, neuron "
                                    f"{int(bad[1])}); remove or impute those rows before probing.")


def check_rows_shape(X: Any) -> tuple[int, int]:
    """The shape of a non-empty 2-d ``X``."""
    shape = tuple(getattr(X, "shape", ()))
    if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
        raise InvalidParameterError(f"X must be a non-empty 2-d array of shape (n_rows, n_neurons); got shape {shape}")
    if np.dtype(X.dtype).kind not in "fiub":
        raise InvalidParameterError(f"X must hold real numbers; got dtype {X.dtype}")
    return int(shape[0]), int(shape[1])


class RowSource:
    """Base of the row sources: what :class:`~neuronlab.concepts.probes._objective.SmoothPart` and
    :class:`~neuronlab.concepts.probes.linear.LinearProbe` need from a matrix they may not hold."""

    shape: tuple[int, int]
    dtype: np.dtype
    budget_gb: float | None = None
    #: how the rows are read, recorded by the probe (``streamed_``)
    kind = "chunked"

    def column_moments(self, *, center: bool = True) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def terms(self, target: np.ndarray, row_weight: np.ndarray, Vr: np.ndarray, off: np.ndarray,
              m: int) -> tuple[float, np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def take(self, idx: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __getitem__(self, idx: Any) -> np.ndarray:
        """``X[idx]`` in memory for an array of sorted row indices (the warm-start subsample)."""
        return self.take(np.asarray(idx, dtype=np.int64))

    def fits(self, n_rows: int, *, copies: float = 2.5) -> bool:
        """Whether ``n_rows`` rows (working dtype, with work space) fit the budget."""
        if self.budget_gb is None:
            return True
        return n_rows * self.shape[1] * np.dtype(self.dtype).itemsize * copies <= self.budget_gb * GIB


def is_row_source(X: Any) -> bool:
    """True for a :class:`RowSource` (the probe then streams instead of loading ``X``)."""
    return isinstance(X, RowSource)


class ChunkedRows(RowSource):
    """A lazy ``X`` read in row chunks in this process: the probe's objective streamed from the store.

    Parameters
    ----------
    X : row-sliceable array-like of shape (n_rows, n_neurons)
        A store view, an h5py dataset, a memmap (``X[a:b]`` reads rows ``a:b``).
    chunk_rows : int, optional
        Rows per chunk; from ``budget_gb`` when omitted (:func:`chunk_rows_for_budget`).
    budget_gb : float, optional
        Memory the fit may use (GiB): it sizes the chunks and decides whether the warm-start subsample is
        read into memory.

    Examples
    --------
    >>> import numpy as np
    >>> from neuronlab.concepts.probes import LinearProbe
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)).astype(np.float32)
    >>> y = (X[:, 1] + rng.normal(size=300) > 0).astype(int)
    >>> a = LinearProbe(tol=1e-8).fit(X, y)
    >>> b = LinearProbe(tol=1e-8).fit(ChunkedRows(X, chunk_rows=64), y)
    >>> bool(np.allclose(a.coef_, b.coef_, atol=1e-4)), b.streamed_
    (True, 'chunked')
    """

    def __init__(self, X: Any, *, chunk_rows: int | None = None, budget_gb: float | None = None) -> None:
        n, d = check_rows_shape(X)
        self.X, self.shape = X, (n, d)
        self.dtype = _working_dtype(np.dtype(X.dtype))
        self.budget_gb = budget_gb
        if chunk_rows is None:
            chunk_rows = chunk_rows_for_budget(d, budget_gb, itemsize=self.dtype.itemsize)
        if int(chunk_rows) < 1:
            raise InvalidParameterError(f"chunk_rows must be an integer >= 1; got {chunk_rows!r}")
        self.chunk_rows = int(chunk_rows)
        self.passes = 0  # full passes over the rows so far (moments and terms)

    def blocks(self, rows: int | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(start, stop, block)`` over all rows in chunks of ``rows`` (default ``chunk_rows``), blocks finite
        and in the working dtype."""
        n, rows = self.shape[0], rows or self.chunk_rows
        self.passes += 1
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            block = np.asarray(self.X[start:stop], dtype=self.dtype)
            check_block(block, start)
            yield start, stop, block

    def column_moments(self, *, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Column means and deviations (``_column_moments``), one streamed pass."""
        # in chunks of whole 8,192-row blocks when they fit: the in-memory sums exactly
        rows = self.chunk_rows if self.chunk_rows % _CHUNK == 0 or not self.fits(_CHUNK, copies=3.0) else _CHUNK
        total, sq, n = moments_of_blocks((b for _, _, b in self.blocks(rows)), self.shape[1])
        return finish_moments(total, sq, int(n), center=center)

    def terms(self, target: np.ndarray, row_weight: np.ndarray, Vr: np.ndarray, off: np.ndarray,
              m: int) -> tuple[float, np.ndarray, np.ndarray]:
        """The data term and the gradient sums of all rows, chunk by chunk."""
        XtG = np.zeros((self.shape[1], m), dtype=np.float64)
        gsum = np.zeros(m, dtype=np.float64)
        data = 0.0
        for start, stop, block in self.blocks():
            data += accumulate_terms(block, target[start:stop], row_weight[start:stop], Vr, off, m, XtG, gsum)
        return data, XtG, gsum

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (sorted) in memory, read chunk by chunk."""
        out = np.empty((idx.size, self.shape[1]), dtype=self.dtype)
        bounds = np.searchsorted(idx, np.arange(0, self.shape[0] + self.chunk_rows, self.chunk_rows))
        for k, start in enumerate(range(0, self.shape[0], self.chunk_rows)):
            a, b = bounds[k], bounds[k + 1]
            if a < b:
                block = np.asarray(self.X[start:min(self.shape[0], start + self.chunk_rows)], dtype=self.dtype)
                out[a:b] = block[idx[a:b] - start]
        return out

    def __repr__(self) -> str:
        return f"<ChunkedRows shape={self.shape} chunk_rows={self.chunk_rows}>"
