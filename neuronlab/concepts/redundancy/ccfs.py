"""Task-specific redundancy and CCFS, the paper's efficient feature-based transfer (Dalvi et al. 2020).

CCFS (Section 6 of the paper) keeps the neurons a task needs in three steps:

1. **LayerSelector** (:class:`~neuronlab.concepts.redundancy.LayerSelector`): the lowest layers whose probe
   is within ``layer_delta`` of the all-layer oracle;
2. **Correlation clustering** (:class:`~neuronlab.concepts.redundancy.CorrelationClustering`) of those
   layers' neurons at ``threshold``, one random neuron per cluster (general redundancy removed);
3. **Feature selection**: the linear probe (:class:`~neuronlab.concepts.probes.LinearProbe`) ranks the
   remaining neurons by its weights (Dalvi et al. 2019) and the smallest top-k within ``delta`` of the
   probe on all of them is kept (:func:`~neuronlab.concepts.evaluation.minimal_neuron_subset`).

A probe trained on the kept neurons only is the transferred classifier (``probe_``): report its test
accuracy and the share of neurons it reads. :class:`TaskRedundancy` is step 3 alone on every neuron: the
share of neurons a task does not need (the paper's task-specific neuron-level redundancy).

Every choice is made on held-out training rows (whole sentences with ``groups``); test rows are only
scored.

References
----------
Dalvi, F., Sajjad, H., Durrani, N., Belinkov, Y. (2020). Analyzing Redundancy in Pretrained Transformer
Models. EMNLP.
Dalvi, F. et al. (2019). What is one grain of sand in the desert? Analyzing individual neurons in deep NLP
models. AAAI.
"""
from __future__ import annotations

from numbers import Real
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, clone

from neuronlab.concepts.evaluation.minimal import DEFAULT_GRID, MinimalSubset, _dev_split, minimal_neuron_subset
from neuronlab.concepts.probes.linear import LinearProbe, as_float_rows
from neuronlab.concepts.rankers.linear import neuron_ordering, probe_weights
from neuronlab.concepts.redundancy.clustering import LINKAGES, REPRESENTATIVES, CorrelationClustering
from neuronlab.concepts.redundancy.layers import LayerSelector
from neuronlab.concepts.validation import HasMethods, Interval, StrOptions, ValidatedEstimator
from neuronlab.errors import InvalidParameterError, NotFittedError

__all__ = ["CCFS", "TaskRedundancy"]


def _check_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = as_float_rows(X)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise InvalidParameterError(f"y must have one label per row of X ({X.shape[0]}); got shape {y.shape}")
    if np.unique(y).size < 2:
        raise InvalidParameterError("y has a single class: nothing to probe (a task needs at least two classes)")
    return X, y


def _select_top(probe: Any, X: np.ndarray, y: np.ndarray, candidates: np.ndarray, *, delta: float,
                grid: Sequence[float], dev_size: float, groups: Any, random_state: Any
                ) -> tuple[np.ndarray, np.ndarray, MinimalSubset]:
    """Rank ``candidates`` by a probe fitted on the fit rows; smallest top-k within ``delta`` on the dev rows.

    Returns the ranking and the selected neurons (both as columns of ``X``) and the minimal-subset record
    (its ``accuracy``/``oracle_accuracy`` are dev accuracies here).
    """
    fit_rows, dev_rows = _dev_split(X.shape[0], float(dev_size), groups, random_state)
    X_fit = X[np.ix_(fit_rows, candidates)]
    X_dev = X[np.ix_(dev_rows, candidates)]
    y_fit, y_dev = y[fit_rows], y[dev_rows]
    ranker = clone(probe).fit(X_fit, y_fit)
    ranking = neuron_ordering(probe_weights(ranker))
    inner_groups = None if groups is None else np.asarray(groups)[fit_rows]
    minimal = minimal_neuron_subset(probe, X_fit, y_fit, X_dev, y_dev, ranking, delta=delta, grid=grid,
                                    dev_size=dev_size, groups=inner_groups, random_state=random_state)
    return candidates[ranking], candidates[minimal.neurons], minimal


