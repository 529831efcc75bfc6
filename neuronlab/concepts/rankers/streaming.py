"""Streaming building blocks of the rankers: row chunks, exact per-neuron quantiles, column blocks.

A ranker that streams reads its activations ``X`` (a :class:`~neuronlab.store.view.StoreView`, an h5py
dataset, a memmap or an array) only through these helpers, in blocks that fit a memory budget, so a store
larger than memory is ranked to the same result as in memory (issue 13):

- :func:`iter_rows` yields row blocks (``X[a:b]``) converted to the working dtype;
- :func:`streaming_quantile` is ``numpy.quantile(X, q, axis=0)`` (linear interpolation) computed exactly
  in one pass, keeping only the ``n - floor(q (n-1))`` largest (or smallest) values of every column;
- :func:`iter_column_blocks` yields all rows of a few columns at a time (one pass over the rows per block),
  for scores that need a whole column at once (average precision sorts it).
"""
from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from neuronlab.concepts.rankers.base import _working_dtype, check_chunk, check_shape
from neuronlab.errors import InvalidParameterError

__all__ = ["is_lazy", "rows_for_budget", "iter_rows", "quantile_plan", "keep_extremes", "quantile_from_extremes",
           "streaming_quantile", "iter_column_blocks", "GIB"]

GIB = float(1 << 30)


def is_lazy(X: Any) -> bool:
    """True for row-sliceable data that is not in memory (a store view, an h5py dataset).

    In-memory containers that also have a ``shape`` (numpy arrays, scipy sparse matrices, pandas frames) are not
    lazy: the rankers' input check converts them, or refuses them with its message (sparse input).
    """
    if isinstance(X, np.ndarray) or not hasattr(X, "shape"):
        return False
    if hasattr(X, "tocsr") or hasattr(X, "iloc") or type(X).__module__.startswith(("scipy.sparse", "pandas")):
        return False
    return True


def rows_for_budget(n_cols: int, budget_gb: float | None, *, copies: float = 3.0, itemsize: int = 8,
                    reserved_bytes: float = 0.0, cap: int = 16384) -> int:
    """Rows per block so that ``copies`` blocks of ``n_cols`` columns fit in the budget left after ``reserved_bytes``.

    Raises
    ------
    InvalidParameterError
        If not even one row fits.
    """
    if budget_gb is None:
        return cap
    free = budget_gb * GIB - reserved_bytes
    rows = int(free // (copies * itemsize * max(n_cols, 1)))
    if rows < 1:
        need = (reserved_bytes + copies * itemsize * n_cols) / GIB
        raise InvalidParameterError(
            f"the memory budget of {budget_gb:g} GB cannot hold this computation (it needs at least {need:.3g} GB); "
            "select fewer sites (sites=) or raise max_memory_gb= on a bigger machine")
    return max(1, min(cap, rows))


def iter_rows(X: Any, chunk_rows: int, dtype: Any = None) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, block)`` over the rows of ``X``; blocks are finite, in ``dtype`` (default: the
    working dtype, float32 for float16/32 data, else float64)."""
    n_rows, _ = check_shape(X)
    dtype = _working_dtype(np.dtype(X.dtype)) if dtype is None else np.dtype(dtype)
    for start in range(0, n_rows, chunk_rows):
        stop = min(n_rows, start + chunk_rows)
        block = np.asarray(X[start:stop], dtype=dtype)
        check_chunk(block, start)
        yield start, stop, block


def quantile_plan(n_rows: int, q: float) -> tuple[int, bool]:
    """How many extreme values per column an exact ``q`` quantile of ``n_rows`` rows needs: ``(keep, top)``.

    The linear quantile interpolates between the order statistics ``lo = floor(q (n - 1))`` and ``lo + 1``. For
    ``q >= 0.5`` the ``n - lo`` largest values contain both (``top``); otherwise the ``lo + 2`` smallest.
    """
    lo = int(math.floor((n_rows - 1) * q))
    return (n_rows - lo, True) if q >= 0.5 else (min(n_rows, lo + 2), False)


def keep_extremes(block: np.ndarray, keep: int, top: bool) -> np.ndarray:
    """The ``keep`` largest (``top``) or smallest values of every column of ``block`` (unordered)."""
    if block.shape[0] <= keep:
        return block
    if top:
        block = np.partition(block, block.shape[0] - keep, axis=0)
        return block[block.shape[0] - keep:]
    return np.partition(block, keep - 1, axis=0)[:keep]


def quantile_from_extremes(buf: np.ndarray, n_rows: int, q: float) -> np.ndarray:
    """``numpy.quantile(X, q, axis=0)`` from the extreme values :func:`quantile_plan` says to keep.

    numpy's own interpolation is applied to the two order statistics, so the result is bit-identical.
    """
    h = (n_rows - 1) * q
    lo = int(math.floor(h))
    buf = np.sort(buf, axis=0)
    first = 0 if q >= 0.5 else lo  # ascending position of the order statistic lo inside the buffer
    pair = np.stack([buf[first], buf[min(first + 1, buf.shape[0] - 1)]])
    return np.asarray(np.quantile(pair, float(h - lo), axis=0))


def streaming_quantile(X: Any, q: float, *, chunk_rows: int, budget_gb: float | None = None) -> np.ndarray:
    """Per-column ``numpy.quantile(X, q, axis=0)`` (method ``linear``) in one streamed pass, exactly.

    Only the extreme values :func:`quantile_plan` names are kept, an ``(keep, n_columns)`` buffer into which
    each row block is merged with ``numpy.partition`` (:func:`keep_extremes`); the interpolation is numpy's
    own (:func:`quantile_from_extremes`), so the result is bit-identical to the in-memory call.

    Raises
    ------
    InvalidParameterError
        If the buffer does not fit ``budget_gb``.
    """
    n_rows, n_cols = check_shape(X)
    dtype = _working_dtype(np.dtype(X.dtype))
    keep, top = quantile_plan(n_rows, q)
    need = (keep + chunk_rows) * n_cols * np.dtype(dtype).itemsize * 2
    if budget_gb is not None and need > budget_gb * GIB:
        raise InvalidParameterError(
            f"an exact {q} quantile of {n_rows} rows keeps {keep} values per neuron ({need / GIB:.3g} GB with work "
            f"space) but the budget is {budget_gb:g} GB; give a fixed threshold= instead, or raise max_memory_gb=")
    buf = np.empty((0, n_cols), dtype=dtype)
    for _, _, block in iter_rows(X, chunk_rows, dtype):
        buf = keep_extremes(np.concatenate([buf, block], axis=0), keep, top)
    return quantile_from_extremes(buf, n_rows, q)


def iter_column_blocks(X: Any, block_cols: int, *, chunk_rows: int,
                       dtype: Any = None) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(c0, c1, columns)`` with all rows of columns ``c0:c1`` (one pass over the rows per block)."""
    n_rows, n_cols = check_shape(X)
    dtype = _working_dtype(np.dtype(X.dtype)) if dtype is None else np.dtype(dtype)
    if not is_lazy(X):
        for c0 in range(0, n_cols, block_cols):
            c1 = min(n_cols, c0 + block_cols)
            yield c0, c1, np.asarray(X[:, c0:c1], dtype=dtype)
        return
    for c0 in range(0, n_cols, block_cols):
        c1 = min(n_cols, c0 + block_cols)
        out = np.empty((n_rows, c1 - c0), dtype=dtype)
        for start, stop, block in iter_rows(X, chunk_rows, dtype):
            out[start:stop] = block[:, c0:c1]
        yield c0, c1, out
