"""How much do two neuron rankings agree? Top-k overlap, Jaccard, rank correlation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy import stats

from neuronlab.concepts.rankers.base import check_k
from neuronlab.errors import InvalidParameterError, choices

__all__ = ["top_k_overlap", "top_k_jaccard", "rank_correlation", "agreement_matrix", "AgreementMatrix"]

_METHODS = ("spearman", "kendall")
_METRICS = ("overlap", "jaccard")


def _as_ranking(ranking: Any, name: str) -> np.ndarray:
    """A ranker's ``ranking_`` or an array of column indices, checked for duplicates."""
    if hasattr(ranking, "ranking_") or hasattr(type(ranking), "fit"):
        ranking = ranking.ranking_  # NotFittedError for an unfitted ranker
    r = np.asarray(ranking)
    if r.ndim != 1 or r.size == 0 or not np.issubdtype(r.dtype, np.integer):
        raise InvalidParameterError(
            f"{name} must be a non-empty 1-D array of neuron indices (or a fitted ranker); "
            f"got dtype {r.dtype}, shape {r.shape}."
        )
    if np.unique(r).size != r.size:
        raise InvalidParameterError(f"{name} lists some neuron more than once; a ranking has unique indices.")
    return r


def _top_sets(ranking_a: Any, ranking_b: Any, k: int) -> tuple[set, set, int]:
    a = _as_ranking(ranking_a, "ranking_a")
    b = _as_ranking(ranking_b, "ranking_b")
    k = check_k(k, min(a.size, b.size))
    return set(a[:k].tolist()), set(b[:k].tolist()), k


def top_k_overlap(ranking_a: Any, ranking_b: Any, k: int) -> float:
    """Fraction of shared neurons among the top ``k`` of two rankings, ``|A ∩ B| / k``.

    Parameters
    ----------
    ranking_a, ranking_b : array-like of int or fitted ranker
        Best-first neuron indices (or rankers whose ``ranking_`` is used).
    k : int
        Size of the top sets, ``1 <= k <= min(len(a), len(b))``.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> top_k_overlap([3, 1, 2, 0], [1, 0, 3, 2], 2)
    0.5
    """
    a, b, k = _top_sets(ranking_a, ranking_b, k)
    return len(a & b) / k


def top_k_jaccard(ranking_a: Any, ranking_b: Any, k: int) -> float:
    """Jaccard index of the top-``k`` sets, ``|A ∩ B| / |A ∪ B|``.

    Examples
    --------
    >>> top_k_jaccard([3, 1, 2, 0], [1, 0, 3, 2], 2)
    0.3333333333333333
    """
    a, b, _ = _top_sets(ranking_a, ranking_b, k)
    return len(a & b) / len(a | b)


def rank_correlation(scores_a: Any, scores_b: Any, *, method: str = "spearman") -> float:
    """Rank correlation of two score vectors over the same neurons.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (n_neurons,) or fitted ranker
        Global scores (a ranker's ``scores_`` is used when a ranker is passed).
    method : {"spearman", "kendall"}
        :func:`scipy.stats.spearmanr` or :func:`scipy.stats.kendalltau` (tau-b, ties handled).

    Returns
    -------
    float in [-1, 1] (NaN when one vector is constant)

    Examples
    --------
    >>> rank_correlation([1.0, 2.0, 3.0], [10.0, 30.0, 20.0])
    0.5
    """
    if method not in _METHODS:
        raise InvalidParameterError(f"method must be one of {choices(_METHODS)}; got {method!r}.")
    a = np.asarray(getattr(scores_a, "scores_", scores_a), dtype=np.float64)
    b = np.asarray(getattr(scores_b, "scores_", scores_b), dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise InvalidParameterError(
            f"scores_a and scores_b must be 1-D of the same length >= 2; got shapes {a.shape} and {b.shape}."
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InvalidParameterError("scores contain NaN or infinity.")
    result = stats.spearmanr(a, b) if method == "spearman" else stats.kendalltau(a, b)
    return float(result[0])  # (statistic, pvalue) in every scipy >= 1.9


@dataclass(frozen=True)
class AgreementMatrix:
    """Pairwise agreement of named rankings.

    Attributes
    ----------
    names : tuple of str
        Row/column order.
    values : ndarray of shape (n, n)
        ``values[i, j]`` = agreement of ``names[i]`` with ``names[j]`` (1 on the diagonal).
    k : int
    metric : str
    """

    names: tuple[str, ...]
    values: np.ndarray
    k: int
    metric: str

    def __getitem__(self, pair: tuple[str, str]) -> float:
        a, b = pair
        for name in (a, b):
            if name not in self.names:
                raise InvalidParameterError(f"unknown ranking {name!r}; known: {choices(self.names)}.")
        return float(self.values[self.names.index(a), self.names.index(b)])


def agreement_matrix(rankings: Mapping[str, Any], k: int, *, metric: str = "overlap") -> AgreementMatrix:
    """Top-``k`` agreement between every pair of rankings.

    Parameters
    ----------
    rankings : dict of str to (fitted ranker or array-like of int)
        Named rankings over the same neurons.
    k : int
        Size of the top sets.
    metric : {"overlap", "jaccard"}
        :func:`top_k_overlap` or :func:`top_k_jaccard`.

    Returns
    -------
    AgreementMatrix

    Examples
    --------
    >>> m = agreement_matrix({"a": [0, 1, 2], "b": [1, 2, 0]}, k=2)
    >>> m["a", "b"]
    0.5
    """
    if metric not in _METRICS:
        raise InvalidParameterError(f"metric must be one of {choices(_METRICS)}; got {metric!r}.")
    if len(rankings) < 1:
        raise InvalidParameterError("rankings is empty; pass a dict of name -> ranker or ranking.")
    names = tuple(rankings)
    resolved = {name: _as_ranking(value, f"rankings[{name!r}]") for name, value in rankings.items()}
    check_k(k, min(r.size for r in resolved.values()))
    fn = top_k_overlap if metric == "overlap" else top_k_jaccard
    values = np.ones((len(names), len(names)), dtype=np.float64)
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            values[i, j] = values[j, i] = fn(resolved[a], resolved[names[j]], k)
    return AgreementMatrix(names=names, values=values, k=int(k), metric=metric)
