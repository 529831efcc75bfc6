"""Shared contract of every neuron ranker: input checks, score -> ranking, ``top_k``.

A ranker is a scikit-learn estimator whose ``fit(X, y)`` learns

- ``classes_`` : the distinct labels of ``y`` (sorted, as :func:`numpy.unique` returns them),
- ``scores_`` : array of shape (n_neurons,), one global score per neuron, higher = more important,
- ``class_scores_`` : array of shape (n_classes, n_neurons), or ``None`` where a method has none,
- ``ranking_`` : int64 array of shape (n_neurons,), column indices best first,
- ``per_class_ranking_`` : dict class label -> best-first column indices (``None`` when
  ``class_scores_`` is ``None``).

Rankings break ties by column index (a stable sort of the negated scores), so they are
deterministic; NaN scores rank last.
"""
from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from neuronlab.concepts.validation import ValidatedEstimator, check_not_sparse_or_complex, check_target
from neuronlab.errors import InvalidParameterError, NotFittedError, choices

__all__ = [
    "BaseRanker",
    "check_activations",
    "check_shape",
    "check_chunk",
    "check_labels",
    "check_k",
    "ranking_from_scores",
    "DEFAULT_CHUNK_ROWS",
]

#: rows read (and converted) at a time when an input is copied or streamed
DEFAULT_CHUNK_ROWS = 16384

_FITTED_ATTRIBUTES = frozenset(
    {"ranking_", "scores_", "class_scores_", "per_class_ranking_", "classes_", "n_features_in_"}
)


def _working_dtype(dtype: np.dtype) -> np.dtype:
    """float32 for float16/float32 inputs, float64 for float64, ints, bools and numeric objects."""
    if np.issubdtype(dtype, np.floating):
        return np.dtype(np.float64) if dtype.itemsize >= 8 else np.dtype(np.float32)
    if np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_) or dtype == object:
        return np.dtype(np.float64)  # object arrays of numbers are converted (numpy raises on non-numbers)
    raise InvalidParameterError(
        f"X must hold numbers (float16, float32, float64, int or bool); got dtype {dtype}."
    )


def check_shape(X: Any) -> tuple[int, int]:
    """Validate that ``X`` is a non-empty, dense, real 2-D array-like and return its shape."""
    if not hasattr(X, "shape"):
        raise InvalidParameterError(
            f"X must be an array-like of shape (n_rows, n_neurons) with a .shape; got {type(X).__name__}."
        )
    check_not_sparse_or_complex(X)
    shape = tuple(X.shape)
    if len(shape) != 2:
        raise InvalidParameterError(
            f"X must be 2-D of shape (n_rows, n_neurons); got an array of shape {shape}. Reshape your data."
        )
    if shape[0] == 0 or shape[1] == 0:
        what = "0 sample(s)" if shape[0] == 0 else "0 feature(s)"
        raise InvalidParameterError(
            f"X is empty: {what} (shape={shape}) while a minimum of 1 is required; need at least one row and "
            "one neuron."
        )
    return int(shape[0]), int(shape[1])


def check_chunk(chunk: np.ndarray, start: int) -> None:
    """Raise if a block of rows (starting at row ``start``) holds NaN or infinity."""
    if np.issubdtype(chunk.dtype, np.floating) and not np.isfinite(chunk).all():
        bad = np.argwhere(~np.isfinite(chunk))[0]
        raise InvalidParameterError(
            f"X contains NaN or infinity (first at row {start + int(bad[0])}, neuron {int(bad[1])}); "
            "remove or impute those rows before ranking."
        )


