"""Shapley values of the words of an input: exact enumeration, KernelSHAP, L-Shapley and C-Shapley.

The game: the players are the words of an example; the value of a coalition S is the target on the input
with only the words of S present (the others removed per ``mode``, :data:`~neuronlab.explain.perturb.MODES`),
``v(S) = f(x_S)``. The Shapley value of word i is::

    phi_i = sum over S not containing i of |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S)),

and the values are *efficient*: ``sum_i phi_i = v(all) - v(empty) = f(x) - f(empty)``. Every explainer here
reports ``f(empty)`` as the reference value and the efficiency gap ``sum(phi) - (f(x) - f(empty))`` per
example in ``config["efficiency_gap"]`` (zero up to rounding for exact Shapley and KernelSHAP, which enforces
it; L- and C-Shapley are local approximations that do not sum exactly).

=============== =================================================================================
method          coalitions evaluated per example of n words
=============== =================================================================================
``shapley``     all 2^n (refused above ``max_words``)
``kernel-shap`` ``n_samples`` (default ``2 n + 2048``, at most 2^n - 2) plus the empty and full ones
``l-shapley``   the subsets of each word's neighbourhood of radius k: at most n 2^(2k+1)
``c-shapley``   the connected windows of each word's neighbourhood: at most 2 n (k + 1)^2
=============== =================================================================================
"""
from __future__ import annotations

import copy
import itertools
from math import comb, factorial
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, choices
from .base import PREDICTED, Explainer, Explanation
from .perturb import WordExplainer, n_words, tick

__all__ = ["ExactShapley", "KernelShap", "LShapley", "CShapley", "kernel_shap_coalitions", "kernel_shap_solve",
           "shapley_from_values"]

#: exact Shapley values enumerate 2^n coalitions: above this many words use kernel-shap or l-/c-shapley
MAX_WORDS = 14


class _Shapley(WordExplainer, Explainer):
    """Shared parts: the mode, per-example coalition values, the efficiency report."""

    def __init__(self, live: Any, *, target: Any = PREDICTED, batch_size: int = 32, mode: str = "mask",
                 engine: str = "auto") -> None:
        super().__init__(live, target=target, batch_size=batch_size)
        self._set_mode(mode)
        self._set_engine(engine)
        self._gaps: list[float] = []

    def params(self) -> dict:
        return {**super().params(), "mode": self.mode}

    def _coalitions(self, n: int, i: int) -> np.ndarray:
        """Keep matrix of the coalitions of example ``i`` (rows 0 and 1: the full and the empty coalition)."""
        raise NotImplementedError

    def _phi(self, keep: np.ndarray, values: np.ndarray, i: int, f_full: float, f_empty: float) -> np.ndarray:
        """Word values of example ``i`` from the values of its coalitions ``keep``."""
        raise NotImplementedError

    def _scores(self, enc, resolved, progress):
        requests = []
        for i in range(enc.n_examples):
            n = n_words(enc, i)
            keep = self._coalitions(n, i)
            requests.append((i, np.vstack([np.ones((1, n), bool), np.zeros((1, n), bool), keep])))
        values = self._evaluate(enc, resolved, requests)
        scores, refs, self._gaps = [], [], []
        for (i, keep), v in zip(requests, values):
            phi = self._phi(keep[2:], v[2:], i, v[0], v[1])
            scores.append(phi)
            refs.append(float(v[1]))
            self._gaps.append(float(phi.sum() - (v[0] - v[1])))
            tick(progress)
        return scores, refs

    def explain(self, inputs: Any, *, target: Any = None, progress: bool = False) -> Explanation:
        ex = super().explain(inputs, target=target, progress=progress)
        ex.config["efficiency_gap"] = list(self._gaps)
        return ex


