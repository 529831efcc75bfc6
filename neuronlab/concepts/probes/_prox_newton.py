"""Proximal Newton on the free set for the probe objective (newGLMNET-style).

Minimises ``F(theta) = f(theta) + sum_j c_j |theta_j|`` (``f`` the probe's smooth part, :class:`SmoothPart`). Each outer
step

1. has the gradient ``g`` of ``f`` at ``theta`` on all rows and neurons (one full pass, fused with the line search of
   the previous step);
2. takes the *free set* ``F``: the non-zero weights, the zero weights whose optimality condition ``|g_j| <= c_j``
   fails (the largest violations first, at most ``grow`` times the number of non-zero weights per step) and the
   intercepts;
3. builds the Hessian ``H_FF`` of ``f`` restricted to ``F`` explicitly: the cross-entropy part from a fixed row
   subsample (about ``hess_rows`` rows, four fifths of them drawn in proportion to each row's curvature at the warm
   start, see :func:`_hessian_rows`; per row the softmax Jacobian ``diag(p) - p p^T`` times ``x x^T``, assembled
   with one GEMM), the L2 part exactly;
4. minimises the local model ``g_F^T d + 1/2 d^T H_FF d + sum_F c |theta + d|`` on the explicit matrix by
   accelerated proximal gradient steps (FISTA with adaptive restart), polished by one Newton solve on the support
   it found (to a relative precision that tightens as the outer steps converge);
5. steps ``theta + t d`` with a backtracking (Armijo) line search on the full objective
   (``F(theta + t d) <= F(theta) + sigma t D``, ``D = g^T d + c|theta + d| - c|theta|``, ``sigma = 1/4``), each
   shorter trial at the minimiser of the quadratic through ``F(theta)``, the slope ``D`` and the rejected value
   (safeguarded to ``[0.1, 0.9]`` of the last ``t``); the accepted point's pass gives the next gradient.

A Newton direction ``d`` estimates the distance to the minimiser, so the probe's rule (the weights have settled: no
weight moves by more than ``tol`` times the largest weight) is applied to it: the fit stops when the last direction
changed no weight by more than ``tol`` times the largest weight and no zero weight would enter by more than that
either (for each zero weight that violates its optimality condition, the one-coordinate Newton estimate of its
value, ``(|g_j| - c_j) / H_jj``). It also stops once the pseudo-gradient is 1e-10 of the starting point's (the
optimality conditions hold to rounding; below that a direction is noise, the model being singular along the
softmax's shifts and, for NeuroX's norm, along the weights), and when a step's line search finds no decrease at all
(the objective, summed over float32 logits, no longer resolves what is left: on EWT UPOS at ``tol=1e-5`` the last
directions moved one weight by 2e-5 of the largest for a predicted decrease of 3e-10).

The sufficient-decrease constant is 1/4 rather than the textbook 1e-4 because a subsampled Hessian underestimates
the curvature along its own Newton direction (the direction favours the directions the subsample under-weights):
on EWT UPOS full steps were accepted that kept only 1-20% of the predicted decrease for several steps in a row,
where the interpolated step recovers half of it, as a quadratic model should.

References
----------
Lee, J. D., Sun, Y., Saunders, M. A. (2014). Proximal Newton-type methods for minimizing composite functions. SIAM
J. Optim. 24(3).
Yuan, G.-X., Ho, C.-H., Lin, C.-J. (2012). An improved GLMNET for L1-regularized logistic regression. JMLR 13.
Beck, A., Teboulle, M. (2009). A fast iterative shrinkage-thresholding algorithm for linear inverse problems. SIAM
J. Imaging Sci. 2(1).
O'Donoghue, B., Candes, E. (2015). Adaptive restart for accelerated gradient schemes. Found. Comput. Math. 15(3).
Byrd, R. H., Chin, G. M., Neveitt, W., Nocedal, J. (2011). On the use of stochastic Hessian information in
optimization methods for machine learning. SIAM J. Optim. 21(3).
Xu, P., Yang, J., Roosta-Khorasani, F., Re, C., Mahoney, M. W. (2016). Sub-sampled Newton methods with non-uniform
sampling. NeurIPS.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

from neuronlab.concepts.probes._numerics import _BLOCK
from neuronlab.concepts.probes._objective import SmoothPart
from neuronlab.concepts.probes._owlqn import OWLQNResult, owlqn

__all__ = ["prox_newton"]

#: largest free set of a Newton step (the Hessian is a dense ``|F| x |F|`` matrix)
MAX_FREE = 4096
#: sufficient-decrease constant of the line search (see the module docstring for why not 1e-4)
_ARMIJO = 0.25
#: the optimality conditions hold to rounding once the pseudo-gradient is this fraction of the starting point's
_ROUNDING = 1e-10
#: share of the Hessian subsample's draws that are uniform (the rest in proportion to each row's curvature)
_UNIFORM_SHARE = 0.2


def _hessian_rows(full: SmoothPart, theta: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The Hessian subsample: sorted row indices and the weight of each row in the estimate of the data term's
    Hessian (all rows with their own weights when ``k >= n``).

    Each row is kept independently (Poisson sampling) with probability ``q_i = min(1, k pi_i)``,
    ``pi_i = u / n + (1 - u) r_i c_i / sum(r c)`` (``u = _UNIFORM_SHARE``, ``r_i`` the row's weight,
    ``c_i = sum_k p_ik (1 - p_ik)`` its curvature at ``theta``), and a kept row weighs ``r_i / q_i``: an unbiased
    estimate of the Hessian with about ``k`` distinct rows that spends them where the curvature is (non-uniform
    subsampled Newton, Xu et al. 2016; their row-norm scheme with the feature norms left out, which after centring and
    scaling changed nothing measurable; a fifth of the draws uniform so that no row weighs more than 5x its uniform
    weight). On EWT UPOS (65k rows, 2,688 neurons, 17 classes) half of the curvature sits in 10k rows. At the
    optimum's free set (1,471 coordinates) and about 16k rows, the eigenvalues of ``H_sub^-1 H`` (``H`` on all rows)
    span 0.59-2.04 with uniform rows, so a full Newton step overshoots some direction twice and the line search
    halved every other step; with this sampling they span 0.74-1.52 (a fifth uniform) or 0.72-1.58 (half), and the
    fit took 6-7 Newton steps instead of 8-10 (docs/benchmarks.md).
    """
    X, n, m = full.X, full.X.shape[0], full.m
    if k >= n:
        return np.arange(n), full.row_weight.copy()
    Vr, off = full.raw_coefficients(theta)
    curvature = np.empty(n)
    for a in range(0, n, _BLOCK):  # one product with X (the logits), block by block
        Z = X[a:a + _BLOCK] @ Vr
        Z += off
        if m == 1:
            p = 0.5 * (1 + np.tanh(0.5 * Z[:, 0].astype(np.float64)))
            curvature[a:a + _BLOCK] = p * (1 - p)
        else:
            Z -= Z.max(axis=1, keepdims=True)
            P = np.exp(Z.astype(np.float64))
            P /= P.sum(axis=1, keepdims=True)
            curvature[a:a + _BLOCK] = 1.0 - np.einsum("ij,ij->i", P, P)
    curvature *= full.row_weight
    total = float(curvature.sum())
    pi = np.full(n, 1.0 / n) if total <= 0 else _UNIFORM_SHARE / n + (1 - _UNIFORM_SHARE) * curvature / total
    q = np.minimum(1.0, k * pi)  # pi sums to 1
    rows = np.flatnonzero(np.random.default_rng(seed).random(n) < q)
    return rows, full.row_weight[rows] / q[rows]


