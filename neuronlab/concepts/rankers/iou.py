"""Rank neurons by the intersection over union of their activation mask with a concept."""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from neuronlab.concepts.rankers.base import (
    DEFAULT_CHUNK_ROWS,
    BaseRanker,
    check_activations,
    check_labels,
)
from neuronlab.concepts.rankers.streaming import is_lazy, iter_rows, rows_for_budget, streaming_quantile
from neuronlab.concepts.validation import Interval
from neuronlab.errors import InvalidParameterError

__all__ = ["IoURanker", "mask_iou"]


def mask_iou(masks: np.ndarray, onehot: np.ndarray, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> np.ndarray:
    """IoU of every neuron mask with every concept mask.

    Parameters
    ----------
    masks : bool ndarray of shape (n_rows, n_neurons)
    onehot : bool ndarray of shape (n_rows, n_classes)

    Returns
    -------
    ndarray of shape (n_classes, n_neurons)
        ``|M ∩ C| / |M ∪ C|`` (0 where the union is empty).
    """
    n_rows = masks.shape[0]
    inter = np.zeros((onehot.shape[1], masks.shape[1]), dtype=np.float64)
    for start in range(0, n_rows, chunk_rows):
        stop = start + chunk_rows
        inter += onehot[start:stop].T.astype(np.float64) @ masks[start:stop].astype(np.float64)
    mask_size = masks.sum(axis=0, dtype=np.float64)[None, :]
    class_size = onehot.sum(axis=0, dtype=np.float64)[:, None]
    union = mask_size + class_size - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


class IoURanker(BaseRanker):
    """Mask-based neuron selection by intersection over union (network dissection).

    A neuron's mask is the set of rows where its activation is *strictly* above a threshold
    ``T``: by default the per-neuron ``quantile`` of its activations over all rows (0.995,
    i.e. the top 0.5%, as in Bau et al. 2017 and Mu & Andreas 2020), or a fixed ``threshold``.
    The concept mask of class c is the set of rows labelled c (one-vs-rest). The score is the
    true IoU ``|M ∩ C| / |M ∪ C|``. The strict inequality means a neuron whose quantile equals
    its maximum (e.g. a constant or dead neuron) has an empty mask and scores 0 instead of
    covering every row.

    Parameters
    ----------
    quantile : float, default=0.995
        Per-neuron activation quantile used as threshold (``numpy.quantile``, linear
        interpolation); ignored when ``threshold`` is given. Must lie in (0, 1).
    threshold : float or array-like of shape (n_neurons,), optional
        Fixed threshold (one for all neurons, or one per neuron).
    chunk_rows : int, default=16384
        Rows processed at a time when building masks.
    max_memory_gb : float, optional
        Working memory when ``X`` is lazy (a store view or an h5py dataset): ``X`` is then streamed in
        row blocks (the quantiles exactly, by :func:`~neuronlab.concepts.rankers.streaming.streaming_quantile`,
        then the masks block by block) and never held in memory; the result equals the in-memory one.

    Attributes
    ----------
    thresholds_ : ndarray of shape (n_neurons,)
        Threshold used for each neuron.
    class_scores_ : ndarray of shape (n_classes, n_neurons)
        IoU of each neuron with each class.
    scores_ : ndarray of shape (n_neurons,)
        Maximum IoU over classes.
    ranking_, per_class_ranking_, classes_
        See :mod:`neuronlab.concepts.rankers.base`.

    References
    ----------
    D. Bau, B. Zhou, A. Khosla, A. Oliva, A. Torralba. "Network Dissection: Quantifying
    Interpretability of Deep Visual Representations". CVPR 2017.
    J. Mu, J. Andreas. "Compositional Explanations of Neurons". NeurIPS 2020.

    See Also
    --------
    APRanker : a threshold-free alternative.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 5.0], [0.0, 4.0], [1.0, 0.0], [2.0, 0.0]])
    >>> r = IoURanker(threshold=0.5).fit(X, [1, 1, 0, 0])
    >>> r.class_scores_.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """

    _parameter_constraints: dict = {
        "quantile": [Interval(Real, 0, 1, closed="neither")],
        "threshold": [Real, "array-like", None],
        "chunk_rows": [Interval(Integral, 1, None, closed="left")],
        "max_memory_gb": [Interval(Real, 0, None, closed="neither"), None],
    }

    #: ``fit`` accepts lazy row-sliceable data and streams it (see ``max_memory_gb``)
    streams = True

    def __init__(
        self, *, quantile: float = 0.995, threshold: Any = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
        max_memory_gb: float | None = None,
    ) -> None:
        self.quantile = quantile
        self.threshold = threshold
        self.chunk_rows = chunk_rows
        self.max_memory_gb = max_memory_gb

    def _thresholds(self, X: Any, chunk_rows: int | None = None) -> np.ndarray:
        n_neurons = X.shape[1]
        if self.threshold is not None:
            t = np.asarray(self.threshold, dtype=np.float64)
            if t.ndim == 0:
                t = np.full(n_neurons, float(t))
            if t.shape != (n_neurons,):
                raise InvalidParameterError(
                    f"threshold must be a number or an array of shape (n_neurons,)=({n_neurons},); "
                    f"got shape {t.shape}."
                )
            if not np.isfinite(t).all():
                raise InvalidParameterError("threshold contains NaN or infinity.")
            return t
        if chunk_rows is not None:
            return streaming_quantile(X, self.quantile, chunk_rows=chunk_rows,
                                      budget_gb=self.max_memory_gb).astype(np.float64)
        return np.quantile(X, self.quantile, axis=0).astype(np.float64)

    def fit(self, X: Any, y: Any) -> "IoURanker":
        """Compute thresholds, masks and the IoU of every neuron with every class.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
        y : array-like of shape (n_rows,)

        Returns
        -------
        self
        """
        self._validate_params()
        chunk_rows = self.chunk_rows
        if is_lazy(X):
            return self._fit_streaming(X, y)
        X = check_activations(X, chunk_rows=chunk_rows)
        classes, y_enc = check_labels(y, X.shape[0])
        self.thresholds_ = self._thresholds(X)
        masks = np.empty(X.shape, dtype=bool)
        for start in range(0, X.shape[0], chunk_rows):
            stop = start + chunk_rows
            np.greater(X[start:stop], self.thresholds_[None, :], out=masks[start:stop])
        onehot = y_enc[:, None] == np.arange(classes.shape[0])[None, :]
        class_scores = mask_iou(masks, onehot, chunk_rows=chunk_rows)
        return self._set_scores(classes, class_scores.max(axis=0), class_scores)

    def _fit_streaming(self, X: Any, y: Any) -> "IoURanker":
        """Two passes over row blocks of a lazy ``X``: exact quantile thresholds, then mask/class counts."""
        n_rows, n_neurons = X.shape
        classes, y_enc = check_labels(y, n_rows)
        n_classes = classes.shape[0]
        chunk_rows = min(self.chunk_rows, rows_for_budget(n_neurons, self.max_memory_gb, copies=4.0,
                                                          reserved_bytes=8.0 * n_classes * n_neurons))
        self.thresholds_ = self._thresholds(X, chunk_rows=chunk_rows)
        inter = np.zeros((n_classes, n_neurons), dtype=np.float64)
        mask_size = np.zeros(n_neurons, dtype=np.float64)
        for start, stop, block in iter_rows(X, chunk_rows):
            mask = (block > self.thresholds_[None, :]).astype(np.float64)
            onehot = (y_enc[start:stop, None] == np.arange(n_classes)[None, :]).astype(np.float64)
            inter += onehot.T @ mask
            mask_size += mask.sum(axis=0)
        class_size = np.bincount(y_enc, minlength=n_classes).astype(np.float64)[:, None]
        union = mask_size[None, :] + class_size - inter
        class_scores = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        return self._set_scores(classes, class_scores.max(axis=0), class_scores)
