"""Probeless ranking: differences between per-class mean activations (Antverg & Belinkov 2022)."""
from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

from neuronlab.concepts.rankers.base import (
    DEFAULT_CHUNK_ROWS,
    BaseRanker,
    check_chunk,
    check_labels,
    check_shape,
)
from neuronlab.concepts.validation import Interval

__all__ = ["ProbelessRanker"]


class ProbelessRanker(BaseRanker):
    """Rank neurons by how much their mean activation differs between classes.

    For neuron j and class c let ``q_j(c)`` be the mean activation of j over the rows labelled c.
    The score is the sum over unordered class pairs ``sum_{c < c'} |q_j(c) - q_j(c')|``
    (the paper sums over all pairs of attribute values; counting ordered pairs would double
    every score and leave the ranking unchanged). The per-class score of c is
    ``sum_{c' != c} |q_j(c) - q_j(c')|``, so ``class_scores_.sum(axis=0) == 2 * scores_``.
    No classifier is trained, so the ranking is free of probe-induced bias.

    The class means are accumulated over blocks of ``chunk_rows`` rows, so ``X`` may be any
    object with ``.shape`` that numpy-style slicing reads along rows (an h5py dataset, a memmap)
    and never needs to fit in memory.

    Parameters
    ----------
    chunk_rows : int, default=16384
        Rows read at a time.

    Attributes
    ----------
    means_ : ndarray of shape (n_classes, n_neurons)
        ``q(c)``: mean activation of each neuron per class (float64 accumulation).
    counts_ : int64 ndarray of shape (n_classes,)
        Rows per class.
    class_scores_ : ndarray of shape (n_classes, n_neurons)
    scores_ : ndarray of shape (n_neurons,)
    ranking_, per_class_ranking_, classes_
        See :mod:`neuronlab.concepts.rankers.base`.

    References
    ----------
    O. Antverg, Y. Belinkov. "On the Pitfalls of Analyzing Individual Neurons in Language
    Models". ICLR 2022.

    See Also
    --------
    IoURanker, APRanker

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    >>> ProbelessRanker().fit(X, [0, 0, 1]).scores_.tolist()
    [2.0, 1.0]
    """

    _parameter_constraints: dict = {"chunk_rows": [Interval(Integral, 1, None, closed="left")]}

    #: ``fit`` reads any row-sliceable ``X`` in blocks of ``chunk_rows`` (a store view streams)
    streams = True

    def __init__(self, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.chunk_rows = chunk_rows

    def fit(self, X: Any, y: Any) -> "ProbelessRanker":
        """Accumulate per-class means in row chunks and score every neuron.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
            Activations; anything with ``.shape`` and row slicing (``X[a:b]``).
        y : array-like of shape (n_rows,)
            Concept labels (ints or strings), held in memory.

        Returns
        -------
        self
        """
        self._validate_params()
        chunk_rows = self.chunk_rows
        if not hasattr(X, "shape"):
            X = np.asarray(X)
        n_rows, n_neurons = check_shape(X)
        classes, y_enc = check_labels(y, n_rows)
        n_classes = classes.shape[0]
        sums = np.zeros((n_classes, n_neurons), dtype=np.float64)
        for start in range(0, n_rows, chunk_rows):
            block = np.asarray(X[start:start + chunk_rows], dtype=np.float64)
            check_chunk(block, start)
            labels = y_enc[start:start + chunk_rows]
            onehot = (labels[:, None] == np.arange(n_classes)[None, :]).astype(np.float64)
            sums += onehot.T @ block
        self.counts_ = np.bincount(y_enc, minlength=n_classes).astype(np.int64)
        self.means_ = sums / self.counts_[:, None]
        class_scores = np.stack(
            [np.abs(self.means_[c][None, :] - self.means_).sum(axis=0) for c in range(n_classes)]
        )
        return self._set_scores(classes, class_scores.sum(axis=0) / 2.0, class_scores)
