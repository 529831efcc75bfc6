"""Joint first and second moments of the neurons of several models, accumulated over row chunks.

Every multi-model method (MaxCorr, MinCorr, LinReg, SVCCA, CKA) reads the models' activations only
through their joint covariance: one pass over the rows in chunks, so the activations never need to be
in memory at once; only the ``n_columns^2`` covariance is held (:func:`covariance_bytes` says how much).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from neuronlab.concepts.rankers.base import DEFAULT_CHUNK_ROWS, check_chunk, check_shape
from neuronlab.errors import InvalidParameterError

__all__ = ["JointMoments", "joint_moments", "covariance_bytes", "correlation"]


def covariance_bytes(n_columns: int) -> int:
    """Bytes of the float64 joint covariance of ``n_columns`` neurons (what :func:`joint_moments` holds)."""
    return 8 * int(n_columns) ** 2


class JointMoments:
    """Mean and (population, ``1/n``) covariance of the concatenated columns of several blocks.

    Attributes
    ----------
    n_rows : int
    mean : ndarray of shape (n_columns,)
    covariance : ndarray of shape (n_columns, n_columns)
    bounds : list of (start, stop)
        Columns of every block in the joint matrix.
    """

    def __init__(self, n_rows: int, mean: np.ndarray, covariance: np.ndarray, bounds: list[tuple[int, int]]):
        self.n_rows = n_rows
        self.mean = mean
        self.covariance = covariance
        self.bounds = bounds

    def cov(self, a: int, b: int) -> np.ndarray:
        """Covariance block between the columns of block ``a`` and block ``b``."""
        (a0, a1), (b0, b1) = self.bounds[a], self.bounds[b]
        return self.covariance[a0:a1, b0:b1]

    def std(self, a: int) -> np.ndarray:
        """Standard deviations of block ``a``'s columns; 0 for a column constant up to rounding."""
        a0, a1 = self.bounds[a]
        var = np.clip(np.diagonal(self.covariance)[a0:a1], 0.0, None)
        tiny = 1e-12 * (self.mean[a0:a1] ** 2 + var.max(initial=0.0)) + 1e-300
        return np.where(var > tiny, np.sqrt(var), 0.0)


def joint_moments(blocks: Sequence[Any], *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                  progress: Callable[[Any], Any] | None = None) -> JointMoments:
    """One pass over the rows of ``blocks`` (same rows, any widths): their joint mean and covariance.

    Sums are shifted by the first chunk's mean before they are accumulated (float64), so a large
    common offset does not cancel catastrophically.

    Parameters
    ----------
    blocks : sequence of array-like of shape (n_rows, width_b)
        Arrays, h5py datasets or store views with the same number of rows.
    chunk_rows : int
    progress : callable, optional
        Wraps the iterator of row chunks (e.g. ``tqdm``).

    Returns
    -------
    JointMoments

    Examples
    --------
    >>> a = np.array([[1.0], [2.0], [3.0]]); b = np.array([[2.0], [4.0], [7.0]])
    >>> m = joint_moments([a, b])
    >>> m.mean.tolist(), np.round(m.covariance, 4).tolist()
    ([2.0, 4.333333333333333], [[0.6667, 1.6667], [1.6667, 4.2222]])
    """
    if len(blocks) == 0:
        raise InvalidParameterError("give at least one block of activations")
    shapes = [check_shape(b if hasattr(b, "shape") else np.asarray(b)) for b in blocks]
    blocks = [b if hasattr(b, "shape") else np.asarray(b) for b in blocks]
    n_rows = shapes[0][0]
    for i, (n, _) in enumerate(shapes):
        if n != n_rows:
            raise InvalidParameterError(
                f"block {i} has {n} rows but block 0 has {n_rows}; every model must be run on the same rows")
    widths = [w for _, w in shapes]
    edges = np.concatenate([[0], np.cumsum(widths)]).astype(int)
    bounds = [(int(edges[i]), int(edges[i + 1])) for i in range(len(widths))]
    n_cols = int(edges[-1])
    shift = None
    s1 = np.zeros(n_cols)
    s2 = np.zeros((n_cols, n_cols))
    starts = range(0, n_rows, chunk_rows)
    for start in (starts if progress is None else progress(starts)):
        chunk = np.empty((min(chunk_rows, n_rows - start), n_cols))
        for b, (c0, c1) in zip(blocks, bounds):
            part = np.asarray(b[start:start + chunk_rows], dtype=np.float64)
            check_chunk(part, start)
            chunk[:, c0:c1] = part
        if shift is None:
            shift = chunk.mean(axis=0)
        chunk -= shift
        s1 += chunk.sum(axis=0)
        s2 += chunk.T @ chunk
    m = s1 / n_rows
    cov = s2 / n_rows - np.outer(m, m)
    cov = (cov + cov.T) / 2
    return JointMoments(n_rows, m + shift, cov, bounds)


def correlation(moments: JointMoments, a: int, b: int) -> np.ndarray:
    """Pearson correlation between the columns of block ``a`` and block ``b`` (0 where a column is constant)."""
    sa, sb = moments.std(a), moments.std(b)
    denom = np.outer(sa, sb)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(denom > 0, moments.cov(a, b) / denom, 0.0)
    return np.clip(r, -1.0, 1.0)