class _Selected:
    """``transform``, ``predict`` and ``score`` through the kept neurons (``neurons_``, ``probe_``)."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "neurons_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; call fit(X, y) first.")

    def transform(self, X: Any) -> np.ndarray:
        """The kept neurons' columns of ``X``."""
        self._check_fitted()
        return as_float_rows(X)[:, self.neurons_]

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the probe trained on the kept neurons only."""
        self._check_fitted()
        return self.probe_.predict(self.transform(X))

    def score(self, X: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` (the feature-based transfer with the kept neurons)."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


_COMMON = {
    "probe": [HasMethods(["fit", "predict"]), None],
    "delta": [Interval(Real, 0, 1, closed="both")],
    "grid": ["array-like"],
    "dev_size": [Interval(Real, 0, 1, closed="neither")],
    "random_state": ["random_state"],
}


class TaskRedundancy(_Selected, ValidatedEstimator, BaseEstimator):
    """Share of neurons a task does not need: the smallest probe-ranked top-k within ``delta`` (Dalvi et al. 2020).

    The probe is trained on all neurons (on the fit part of the training rows), its weights rank them
    (Dalvi et al. 2019), and the smallest top-k whose retrained probe is within ``delta`` of the
    all-neuron probe on the dev rows is kept; the rest are redundant for the task.

    Parameters
    ----------
    probe : classifier with ``coef_``, optional
        ``LinearProbe()`` when omitted.
    delta : float in [0, 1], default=0.01
        Allowed accuracy loss (absolute).
    grid : sequence of float in (0, 1]
        Fractions of the neurons tried for k (:data:`~neuronlab.concepts.evaluation.minimal.DEFAULT_GRID`).
    dev_size : float in (0, 1), default=0.2
    random_state : int, RandomState or None, default=0

    Attributes
    ----------
    ranking_ : int ndarray of shape (n_neurons,)
        Columns, best first.
    neurons_ : int ndarray
        The kept columns (top of ``ranking_``).
    removable_fraction_ : float
        ``1 - len(neurons_) / n_neurons``.
    dev_accuracy_, dev_oracle_accuracy_ : float
        Dev accuracy of the probe on the kept neurons and on all of them (fitted on the fit rows).
    minimal_ : MinimalSubset
    probe_ : fitted classifier
        Trained on every training row, kept neurons only.
    n_features_in_ : int

    References
    ----------
    Dalvi et al. (2020), Analyzing Redundancy in Pretrained Transformer Models. EMNLP (Section 5.2).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 600)
    >>> X = np.column_stack([rng.normal(size=(600, 9)), 3 * y + rng.normal(size=600)])
    >>> tr = TaskRedundancy(delta=0.02).fit(X, y)
    >>> tr.neurons_.tolist(), round(tr.removable_fraction_, 2)
    ([9], 0.9)
    """

    _parameter_constraints: dict = dict(_COMMON)

    def __init__(self, probe: Any = None, *, delta: float = 0.01, grid: Sequence[float] = DEFAULT_GRID,
                 dev_size: float = 0.2, random_state: Any = 0) -> None:
        self.probe = probe
        self.delta = delta
        self.grid = grid
        self.dev_size = dev_size
        self.random_state = random_state

    def fit(self, X: Any, y: Any, *, groups: Any = None) -> "TaskRedundancy":
        """Rank every neuron with the probe and keep the smallest top-k within ``delta``.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
        y : array-like of shape (n_rows,)
        groups : array-like of shape (n_rows,), optional
            Sentence of each row (dev rows are whole sentences).

        Returns
        -------
        self
        """
        self._validate_params()
        X, y = _check_xy(X, y)
        probe = LinearProbe() if self.probe is None else self.probe
        all_cols = np.arange(X.shape[1], dtype=np.intp)
        self.ranking_, self.neurons_, self.minimal_ = _select_top(
            probe, X, y, all_cols, delta=self.delta, grid=self.grid, dev_size=self.dev_size, groups=groups,
            random_state=self.random_state)
        self.removable_fraction_ = 1.0 - len(self.neurons_) / X.shape[1]
        self.dev_accuracy_ = self.minimal_.accuracy
        self.dev_oracle_accuracy_ = self.minimal_.oracle_accuracy
        self.probe_ = clone(probe).fit(X[:, self.neurons_], y)
        self.n_features_in_ = int(X.shape[1])
        return self


class CCFS(_Selected, ValidatedEstimator, BaseEstimator):
    """LayerSelector + correlation clustering + probe-ranked minimal top-k (Dalvi et al. 2020).

    Parameters
    ----------
    probe : classifier with ``coef_``, optional
        One probe for every step (cloned per fit); ``LinearProbe()`` when omitted.
    threshold : float in [0, 2] or None, default=0.3
        Correlation-clustering distance threshold (``1 - |r|``); None skips clustering.
    delta : float in [0, 1], default=0.01
        Allowed (absolute) accuracy loss of the minimal top-k against the probe on the clustered neurons.
    layer_delta : float in [0, 1], optional
        Allowed loss of the layer prefix against the all-layer oracle; ``delta`` when omitted.
    select_layers : bool, default=True
        Run the LayerSelector (needs ``layers`` in :meth:`fit`).
    linkage, representative
        See :class:`~neuronlab.concepts.redundancy.CorrelationClustering` (NeuroX's ``average`` and the
        paper's random representative by default).
    grid, dev_size, random_state
        See :class:`TaskRedundancy`; ``random_state`` also draws the cluster representatives.
    max_memory_gb : float, optional
        Budget of the correlation matrix (see :class:`~neuronlab.concepts.redundancy.StreamingCorrelation`).

    Attributes
    ----------
    layer_selector_ : LayerSelector or None
    clustering_ : CorrelationClustering or None
    n_after_layers_, n_after_clustering_ : int
        Neurons left after each step.
    ranking_ : int ndarray
        Clustered neurons (columns of ``X``), best first.
    neurons_ : int ndarray
        The kept columns.
    kept_fraction_ : float
        ``len(neurons_) / n_neurons`` (all neurons of ``X``).
    dev_accuracy_, dev_oracle_accuracy_ : float
        Dev accuracy of the probe on the kept neurons and on the clustered ones.
    minimal_ : MinimalSubset
    probe_ : fitted classifier
        Trained on every training row, kept neurons only: the feature-based transfer.
    n_features_in_ : int

    References
    ----------
    Dalvi et al. (2020), Analyzing Redundancy in Pretrained Transformer Models. EMNLP (Section 6).

    See Also
    --------
    LayerSelector, CorrelationClustering, TaskRedundancy

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 600)
    >>> signal = 3 * y + rng.normal(size=600)
    >>> X = np.column_stack([signal, 2 * signal, rng.normal(size=(600, 2)), signal + rng.normal(size=600)])
    >>> ccfs = CCFS(threshold=0.1, delta=0.02, representative="first").fit(
    ...     X, y, layers=["emb", "emb", "emb", "emb", "l0"])
    >>> ccfs.n_after_layers_, ccfs.n_after_clustering_, ccfs.neurons_.tolist()
    (4, 3, [0])
    """

    _parameter_constraints: dict = {
        **_COMMON,
        "threshold": [Interval(Real, 0, 2, closed="both"), None],
        "layer_delta": [Interval(Real, 0, 1, closed="both"), None],
        "select_layers": ["boolean"],
        "linkage": [StrOptions(set(LINKAGES))],
        "representative": [StrOptions(set(REPRESENTATIVES))],
        "max_memory_gb": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, probe: Any = None, *, threshold: float | None = 0.3, delta: float = 0.01,
                 layer_delta: float | None = None, select_layers: bool = True, linkage: str = "average",
                 representative: str = "random", grid: Sequence[float] = DEFAULT_GRID, dev_size: float = 0.2,
                 random_state: Any = 0, max_memory_gb: float | None = None) -> None:
        self.probe = probe
        self.threshold = threshold
        self.delta = delta
        self.layer_delta = layer_delta
        self.select_layers = select_layers
        self.linkage = linkage
        self.representative = representative
        self.grid = grid
        self.dev_size = dev_size
        self.random_state = random_state
        self.max_memory_gb = max_memory_gb

    def fit(self, X: Any, y: Any, *, layers: Sequence[Any] | None = None, groups: Any = None) -> "CCFS":
        """Select layers, cluster their neurons, rank the representatives and keep the minimal top-k.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
        y : array-like of shape (n_rows,)
        layers : sequence of length n_neurons, optional
            Layer (site) of every column in model order; required when ``select_layers``.
        groups : array-like of shape (n_rows,), optional
            Sentence of each row (dev rows are whole sentences).

        Returns
        -------
        self
        """
        self._validate_params()
        X, y = _check_xy(X, y)
        probe = LinearProbe() if self.probe is None else self.probe
        n = X.shape[1]
        cols = np.arange(n, dtype=np.intp)
        self.layer_selector_ = None
        if self.select_layers:
            if layers is None:
                raise InvalidParameterError("select_layers=True needs layers= (the layer of each column); pass "
                                            "the sites of the neuron ids, or set select_layers=False")
            delta = self.delta if self.layer_delta is None else self.layer_delta
            self.layer_selector_ = LayerSelector(probe, delta=delta, dev_size=self.dev_size,
                                                 random_state=self.random_state).fit(X, y, layers=layers, groups=groups)
            cols = self.layer_selector_.columns_
        self.n_after_layers_ = int(cols.size)
        self.clustering_ = None
        if self.threshold is not None and cols.size > 1:
            self.clustering_ = CorrelationClustering(
                self.threshold, linkage=self.linkage, representative=self.representative,
                random_state=self.random_state, max_memory_gb=self.max_memory_gb).fit(X[:, cols])
            cols = np.sort(cols[self.clustering_.representatives_])
        self.n_after_clustering_ = int(cols.size)
        self.ranking_, self.neurons_, self.minimal_ = _select_top(
            probe, X, y, cols, delta=self.delta, grid=self.grid, dev_size=self.dev_size, groups=groups,
            random_state=self.random_state)
        self.kept_fraction_ = len(self.neurons_) / n
        self.dev_accuracy_ = self.minimal_.accuracy
        self.dev_oracle_accuracy_ = self.minimal_.oracle_accuracy
        self.probe_ = clone(probe).fit(X[:, self.neurons_], y)
        self.n_features_in_ = int(n)
        return self