# ---------------------------------------------------------------------------------------------- exact
def shapley_from_values(values: np.ndarray, n: int) -> np.ndarray:
    """Exact Shapley values from the values of all 2^n coalitions (coalition ``c`` holds player j iff bit j of c).

    >>> v = np.array([0., 1., 2., 4.])     # v({}), v({0}), v({1}), v({0, 1})
    >>> shapley_from_values(v, 2)
    array([1.5, 2.5])
    """
    values = np.asarray(values, dtype=np.float64)
    codes = np.arange(2 ** n)
    size = np.array([int(c).bit_count() for c in codes])
    weight = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) if s < n else 0.0 for s in size])
    phi = np.zeros(n)
    for j in range(n):
        without = codes[(codes >> j) & 1 == 0]
        phi[j] = np.sum(weight[without] * (values[without | (1 << j)] - values[without]))
    return phi


def _all_coalitions(n: int) -> np.ndarray:
    codes = np.arange(2 ** n)
    return ((codes[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)


class ExactShapley(_Shapley):
    """Exact Shapley values of the words, by enumerating all 2^n coalitions (short inputs only).

    Parameters
    ----------
    live : LiveModel
    target : Target, int, dict or "predicted", default="predicted"
    batch_size : int, default=32
        Coalitions per forward pass.
    mode : {"drop", "mask", "unk", "pad"}, default="mask"
        How the words outside a coalition are removed.
    engine : {"auto", "native", "hf"}, default="auto"
        Forward pass of the coalitions: packed where the model allows it (:mod:`~neuronlab.explain.packed`),
        always transformers' (``hf``), or packed or an error (``native``).
    max_words : int, default=14
        Longest input accepted (2^14 = 16384 forward rows per example).

    Raises
    ------
    InvalidParameterError
        From :meth:`explain`, for an input with more than ``max_words`` words.

    Notes
    -----
    Reference: L. S. Shapley, "A value for n-person games", 1953; for model explanations, E. Strumbelj,
    I. Kononenko, "An efficient explanation of individual classifications using game theory", JMLR 2010.
    """

    name = "shapley"

    def __init__(self, live: Any, *, target: Any = PREDICTED, batch_size: int = 32, mode: str = "mask",
                 max_words: int = MAX_WORDS, engine: str = "auto") -> None:
        super().__init__(live, target=target, batch_size=batch_size, mode=mode, engine=engine)
        self.max_words = int(max_words)

    def params(self) -> dict:
        return {**super().params(), "max_words": self.max_words}

    def _coalitions(self, n, i):
        if n > self.max_words:
            raise InvalidParameterError(
                f"exact Shapley values need 2^n forward rows: example {i} has {n} words (> max_words="
                f"{self.max_words}); use method kernel-shap, l-shapley or c-shapley, or raise max_words")
        return _all_coalitions(n)

    def _phi(self, keep, values, i, f_full, f_empty):
        return shapley_from_values(values, keep.shape[1])


# ---------------------------------------------------------------------------------------------- KernelSHAP
def kernel_shap_coalitions(M: int, n_samples: int | str = "auto", seed: int | None = 0
                           ) -> tuple[np.ndarray, np.ndarray]:
    """The coalitions and kernel weights of KernelSHAP, drawn as the ``shap`` package's ``KernelExplainer`` does.

    Coalition sizes are taken in pairs (s, M - s) from the smallest: a size whose expected number of draws
    covers all its subsets is enumerated in full; the remaining budget is drawn at random by size, with the
    Shapley kernel's weight per size, each draw paired with its complement, repeats adding weight. With the same
    ``seed`` (numpy's RandomState) the draws are those of ``shap`` after ``np.random.seed(seed)``.

    Parameters
    ----------
    M : int
        Players (>= 2).
    n_samples : int or "auto"
        ``"auto"``: ``2 M + 2048``; capped at ``2^M - 2`` (then every coalition is enumerated: exact).
    seed : int or None

    Returns
    -------
    masks : numpy.ndarray of shape (n_coalitions, M), bool
    weights : numpy.ndarray of shape (n_coalitions,)

    Notes
    -----
    Reference: S. M. Lundberg, S.-I. Lee, "A unified approach to interpreting model predictions", NeurIPS 2017.
    """
    rng = np.random.RandomState(seed)
    nsamples = 2 * M + 2 ** 11 if n_samples == "auto" else int(n_samples)
    max_samples = 2 ** 30
    if M <= 30:
        max_samples = 2 ** M - 2
        nsamples = min(nsamples, max_samples)
    masks: list[np.ndarray] = []
    weights: list[float] = []
    n_sizes = int(np.ceil((M - 1) / 2.0))
    n_paired = int(np.floor((M - 1) / 2.0))
    weight_vector = np.array([(M - 1.0) / (s * (M - s)) for s in range(1, n_sizes + 1)])
    weight_vector[:n_paired] *= 2
    weight_vector /= weight_vector.sum()
    n_full = 0
    left = nsamples
    remaining = copy.copy(weight_vector)
    for size in range(1, n_sizes + 1):
        n_subsets = comb(M, size) * (2 if size <= n_paired else 1)
        if left * remaining[size - 1] / n_subsets < 1.0 - 1e-8:
            break
        n_full += 1
        left -= n_subsets
        if remaining[size - 1] < 1.0:
            remaining /= 1 - remaining[size - 1]
        w = weight_vector[size - 1] / comb(M, size) / (2.0 if size <= n_paired else 1.0)
        for inds in itertools.combinations(range(M), size):
            mask = np.zeros(M, bool)
            mask[list(inds)] = True
            masks.append(mask)
            weights.append(w)
            if size <= n_paired:
                masks.append(~mask)
                weights.append(w)
    n_fixed = len(masks)
    samples_left = nsamples - n_fixed
    if n_full != n_sizes:
        rem = copy.copy(weight_vector)
        rem[:n_paired] /= 2
        rem = rem[n_full:]
        rem /= rem.sum()
        draws = rng.choice(len(rem), 4 * samples_left, p=rem)
        used: dict[bytes, int] = {}
        pos = 0
        while samples_left > 0 and pos < len(draws):
            size = draws[pos] + n_full + 1
            pos += 1
            mask = np.zeros(M, bool)
            mask[rng.permutation(M)[:size]] = True
            key = mask.tobytes()
            new = key not in used
            if new:
                used[key] = len(masks)
                samples_left -= 1
                masks.append(mask)
                weights.append(1.0)
            else:
                weights[used[key]] += 1.0
            if samples_left > 0 and size <= n_paired:
                if new:
                    samples_left -= 1
                    masks.append(~mask)
                    weights.append(1.0)
                else:
                    weights[used[key] + 1] += 1.0
        w = np.asarray(weights)
        w[n_fixed:] *= weight_vector[n_full:].sum() / w[n_fixed:].sum()
        weights = list(w)
    return np.asarray(masks, dtype=bool).reshape(-1, M), np.asarray(weights, dtype=np.float64)


def kernel_shap_solve(masks: np.ndarray, weights: np.ndarray, values: np.ndarray, f_full: float,
                      f_empty: float) -> np.ndarray:
    """Weighted least squares of KernelSHAP with the efficiency constraint enforced exactly.

    Eliminates the last player, ``phi_M = (f_full - f_empty) - sum(others)``, and solves the weighted normal
    equations for the others (``shap``'s ``KernelExplainer.solve`` without L1 selection).

    >>> masks = np.array([[1, 0], [0, 1]], bool); w = np.array([0.5, 0.5])
    >>> kernel_shap_solve(masks, w, np.array([1., 2.]), 4., 0.)
    array([1.5, 2.5])
    """
    X = np.asarray(masks, dtype=np.float64)
    total = f_full - f_empty
    y = np.asarray(values, dtype=np.float64) - f_empty - X[:, -1] * total
    Z = X[:, :-1] - X[:, -1:]
    WZ = weights[:, None] * Z
    try:
        w = np.linalg.solve(Z.T @ WZ, WZ.T @ y)
    except np.linalg.LinAlgError:
        sw = np.sqrt(weights)
        w = np.linalg.lstsq(sw[:, None] * Z, sw * y, rcond=None)[0]
    return np.append(w, total - w.sum())


class KernelShap(_Shapley):
    """KernelSHAP over word coalitions: the Shapley kernel-weighted linear fit of the coalition values.

    Parameters
    ----------
    live : LiveModel
    target : Target, int, dict or "predicted", default="predicted"
    batch_size : int, default=32
    n_samples : int or "auto", default="auto"
        Coalitions besides the empty and the full one (``"auto"``: ``2 n + 2048``); when it reaches ``2^n - 2``
        every coalition is enumerated and the values are the exact Shapley values.
    seed : int, default=0
        Seed of the coalition draws (the ``shap`` package's draws after ``np.random.seed(seed)``).
    mode : {"drop", "mask", "unk", "pad"}, default="mask"
    engine : {"auto", "native", "hf"}, default="auto"
        Forward pass of the coalitions: packed where the model allows it (:mod:`~neuronlab.explain.packed`),
        always transformers' (``hf``), or packed or an error (``native``).

    Notes
    -----
    Sampling and solution follow the ``shap`` package's ``KernelExplainer`` (:func:`kernel_shap_coalitions`,
    :func:`kernel_shap_solve`; no L1 feature selection, i.e. ``l1_reg=False``); the sum of the values is
    ``f(x) - f(empty)`` exactly. Repeated draws of a coalition are evaluated once. Reference: S. M. Lundberg,
    S.-I. Lee, "A unified approach to interpreting model predictions", NeurIPS 2017.
    """

    name = "kernel-shap"

    def __init__(self, live: Any, *, target: Any = PREDICTED, batch_size: int = 32, n_samples: int | str = "auto",
                 seed: int = 0, mode: str = "mask", engine: str = "auto") -> None:
        super().__init__(live, target=target, batch_size=batch_size, mode=mode, engine=engine)
        if n_samples != "auto" and (isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1):
            raise InvalidParameterError(f"n_samples must be a positive int or 'auto'; got {n_samples!r}")
        self.n_samples = n_samples
        self.seed = int(seed)
        self._weights: dict[int, np.ndarray] = {}

    def params(self) -> dict:
        return {**super().params(), "n_samples": self.n_samples, "seed": self.seed}

    def _coalitions(self, n, i):
        if n < 2:
            self._weights[i] = np.zeros(0)
            return np.zeros((0, n), bool)
        masks, weights = kernel_shap_coalitions(n, self.n_samples, self.seed)
        self._weights[i] = weights
        return masks

    def _phi(self, keep, values, i, f_full, f_empty):
        if keep.shape[1] < 2:
            return np.full(keep.shape[1], f_full - f_empty)
        return kernel_shap_solve(keep, self._weights[i], values, f_full, f_empty)


# ---------------------------------------------------------------------------------------------- L- and C-Shapley
CONTEXTS = ("keep", "remove")


class _LocalShapley(_Shapley):
    def __init__(self, live: Any, *, target: Any = PREDICTED, batch_size: int = 32, k: int = 2, context: str = "keep",
                 mode: str = "mask", engine: str = "auto") -> None:
        super().__init__(live, target=target, batch_size=batch_size, mode=mode, engine=engine)
        if int(k) < 0:
            raise InvalidParameterError(f"k (the neighbourhood radius in words) must be >= 0; got {k}")
        if context not in CONTEXTS:
            raise InvalidParameterError(f"context must be one of {choices(CONTEXTS)}; got {context!r}")
        self.k = int(k)
        self.context = context
        self._terms: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def params(self) -> dict:
        return {**super().params(), "k": self.k, "context": self.context}

    def _terms_of(self, n: int, j: int, lo: int, hi: int):
        """(coalitions with j, the same without j, coefficients) inside word j's neighbourhood."""
        raise NotImplementedError

    def _coalitions(self, n, i):
        withs, withouts, coefs, owner = [], [], [], []
        for j in range(n):
            lo, hi = max(0, j - self.k), min(n - 1, j + self.k)
            base = np.full(n, self.context == "keep")
            base[lo:hi + 1] = False
            w, wo, c = self._terms_of(n, j, lo, hi)
            withs.append(w | base)
            withouts.append(wo | base)
            coefs.append(c)
            owner.append(np.full(len(c), j))
        coef, owner = np.concatenate(coefs), np.concatenate(owner)
        self._terms[i] = (coef, owner, len(coef))
        return np.vstack(withs + withouts)

    def _phi(self, keep, values, i, f_full, f_empty):
        coef, owner, m = self._terms[i]
        return np.bincount(owner, weights=coef * (values[:m] - values[m:]), minlength=keep.shape[1])


class LShapley(_LocalShapley):
    """L-Shapley: the Shapley value of each word in the game of its k-neighbourhood.

    ``phi_j = 1/|N| sum over S in N - {j} of 1 / C(|N| - 1, |S|) * (v(S + j) - v(S))`` with
    ``N = {j-k, ..., j+k}`` (cut at the ends of the sentence).

    Parameters
    ----------
    live : LiveModel
    target : Target, int, dict or "predicted", default="predicted"
    batch_size : int, default=32
    k : int, default=2
        Neighbourhood radius in words.
    context : {"keep", "remove"}, default="keep"
        The words outside the neighbourhood: present in every coalition (as the authors' code does) or removed
        (the value function of the paper's definition read literally).
    mode : {"drop", "mask", "unk", "pad"}, default="mask"
    engine : {"auto", "native", "hf"}, default="auto"
        Forward pass of the coalitions: packed where the model allows it (:mod:`~neuronlab.explain.packed`),
        always transformers' (``hf``), or packed or an error (``native``).

    Notes
    -----
    With ``k >= n - 1`` this is the exact Shapley value. Reference: J. Chen, L. Song, M. J. Wainwright,
    M. I. Jordan, "L-Shapley and C-Shapley: Efficient model interpretation for structured data", ICLR 2019.
    """

    name = "l-shapley"

    def _terms_of(self, n, j, lo, hi):
        others = [x for x in range(lo, hi + 1) if x != j]
        K = len(others) + 1
        withs, withouts, coefs = [], [], []
        for size in range(K):
            for S in itertools.combinations(others, size):
                wo = np.zeros(n, bool)
                wo[list(S)] = True
                w = wo.copy()
                w[j] = True
                withs.append(w)
                withouts.append(wo)
                coefs.append(1.0 / (K * comb(K - 1, size)))
        return np.array(withs), np.array(withouts), np.array(coefs)


class CShapley(_LocalShapley):
    """C-Shapley: Shapley-like values from the connected windows of each word's k-neighbourhood.

    ``phi_j = sum over windows U = [j - s, j + t] (0 <= s, t <= k) of 2 / (|U| (|U| + 1) (|U| + 2)) *
    (v(U) - v(U - j))`` (windows cut at the ends of the sentence).

    Parameters
    ----------
    live : LiveModel
    target : Target, int, dict or "predicted", default="predicted"
    batch_size : int, default=32
    k : int, default=2
        Neighbourhood radius in words.
    context : {"keep", "remove"}, default="keep"
        The words outside the neighbourhood: present in every coalition (the authors' code) or removed.
    mode : {"drop", "mask", "unk", "pad"}, default="mask"
    engine : {"auto", "native", "hf"}, default="auto"
        Forward pass of the coalitions: packed where the model allows it (:mod:`~neuronlab.explain.packed`),
        always transformers' (``hf``), or packed or an error (``native``).

    Notes
    -----
    For a game additive in the words and an infinite sentence the coefficients sum to 1 and C-Shapley equals
    the Shapley value. Reference: J. Chen, L. Song, M. J. Wainwright, M. I. Jordan, "L-Shapley and C-Shapley:
    Efficient model interpretation for structured data", ICLR 2019.
    """

    name = "c-shapley"

    def _terms_of(self, n, j, lo, hi):
        withs, withouts, coefs = [], [], []
        for s in range(j - lo + 1):
            for t in range(hi - j + 1):
                w = np.zeros(n, bool)
                w[j - s:j + t + 1] = True
                wo = w.copy()
                wo[j] = False
                size = s + t + 1
                withs.append(w)
                withouts.append(wo)
                coefs.append(2.0 / (size * (size + 1) * (size + 2)))
        return np.array(withs), np.array(withouts), np.array(coefs)
