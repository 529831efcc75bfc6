"""Declarative validation of estimator hyper-parameters and the input checks shared by probes and rankers.

Every estimator of :mod:`neuronlab.concepts` declares one table, ``_parameter_constraints`` (parameter
name -> list of allowed kinds, in scikit-learn's vocabulary: :class:`Interval`, :class:`StrOptions`,
:class:`Options`, :class:`HasMethods`, ``"boolean"``, ``"random_state"``, ``"array-like"``, a type, or
``None``), and calls :meth:`ValidatedEstimator._validate_params` once at the start of ``fit``. A
violation raises :class:`neuronlab.errors.ParameterConstraintError` (both neuronlab's and
scikit-learn's ``InvalidParameterError``) with one message form::

    The 'quantile' parameter of IoURanker must be a float in the range (0.0, 1.0). Got 1.5 instead.

Checks that relate several parameters (e.g. ``lambda_l1`` and ``alpha`` are exclusive) follow the
table in the estimator itself.

References
----------
scikit-learn's ``sklearn.utils._param_validation`` (the constraint objects are re-exported here, so
estimators import them from one place).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
from sklearn.utils._param_validation import InvalidParameterError as _SkInvalidParameterError
from sklearn.utils._param_validation import validate_parameter_constraints
from sklearn.utils.multiclass import type_of_target

from neuronlab.errors import InvalidParameterError, ParameterConstraintError

__all__ = [
    "ValidatedEstimator",
    "Interval",
    "StrOptions",
    "Options",
    "HasMethods",
    "check_not_sparse_or_complex",
    "check_target",
]

#: targets a classifier or a ranker accepts (``sklearn.utils.multiclass.type_of_target``)
_CLASS_TARGETS = ("binary", "multiclass")


class ValidatedEstimator:
    """Mixin: ``_validate_params()`` checks ``get_params()`` against ``_parameter_constraints``.

    Use it before :class:`sklearn.base.BaseEstimator` in the bases. Every parameter of ``__init__``
    must appear in the table (a test checks it for every registered estimator).
    """

    _parameter_constraints: dict = {}

    def _validate_params(self) -> None:
        """Raise :class:`~neuronlab.errors.ParameterConstraintError` for the first parameter outside its
        constraints (message: parameter, allowed values, value received)."""
        try:
            validate_parameter_constraints(
                self._parameter_constraints, self.get_params(deep=False), caller_name=type(self).__name__
            )
        except _SkInvalidParameterError as exc:
            raise ParameterConstraintError(str(exc)) from None


def check_not_sparse_or_complex(X: Any, *, name: str = "X") -> None:
    """Refuse sparse matrices and complex numbers with a message that says so."""
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):  # scipy.sparse matrix or array, without importing scipy
        raise InvalidParameterError(
            f"{name} is a sparse {type(X).__name__}; sparse input is not supported: pass a dense array "
            f"({name}.toarray()) or a store view."
        )
    dtype = getattr(X, "dtype", None)
    if dtype is not None and np.issubdtype(np.dtype(dtype), np.complexfloating):
        raise InvalidParameterError(f"{name} holds complex numbers (Complex data not supported); pass real activations.")


def check_target(y: Any, n_rows: int | None = None, *, name: str = "y", estimator: str = "this estimator") -> np.ndarray:
    """Return ``y`` as a 1-d array of class labels, or raise.

    Parameters
    ----------
    y : array-like of shape (n_rows,)
        Class labels (ints, strings, or floats with integral values). A column vector of shape
        (n_rows, 1) is accepted with a ``DataConversionWarning``, as in scikit-learn.
    n_rows : int, optional
        Expected length (rows of X).
    estimator : str
        Named in the message when ``y`` is missing.

    Raises
    ------
    InvalidParameterError
        If ``y`` is None, not 1-d, of another length than X, or continuous (``type_of_target``
        says "continuous": regression values are refused instead of becoming one class per value).

    Examples
    --------
    >>> check_target([0, 1, 1]).tolist()
    [0, 1, 1]
    >>> check_target([0.5, 1.25, 3.0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    neuronlab.errors.InvalidParameterError: y holds continuous values (Unknown label type: continuous); ...
    """
    if y is None:
        raise InvalidParameterError(f"{estimator} requires y to be passed, but the target y is None.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; it is used as y.ravel().",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise InvalidParameterError(f"{name} must be 1-D (one label per row); got shape {y.shape}.")
    if n_rows is not None and y.shape[0] != n_rows:
        raise InvalidParameterError(
            f"X and {name} have different lengths: X has {n_rows} rows, {name} has {y.shape[0]} labels."
        )
    if y.size == 0:
        raise InvalidParameterError(f"{name} is empty; need labels of at least two classes.")
    if np.issubdtype(y.dtype, np.complexfloating):
        raise InvalidParameterError(f"{name} holds complex numbers (Complex data not supported).")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all():
            raise InvalidParameterError(f"{name} contains NaN or infinity; labels must be ints or strings.")
        kind = type_of_target(y)
        if kind not in _CLASS_TARGETS:
            raise InvalidParameterError(
                f"{name} holds continuous values (Unknown label type: {kind}); class labels are needed "
                "(ints or strings), e.g. bin the values first."
            )
    return y
