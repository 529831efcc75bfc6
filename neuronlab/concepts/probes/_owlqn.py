"""Orthant-wise limited-memory quasi-Newton (OWL-QN) for smooth + weighted-L1 objectives.

Minimises ``F(x) = f(x) + sum_j c_j |x_j|`` with ``f`` smooth and ``c_j >= 0``. Each iteration
costs one evaluation of ``f`` and of its gradient (a rejected line-search trial costs only
``f``) plus ``O(memory * n)`` vector work, so it is cheap when ``f`` is a pass over a large
matrix. Deterministic.

References
----------
Andrew, G., Gao, J. (2007). Scalable training of L1-regularized log-linear models. ICML.
Nocedal, J., Wright, S. (2006). Numerical Optimization, 2nd ed., Algorithm 7.4 (two-loop
recursion).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["OWLQNResult", "owlqn"]


@dataclass
class OWLQNResult:
    """Outcome of :func:`owlqn`."""

    x: np.ndarray
    fun: float
    n_iter: int
    n_fun: int
    converged: bool
    message: str
    history: list[float] = field(default_factory=list)
    memory: tuple = ()  # (S, Y, rho) correction pairs, to warm-start another run


def _pseudo_gradient(x: np.ndarray, g: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Minimum-norm subgradient of ``f + sum c|x|`` (Andrew & Gao 2007, eq. 4)."""
    pg = g + c * np.sign(x)
    at_zero = x == 0
    right = g + c  # derivative to the right of zero
    left = g - c
    pg[at_zero] = np.where(right[at_zero] < 0, right[at_zero], np.where(left[at_zero] > 0, left[at_zero], 0.0))
    return pg


def owlqn(
    fun: Callable[[np.ndarray], tuple[float, Any]],
    grad: Callable[[np.ndarray, Any], np.ndarray],
    x0: np.ndarray,
    c: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
    ftol: float = 0.0,
    gtol: float = 0.0,
    memory: int = 10,
    window: int = 3,
    xmask: np.ndarray | None = None,
    callback: Callable[[int, float, np.ndarray], None] | None = None,
    init_memory: tuple = (),
) -> OWLQNResult:
    """Minimise ``fun(x) + sum(c * |x|)`` by OWL-QN (Andrew & Gao 2007).

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (f, ctx)``: the smooth part and a context handed to ``grad``.
    grad : callable
        ``grad(x, ctx) -> g``: gradient of the smooth part at the same ``x``.
    x0 : ndarray of shape (n,)
    c : ndarray of shape (n,)
        Non-negative L1 weights (0 for unpenalised coordinates). All zero gives L-BFGS.
    max_iter : int
    tol : float
        Stop when the iterate has settled: the largest change of a coordinate over the last ``window``
        iterations, relative to the largest coordinate, ``max|x_k - x_{k-window}| / max|x_k|`` (over the
        coordinates in ``xmask``), is at most ``tol``.
    ftol : float
        Also stop when the relative decrease of ``F`` over the last ``window`` iterations, divided by
        ``window``, is at most ``ftol`` (0, the default, disables this test).
    gtol : float
        Stop when the largest entry of the pseudo-gradient is at most ``gtol``.
    memory : int
        Number of correction pairs kept.
    window : int
        Number of iterations the stopping tests look back.
    xmask : bool ndarray of shape (n,), optional
        Coordinates that the ``tol`` test watches (default: all), e.g. the weights but not the intercepts.
    callback : callable, optional
        ``callback(iteration, F, x)`` after every iteration.
    init_memory : tuple, optional
        ``OWLQNResult.memory`` of an earlier run on a related objective (e.g. a subsample): its
        curvature pairs seed the quasi-Newton matrix.

    Returns
    -------
    OWLQNResult
    """
    x = np.array(x0, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    f, ctx = fun(x)
    g = grad(x, ctx)
    F = f + float(c @ np.abs(x))
    n_fun = 1
    history = [F]
    mask = np.ones(x.shape, dtype=bool) if xmask is None else np.asarray(xmask, dtype=bool)
    recent = [x[mask].copy()]
    S: list[np.ndarray] = list(init_memory[0]) if init_memory else []
    Y: list[np.ndarray] = list(init_memory[1]) if init_memory else []
    rho: list[float] = list(init_memory[2]) if init_memory else []
    message, converged, it = "maximum number of iterations reached", False, 0
    for it in range(1, max_iter + 1):
        pg = _pseudo_gradient(x, g, c)
        if np.max(np.abs(pg)) <= gtol:
            message, converged, it = "pseudo-gradient below gtol", True, it - 1
            break
        # two-loop recursion on the pseudo-gradient
        q = -pg
        alphas = []
        for s, y, r in zip(reversed(S), reversed(Y), reversed(rho)):
            a = r * float(s @ q)
            alphas.append(a)
            q -= a * y
        if S:
            q *= float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1])
        for (s, y, r), a in zip(zip(S, Y, rho), reversed(alphas)):
            b = r * float(y @ q)
            q += (a - b) * s
        d = q
        d[d * pg >= 0] = 0.0  # keep only descent coordinates
        if not np.any(d):
            message, converged = "no descent direction", True
            break
        orthant = np.where(x != 0, np.sign(x), -np.sign(pg))
        penalised = c > 0
        step = 1.0 if S else 1.0 / max(1.0, float(np.linalg.norm(pg)))
        slope_ok = False
        for _ in range(40):
            x_new = x + step * d
            x_new[(np.sign(x_new) != orthant) & penalised] = 0.0  # unpenalised coordinates may change sign
            f_new, ctx_new = fun(x_new)
            n_fun += 1
            F_new = f_new + float(c @ np.abs(x_new))
            if F_new <= F + 1e-4 * float(pg @ (x_new - x)):
                slope_ok = True
                break
            step *= 0.5
        if not slope_ok:
            # no decrease even for tiny steps: at the optimum to machine precision, or badly scaled
            message, converged = "line search made no progress", bool(np.max(np.abs(pg)) <= 1e-6 * max(1.0, abs(F)))
            it -= 1
            break
        g_new = grad(x_new, ctx_new)
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > 1e-12 * float(y @ y):
            S.append(s)
            Y.append(y)
            rho.append(1.0 / sy)
            if len(S) > memory:
                S.pop(0), Y.pop(0), rho.pop(0)
        x, g, F = x_new, g_new, F_new
        history.append(F)
        recent.append(x[mask].copy())
        if len(recent) > window + 1:
            recent.pop(0)
        if callback is not None:
            callback(it, F, x)
        if len(recent) > window:
            scale = float(np.max(np.abs(recent[-1]), initial=0.0))
            change = float(np.max(np.abs(recent[-1] - recent[0]), initial=0.0))
            if change <= tol * scale or (scale == 0.0 and change == 0.0):
                message, converged = "relative change of the weights below tol", True
                break
            old = history[-1 - window]
            if ftol > 0 and (old - F) / (window * max(abs(F), 1e-300)) <= ftol:
                message, converged = "relative decrease of the objective below ftol", True
                break
    return OWLQNResult(x=x, fun=F, n_iter=it, n_fun=n_fun, converged=converged, message=message, history=history,
                       memory=(S, Y, rho))
