"""Probe test problems and NeuroX's objective written out independently (shared by the probe solver tests)."""
from __future__ import annotations

import numpy as np


def sparse_problem(n, d=60, k=5, seed=0):
    """Correlated neurons of different scales and offsets; each of the ``k`` classes depends on 4 of the ``d``
    neurons, so most neurons get no weight. Returns float32 ``X`` and class codes ``y``."""
    rng = np.random.default_rng(seed)
    mix = np.eye(d) + 0.4 * rng.normal(size=(d, d)) / np.sqrt(d)
    X = rng.normal(size=(n, d)) @ mix
    W = np.zeros((d, k))
    for c in range(k):
        W[rng.choice(d, 4, replace=False), c] = rng.choice([-1.5, 1.5], size=4)
    y = np.argmax(X @ W + rng.gumbel(size=(n, k)), axis=1)
    return (X * rng.uniform(0.5, 2.0, size=d) + rng.normal(size=d)).astype(np.float32), y


def six_class_problem(seed=0, n=4000, d=300, k=6):
    """Correlated neurons of different scales and offsets; per class 5 planted neurons of graded strength."""
    rng = np.random.default_rng(seed)
    mix = np.eye(d) + 0.3 * rng.normal(size=(d, d)) / np.sqrt(d)
    X = rng.normal(size=(n, d)) @ mix
    planted = rng.permutation(d)[: 5 * k].reshape(k, 5)
    W = np.zeros((d, k))
    for c in range(k):
        W[planted[c], c] = np.array([2.0, 1.4, 1.0, 0.7, 0.5]) * rng.choice([-1, 1], size=5)
    y = np.argmax(X @ W + rng.gumbel(size=(n, k)), axis=1)
    return (X * rng.uniform(0.3, 3.0, size=d) + rng.normal(size=d)).astype(np.float32), y


def neurox_objective(coef, intercept, X, y, l1, l2):
    """NeuroX's training loss written out in numpy: mean CE of a softmax over all classes + l1 |W|_1 + l2 ||W||_F
    (``y``: class codes, the rows of ``coef``)."""
    z = np.asarray(X, dtype=np.float64) @ coef.T + intercept
    z = z - z.max(1, keepdims=True)
    ce = np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]
    return ce.mean() + l1 * np.abs(coef).sum() + l2 * np.sqrt((coef ** 2).sum())


def direct_neurox_minimum(X, y, l1, l2):
    """Minimise NeuroX's objective with scipy's L-BFGS-B: W = P - N with P, N >= 0 makes the L1 term smooth.
    Returns ``(W, b, value)``."""
    from scipy.optimize import minimize

    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = int(y.max()) + 1
    T = np.eye(k)[y]

    def f(v):
        P, N, b = v[:k * d].reshape(k, d), v[k * d:2 * k * d].reshape(k, d), v[2 * k * d:]
        W = P - N
        z = X @ W.T + b
        z = z - z.max(1, keepdims=True)
        E = np.exp(z)
        S = E.sum(1, keepdims=True)
        ce = float(np.mean(np.log(S[:, 0]) - (z * T).sum(1)))
        G = (E / S - T) / n
        norm = np.sqrt((W ** 2).sum())
        gW = G.T @ X + (l2 * W / norm if norm > 0 else 0.0)
        value = ce + l1 * (P.sum() + N.sum()) + l2 * norm
        return value, np.concatenate([(gW + l1).ravel(), (-gW + l1).ravel(), G.sum(0)])

    v0 = np.concatenate([np.full(2 * k * d, 0.01), np.zeros(k)])
    bounds = [(0, None)] * (2 * k * d) + [(None, None)] * k
    res = minimize(f, v0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options=dict(maxiter=20000, maxfun=40000, ftol=1e-16, gtol=1e-11))
    v = res.x
    return v[:k * d].reshape(k, d) - v[k * d:2 * k * d].reshape(k, d), v[2 * k * d:], res.fun
