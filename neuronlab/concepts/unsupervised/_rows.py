"""Reading rows of an array or a store view: shared by the unsupervised estimators (no torch)."""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from neuronlab.concepts.rankers.base import check_chunk, check_shape
from neuronlab.errors import InvalidParameterError

__all__ = ["shape_of", "read_rows", "iter_blocks", "subsample", "check_memory_need"]


def shape_of(X: Any) -> tuple[int, int]:
    """``(n_rows, n_neurons)`` of a non-empty 2-D array-like or store view (sparse/complex refused)."""
    if not hasattr(X, "shape"):
        X = np.asarray(X)
    return check_shape(X)


def read_rows(X: Any, rows: np.ndarray, dtype=np.float64) -> np.ndarray:
    """The given rows of ``X`` (sorted integer positions) as a finite float array."""
    rows = np.asarray(rows, dtype=np.int64)
    if hasattr(X, "_read_positions"):  # StoreView: one read per site
        out = X._read_positions(rows, dtype=dtype)
    else:
        out = np.asarray(X[rows] if rows.size else np.empty((0, X.shape[1])), dtype=dtype)
    check_chunk(out, 0)
    return out


def iter_blocks(X: Any, chunk_rows: int, dtype=np.float64) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(start, stop, block)`` over the rows of ``X``; blocks are finite (NaN/inf raise, naming the row)."""
    n_rows = X.shape[0]
    for start in range(0, n_rows, chunk_rows):
        block = np.asarray(X[start:start + chunk_rows], dtype=dtype)
        check_chunk(block, start)
        yield start, min(n_rows, start + chunk_rows), block


def subsample(n_rows: int, max_rows: int | None, random_state: Any) -> np.ndarray:
    """All row positions, or ``max_rows`` of them drawn without replacement (sorted)."""
    if max_rows is None or n_rows <= max_rows:
        return np.arange(n_rows, dtype=np.int64)
    rng = np.random.default_rng(_seed(random_state))
    return np.sort(rng.choice(n_rows, size=int(max_rows), replace=False)).astype(np.int64)


def _seed(random_state: Any) -> Any:
    """A seed for ``numpy.random.default_rng`` from an int, None or a ``RandomState``."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    return random_state


def check_memory_need(need_bytes: float, what: str, *, max_memory_gb: float | None) -> None:
    """Refuse work whose memory need exceeds ``max_memory_gb`` (or the available memory) before starting it."""
    if max_memory_gb is None:
        try:
            import os

            max_memory_gb = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1e9
        except (ValueError, OSError, AttributeError):  # pragma: no cover - platform without sysconf
            return
    if need_bytes / 1e9 > max_memory_gb:
        raise InvalidParameterError(
            f"{what} needs {need_bytes / 1e9:.2f} GB, more than the {max_memory_gb:.2f} GB allowed "
            "(max_memory_gb= or the available memory); lower max_rows= or max_per_type=")
