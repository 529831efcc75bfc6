"""Reading rows of an array or a store view: shared by the unsupervised estimators (no torch)."""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from neuronlab.concepts.rankers.base import check_chunk, check_shape
from neuronlab.concepts.validation import check_not_sparse_or_complex
from neuronlab.errors import InvalidParameterError

__all__ = ["as_rows", "read_rows", "iter_blocks", "subsample", "seed_of", "check_memory_need", "check_n_features"]


def as_rows(X: Any) -> tuple[Any, int, int]:
    """``X`` as something row-sliceable (arrays, h5py datasets and store views as they are; lists converted)
    with its ``(n_rows, n_neurons)``; empty, non-2-D, sparse and complex inputs are refused."""
    check_not_sparse_or_complex(X)
    if not hasattr(X, "shape") or not hasattr(X, "__getitem__"):
        X = np.asarray(X)
    n_rows, n_neurons = check_shape(X)
    return X, n_rows, n_neurons


def check_n_features(estimator: Any, n_neurons: int) -> None:
    """The error scikit-learn's convention asks for when X has other columns than at ``fit``."""
    if n_neurons != estimator.n_features_in_:
        raise InvalidParameterError(
            f"X has {n_neurons} features, but {type(estimator).__name__} is expecting {estimator.n_features_in_} "
            "features as input (the neurons it was fitted on)")


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
    rng = np.random.default_rng(seed_of(random_state))
    return np.sort(rng.choice(n_rows, size=int(max_rows), replace=False)).astype(np.int64)


def seed_of(random_state: Any) -> Any:
    """A seed for ``numpy.random.default_rng`` from an int, None or a ``RandomState``."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    return random_state


def check_memory_need(need_bytes: float, what: str, *, max_memory_gb: float | None,
                      hint: str = "lower max_rows= or max_per_type=") -> None:
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
            f"(max_memory_gb= or the available memory); {hint}")
