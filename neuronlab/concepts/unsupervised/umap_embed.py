"""UMAP maps of neurons (by their activation profiles) and of tokens (by their representations).

umap-learn is an optional dependency (``pip install 'neuronlab[umap]'``); it is imported when a map is
fitted, never when this module is imported.
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from neuronlab.concepts.unsupervised._rows import as_rows, read_rows, subsample
from neuronlab.concepts.validation import Interval, StrOptions, ValidatedEstimator
from neuronlab.errors import InvalidParameterError, NeuronlabError

__all__ = ["NeuronUMAP", "TokenUMAP", "OptionalDependencyError", "import_umap"]

#: what to install when umap-learn is missing
UMAP_EXTRA = "pip install 'neuronlab[umap]'  (or: pip install umap-learn)"


class OptionalDependencyError(NeuronlabError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


def import_umap():
    """The ``umap`` module, or :class:`OptionalDependencyError` naming the extra to install."""
    try:
        import umap
    except ImportError as exc:
        raise OptionalDependencyError(
            f"UMAP maps need the optional dependency umap-learn, which is not installed ({exc}); install the "
            f"extra: {UMAP_EXTRA}") from None
    return umap


def standardize_columns(data: np.ndarray) -> np.ndarray:
    """Centre every column and scale it to unit norm (constant columns become 0).

    Euclidean distance between standardised profiles is ``sqrt(2 (1 - r))`` for Pearson ``r``, so a
    Euclidean UMAP of them is a map by correlation, and constant neurons do not produce NaN distances.
    """
    centred = data - data.mean(axis=0, keepdims=True)
    norm = np.sqrt((centred ** 2).sum(axis=0, keepdims=True))
    return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 0)


class _BaseUMAP(ValidatedEstimator, BaseEstimator):
    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "n_neighbors": [Interval(Integral, 2, None, closed="left")],
        "min_dist": [Interval(Real, 0, None, closed="left")],
        "metric": [StrOptions({"euclidean", "cosine", "correlation", "manhattan"})],
        "standardize": ["boolean"],
        "max_rows": [Interval(Integral, 2, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(self, *, n_components: int = 2, n_neighbors: int = 15, min_dist: float = 0.1,
                 metric: str = "euclidean", standardize: bool = True, max_rows: int | None = 5000,
                 random_state: Any = 0) -> None:
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.standardize = standardize
        self.max_rows = max_rows
        self.random_state = random_state

    def _embed(self, points: np.ndarray) -> np.ndarray:
        umap = import_umap()
        n = points.shape[0]
        if n <= self.n_components + 1:
            raise InvalidParameterError(f"a UMAP map needs more than {self.n_components + 1} points, got {n}")
        import warnings

        model = umap.UMAP(n_components=self.n_components, n_neighbors=min(self.n_neighbors, n - 1),
                          min_dist=self.min_dist, metric=self.metric, random_state=self.random_state)
        with warnings.catch_warnings():  # "n_jobs overridden by random_state": expected, we ask for determinism
            warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
            return np.asarray(model.fit_transform(points), dtype=np.float64)


class NeuronUMAP(_BaseUMAP):
    """A UMAP map of neurons: each neuron is a point, described by its activations over the rows.

    The profile of neuron ``j`` is column ``j`` of ``X`` over ``max_rows`` rows (a random subset when
    there are more). With ``standardize=True`` (default) profiles are centred and scaled to unit norm, so
    Euclidean distance is a function of Pearson correlation: neurons that fire together lie together.

    Parameters
    ----------
    n_components : int, default=2
    n_neighbors : int, default=15
        UMAP's neighbourhood size (capped at the number of neurons minus one).
    min_dist : float, default=0.1
    metric : {"euclidean", "cosine", "correlation", "manhattan"}, default="euclidean"
    standardize : bool, default=True
    max_rows : int or None, default=5000
        Rows that make up a profile.
    random_state : int, RandomState or None, default=0

    Attributes
    ----------
    embedding_ : ndarray of shape (n_neurons, n_components)
    rows_ : ndarray of int64
        Rows of ``X`` the profiles were read from.

    References
    ----------
    L. McInnes, J. Healy, J. Melville. "UMAP: Uniform Manifold Approximation and Projection for Dimension
    Reduction". arXiv:1802.03426, 2018.

    See Also
    --------
    TokenUMAP
    """

    def fit(self, X: Any, y: Any = None) -> "NeuronUMAP":
        """Embed the columns of ``X`` (``y`` is ignored)."""
        self._validate_params()
        X, n_rows, n_neurons = as_rows(X)
        self.rows_ = subsample(n_rows, self.max_rows, self.random_state)
        data = read_rows(X, self.rows_)
        if self.standardize:
            data = standardize_columns(data)
        self.embedding_ = self._embed(np.ascontiguousarray(data.T))
        self.n_features_in_ = n_neurons
        return self


class TokenUMAP(_BaseUMAP):
    """A UMAP map of tokens: each row (a word or token occurrence) is a point, ``y`` colours it.

    Parameters are those of :class:`NeuronUMAP`; ``standardize`` scales every neuron to zero mean and unit
    variance over the selected rows (``False`` keeps raw activations); ``max_rows`` caps the points.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_points, n_components)
    rows_ : ndarray of int64
        The row of ``X`` behind each point.
    labels_ : ndarray or None
        ``y`` of every point (for colouring), when ``y`` was given.
    """

    def fit(self, X: Any, y: Any = None) -> "TokenUMAP":
        """Embed (a subset of) the rows of ``X``; ``y`` (one label per row, optional) is kept for colouring."""
        self._validate_params()
        X, n_rows, n_neurons = as_rows(X)
        if y is not None:
            y = np.asarray(y)
            if y.shape != (n_rows,):
                raise InvalidParameterError(f"y must have one label per row of X ({n_rows}), got shape {y.shape}")
        self.rows_ = subsample(n_rows, self.max_rows, self.random_state)
        data = read_rows(X, self.rows_)
        if self.standardize:
            data = standardize_columns(data) * np.sqrt(data.shape[0])
        self.embedding_ = self._embed(data)
        self.labels_ = y[self.rows_] if y is not None else None
        self.n_features_in_ = n_neurons
        return self