def check_activations(X: Any, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> np.ndarray:
    """Return ``X`` as a finite 2-D float array (float32 for float16/32 input, else float64).

    The copy is made in blocks of ``chunk_rows`` rows, so a float16 array or an h5py dataset is
    converted without a second full-size temporary.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_neurons)
        Anything with ``.shape`` that numpy can slice along rows (ndarray, memmap, h5py dataset),
        or a nested list.
    chunk_rows : int
        Rows converted at a time.

    Returns
    -------
    ndarray of shape (n_rows, n_neurons)
    """
    if not hasattr(X, "shape"):
        X = np.asarray(X)
    n_rows, n_neurons = check_shape(X)
    dtype = _working_dtype(np.dtype(X.dtype))
    if isinstance(X, np.ndarray) and X.dtype == dtype:
        for start in range(0, n_rows, chunk_rows):
            check_chunk(X[start:start + chunk_rows], start)
        return X
    out = np.empty((n_rows, n_neurons), dtype=dtype)
    for start in range(0, n_rows, chunk_rows):
        block = np.asarray(X[start:start + chunk_rows])
        check_chunk(block, start)
        out[start:start + chunk_rows] = block
    return out


def check_labels(y: Any, n_rows: int | None = None, *, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Encode labels as ``0..n_classes-1``.

    Parameters
    ----------
    y : array-like of shape (n_rows,)
        Integer or string labels.
    n_rows : int, optional
        Expected length (rows of X); ``None`` skips the check.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        Sorted distinct labels (``np.unique``).
    y_encoded : int64 ndarray of shape (n_rows,)
        Index of each label in ``classes``.
    """
    y = check_target(y, n_rows, name=name, estimator="ranking neurons")
    classes, y_encoded = np.unique(y, return_inverse=True)
    if classes.shape[0] < 2:
        raise InvalidParameterError(
            f"concept has only one class ({_label_key(classes[0])!r}) in {name}; ranking neurons needs at least "
            "two classes (e.g. the concept and everything else)."
        )
    return classes, y_encoded.astype(np.int64).reshape(-1)


def check_k(k: Any, n_neurons: int) -> int:
    """Validate ``1 <= k <= n_neurons``."""
    if isinstance(k, bool) or not isinstance(k, Integral):
        raise InvalidParameterError(f"k must be an int between 1 and {n_neurons}; got {k!r}.")
    if not 1 <= k <= n_neurons:
        raise InvalidParameterError(
            f"k must be between 1 and n_neurons={n_neurons}; got k={k}."
        )
    return int(k)


def ranking_from_scores(scores: np.ndarray) -> np.ndarray:
    """Best-first column indices: descending score, ties by ascending index, NaN last."""
    scores = np.asarray(scores, dtype=np.float64)
    keys = np.where(np.isnan(scores), np.inf, -scores)
    return np.argsort(keys, kind="stable").astype(np.int64)


def _label_key(label: Any) -> Any:
    return label.item() if isinstance(label, np.generic) else label


class BaseRanker(ValidatedEstimator, BaseEstimator):
    """Base class of neuron rankers (scikit-learn estimator).

    Subclasses declare ``_parameter_constraints``, implement ``fit`` (which starts with
    ``self._validate_params()``) and finish it with :meth:`_set_scores`. Reading a learned
    attribute (``ranking_``, ``scores_``, ...) before ``fit`` raises
    :class:`neuronlab.errors.NotFittedError` (a subclass of ``AttributeError``, so ``hasattr``
    and scikit-learn's ``check_is_fitted`` keep working).
    """

    def __getattr__(self, name: str) -> Any:
        # only called when normal look-up fails, i.e. before fit for learned attributes
        if name in _FITTED_ATTRIBUTES:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(X, y) before reading {name}."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _set_scores(
        self, classes: np.ndarray, scores: np.ndarray, class_scores: np.ndarray | None
    ) -> "BaseRanker":
        """Store scores and derive ``ranking_`` and ``per_class_ranking_`` from them."""
        self.classes_ = classes
        self.scores_ = np.asarray(scores, dtype=np.float64)
        self.n_features_in_ = int(self.scores_.shape[0])
        self.ranking_ = ranking_from_scores(self.scores_)
        if class_scores is None:
            self.class_scores_ = None
            self.per_class_ranking_ = None
        else:
            self.class_scores_ = np.asarray(class_scores, dtype=np.float64)
            self.per_class_ranking_ = {
                _label_key(c): ranking_from_scores(row) for c, row in zip(classes, self.class_scores_)
            }
        return self

    def top_k(self, k: int, *, cls: Any = None) -> np.ndarray:
        """The ``k`` best neurons (column indices), globally or for one class.

        Parameters
        ----------
        k : int
            Number of neurons, ``1 <= k <= n_neurons``.
        cls : label, optional
            A value of ``classes_``; ``None`` (default) uses the global ``ranking_``.

        Returns
        -------
        int64 ndarray of shape (k,)
        """
        ranking = self.ranking_  # raises NotFittedError before fit
        k = check_k(k, ranking.shape[0])
        if cls is None:
            return ranking[:k].copy()
        if self.per_class_ranking_ is None:
            raise InvalidParameterError(
                f"{type(self).__name__} has no per-class scores with these settings; call top_k(k) without cls."
            )
        key = _label_key(cls)
        if key not in self.per_class_ranking_:
            raise InvalidParameterError(
                f"cls must be one of the fitted classes ({choices(self.per_class_ranking_)}); got {cls!r}."
            )
        return self.per_class_ranking_[key][:k].copy()
