"""Rank neurons by the average precision of their activation as a concept detector."""
from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np

from neuronlab.concepts.rankers.base import BaseRanker, check_activations, check_labels
from neuronlab.concepts.rankers.streaming import is_lazy, iter_column_blocks, rows_for_budget
from neuronlab.concepts.validation import Interval, StrOptions
from neuronlab.errors import InvalidParameterError

__all__ = ["APRanker", "column_average_precision"]

#: cap on n_rows * neurons-per-block, so sorting temporaries stay around a few hundred MB
_BLOCK_ELEMENTS = 1 << 23
_SIGNED = ("max", "positive")


def _tie_group_ends(key: np.ndarray, with_starts: bool = False):
    """For every entry of every row of ``key``, the last position of its tie group in the
    ascending order of that row.

    Parameters
    ----------
    key : ndarray of shape (n_cols, n_rows)
        One neuron per row (ascending key = descending score).

    Returns
    -------
    int64 ndarray of shape (n_cols, n_rows)
        ``ends[j, i]``: 0-based position, in row j sorted ascending, of the last entry equal to
        ``key[j, i]``. Precision is evaluated only there, as sklearn places one threshold per
        distinct score. With ``with_starts``, also the first position of the group: for the negated
        key the order reverses and ``n - 1 - start`` is the group end, so one sort serves both signs.
    """
    n = key.shape[1]
    order = np.argsort(key, axis=1)  # any order within ties: only group ends are used
    sorted_key = np.take_along_axis(key, order, axis=1)
    is_end = np.empty(key.shape, dtype=bool)
    np.not_equal(sorted_key[:, :-1], sorted_key[:, 1:], out=is_end[:, :-1])
    is_end[:, -1] = True
    # the end of each position's tie group: a running minimum from the right (on a contiguous flipped copy)
    end = np.where(is_end, np.arange(n), n - 1)[:, ::-1].copy()
    np.minimum.accumulate(end, axis=1, out=end)
    ends = np.empty_like(end)
    np.put_along_axis(ends, order, end[:, ::-1], axis=1)
    if not with_starts:
        return ends
    # first position of each tie group: in the reversed (negated) order it becomes the group's end
    is_start = np.empty(key.shape, dtype=bool)
    is_start[:, 0] = True
    is_start[:, 1:] = is_end[:, :-1]
    start = np.where(is_start, np.arange(n), 0)
    np.maximum.accumulate(start, axis=1, out=start)
    starts = np.empty_like(start)
    np.put_along_axis(starts, order, start, axis=1)
    return ends, starts


def _ap_from_group_ends(ends: np.ndarray) -> np.ndarray:
    """AP of each row given the tie-group ends of the positive entries only.

    With ``e_1 <= ... <= e_P`` the sorted group ends of the P positives, the true positives at
    threshold ``e_k`` are the positives whose group ends at or before ``e_k`` (the last index
    ``m`` with ``e_m == e_k``, plus one), the precision is that count over ``e_k + 1``, and
    ``AP = (1/P) sum_k precision_k`` (each positive adds ``1/P`` recall at its threshold).
    """
    e = np.sort(ends, axis=1)
    n_pos = e.shape[1]
    last = np.empty(e.shape, dtype=bool)
    np.not_equal(e[:, :-1], e[:, 1:], out=last[:, :-1])
    last[:, -1] = True
    tp = np.where(last, np.arange(1, n_pos + 1), n_pos)[:, ::-1].copy()
    np.minimum.accumulate(tp, axis=1, out=tp)
    tp = tp[:, ::-1]
    return (tp / (e + 1.0)).mean(axis=1)


