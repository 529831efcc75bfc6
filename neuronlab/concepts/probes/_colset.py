"""Working set of neurons for the probe solver: OWL-QN on the columns that carry weight.

The L1 term makes the probe sparse: at the optimum of the EWT UPOS probe (lambda_l1 = lambda_l2 = 1e-3) only about a
third of the 2,688 minilm neurons carry any weight. A neuron whose weights are all zero and stay zero costs a full
share of every pass over ``X`` for nothing. So the solver alternates

1. OWL-QN on the working set ``A`` of neurons only (a contiguous copy of ``X[:, A]``, each pass ``|A| / d`` of a full
   one), with the L-BFGS correction pairs restricted to ``A`` carried from round to round (and from the warm start),
   until its stopping rule holds;
2. one full pass: the optimality condition of each zero weight outside ``A``, ``|g_jc| <= c_jc`` (the L1 weight);
   the neurons that violate it by more than ``tol`` (relative) join ``A``. The set only grows (neurons whose weights
   went back to zero stay), so the rounds end.

It ends when no neuron outside ``A`` violates the condition after a converged round: the weights are then those of
the full problem's stopping point (Blitz / Celer-style working sets; Johnson & Guestrin 2015, Massias et al. 2018).

References
----------
Andrew, G., Gao, J. (2007). Scalable training of L1-regularized log-linear models. ICML.
Johnson, T., Guestrin, C. (2015). Blitz: a principled meta-algorithm for scaling sparse optimization. ICML.
Massias, M., Gramfort, A., Salmon, J. (2018). Celer: a fast solver for the Lasso with dual extrapolation. ICML.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from neuronlab.concepts.probes._objective import SmoothPart
from neuronlab.concepts.probes._owlqn import OWLQNResult, owlqn

__all__ = ["working_set_owlqn"]


def _restrict(memory: tuple, keep: np.ndarray) -> tuple:
    """Correction pairs (in full coordinates) restricted to the coordinates ``keep``; pairs that lose their positive
    curvature are dropped."""
    if not memory:
        return ()
    S, Y, R = [], [], []
    for s, y in zip(memory[0], memory[1]):
        s_k, y_k = s[keep], y[keep]
        sy = float(s_k @ y_k)
        if sy > 1e-12 * float(y_k @ y_k):
            S.append(s_k), Y.append(y_k), R.append(1.0 / sy)
    return S, Y, R


def _expand(memory: tuple, keep: np.ndarray, size: int) -> tuple:
    """Correction pairs of a restricted run back in full coordinates (zero outside ``keep``)."""
    out_s, out_y = [], []
    for s, y in zip(memory[0], memory[1]):
        fs, fy = np.zeros(size), np.zeros(size)
        fs[keep], fy[keep] = s, y
        out_s.append(fs), out_y.append(fy)
    return out_s, out_y, list(memory[2])


def working_set_owlqn(full: SmoothPart, theta0: np.ndarray, c: np.ndarray, *, max_iter: int, tol: float,
                      xmask: np.ndarray, init_memory: tuple = (), slack: float | None = None, grow: float = 0.1,
                      max_rounds: int = 20,
                      callback: Callable[[int, float, np.ndarray], None] | None = None,
                      log: Callable[[str], None] | None = None) -> OWLQNResult:
    """Minimise ``full(theta) + sum(c * |theta|)`` by OWL-QN on a working set of neurons.

    Parameters
    ----------
    full : SmoothPart
        The smooth part on all rows and neurons; ``theta = [V.ravel(), b]`` with ``V`` of shape ``(d, m)``.
    theta0 : ndarray
    c : ndarray
        L1 weights (0 for the intercepts).
    max_iter : int
        Maximum number of OWL-QN iterations of each round.
    tol : float
        OWL-QN's stopping rule in each round (the relative change of the weights, see :func:`owlqn`).
    xmask : bool ndarray
        The weight coordinates (the others are intercepts, always in the set).
    init_memory : tuple
        Correction pairs in full coordinates (e.g. from a subsample warm start).
    slack : float, optional
        A zero weight outside the set violates its optimality condition when ``|g| > (1 + slack) * c``; default
        ``tol`` (the same relative precision as the stopping rule; 0 gives the exact condition).
    grow : float
        At most ``grow * |A|`` (at least 16) neurons join per round, those of largest violation first (the
        violations at a subsample warm start are mostly sampling noise: neurons that enter only to return to zero
        slow every round down).
    max_rounds : int
        Maximum number of rounds.
    callback : callable, optional
        ``callback(iterations_so_far, F, theta)`` after each round.
    log : callable, optional
        Receives one line per round.

    Returns
    -------
    OWLQNResult
        ``n_iter`` counts the OWL-QN iterations of all rounds, ``n_fun`` the objective evaluations (on the set or
        on all neurons).
    """
    d, m = full.d, full.m
    nw = d * m
    size = theta0.shape[0]
    theta = np.array(theta0, dtype=np.float64)
    cw = c[:nw].reshape(d, m)
    slack = tol if slack is None else slack
    memory = init_memory
    history: list[float] = []
    total, rounds, n_fun = 0, 0, 1
    converged, message = False, "maximum number of rounds reached"
    f, ctx = full.fun(theta)
    F = f + float(c @ np.abs(theta))
    g = full.grad(theta, ctx)
    history.append(F)
    active = (theta[:nw].reshape(d, m) != 0).any(axis=1)
    last_converged = False
    while True:
        W = theta[:nw].reshape(d, m)
        G = np.abs(g[:nw].reshape(d, m))
        viol = np.where(W == 0, G - (1 + slack) * cw, 0.0).max(axis=1)
        viol[active] = 0.0
        out = np.flatnonzero(viol > 0)
        if log is not None:
            log(f"round {rounds}: F {F:.8f} set {int(active.sum())} violators {out.size} iterations {total}")
        if out.size == 0 and last_converged:
            converged, message = True, "relative change of the weights below tol, no violation outside the set"
            break
        if rounds >= max_rounds:
            break
        cap = max(16, int(grow * max(int(active.sum()), 1)))
        if out.size > cap:
            out = out[np.argsort(-viol[out], kind="stable")[:cap]]
        active[out] = True
        A = np.flatnonzero(active)
        keep = np.concatenate([(A[:, None] * m + np.arange(m)).ravel(), np.arange(nw, size)])
        cols = full.X if A.size == d else np.take(full.X, A, axis=1)  # take: ~8x faster than X[:, A] here
        sub = SmoothPart(cols, full.target, full.row_weight, inv=full.inv[A],
                         shift=full.shift[A], m=m, fit_intercept=full.fit_intercept, penalty=full.penalty,
                         w2=full.w2[A], l2=full.l2)
        sub.cost, sub.counter = A.size / d, full.counter
        full.counter[0] += A.size / d if A.size < d else 0.0  # the copy of the columns
        res = owlqn(sub.fun, sub.grad, theta[keep], c[keep], max_iter=max_iter, tol=tol,
                    xmask=xmask[keep], init_memory=_restrict(memory, keep))
        total += res.n_iter
        n_fun += res.n_fun + 1
        rounds += 1
        memory = _expand(res.memory, keep, size)
        theta = np.zeros(size)
        theta[keep] = res.x
        history.extend(res.history[1:])
        last_converged = res.converged
        f, ctx = full.fun(theta)
        F = f + float(c @ np.abs(theta))
        g = full.grad(theta, ctx)
        if callback is not None:
            callback(total, F, theta)
    return OWLQNResult(x=theta, fun=F, n_iter=total, n_fun=n_fun, converged=converged,
                          message=message, history=history, memory=memory)