class _RowModel:
    """The rows of the Hessian subsample, in the solver's scaled and centred coordinates ``x_tilde = x / s - mean / s``
    (copied once, transposed: one neuron's values over the subsample's rows are contiguous, so that gathering the free
    set's neurons copies whole rows), with a last row of ones for the intercept."""

    def __init__(self, full: SmoothPart, rows: np.ndarray, weight: np.ndarray, block: int = 1024) -> None:
        X, d = full.X, full.d
        dt = X.dtype
        self.XT = np.empty((d + 1, len(rows)), dtype=dt)
        inv, shift = full.inv.astype(dt)[:, None], full.shift.astype(dt)[:, None]
        for a in range(0, len(rows), block):  # block by block: no second full-size copy, and cache-sized transposes
            part = self.XT[:d, a:a + block]
            part[...] = X[rows[a:a + block]].T
            part *= inv
            part -= shift
        self.XT[d] = 1.0
        self.weight = np.asarray(weight, dtype=np.float64)  # the rows stand for all rows
        self.m, self.d = full.m, d
        self.fit_intercept = full.fit_intercept

    def probabilities_t(self, theta: np.ndarray) -> np.ndarray:
        """Model outputs of the subsample at ``theta``, transposed: softmax probabilities (m, n_sub), or sigmoid
        (1, n_sub)."""
        d, m = self.d, self.m
        V = theta[:d * m].reshape(d, m)
        b = theta[d * m:] if self.fit_intercept else np.zeros(m)
        Z = V.T.astype(self.XT.dtype) @ self.XT[:d]
        Z += b.astype(self.XT.dtype)[:, None]
        if m == 1:
            return 0.5 * (1 + np.tanh(0.5 * Z))
        Z -= Z.max(axis=0, keepdims=True)
        P = np.exp(Z)
        P /= P.sum(axis=0, keepdims=True)
        return P

    def diagonal(self, theta: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """The data term's Hessian diagonal on the weight coordinates ``coords`` (indices into ``theta``, all
        below ``d * m``), from the subsample."""
        neuron, cls = coords // self.m, coords % self.m
        XtT = self.XT[neuron].astype(np.float64)
        PT = self.probabilities_t(theta).astype(np.float64)
        curv = PT[cls] * (1.0 - PT[cls]) * self.weight  # p (1 - p) per row, softmax or sigmoid alike
        return np.einsum("ij,ij->i", XtT * XtT, curv)

    def hessian(self, theta: np.ndarray, free: np.ndarray) -> np.ndarray:
        """The data term's Hessian on the coordinates ``free`` (indices into ``theta``), from the subsample.

        Per row ``i`` the softmax Jacobian ``diag(p_i) - p_i p_i^T`` times ``x_i x_i^T``: with the coordinates grouped
        by class, ``H = blockdiag_c(B_c B_c^T) - U U^T`` where ``B_c`` holds ``sqrt(w_i p_ic) x_ij`` for the class's
        coordinates and ``U`` stacks ``B_c sqrt(p_ic)``; each ``B_c`` is gathered once, in place, into its slice of
        ``U``. For a sigmoid, ``U U^T`` with ``U = sqrt(w p (1 - p)) x``.
        """
        d, m = self.d, self.m
        nw = d * m
        neuron = np.where(free < nw, free // m, d)  # d: the row of ones (the intercept)
        cls = np.where(free < nw, free % m, free - nw)
        PT = self.probabilities_t(theta)
        sw = self.weight.astype(self.XT.dtype)
        if m == 1:
            p = PT[0]
            UT = np.take(self.XT, neuron, axis=0)
            UT *= np.sqrt(sw * p * (1 - p))
            return (UT @ UT.T).astype(np.float64)
        order = np.argsort(cls, kind="stable")  # coordinates grouped by class
        bounds = np.searchsorted(cls[order], np.arange(m + 1))
        UT = np.empty((free.size, self.XT.shape[1]), dtype=self.XT.dtype)
        H = np.zeros((free.size, free.size))
        for c in range(m):
            a, b = bounds[c], bounds[c + 1]
            if a == b:
                continue
            block = UT[a:b]
            np.take(self.XT, neuron[order[a:b]], axis=0, out=block)
            block *= np.sqrt(sw * PT[c])
            H[a:b, a:b] = block @ block.T
            block *= np.sqrt(PT[c])
        H -= UT @ UT.T
        back = np.empty_like(order)
        back[order] = np.arange(order.size)
        return H[np.ix_(back, back)]


def _penalty_hessian(full: SmoothPart, theta: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Hessian of the L2 term of ``full`` on the coordinates ``free`` (exact; zero on the intercepts)."""
    d, m = full.d, full.m
    nw = d * m
    H = np.zeros((free.size, free.size))
    w = free < nw
    if full.l2 == 0 or not w.any():
        return H
    w2 = np.repeat(full.w2[:, 0], m)[free[w]]
    v = theta[free[w]]
    k = np.flatnonzero(w)
    if full.penalty.__name__ == "_squared_l2":
        H[k, k] = 2.0 * full.l2 * w2
        return H
    norm = float(np.sqrt(np.sum(np.repeat(full.w2[:, 0], m) * theta[:nw] ** 2)))
    if norm == 0.0:  # the norm has no curvature at 0 (a kink): the line search handles it
        return H
    a = w2 * v
    H[k, k] = full.l2 * w2 / norm
    H[np.ix_(k, k)] -= (full.l2 / norm ** 3) * np.outer(a, a)
    return H


def _model_value(g: np.ndarray, H: np.ndarray, x0: np.ndarray, c: np.ndarray, x: np.ndarray) -> float:
    step = x - x0
    return float(g @ step + 0.5 * step @ (H @ step) + c @ np.abs(x))


def _lipschitz(H: np.ndarray, iters: int = 30) -> float:
    """An upper estimate of the largest eigenvalue of the symmetric positive semi-definite ``H`` (power iteration's
    Rayleigh quotient, which approaches it from below, with a 10% margin)."""
    v = np.random.default_rng(0).standard_normal(H.shape[0])
    lam = 0.0
    for _ in range(iters):
        w = H @ v
        norm = float(np.linalg.norm(w))
        if norm == 0.0:
            break
        lam = float(v @ w) / float(v @ v)
        v = w / norm
    lam = max(lam, float(np.max(np.diag(H), initial=0.0)))  # the largest diagonal entry is a lower bound too
    return 1.1 * lam if lam > 0 else 1.0


def _polish(g: np.ndarray, H: np.ndarray, x0: np.ndarray, c: np.ndarray, x: np.ndarray) -> np.ndarray | None:
    """The model's exact minimiser if ``x`` has its support and signs: one Newton (Cholesky) solve on the support
    with the signs fixed; ``None`` when the solution leaves that orthant or the solve fails."""
    S = np.flatnonzero((x != 0) | (c == 0))
    if S.size == 0:
        return None
    sign = np.sign(x[S])
    rhs = H[S] @ x0 - g[S] - c[S] * sign
    HS = H[np.ix_(S, S)]  # no ridge: on ill-conditioned models even 1e-12 of the diagonal moves the answer
    try:
        xs = scipy.linalg.cho_solve(scipy.linalg.cho_factor(HS, check_finite=False), rhs, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    penal = c[S] > 0
    if np.any(np.sign(xs[penal]) != sign[penal]):
        return None
    out = np.zeros_like(x)
    out[S] = xs
    return out


def _solve_model(g: np.ndarray, H: np.ndarray, x0: np.ndarray, c: np.ndarray, *, gtol: float,
                 max_iter: int, check: int = 10) -> tuple[np.ndarray, int]:
    """Minimise ``g^T (x - x0) + 1/2 (x - x0)^T H (x - x0) + sum c |x|`` from ``x0``.

    Accelerated proximal gradient (FISTA, Beck & Teboulle 2009) with the gradient-based adaptive restart of
    O'Donoghue & Candes (2015): each iteration one product with ``H`` and a soft-thresholding, step ``1/L`` with
    ``L`` a power-iteration estimate of ``H``'s largest eigenvalue (doubled, and the iteration restarted from the
    best point, should the model value rise). Every ``check`` iterations the model's pseudo-gradient is computed
    and the solve stops once it is at most ``gtol``; then (or at ``max_iter``) one Newton solve on the support
    with the signs fixed (:func:`_polish`) gives the exact minimiser when the support is right, and is kept when
    its pseudo-gradient is smaller. Zeros are reached exactly (soft-thresholding), which the earlier orthant-wise
    Newton solve did only a few coordinates per Cholesky factorisation: on the EWT probe's models (1,500-2,000
    coordinates, condition ~5e7) this reaches the forcing tolerance in 0.1-0.5 s where 30 orthant-wise steps took
    3-4 s without reaching it.

    Returns
    -------
    x : ndarray
        The minimiser (to ``gtol``).
    n_iter : int
        Proximal gradient iterations used.
    """
    g = np.asarray(g, dtype=np.float64)
    x0 = np.asarray(x0, dtype=np.float64)
    L = _lipschitz(H)
    x = x0.copy()
    y = x.copy()
    r_y = g.copy()  # the model's gradient at y
    t = 1.0
    best_x, best_q = x.copy(), _model_value(g, H, x0, c, x)
    it = 0
    for it in range(1, max_iter + 1):
        z = y - r_y / L
        x_new = np.sign(z) * np.maximum(np.abs(z) - c / L, 0.0)
        dx = x_new - x
        if float((y - x_new) @ dx) > 0:  # the momentum points uphill: restart it
            t, y = 1.0, x_new
        else:
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            y = x_new + ((t - 1.0) / t_new) * dx
            t = t_new
        x = x_new
        r_y = g + H @ (y - x0)
        if it % check == 0 or it == max_iter:
            r = g + H @ (x - x0)
            q = float(g @ (x - x0) + 0.5 * (x - x0) @ (r - g) + c @ np.abs(x))
            if not np.isfinite(q) or q > best_q + 1e-12 * abs(best_q):  # L too small: a shorter step, from the best
                L *= 2.0
                x, y, t = best_x.copy(), best_x.copy(), 1.0
                r_y = g + H @ (y - x0)
                continue
            best_x, best_q = x.copy(), q
            if float(np.max(np.abs(_pseudo(x, r, c)), initial=0.0)) <= gtol:
                break
    x = best_x
    polished = _polish(g, H, x0, c, x)
    if polished is not None:
        pg_x = np.max(np.abs(_pseudo(x, g + H @ (x - x0), c)), initial=0.0)
        pg_p = np.max(np.abs(_pseudo(polished, g + H @ (polished - x0), c)), initial=0.0)
        if pg_p < pg_x and _model_value(g, H, x0, c, polished) <= best_q + 1e-12 * abs(best_q):  # rounding
            x = polished
    return x, it


def prox_newton(full: SmoothPart, theta0: np.ndarray, c: np.ndarray, *, max_iter: int, tol: float,
                xmask: np.ndarray, init_memory: tuple = (), hess_rows: int | float = 0.25, grow: float = 0.25,
                inner_iter: int = 2000, max_free: int = MAX_FREE,
                callback: Callable[[int, float, np.ndarray], None] | None = None,
                log: Callable[[str], None] | None = None) -> OWLQNResult:
    """Minimise ``full(theta) + sum(c * |theta|)`` by proximal Newton steps on the free set.

    Parameters
    ----------
    full : SmoothPart
        The smooth part on all rows and neurons; ``theta = [V.ravel(), b]`` with ``V`` of shape ``(d, m)``.
    theta0 : ndarray
    c : ndarray
        L1 weights (0 for the intercepts).
    max_iter : int
        Maximum number of outer (Newton) steps.
    tol : float
        The probe's stopping rule, applied to the Newton direction (an estimate of the distance to the minimiser):
        stop when the last direction changed no weight by more than ``tol`` times the largest weight, and no zero
        weight that violates its optimality condition would enter by more than that (its one-coordinate Newton
        estimate ``(|g_j| - c_j) / H_jj``, ``H_jj`` from the Hessian subsample); or once the pseudo-gradient is
        1e-10 of the starting point's (rounding).
    xmask : bool ndarray
        The weight coordinates (the rest are intercepts, always free).
    init_memory : tuple
        Unused (accepted for the solver registry's signature).
    hess_rows : int or float
        Expected size of the Hessian subsample (:func:`_hessian_rows`): a count, or a fraction of the rows (at
        least 2,048; all rows, exactly, when there are fewer).
    grow : float
        At most ``max(64, grow * nnz)`` violating zero weights join the free set per step.
    inner_iter : int
        Maximum number of proximal gradient iterations on each local model.
    max_free : int
        Largest free set (the Hessian is a dense ``|F| x |F|`` matrix): beyond it the step is a block step on the
        ``max_free`` weights of largest pseudo-gradient, the others held where they are.
    callback : callable, optional
        ``callback(step, F, theta)`` after each step.
    log : callable, optional
        Receives one line per step.

    Returns
    -------
    OWLQNResult
        ``n_iter`` counts the outer steps, ``n_fun`` the full objective evaluations; ``memory`` is empty.
    """
    del init_memory
    n = full.X.shape[0]
    nw = full.d * full.m
    size = theta0.shape[0]
    k = int(round(hess_rows * n)) if isinstance(hess_rows, float) else int(hess_rows)
    rows, weight = _hessian_rows(full, theta0, max(k, min(n, 2048)))
    model = _RowModel(full, rows, weight)
    full.counter[0] += len(rows) / n + (0.5 if len(rows) < n else 0.0)  # the copy of the rows, and their draw
    theta = np.array(theta0, dtype=np.float64)
    f, ctx = full.fun(theta)
    g = full.grad(theta, ctx)
    F = f + float(c @ np.abs(theta))
    history, n_fun = [F], 1
    last_move = np.inf  # largest weight change of the last Newton direction (before the line search)
    # rounding level of the optimality conditions: below it a Newton direction is noise (the model is singular along
    # the softmax's shifts, and along the weights for NeuroX's norm), so there the fit has converged
    floor = _ROUNDING * float(np.max(np.abs(_pseudo(theta, g, c)), initial=0.0))
    converged, message, it = False, "maximum number of iterations reached", 0
    intercepts = np.arange(nw, size) if full.fit_intercept else np.arange(0)
    for it in range(1, max_iter + 1):
        w = theta[:nw]
        viol = np.where(w == 0, np.abs(g[:nw]) - c[:nw], 0.0)
        nonzero = np.flatnonzero(w != 0)
        out = np.flatnonzero(viol > 0)
        scale = float(np.max(np.abs(theta[xmask]), initial=0.0))
        if float(np.max(np.abs(_pseudo(theta, g, c)), initial=0.0)) <= floor:
            converged, message, it = True, "optimality conditions met to rounding", it - 1
            break
        if last_move <= tol * scale:
            entry = 0.0
            if out.size:  # how far each violating zero weight would move: a one-coordinate Newton step
                curvature = model.diagonal(theta, out) + np.diag(_penalty_hessian(full, theta, out))
                entry = float(np.max(viol[out] / np.maximum(curvature, 1e-300)))
            if entry <= tol * scale:
                converged, message, it = True, "Newton direction below tol, no violation above it", it - 1
                break
        cap = max(64, int(grow * nonzero.size))
        if out.size > cap:
            out = out[np.argsort(-viol[out], kind="stable")[:cap]]
        free = np.concatenate([nonzero, out])
        if free.size > max_free:  # a block step: the coordinates of largest pseudo-gradient, the rest held fixed
            pg_all = np.abs(_pseudo(w[free], g[free], c[free]))
            free = free[np.argsort(-pg_all, kind="stable")[:max_free]]
        free = np.concatenate([np.sort(free), intercepts])
        t0, p0 = time.perf_counter(), time.process_time()
        H = model.hessian(theta, free)
        full.counter[0] += len(rows) / n  # the subsample's logits and the Hessian's factors
        H += _penalty_hessian(full, theta, free)
        t1, p1 = time.perf_counter(), time.process_time()
        gF, cF, xF = g[free], c[free], theta[free]
        pg = _pseudo(xF, gF, cF)
        pg_max = float(np.max(np.abs(pg), initial=0.0))
        # small dense solves: one BLAS thread (threads that spin and wait cost more than they give on a busy machine)
        with threadpool_limits(limits=1 if free.size < 1024 else None, user_api="blas"):
            x_new, inner = _solve_model(gF, H, xF, cF, gtol=max(0.1 * pg_max * min(1.0, np.sqrt(pg_max)), floor),
                                        max_iter=inner_iter)
        step = x_new - xF
        last_move = float(np.max(np.abs(step[free < nw]), initial=0.0))
        t2, p2 = time.perf_counter(), time.process_time()
        decrease = float(gF @ step + cF @ (np.abs(x_new) - np.abs(xF)))
        if not decrease < 0:
            message, converged = "no descent direction", True
            break
        t, accepted = 1.0, False
        for _ in range(30):
            trial = theta.copy()
            trial[free] = xF + t * step
            f_new, ctx_new = full.fun(trial)
            n_fun += 1
            F_new = f_new + float(c @ np.abs(trial))
            if F_new <= F + _ARMIJO * t * decrease:
                accepted = True
                break
            ratio = (F_new - F) / (t * decrease)  # kept share of the predicted decrease
            # the minimiser of the quadratic through F, its slope and F_new, kept within [0.1, 0.9] of t
            t *= min(max(0.5 / (1.0 - ratio), 0.1), 0.9) if np.isfinite(ratio) else 0.1
        if not accepted:
            message, converged = "line search made no progress", False
            it -= 1
            break
        if F_new >= F:  # accepted by the rounding of the test alone: no decrease is left that the objective resolves
            message, converged, it = "no decrease left at the objective's precision", True, it - 1
            break
        theta, F = trial, F_new
        g = full.grad(theta, ctx_new)
        history.append(F)
        if log is not None:
            log(f"step {it}: F {F:.8f} (predicted decrease {-decrease:.2e}) free {free.size} (nnz {nonzero.size}, "
                f"violators {out.size}) inner {inner} t {t:g} passes {full.passes:.1f}; hessian {t1 - t0:.2f} s "
                f"({p1 - p0:.2f} cpu), model {t2 - t1:.2f} s ({p2 - p1:.2f} cpu), line search {time.perf_counter() - t2:.2f} s "
                f"({time.process_time() - p2:.2f} cpu)")
        if callback is not None:
            callback(it, F, theta)
    return OWLQNResult(x=theta, fun=F, n_iter=it, n_fun=n_fun, converged=converged, message=message,
                       history=history, memory=())


def _pseudo(x: np.ndarray, g: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Minimum-norm subgradient of ``g^T x + c|x|`` at ``x`` (Andrew & Gao 2007)."""
    from neuronlab.concepts.probes._owlqn import _pseudo_gradient

    return _pseudo_gradient(x, g, c)
