"""Rank neurons by the average precision of their activation as a concept detector."""
from __future__ import annotations

from typing import Any

import numpy as np

from neuronlab.concepts.rankers.base import BaseRanker, check_activations, check_labels
from neuronlab.errors import InvalidParameterError, choices

__all__ = ["APRanker", "column_average_precision"]

#: cap on n_rows * neurons-per-block, so sorting temporaries stay around a few hundred MB
_BLOCK_ELEMENTS = 1 << 23
_SIGNED = ("max", "positive")


def _ap_sorted(values: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """AP of each column for each class, given columns sorted by descending score.

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_cols)
        Scores, each column sorted descending.
    positives : bool ndarray of shape (n_classes, n_rows, n_cols)
        Whether the row at each sorted position is positive for the class.

    Returns
    -------
    ndarray of shape (n_classes, n_cols)
    """
    n_rows = values.shape[0]
    # index of the last row of each run of equal scores: precision is only evaluated there,
    # exactly like sklearn, which places one threshold per distinct score
    is_end = np.empty(values.shape, dtype=bool)
    np.not_equal(values[:-1], values[1:], out=is_end[:-1])
    is_end[-1] = True
    end = np.where(is_end, np.arange(n_rows)[:, None], n_rows - 1)
    end = np.minimum.accumulate(end[::-1], axis=0)[::-1]
    out = np.empty((positives.shape[0], values.shape[1]), dtype=np.float64)
    for c, pos in enumerate(positives):
        tp = np.cumsum(pos, axis=0, dtype=np.float64)
        precision_at_end = np.take_along_axis(tp, end, axis=0) / (end + 1.0)
        # AP = sum over thresholds of (recall step) * precision = (1/P) sum over positive rows
        # of the precision at the end of their tie group
        out[c] = np.where(pos, precision_at_end, 0.0).sum(axis=0) / tp[-1]
    return out


def column_average_precision(
    X: np.ndarray, positives: np.ndarray, *, negate: bool = False
) -> np.ndarray:
    """Average precision of every column of ``X`` as a score for every class (one-vs-rest).

    Equal to ``sklearn.metrics.average_precision_score(positives[:, c], X[:, j])`` for every
    class c and column j, ties included, but vectorised: each column is sorted once.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_neurons)
        Scores (finite).
    positives : bool ndarray of shape (n_rows, n_classes)
        Binary relevance of each row for each class; every class needs one positive row.
    negate : bool, default=False
        Score with ``-X`` instead of ``X``.

    Returns
    -------
    ndarray of shape (n_classes, n_neurons)
    """
    n_rows, n_neurons = X.shape
    positives = np.asarray(positives, dtype=bool)
    if not positives.any(axis=0).all():
        raise InvalidParameterError("every class needs at least one positive row for average precision.")
    block = max(1, _BLOCK_ELEMENTS // max(n_rows, 1))
    out = np.empty((positives.shape[1], n_neurons), dtype=np.float64)
    for start in range(0, n_neurons, block):
        cols = X[:, start:start + block]
        order = np.argsort(-cols if negate else cols, axis=0, kind="stable")[::-1]  # descending
        values = np.take_along_axis(cols, order, axis=0)
        sorted_pos = np.stack([pos[order] for pos in positives.T])
        out[:, start:start + block] = _ap_sorted(values, sorted_pos)
    return out


class APRanker(BaseRanker):
    """Per-neuron average precision of the raw activation as a detector of each class.

    For class c (one-vs-rest), the rows are ordered by a neuron's activation and the neuron
    gets the average precision ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct activation
    values as thresholds (the definition of ``sklearn.metrics.average_precision_score``, ties
    included). Vectorised over neurons: each column is sorted once for all classes.

    Parameters
    ----------
    signed : {"max", "positive"}, default="max"
        ``"max"`` scores ``max(AP(a), AP(-a))``, so a neuron whose activation *drops* for the
        concept counts as well (common in residual streams and GELU layers); ``"positive"``
        scores ``AP(a)`` only, as in Suau et al. 2020.

    Attributes
    ----------
    class_scores_ : ndarray of shape (n_classes, n_neurons)
        AP of each neuron for each class.
    sign_ : int8 ndarray of shape (n_classes, n_neurons)
        +1 where ``AP(a)`` was used, -1 where ``AP(-a)`` was larger (``signed="max"``).
    scores_ : ndarray of shape (n_neurons,)
        Maximum over classes. AP of a random score equals the class frequency, so rare classes
        have low AP for every neuron; compare per-class rankings for rare concepts.
    ranking_, per_class_ranking_, classes_
        See :mod:`neuronlab.concepts.rankers.base`.

    References
    ----------
    X. Suau, L. Zappella, N. Apostoloff. "Finding Experts in Transformer Models".
    arXiv:2005.07647, 2020 (neurons as detectors scored by average precision).

    See Also
    --------
    ExpertRanker : the same score on sentence-level max-pooled responses.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[3.0, 1.0], [2.0, 1.0], [1.0, 1.0], [0.0, 1.0]])  # column 1: all tied
    >>> APRanker(signed="positive").fit(X, [1, 1, 0, 0]).class_scores_[1].tolist()
    [1.0, 0.5]
    """

    def __init__(self, *, signed: str = "max") -> None:
        self.signed = signed

    def fit(self, X: Any, y: Any) -> "APRanker":
        """Compute the AP of every neuron for every class.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
        y : array-like of shape (n_rows,)

        Returns
        -------
        self
        """
        if self.signed not in _SIGNED:
            raise InvalidParameterError(f"signed must be one of {choices(_SIGNED)}; got {self.signed!r}.")
        X = check_activations(X)
        classes, y_enc = check_labels(y, X.shape[0])
        positives = y_enc[:, None] == np.arange(classes.shape[0])[None, :]
        class_scores = column_average_precision(X, positives)
        self.sign_ = np.ones(class_scores.shape, dtype=np.int8)
        if self.signed == "max":
            negative = column_average_precision(X, positives, negate=True)
            self.sign_[negative > class_scores] = -1
            class_scores = np.maximum(class_scores, negative)
        return self._set_scores(classes, class_scores.max(axis=0), class_scores)
