"""The smooth part of :class:`~neuronlab.concepts.probes.linear.LinearProbe`'s objective on a set of rows.

The probe is solved in scaled and centred coordinates ``v_j = s_j * w_j`` (the unpenalised intercept absorbs the
centring), with the parameter vector ``theta = [V.ravel(), b]``, ``V`` of shape ``(n_neurons, m)``. The smooth part is
the weighted cross-entropy of rows of ``X`` plus the L2 term of the penalty (NeuroX's unsquared norm or glmnet's squared
one). :meth:`SmoothPart.rows` gives the same objective on a subset of the rows (the subsample
warm start); the working-set solver (:mod:`neuronlab.concepts.probes._colset`) builds one on a subset of the
neurons.

References
----------
Dalvi, F. et al. (2019). What is one grain of sand in the desert? Analyzing individual neurons in deep NLP models. AAAI.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from neuronlab.concepts.probes._numerics import _BLOCK

__all__ = ["SmoothPart", "accumulate_terms"]


class SmoothPart:
    """``sum_i r_i * CE(y_i, x_i V / s - shift V + b) + L2(V)`` and its gradient, one fused pass.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_neurons), float32 or float64, C-contiguous
    target : ndarray of shape (n_rows, m)
        One-hot targets (m classes), or the 0/1 target of the positive class when ``m == 1`` (sigmoid).
    row_weight : ndarray of shape (n_rows,)
        ``r_i``: sample weight divided by the number of rows of the objective being modelled.
    inv, shift : ndarray of shape (n_neurons,)
        ``1 / s`` (0 for left-out columns) and ``mean / s`` of the scaled and centred coordinates.
    m : int
        Number of outputs.
    fit_intercept : bool
    penalty : callable
        ``penalty(V, w2, l2) -> (value, gradient)``, the L2 term.
    w2 : ndarray of shape (n_neurons, 1)
    l2 : float
    """

    def __init__(self, X: np.ndarray, target: np.ndarray, row_weight: np.ndarray, *, inv: np.ndarray,
                 shift: np.ndarray, m: int, fit_intercept: bool, penalty: Callable, w2: np.ndarray, l2: float) -> None:
        self.X, self.target, self.row_weight = X, target, np.asarray(row_weight, dtype=np.float64)
        self.inv, self.shift, self.m, self.fit_intercept = inv, shift, m, fit_intercept
        self.penalty, self.w2, self.l2 = penalty, w2, l2
        self.d = X.shape[1]
        self.nw = self.d * m
        self.counter = [0.0]  # cost so far in passes over all rows, shared with the row subsets made by `rows`
        self.cost = 1.0  # cost of one call of `fun`, in passes over all rows

    @property
    def passes(self) -> float:
        """Calls of :meth:`fun` so far on this object and its row subsets, in passes over all rows."""
        return self.counter[0]

    def rows(self, idx: np.ndarray, row_weight: np.ndarray) -> "SmoothPart":
        """The same objective on the rows ``idx`` with new row weights (the cost of a pass counted by their share)."""
        part = SmoothPart(self.X[idx], self.target[idx], row_weight, inv=self.inv, shift=self.shift, m=self.m,
                          fit_intercept=self.fit_intercept, penalty=self.penalty, w2=self.w2, l2=self.l2)
        part.cost = len(idx) / self.X.shape[0] * self.cost
        part.counter = self.counter
        return part

    def raw_coefficients(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(V / s, b - shift V)`` in ``X``'s dtype: the coefficients and offsets of raw ``X`` at ``theta`` (the
        logits are ``X @ Vr + off``)."""
        V = theta[:self.nw].reshape(self.d, self.m)
        b = theta[self.nw:] if self.fit_intercept else np.zeros(self.m)
        dt = self.X.dtype
        return (V * self.inv[:, None]).astype(dt), (b - self.shift @ V).astype(dt)

    def fun(self, theta: np.ndarray) -> tuple[float, tuple]:
        """Value at ``theta`` and the context :meth:`grad` needs."""
        X, m, d = self.X, self.m, self.d
        V = theta[:self.nw].reshape(d, m)
        Vr, off = self.raw_coefficients(theta)
        if isinstance(X, np.ndarray):
            XtG = np.zeros((d, m), dtype=np.float64)
            gsum = np.zeros(m, dtype=np.float64)
            data = accumulate_terms(X, self.target, self.row_weight, Vr, off, m, XtG, gsum)
        else:  # a chunked row source (neuronlab.concepts.probes._chunked): the same sums over its row chunks
            data, XtG, gsum = X.terms(self.target, self.row_weight, Vr, off, m)
        value, gpen = self.penalty(V, self.w2, self.l2)
        value += data
        self.counter[0] += self.cost
        return value, (XtG, gsum, gpen)

    def grad(self, theta: np.ndarray, ctx: tuple) -> np.ndarray:
        """Gradient at the ``theta`` of the :meth:`fun` call that returned ``ctx``."""
        XtG, gsum, gpen = ctx
        gV = XtG * self.inv[:, None] - np.outer(self.shift, gsum)
        gV += gpen
        return np.concatenate([gV.ravel(), gsum if self.fit_intercept else np.zeros(self.m)])


def accumulate_terms(X: np.ndarray, target: np.ndarray, row_weight: np.ndarray, Vr: np.ndarray, off: np.ndarray,
                     m: int, XtG: np.ndarray, gsum: np.ndarray) -> float:
    """The data term of rows ``X`` and its gradient sums, in blocks of ``_BLOCK`` rows.

    Adds ``X^T G`` to ``XtG`` and the column sums of ``G`` to ``gsum`` in place (``G`` the weighted
    derivative of the cross-entropy with respect to the logits ``X Vr + off``) and returns the weighted
    cross-entropy. The objective is a sum over rows, so a pass over all rows may be split into row chunks
    (:mod:`neuronlab.concepts.probes._chunked`); chunks whose lengths are multiples of ``_BLOCK`` give the very
    same floating-point operations as one call on all rows.
    """
    dt = X.dtype
    data = 0.0
    for start in range(0, X.shape[0], _BLOCK):
        Xb = X[start:start + _BLOCK]
        tb = target[start:start + _BLOCK]
        wb = row_weight[start:start + _BLOCK]
        Z = Xb @ Vr
        Z += off
        if m == 1:
            # binary: CE = softplus(z) - t z ; dCE/dz = sigmoid(z) - t
            ce = np.logaddexp(0, Z) - tb * Z
            G = 0.5 * (1 + np.tanh(0.5 * Z)) - tb
        else:
            Z -= Z.max(axis=1, keepdims=True)
            E = np.exp(Z)
            S = E.sum(axis=1, keepdims=True)
            ce = np.log(S) - (Z * tb).sum(axis=1, keepdims=True)
            G = E / S - tb
        data += float(wb @ ce.sum(axis=1, dtype=np.float64))
        G *= wb[:, None].astype(dt)
        XtG += Xb.T @ G
        gsum += G.sum(axis=0, dtype=np.float64)
    return data
