"""Per-neuron statistics streamed over row chunks and as dask map-reduce: moments, class statistics, correlation.

Every statistic here is a *mergeable summary*: a chunk of rows gives a partial summary, and two summaries merge
exactly (Chan, Golub & LeVeque 1979) without going back to the rows:

- :class:`Moments` -- per-neuron count, mean and centred sum of squares ``M2`` (variance ``M2 / n``);
- :class:`CoMoments` -- count, mean and centred cross-product matrix ``C = sum (x - mean)(x - mean)^T``, which
  gives the covariance and the Pearson correlation matrix between neurons;
- :func:`class_statistics` -- a :class:`CoMoments` per class: the Gaussian probe's sufficient statistics
  (class counts, means, scatter matrices; :func:`neuronlab.concepts.probes.gaussian.map_parameters_from_statistics`).

The merge of centred summaries (not raw sums of squares) keeps the variance accurate when the mean is large
compared with the spread (float16 activations with an offset). :func:`streamed` folds the chunks of a lazy ``X``
(a store view) one after the other under a memory budget; :func:`on_dask` maps the chunks of a dask array
(:func:`neuronlab.scale.dask_arrays.view_array`) on the workers and merges the partial summaries by a tree
reduction (``dask.delayed``). Quantile thresholds are :func:`neuronlab.concepts.rankers.streaming.streaming_quantile`
(streamed) and :func:`neuronlab.scale.dask_arrays.top_values` (dask).

References
----------
Chan, T. F., Golub, G. H., LeVeque, R. J. (1979). Updating formulae and a pairwise algorithm for computing sample
variances. Technical report STAN-CS-79-773, Stanford University.
Welford, B. P. (1962). Note on a method for calculating corrected sums of squares and products. Technometrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["Moments", "CoMoments", "moments_of", "comoments_of", "class_statistics_of", "streamed", "on_dask",
           "neuron_moments", "neuron_quantile", "correlation_matrix", "class_statistics"]


@dataclass
class Moments:
    """Per-neuron count ``n``, ``mean`` and centred sum of squares ``m2`` (float64)."""

    n: int
    mean: np.ndarray
    m2: np.ndarray

    def merge(self, other: "Moments") -> "Moments":
        """Chan et al.'s pairwise update: the summary of both sets of rows."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        m2 = self.m2 + other.m2 + delta * delta * (self.n * other.n / n)
        return Moments(n, mean, m2)

    @property
    def var(self) -> np.ndarray:
        """Population variance (``ddof=0``, as ``numpy.var``)."""
        return self.m2 / self.n


