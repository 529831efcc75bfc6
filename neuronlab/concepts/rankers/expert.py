"""Expert units: sentence-level average precision of max-pooled neuron responses (Suau et al. 2020)."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from neuronlab.concepts.rankers.base import BaseRanker, check_activations, check_labels
from neuronlab.concepts.rankers.ap import column_average_precision
from neuronlab.errors import InvalidParameterError

__all__ = ["ExpertRanker", "max_pool_groups"]


def max_pool_groups(X: np.ndarray, groups: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max over the rows of each group.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_neurons)
    groups : array-like of shape (n_rows,)
        Group (sentence) id of every row; any hashable sortable values, rows need not be contiguous.

    Returns
    -------
    pooled : ndarray of shape (n_groups, n_neurons)
        Row g is the column-wise max over the rows of the g-th group in ``np.unique`` order.
    group_ids : ndarray of shape (n_groups,)
        The sorted distinct group ids.
    row_group : int64 ndarray of shape (n_rows,)
        Index into ``group_ids`` of every row.
    """
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != X.shape[0]:
        raise InvalidParameterError(
            f"groups must be 1-D with one sentence id per row of X ({X.shape[0]} rows); "
            f"got shape {groups.shape}."
        )
    group_ids, row_group = np.unique(groups, return_inverse=True)
    row_group = row_group.reshape(-1).astype(np.int64)
    order = np.argsort(row_group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(row_group[order]) != 0])
    pooled = np.maximum.reduceat(X[order], starts, axis=0)
    return pooled, group_ids, row_group


class ExpertRanker(BaseRanker):
    """Rank neurons as sentence-level concept detectors ("expert units").

    A neuron's response to a sentence is the maximum of its activation over the sentence's
    rows (tokens); the neuron is scored, for each class c, by the average precision of that
    response at separating the sentences positive for c from the others (ties handled as in
    ``sklearn.metrics.average_precision_score``). ``scores_`` is the maximum over classes.

    Labels ``y`` are accepted in two forms, told apart by their length:

    - ``len(y) == n_rows`` (per row; checked first): a sentence is positive for class c when
      *any* of its rows is labelled c, so a sentence can be positive for several classes;
    - ``len(y) == n_groups`` (per sentence), in the order of ``np.unique(groups)``.

    Without ``groups`` every row is its own sentence (e.g. rows already pooled, or a
    sentence-granularity store). A class that is positive in *every* sentence cannot be
    detected; its row of ``class_scores_`` is NaN (with a warning) and it is left out of
    ``scores_``.

    Attributes
    ----------
    class_scores_ : ndarray of shape (n_classes, n_neurons)
        Sentence-level AP of each neuron for each class.
    scores_ : ndarray of shape (n_neurons,)
        Maximum AP over classes.
    n_sentences_ : int
        Number of sentences (groups) scored.
    ranking_, per_class_ranking_, classes_
        See :mod:`neuronlab.concepts.rankers.base`.

    References
    ----------
    X. Suau, L. Zappella, N. Apostoloff. "Finding Experts in Transformer Models".
    arXiv:2005.07647, 2020.

    See Also
    --------
    APRanker : the same score on rows without pooling.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [5.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
    >>> r = ExpertRanker().fit(X, ["pos", "neg"], groups=[0, 0, 1, 1])
    >>> r.class_scores_.tolist()
    [[0.5, 1.0], [1.0, 0.5]]
    """

    _parameter_constraints: dict = {}

    def __init__(self) -> None:
        pass

    def fit(self, X: Any, y: Any, groups: Any = None) -> "ExpertRanker":
        """Pool rows per sentence and score every neuron by sentence-level AP.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
        y : array-like of shape (n_rows,) or (n_groups,)
            Labels per row or per sentence (see the class docstring).
        groups : array-like of shape (n_rows,), optional
            Sentence id of every row; ``None`` means each row is a sentence.

        Returns
        -------
        self
        """
        self._validate_params()
        X = check_activations(X)
        n_rows = X.shape[0]
        if groups is None:
            pooled, row_group, n_groups = X, np.arange(n_rows), n_rows
        else:
            pooled, _, row_group = max_pool_groups(X, groups)
            n_groups = pooled.shape[0]
        y_arr = np.asarray(y)
        if y_arr.ndim == 1 and y_arr.shape[0] == n_rows:
            classes, y_enc = check_labels(y_arr, n_rows)
            positives = np.zeros((n_groups, classes.shape[0]), dtype=bool)
            positives[row_group, y_enc] = True
        elif y_arr.ndim == 1 and y_arr.shape[0] == n_groups:
            classes, y_enc = check_labels(y_arr, n_groups)
            positives = y_enc[:, None] == np.arange(classes.shape[0])[None, :]
        else:
            raise InvalidParameterError(
                f"y must have one label per row ({n_rows}) or per sentence ({n_groups}); "
                f"got shape {y_arr.shape}."
            )
        if n_groups < 2:
            raise InvalidParameterError(f"need at least two sentences to rank neurons; got {n_groups}.")
        class_scores = column_average_precision(pooled, positives)
        degenerate = positives.all(axis=0)
        if degenerate.all():
            raise InvalidParameterError(
                "every class occurs in every sentence, so no sentence is negative for any class; "
                "pass per-sentence labels or check groups."
            )
        if degenerate.any():
            warnings.warn(
                f"classes {classes[degenerate].tolist()} occur in every sentence; their AP is undefined "
                "(NaN) and they are left out of scores_.",
                UserWarning,
                stacklevel=2,
            )
            class_scores[degenerate] = np.nan
        self.n_sentences_ = int(n_groups)
        scores = np.nanmax(class_scores, axis=0)
        return self._set_scores(classes, scores, class_scores)