def column_average_precision(
    X: np.ndarray, positives: np.ndarray, *, negate: bool = False, both: bool = False
):
    """Average precision of every column of ``X`` as a score for every class (one-vs-rest).

    Equal to ``sklearn.metrics.average_precision_score(positives[:, c], X[:, j])`` for every
    class c and column j, ties included, but vectorised: each column is sorted once, then each
    class only sorts the positions of its own positive rows, so the cost does not grow with the
    number of classes (for one-hot labels).

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_neurons)
        Scores (finite).
    positives : bool ndarray of shape (n_rows, n_classes)
        Binary relevance of each row for each class; every class needs one positive row.
    negate : bool, default=False
        Score with ``-X`` instead of ``X``.
    both : bool, default=False
        Return ``(AP(X), AP(-X))`` from a single sort per column.

    Returns
    -------
    ndarray of shape (n_classes, n_neurons), or a pair of them with ``both``
    """
    n_rows, n_neurons = X.shape
    positives = np.asarray(positives, dtype=bool)
    if not positives.any(axis=0).all():
        raise InvalidParameterError("every class needs at least one positive row for average precision.")
    rows_of = [np.flatnonzero(col) for col in positives.T]
    block = max(1, _BLOCK_ELEMENTS // max(n_rows, 1))
    out = np.empty((positives.shape[1], n_neurons), dtype=np.float64)
    out_neg = np.empty_like(out) if both else None
    for start in range(0, n_neurons, block):
        # one neuron per row, contiguous; ascending key = descending score
        cols = X[:, start:start + block].T
        key = np.ascontiguousarray(cols) if negate else np.negative(cols, order="C")
        if both:
            ends, starts = _tie_group_ends(key, with_starts=True)
            ends_neg = (n_rows - 1) - starts
        else:
            ends = _tie_group_ends(key)
        for c, rows in enumerate(rows_of):
            out[c, start:start + block] = _ap_from_group_ends(ends[:, rows])
            if both:
                out_neg[c, start:start + block] = _ap_from_group_ends(ends_neg[:, rows])
    return (out, out_neg) if both else out


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
        The direction of the score: +1 where ``AP(a)`` was used (the neuron fires *for* the
        class), -1 where ``AP(-a)`` was larger (it fires *against* it; ``signed="max"`` only).
    ap_positive_, ap_negative_ : ndarray of shape (n_classes, n_neurons)
        ``AP(a)`` and ``AP(-a)`` (``ap_negative_`` is None with ``signed="positive"``), so that a
        report can show both and not only their maximum.
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

    _parameter_constraints: dict = {"signed": [StrOptions(set(_SIGNED))],
                                    "max_memory_gb": [Interval(Real, 0, None, closed="neither"), None]}

    #: ``fit`` accepts lazy row-sliceable data and streams it (see ``max_memory_gb``)
    streams = True

    def __init__(self, *, signed: str = "max", max_memory_gb: float | None = None) -> None:
        self.signed = signed
        self.max_memory_gb = max_memory_gb

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
        self._validate_params()
        lazy = is_lazy(X)
        if not lazy:
            X = check_activations(X)
        classes, y_enc = check_labels(y, X.shape[0])
        positives = y_enc[:, None] == np.arange(classes.shape[0])[None, :]
        if lazy:
            class_scores, negative = self._streamed(X, positives)
        elif self.signed == "max":
            class_scores, negative = column_average_precision(X, positives, both=True)
        else:
            class_scores = column_average_precision(X, positives)
        self.sign_ = np.ones(class_scores.shape, dtype=np.int8)
        self.ap_positive_ = class_scores
        self.ap_negative_ = negative if self.signed == "max" else None
        if self.signed == "max":
            self.sign_[negative > class_scores] = -1
            class_scores = np.maximum(class_scores, negative)
        return self._set_scores(classes, class_scores.max(axis=0), class_scores)

    def _streamed(self, X: Any, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """AP over blocks of columns of a lazy ``X`` (each block: one pass over the rows; AP sorts whole
        columns, so a block holds every row of its columns); equal to the in-memory scores."""
        n_rows, n_neurons = X.shape
        n_classes = positives.shape[1]
        reserved = 8.0 * 3 * n_classes * n_neurons + positives.nbytes
        # a block of c columns: the block (working dtype <= 8 B), its sorted keys and tie groups (~4 copies)
        block_cols = max(1, min(n_neurons, rows_for_budget(n_rows, self.max_memory_gb, copies=4.0,
                                                           reserved_bytes=reserved, cap=n_neurons)))
        chunk_rows = rows_for_budget(n_neurons, self.max_memory_gb, copies=2.0, reserved_bytes=reserved
                                     + 8.0 * n_rows * block_cols)
        out = np.empty((n_classes, n_neurons), dtype=np.float64)
        neg = np.empty_like(out) if self.signed == "max" else None
        for c0, c1, cols in iter_column_blocks(X, block_cols, chunk_rows=chunk_rows):
            if neg is not None:
                out[:, c0:c1], neg[:, c0:c1] = column_average_precision(cols, positives, both=True)
            else:
                out[:, c0:c1] = column_average_precision(cols, positives)
        return out, neg