@dataclass
class CoMoments:
    """Count ``n``, ``mean`` (d,) and centred cross products ``c`` (d, d), float64."""

    n: int
    mean: np.ndarray
    c: np.ndarray

    def merge(self, other: "CoMoments") -> "CoMoments":
        """Chan et al.'s pairwise update of the co-moment matrix."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        c = self.c + other.c + np.outer(delta, delta) * (self.n * other.n / n)
        return CoMoments(n, mean, c)

    @property
    def covariance(self) -> np.ndarray:
        """Population covariance (``ddof=0``)."""
        return self.c / self.n

    def correlation(self) -> np.ndarray:
        """Pearson correlation matrix; a constant neuron correlates 0 with the others and 1 with itself."""
        sd = np.sqrt(np.clip(np.diagonal(self.c), 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = self.c / np.outer(sd, sd)
        r[~np.isfinite(r)] = 0.0
        np.fill_diagonal(r, 1.0)
        return np.clip(r, -1.0, 1.0)


def moments_of(block: np.ndarray) -> Moments:
    """The :class:`Moments` of one block of rows (two-pass within the block, float64)."""
    b = np.asarray(block, dtype=np.float64)
    if b.shape[0] == 0:
        return Moments(0, np.zeros(b.shape[1]), np.zeros(b.shape[1]))
    mean = b.mean(axis=0)
    centred = b - mean
    return Moments(b.shape[0], mean, np.einsum("ij,ij->j", centred, centred))


def comoments_of(block: np.ndarray) -> CoMoments:
    """The :class:`CoMoments` of one block of rows."""
    b = np.asarray(block, dtype=np.float64)
    if b.shape[0] == 0:
        return CoMoments(0, np.zeros(b.shape[1]), np.zeros((b.shape[1], b.shape[1])))
    mean = b.mean(axis=0)
    centred = b - mean
    return CoMoments(b.shape[0], mean, centred.T @ centred)


def class_statistics_of(block: np.ndarray, y: np.ndarray, n_classes: int) -> list[CoMoments]:
    """One :class:`CoMoments` per class ``0..n_classes-1`` of the rows of ``block`` labelled ``y``."""
    return [comoments_of(block[y == c]) for c in range(n_classes)]


def _merge_all(parts: list) -> Any:
    """Merge a list of summaries (or lists of summaries, one per class) in order."""
    out = parts[0]
    for p in parts[1:]:
        out = [a.merge(b) for a, b in zip(out, p)] if isinstance(out, list) else out.merge(p)
    return out


def streamed(summary: Callable[..., Any], X: Any, *, chunk_rows: int, y: np.ndarray | None = None) -> Any:
    """Fold ``summary`` over the row chunks of a lazy ``X`` (one pass; memory: one chunk and the summary).

    ``summary(block)``, or ``summary(block, y_block)`` when ``y`` is given.
    """
    from neuronlab.concepts.rankers.streaming import iter_rows

    out = None
    for start, stop, block in iter_rows(X, chunk_rows):
        part = summary(block) if y is None else summary(block, y[start:stop])
        out = part if out is None else _merge_all([out, part])
    return out


def on_dask(summary: Callable[..., Any], X: Any, *, y: np.ndarray | None = None, split_every: int = 8) -> Any:
    """Map ``summary`` over the row chunks of the dask array ``X`` on the workers and merge the partial summaries
    by a tree reduction (``split_every`` at a time); runs on the active scheduler."""
    import dask

    X = X.rechunk({1: -1})  # a row chunk holds every neuron
    blocks = list(X.to_delayed().ravel())
    bounds = np.cumsum((0,) + X.chunks[0])
    if y is None:
        parts = [dask.delayed(summary)(b) for b in blocks]
    else:
        parts = [dask.delayed(summary)(b, y[bounds[i]:bounds[i + 1]]) for i, b in enumerate(blocks)]
    while len(parts) > 1:
        parts = [dask.delayed(_merge_all)(parts[i:i + split_every]) for i in range(0, len(parts), split_every)]
    return dask.compute(parts[0])[0]


def _run(summary, X, chunk_rows, y=None):
    if hasattr(X, "dask"):
        return on_dask(summary, X, y=y)
    return streamed(summary, X, chunk_rows=chunk_rows, y=y)


def neuron_moments(X: Any, *, chunk_rows: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron mean and population variance of a lazy ``X`` (streamed) or a dask array (map-reduce).

    Examples
    --------
    >>> X = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 13.0]])
    >>> mean, var = neuron_moments(X, chunk_rows=2)
    >>> mean.tolist(), var.tolist()
    ([3.0, 11.0], [2.6666666666666665, 2.0])
    """
    m = _run(moments_of, X, chunk_rows)
    return m.mean, m.var


def neuron_quantile(X: Any, q: float, *, chunk_rows: int = 16384, budget_gb: float | None = None) -> np.ndarray:
    """Per-neuron ``numpy.quantile(X, q, axis=0)``, exactly: streamed
    (:func:`~neuronlab.concepts.rankers.streaming.streaming_quantile`) or on dask (the kept extreme values merged
    by :func:`~neuronlab.scale.dask_arrays.top_values`)."""
    if hasattr(X, "dask"):
        from neuronlab.scale.dask_arrays import _quantile_from_tops

        return _quantile_from_tops(X, float(q))
    from neuronlab.concepts.rankers.streaming import streaming_quantile

    return streaming_quantile(X, float(q), chunk_rows=chunk_rows, budget_gb=budget_gb)


def correlation_matrix(X: Any, *, chunk_rows: int = 16384) -> np.ndarray:
    """Pearson correlation between the neurons (columns) of ``X``, streamed or on dask (``numpy.corrcoef(X.T)``).

    In one process this is :class:`~neuronlab.concepts.redundancy.StreamingCorrelation` (its triangular BLAS
    accumulation); on dask the partial :class:`CoMoments` of the workers are merged.
    """
    if hasattr(X, "dask"):
        return on_dask(comoments_of, X).correlation()
    from neuronlab.concepts.redundancy.correlation import StreamingCorrelation

    return StreamingCorrelation(chunk_rows=chunk_rows).fit(X).correlation_


def class_statistics(X: Any, y: np.ndarray, n_classes: int, *, chunk_rows: int = 16384
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class counts, means and scatter matrices ``sum_{i in c} (x_i - mean_c)(x_i - mean_c)^T``, streamed or on dask.

    The sufficient statistics of the Gaussian probe (Torroba Hennigen et al. 2020).

    Returns
    -------
    counts : int64 ndarray of shape (n_classes,)
    means : ndarray of shape (n_classes, n_neurons)
    scatters : ndarray of shape (n_classes, n_neurons, n_neurons)
    """
    y = np.asarray(y, dtype=np.int64)
    stats = _run(lambda b, yb: class_statistics_of(b, yb, n_classes), X, chunk_rows, y=y)
    return (np.array([s.n for s in stats], dtype=np.int64), np.stack([s.mean for s in stats]),
            np.stack([s.c for s in stats]))
