"""Numerical helpers of :class:`~neuronlab.concepts.probes.linear.LinearProbe`: column moments, the L2 penalties in
both parametrisations, and the optimality test of ``W = 0`` for NeuroX's unsquared norm."""
from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

#: rows per block when a pass over X is chunked
_CHUNK = 8192


def _generator(random_state: Any) -> np.random.Generator:
    """A numpy Generator from an int / None (``default_rng(seed)``) or a RandomState instance."""
    if random_state is None or isinstance(random_state, Integral):
        return np.random.default_rng(random_state)
    return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))


#: rows per block of the fused loss + gradient pass (a block of 2,688 float32 neurons is ~22 MB)
_BLOCK = 2048


def _column_moments(X: np.ndarray, *, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Column means and (root-mean-square) deviations, chunked; zero deviations become 1.

    With ``center=False`` the second value is the root mean square of the raw columns.
    """
    n = X.shape[0]
    total = np.zeros(X.shape[1])
    sq = np.zeros(X.shape[1])
    for start in range(0, n, _CHUNK):
        block = X[start:start + _CHUNK]
        total += block.sum(axis=0, dtype=np.float64)
        sq += np.einsum("ij,ij->j", block, block, dtype=np.float64)
    mean = total / n
    var = sq / n - (mean * mean if center else 0.0)
    std = np.sqrt(np.clip(var, 0.0, None))
    return mean, std


def _constant_columns(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Columns whose spread is negligible: below float64 cancellation noise, or a millionth of the typical spread.

    Such a column (a dead neuron, or one that only flips between two adjacent float16 values) carries no
    usable signal, and rescaling it to unit variance would make the penalty on it astronomically stiff.
    """
    floor = 1e-12 * max(1.0, float(np.abs(mean).max(initial=0.0)))
    live = std[std > floor]
    typical = float(np.median(live)) if live.size else 0.0
    return (std <= floor) | (std < 1e-6 * typical)


def _squared_l2(V: np.ndarray, w2: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    """glmnet / scikit-learn: ``l2 * sum(w2 * V**2)`` and its gradient."""
    return l2 * float(np.sum(w2 * V * V)), 2.0 * l2 * w2 * V


def _norm_l2(V: np.ndarray, w2: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    """NeuroX: ``l2 * sqrt(sum(w2 * V**2))`` (the unsquared Frobenius norm of the penalised weights) and its
    gradient; at ``V = 0``, where the norm has no gradient, the zero subgradient (see :func:`_zero_is_optimal`)."""
    norm = float(np.sqrt(np.sum(w2 * V * V)))
    if norm == 0.0 or l2 == 0.0:
        return 0.0, np.zeros_like(V)
    return l2 * norm, (l2 / norm) * w2 * V


#: penalty form -> the L2 term of the smooth part (value, gradient with respect to V)
_PENALTY_L2 = {"neurox": _norm_l2, "glmnet": _squared_l2}


def _zero_is_optimal(fun, grad, theta0: np.ndarray, pen1: np.ndarray, w2: np.ndarray, l2: float, nw: int) -> bool:
    """Whether ``W = 0`` (with the intercept of ``theta0``, optimal for zero weights) minimises
    ``data(W) + sum pen1 |V| + l2 sqrt(sum w2 V^2)``.

    The optimality condition at 0 is ``-g in pen1 * [-1, 1] + l2 * {sqrt(w2) * u : ||u|| <= 1}``, with ``g`` the
    data gradient; the smallest weighted norm of ``g`` plus an L1 subgradient is reached by soft-thresholding, so
    the condition is ``||soft(g, pen1) / sqrt(w2)|| <= l2``.
    """
    g = grad(theta0, fun(theta0)[1])[:nw]
    m = nw // w2.shape[0]
    r = np.maximum(np.abs(g) - pen1, 0.0).reshape(-1, m)
    ok = w2[:, 0] > 0
    return bool(np.sqrt(np.sum(r[ok] ** 2 / w2[ok])) <= l2 and not r[~ok].any())
