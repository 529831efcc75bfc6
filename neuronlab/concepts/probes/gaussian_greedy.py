"""Greedy dimension selection for the Gaussian probe by incremental (Schur-complement) updates.

The probe holds one Gaussian per class, ``N(mu_c, Sigma_c)``, over all neurons; a subset ``S`` of
neurons is evaluated with the marginal ``N(mu_c[S], Sigma_c[S, S])`` (slicing). Greedy selection adds
the neuron that most increases the mutual information (or accuracy) of the subset. Re-fitting (or
re-factorising) ``Sigma_c[S + d, S + d]`` for every candidate ``d`` costs ``O(n_candidates * k^3 + n_rows * k^2)``
per class and step; this module instead keeps, per class, the state of the chain rule

    log N(x[S + d]) = log N(x[S]) + log N(r_d(x) | 0, s_d),

with ``s_d = Sigma[d, d] - Sigma[d, S] Sigma[S, S]^{-1} Sigma[S, d]`` (the Schur complement: the
variance of ``d`` given ``S``) and ``r_d(x) = x_d - mu_d - Sigma[d, S] Sigma[S, S]^{-1} (x[S] - mu[S])``
(the residual of ``d`` given ``S``). Adding neuron ``j`` to ``S`` is one rank-one update of all
candidates at once (``K`` is the conditional covariance given ``S``)::

    g      = K[j, :] / sqrt(K[j, j])       (a new row of the Cholesky factor, from Sigma[j, :] and the old rows)
    s     <- s - g ** 2                    (every candidate's Schur complement)
    r     <- r - r_j g / sqrt(K[j, j])     (every candidate's residual, every row)

so a step costs ``O(n_classes * n_rows * n_neurons)`` with no factorisation or inversion at all.

References
----------
L. Torroba Hennigen, A. Williams, R. Cotterell (2020). Intrinsic Probing through Dimension Selection. EMNLP.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from scipy.linalg.blas import dger as _ger

__all__ = ["GreedyGaussianState", "greedy_select", "CRITERIA", "GreedyNeuronState", "chunk_criterion_sums",
           "greedy_select_from_sums"]

_LOG_2PI = math.log(2.0 * math.pi)
#: criterion name -> column of the score pair returned by :meth:`GreedyGaussianState.candidate_scores`
CRITERIA = {"mi": 0, "accuracy": 1}
#: bytes of float64 temporaries per candidate block (n_classes x n_rows x block)
_BLOCK_BYTES = 64 * 2 ** 20


class GreedyGaussianState:
    """Per-class conditional state of the selected set ``S`` for every candidate neuron.

    Parameters
    ----------
    means : ndarray of shape (n_classes, n_neurons)
    covariances : ndarray of shape (n_classes, n_neurons, n_neurons)
        The full (MAP) covariances; only rows of selected neurons and the diagonals are read.
    log_prior : ndarray of shape (n_classes,)
        Log class prior.
    X : ndarray of shape (n_rows, n_neurons)
        Rows the criterion is computed on.
    y : int ndarray of shape (n_rows,)
        Class index of every row (into ``means``).

    Attributes
    ----------
    selected : list of int
        ``S`` in order of selection.
    loglik : ndarray of shape (n_rows, n_classes)
        ``log N(x[S] | mu_c[S], Sigma_c[S, S])`` of every row and class (0 for the empty set).
    schur : ndarray of shape (n_classes, n_neurons)
        Conditional variance of every neuron given ``S`` (0 for selected neurons).
    residuals : ndarray of shape (n_classes, n_rows, n_neurons)
        Residual of every neuron given ``S`` for every row.
    """

    def __init__(self, means: np.ndarray, covariances: np.ndarray, log_prior: np.ndarray,
                 X: np.ndarray, y: np.ndarray) -> None:
        self.covariances = covariances
        self.log_prior = np.asarray(log_prior, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.int64)
        n_classes, n_neurons = means.shape
        self.n_rows = X.shape[0]
        self.residuals = np.empty((n_classes, self.n_rows, n_neurons), dtype=np.float64)
        for c in range(n_classes):
            np.subtract(X, means[c][None, :], out=self.residuals[c], dtype=np.float64)
        self.schur = np.stack([np.diagonal(covariances[c]).astype(np.float64) for c in range(n_classes)])
        self.chol_rows = np.zeros((n_classes, 0, n_neurons), dtype=np.float64)  # rows of L^{-1} Sigma[S, :]
        self.loglik = np.zeros((self.n_rows, n_classes), dtype=np.float64)
        self.selected: list[int] = []
        counts = np.bincount(self.y, minlength=n_classes) / self.n_rows
        nz = counts[counts > 0]
        #: entropy (nats) of the class distribution of the evaluated rows
        self.class_entropy = float(-(nz * np.log(nz)).sum())

    @property
    def n_classes(self) -> int:
        return self.schur.shape[0]

    @property
    def n_neurons(self) -> int:
        return self.schur.shape[1]

    def add(self, j: int) -> None:
        """Add neuron ``j`` to ``S``: rank-one update of every candidate's Schur complement and residual."""
        j = int(j)
        rows = np.empty((self.n_classes, 1, self.n_neurons), dtype=np.float64)
        for c in range(self.n_classes):
            s_j = self.schur[c, j]
            sigma_row = np.asarray(self.covariances[c, j], dtype=np.float64)
            g = (sigma_row - self.chol_rows[c, :, j] @ self.chol_rows[c]) / math.sqrt(s_j)
            r_j = self.residuals[c, :, j].copy()
            self.loglik[:, c] -= 0.5 * (_LOG_2PI + math.log(s_j) + r_j ** 2 / s_j)
            # R <- R - r_j (K[j, :] / K[j, j]) with K[j, :] = g sqrt(s_j): BLAS ger on R^T, in place
            updated = _ger(-1.0 / math.sqrt(s_j), g, r_j, a=self.residuals[c].T, overwrite_a=1)
            if not np.shares_memory(updated, self.residuals):
                self.residuals[c] = updated.T
            self.schur[c] -= g ** 2
            self.schur[c, j] = 0.0
            self.residuals[c, :, j] = 0.0
            rows[c, 0] = g
        self.chol_rows = np.concatenate([self.chol_rows, rows], axis=1)
        self.selected.append(j)

    def candidate_scores(self, candidates: np.ndarray | None = None, *, criterion: str | None = None) -> np.ndarray:
        """Mutual information (bits) and accuracy of ``S + {d}`` for every candidate ``d``.

        Parameters
        ----------
        candidates : int ndarray, optional
            Neurons to score; every unselected neuron by default.
        criterion : {"mi", "accuracy"}, optional
            Compute only this column (the other is NaN); both by default.

        Returns
        -------
        ndarray of shape (n_candidates, 2)
            Column 0: ``(H(class) - mean_i(-log p(y_i | x_i[S + d]))) / ln 2``; column 1: the share of rows
            whose most probable class (``argmax_c log p(c) + log N(x[S + d] | c)``) is ``y_i``.
        """
        want = (criterion in (None, "mi"), criterion in (None, "accuracy"))
        base = (self.loglik + self.log_prior[None, :]).T[:, :, None]  # (C, N, 1)
        block = max(1, _BLOCK_BYTES // (8 * self.n_classes * max(self.n_rows, 1) * 2))
        if candidates is None:  # contiguous column blocks of the state: no gather of the residuals
            mask = np.ones(self.n_neurons, dtype=bool)
            mask[self.selected] = False
            out = np.full((self.n_neurons, 2), np.nan)
            for start in range(0, self.n_neurons, block):
                cols = slice(start, min(start + block, self.n_neurons))
                s = np.where(mask[cols][None, :], self.schur[:, cols], 1.0)  # selected columns: any finite value
                out[cols] = self._block_scores(base, s, self.residuals[:, :, cols], want)
            return out[mask]
        candidates = np.asarray(candidates, dtype=np.int64).reshape(-1)
        out = np.empty((candidates.shape[0], 2), dtype=np.float64)
        for start in range(0, candidates.shape[0], block):
            cols = candidates[start:start + block]
            out[start:start + len(cols)] = self._block_scores(base, self.schur[:, cols], self.residuals[:, :, cols],
                                                              want)
        return out

    def _block_scores(self, base: np.ndarray, s: np.ndarray, r: np.ndarray, want: tuple[bool, bool]) -> np.ndarray:
        """Scores of a block of candidates from their Schur complements ``s`` (C, B) and residuals ``r`` (C, N, B)."""
        out = np.full((s.shape[1], 2), np.nan)
        joint = np.square(r)  # becomes log p(c) + log N(x[S + d] | c), shape (C, N, B)
        joint *= (-0.5 / s)[:, None, :]
        joint += (-0.5 * (_LOG_2PI + np.log(s)))[:, None, :]
        joint += base
        if want[0]:
            true = joint[self.y, np.arange(self.n_rows), :]  # (N, B)
            top = joint.max(axis=0)
            shifted = np.subtract(joint, top[None])
            np.exp(shifted, out=shifted)
            log_z = np.log(shifted.sum(axis=0))
            log_z += top
            cross_entropy = (log_z - true).mean(axis=0)
            out[:, 0] = (self.class_entropy - cross_entropy) / math.log(2.0)
        if want[1]:
            out[:, 1] = (joint.argmax(axis=0) == self.y[:, None]).mean(axis=0)
        return out


def greedy_select(
    state: GreedyGaussianState,
    n_steps: int,
    *,
    criterion: str = "mi",
    progress: Callable[[Any], Any] | None = None,
) -> dict:
    """Greedy forward selection: ``n_steps`` times add the candidate with the best criterion.

    Ties go to the lowest neuron index (as a strict ``>`` over candidates in index order).

    Parameters
    ----------
    state : GreedyGaussianState
    n_steps : int
        Neurons to select (at most ``n_neurons``).
    criterion : {"mi", "accuracy"}
    progress : callable, optional
        Wraps ``range(n_steps)`` (e.g. ``tqdm``).

    Returns
    -------
    dict with keys
        ``selected`` (int ndarray, selection order), ``mi`` and ``accuracy`` (ndarray of shape (n_steps,):
        the criterion values of the selected set after each step) and ``last_scores`` (ndarray of shape
        (n_neurons,): each neuron's criterion as the candidate of the last step, NaN for the selected ones).
    """
    column = CRITERIA[criterion]
    mi, acc = [], []
    last = np.full(state.n_neurons, np.nan)
    steps = range(n_steps) if progress is None else progress(range(n_steps))
    for _ in steps:
        mask = np.ones(state.n_neurons, dtype=bool)
        mask[state.selected] = False
        candidates = np.flatnonzero(mask)
        scores = state.candidate_scores(criterion=criterion)
        best = int(np.argmax(scores[:, column]))
        last[:] = np.nan
        last[candidates] = scores[:, column]
        both = state.candidate_scores(candidates[best:best + 1])[0]  # the other criterion of the chosen one
        mi.append(both[0])
        acc.append(both[1])
        state.add(int(candidates[best]))
    last[state.selected] = np.nan
    return {"selected": np.asarray(state.selected, dtype=np.int64), "mi": np.asarray(mi),
            "accuracy": np.asarray(acc), "last_scores": last}


# ---------------------------------------------------------------- greedy selection over row chunks (issue 13)
#: rows per sub-block of :func:`chunk_criterion_sums` (bounds its temporaries whatever the chunk size)
_SUB_ROWS = 2048


class GreedyNeuronState:
    """The neuron side of :class:`GreedyGaussianState`: Schur complements and Cholesky rows, no rows of data.

    With rows read in chunks (a store larger than memory, or chunks held by dask workers) the per-row residuals
    are not kept: :func:`chunk_criterion_sums` recomputes them for every chunk from this state, since
    ``r_d(x) = x_d - mu_d - G[:, d]^T z`` with ``G = chol_rows`` (``L^{-1} Sigma[S, :]``) and
    ``z = L^{-1} (x[S] - mu[S])``, where ``L = G[:, S]^T`` is the Cholesky factor of ``Sigma[S, S]``.

    Parameters
    ----------
    covariances : ndarray of shape (n_classes, n_neurons, n_neurons)

    Attributes
    ----------
    selected : list of int
    schur : ndarray of shape (n_classes, n_neurons)
        Conditional variance of every neuron given ``S`` (0 for selected neurons).
    chol_rows : ndarray of shape (n_classes, len(selected), n_neurons)
    """

    def __init__(self, covariances: np.ndarray) -> None:
        self.covariances = covariances
        n_classes, n_neurons = covariances.shape[:2]
        self.schur = np.stack([np.diagonal(covariances[c]).astype(np.float64) for c in range(n_classes)])
        self.chol_rows = np.zeros((n_classes, 0, n_neurons), dtype=np.float64)
        self.selected: list[int] = []

    def add(self, j: int) -> None:
        """Add neuron ``j`` to ``S``: the same rank-one update as :meth:`GreedyGaussianState.add`, rows aside."""
        j = int(j)
        n_classes, n_neurons = self.schur.shape
        rows = np.empty((n_classes, 1, n_neurons), dtype=np.float64)
        for c in range(n_classes):
            s_j = self.schur[c, j]
            sigma_row = np.asarray(self.covariances[c, j], dtype=np.float64)
            g = (sigma_row - self.chol_rows[c, :, j] @ self.chol_rows[c]) / math.sqrt(s_j)
            self.schur[c] -= g ** 2
            self.schur[c, j] = 0.0
            rows[c, 0] = g
        self.chol_rows = np.concatenate([self.chol_rows, rows], axis=1)
        self.selected.append(j)


def chunk_criterion_sums(X: np.ndarray, y: np.ndarray, means: np.ndarray, log_prior: np.ndarray,
                         chol_rows: np.ndarray, schur: np.ndarray, selected: list[int]
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Sums over the rows of one chunk of every candidate's cross-entropy and correct predictions.

    The map step of a greedy step over row chunks: summed over all chunks, ``ce / n_rows`` is the
    ``mean_i(-log p(y_i | x_i[S + d]))`` of :meth:`GreedyGaussianState.candidate_scores` and ``correct / n_rows``
    its accuracy. Rows are processed in sub-blocks of 2,048 and candidates in column blocks, so the temporaries
    stay under ~64 MB whatever the chunk.

    Parameters
    ----------
    X : ndarray of shape (n_chunk_rows, n_neurons)
    y : int ndarray of shape (n_chunk_rows,)
    means : ndarray of shape (n_classes, n_neurons)
    log_prior : ndarray of shape (n_classes,)
    chol_rows, schur, selected
        The state of :class:`GreedyNeuronState`.

    Returns
    -------
    ce : ndarray of shape (n_neurons,)
        ``sum_i (log sum_c exp joint_c - joint_{y_i})`` in nats, for ``S + {d}`` (meaningless for selected ``d``).
    correct : ndarray of shape (n_neurons,)
        Rows whose most probable class is ``y_i`` (as float64 counts).
    """
    n_classes, k, n_neurons = chol_rows.shape
    sel = np.asarray(selected, dtype=np.int64)
    ce = np.zeros(n_neurons)
    correct = np.zeros(n_neurons)
    s_all = np.where(schur > 0, schur, 1.0)  # selected columns: any finite value (they are masked by the caller)
    half_log_s = -0.5 * (_LOG_2PI + np.log(s_all))
    inv_s = -0.5 / s_all
    for r0 in range(0, X.shape[0], _SUB_ROWS):
        xb = np.asarray(X[r0:r0 + _SUB_ROWS], dtype=np.float64)
        yb = np.asarray(y[r0:r0 + _SUB_ROWS], dtype=np.int64)
        n = xb.shape[0]
        if n == 0:
            continue
        base = np.empty((n_classes, n))  # log p(c) + log N(x[S] | c)
        z = np.zeros((n_classes, k, n))
        for c in range(n_classes):
            if k:
                L = chol_rows[c][:, sel].T  # lower triangular: the Cholesky factor of Sigma_c[S, S]
                z[c] = _solve_lower(L, (xb[:, sel] - means[c, sel]).T)
                base[c] = -0.5 * (k * _LOG_2PI + (z[c] * z[c]).sum(axis=0)) - np.log(np.diagonal(L)).sum()
            else:
                base[c] = 0.0
            base[c] += log_prior[c]
        zt = np.ascontiguousarray(z.transpose(0, 2, 1))  # (C, n, k)
        block = max(1, _BLOCK_BYTES // (8 * n_classes * n * 3))
        rows = np.arange(n)
        for start in range(0, n_neurons, block):
            cols = slice(start, min(start + block, n_neurons))
            r = xb[None, :, cols] - means[:, None, cols]  # (C, n, B): residuals given S
            if k:
                r -= zt @ chol_rows[:, :, cols]
            joint = np.square(r, out=r)
            joint *= inv_s[:, None, cols]
            joint += half_log_s[:, None, cols]
            joint += base[:, :, None]
            true = joint[yb, rows, :]
            correct[cols] += (joint.argmax(axis=0) == yb[:, None]).sum(axis=0)
            top = joint.max(axis=0)
            joint -= top[None]
            np.exp(joint, out=joint)
            log_z = np.log(joint.sum(axis=0))
            log_z += top
            ce[cols] += (log_z - true).sum(axis=0)
    return ce, correct


def _solve_lower(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    from scipy.linalg import solve_triangular

    return solve_triangular(L, B, lower=True, check_finite=False)


def greedy_select_from_sums(
    criterion_sums: Callable[[GreedyNeuronState], tuple[np.ndarray, np.ndarray]],
    covariances: np.ndarray,
    n_rows: int,
    class_entropy: float,
    n_steps: int,
    *,
    criterion: str = "mi",
    progress: Callable[[Any], Any] | None = None,
) -> dict:
    """:func:`greedy_select` when the rows are read in chunks: one pass over the rows per step.

    ``criterion_sums(state)`` returns the cross-entropy and correct-prediction sums of every candidate over all
    rows (:func:`chunk_criterion_sums` summed over the chunks, in one process or on dask workers); the selection,
    its tie rule (lowest index) and its result are those of :func:`greedy_select`.

    Parameters
    ----------
    criterion_sums : callable
    covariances : ndarray of shape (n_classes, n_neurons, n_neurons)
    n_rows : int
        Rows summed over.
    class_entropy : float
        Entropy (nats) of the class distribution of those rows.
    n_steps, criterion, progress
        See :func:`greedy_select`.

    Returns
    -------
    dict
        As :func:`greedy_select`.
    """
    column = CRITERIA[criterion]
    state = GreedyNeuronState(covariances)
    n_neurons = state.schur.shape[1]
    mi, acc = [], []
    last = np.full(n_neurons, np.nan)
    steps = range(n_steps) if progress is None else progress(range(n_steps))
    for _ in steps:
        ce, correct = criterion_sums(state)
        both = np.stack([(class_entropy - ce / n_rows) / math.log(2.0), correct / n_rows], axis=1)
        mask = np.ones(n_neurons, dtype=bool)
        mask[state.selected] = False
        candidates = np.flatnonzero(mask)
        scores = both[candidates, column]
        best = int(np.argmax(scores))
        last[:] = np.nan
        last[candidates] = scores
        mi.append(both[candidates[best], 0])
        acc.append(both[candidates[best], 1])
        state.add(int(candidates[best]))
    last[state.selected] = np.nan
    return {"selected": np.asarray(state.selected, dtype=np.int64), "mi": np.asarray(mi),
            "accuracy": np.asarray(acc), "last_scores": last}
