"""Shared contract of the multi-model estimators: ``fit(Xs)`` on one activation matrix per model.

``Xs`` is a sequence of array-likes of shape ``(n_rows, n_neurons_m)`` (numpy arrays, h5py datasets or
store views), the same rows (the same corpus, word by word) in every model; widths may differ. The
estimators read the rows once, in chunks (:func:`~neuronlab.concepts.multimodel.moments.joint_moments`).
"""
from __future__ import annotations

from numbers import Integral
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator

from neuronlab.concepts.multimodel.moments import JointMoments, joint_moments
from neuronlab.concepts.rankers.base import DEFAULT_CHUNK_ROWS, ranking_from_scores
from neuronlab.concepts.validation import Interval, ValidatedEstimator
from neuronlab.errors import InvalidParameterError, NotFittedError

__all__ = ["CrossModelEstimator", "CrossModelRanker"]


class CrossModelEstimator(ValidatedEstimator, BaseEstimator):
    """Base class: validated parameters, ``_moments(Xs)``, and NotFittedError before ``fit``."""

    _parameter_constraints: dict = {"chunk_rows": [Interval(Integral, 1, None, closed="left")]}
    _fitted: frozenset = frozenset()
    #: fewest models the method compares
    min_models: int = 2

    def __init__(self, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.chunk_rows = chunk_rows

    def __getattr__(self, name: str) -> Any:
        if name in type(self)._fitted:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit(Xs) before reading {name}.")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _moments(self, Xs: Sequence[Any], progress: Any = None) -> JointMoments:
        self._validate_params()
        if isinstance(Xs, np.ndarray) or not isinstance(Xs, (list, tuple)) or len(Xs) < self.min_models:
            raise InvalidParameterError(
                f"{type(self).__name__} needs a list of at least {self.min_models} activation matrices (one per "
                f"model, the same rows in each); got {type(Xs).__name__}"
                + (f" of length {len(Xs)}" if isinstance(Xs, (list, tuple)) else ""))
        moments = joint_moments(list(Xs), chunk_rows=self.chunk_rows, progress=progress)
        self.n_rows_ = moments.n_rows
        self.n_features_in_ = [b - a for a, b in moments.bounds]
        return moments


class CrossModelRanker(CrossModelEstimator):
    """A neuron ranking of every model from its relation to the other models (Bau et al. 2019).

    Subclasses implement ``_score(moments) -> list of score arrays`` (higher is more important).

    Attributes
    ----------
    scores_ : list of ndarray
        One array of shape (n_neurons_m,) per model.
    ranking_ : list of int64 ndarray
        Best-first column indices of every model (ties by index, NaN last).
    """

    _fitted = frozenset({"scores_", "ranking_", "n_rows_", "n_features_in_"})

    def fit(self, Xs: Sequence[Any], y: None = None, *, progress: Any = None) -> "CrossModelRanker":
        """Rank the neurons of every model of ``Xs`` (one activation matrix per model, the same rows).

        Parameters
        ----------
        Xs : list of array-like of shape (n_rows, n_neurons_m)
        y : ignored
        progress : callable, optional
            Wraps the iterator of row chunks (e.g. ``tqdm``).

        Returns
        -------
        self
        """
        moments = self._moments(Xs, progress)
        self.scores_ = [np.asarray(s, dtype=np.float64) for s in self._score(moments)]
        self.ranking_ = [ranking_from_scores(s) for s in self.scores_]
        return self

    def _score(self, moments: JointMoments) -> list[np.ndarray]:
        raise NotImplementedError
