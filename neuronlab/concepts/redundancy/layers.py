"""LayerSelector: the lowest layers that keep a task's oracle accuracy (Dalvi et al. 2020, Section 6).

A probe is trained on the concatenated neurons of layers ``0..l`` for every ``l`` (the paper's
"incremental layer-wise" probes, in model order); the *oracle* is the probe on every layer. The selector
keeps the smallest prefix whose dev accuracy is within ``delta`` of the oracle's, so a feature-based
transfer needs the forward pass only up to that layer. Accuracies are measured on held-out training rows
(whole sentences when ``groups`` is given), never on the test rows they are later reported on.

References
----------
Dalvi, F., Sajjad, H., Durrani, N., Belinkov, Y. (2020). Analyzing Redundancy in Pretrained Transformer
Models. EMNLP.
"""
from __future__ import annotations

from numbers import Real
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, clone

from neuronlab.concepts.evaluation.minimal import _dev_split
from neuronlab.concepts.probes.linear import LinearProbe, as_float_rows
from neuronlab.concepts.validation import HasMethods, Interval, ValidatedEstimator
from neuronlab.errors import InvalidParameterError, NotFittedError

__all__ = ["LayerSelector", "layer_order"]


def layer_order(layers: Sequence[Any], n_neurons: int) -> tuple[list, list[np.ndarray]]:
    """The layers in order of first appearance and the columns of each.

    Parameters
    ----------
    layers : sequence of length n_neurons
        The layer (site name, or any hashable) of every column, in model order.
    n_neurons : int

    Returns
    -------
    names : list
    columns : list of int ndarray
    """
    labels = list(layers)
    if len(labels) != n_neurons:
        raise InvalidParameterError(f"layers must name the layer of each of the {n_neurons} columns; got {len(labels)}")
    names: list = []
    index: dict = {}
    cols: list[list[int]] = []
    for j, lab in enumerate(labels):
        if lab not in index:
            index[lab] = len(names)
            names.append(lab)
            cols.append([])
        cols[index[lab]].append(j)
    return names, [np.asarray(c, dtype=np.intp) for c in cols]


def _accuracy(probe: Any, Xa: np.ndarray, ya: np.ndarray, Xb: np.ndarray, yb: np.ndarray) -> float:
    model = clone(probe).fit(Xa, ya)
    return float(np.mean(model.predict(Xb) == yb))


class LayerSelector(ValidatedEstimator, BaseEstimator):
    """Smallest prefix of layers whose probe is within ``delta`` of the all-layer oracle (Dalvi et al. 2020).

    Parameters
    ----------
    probe : classifier, optional
        Cloned for every fit; ``LinearProbe()`` when omitted (the project's one probe).
    delta : float in [0, 1], default=0.01
        Allowed accuracy loss, absolute (0.01 = one point), as in
        :func:`~neuronlab.concepts.evaluation.minimal_neuron_subset`. The paper's code allows a relative
        loss (``oracle * (1 - d/100)``); at the accuracies of POS tagging the two differ by a few
        hundredths of a point.
    dev_size : float in (0, 1), default=0.2
        Share of the training rows (of the sentences, with ``groups``) held out to measure accuracies.
    random_state : int, RandomState or None, default=0
        Seed of the dev split.

    Attributes
    ----------
    layers_ : list
        Layers in model order (first appearance in ``layers``).
    prefix_accuracies_ : ndarray of shape (n_layers,)
        Dev accuracy of the probe on layers ``0..l``; the last one is the oracle. Prefixes deeper than the
        selected one are not trained (NaN).
    oracle_accuracy_ : float
    n_layers_selected_ : int
    selected_layers_ : list
    columns_ : int ndarray
        Columns of the selected layers (into ``X``).
    support_ : bool ndarray of shape (n_neurons,)
    n_features_in_ : int

    References
    ----------
    Dalvi et al. (2020), Analyzing Redundancy in Pretrained Transformer Models. EMNLP.

    See Also
    --------
    CCFS

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> X = np.column_stack([y + 0.1 * rng.normal(size=400), rng.normal(size=(400, 3))])
    >>> sel = LayerSelector(delta=0.02).fit(X, y, layers=["emb", "emb", "l0", "l0"])
    >>> sel.selected_layers_, sel.columns_.tolist()
    (['emb'], [0, 1])
    """

    _parameter_constraints: dict = {
        "probe": [HasMethods(["fit", "predict"]), None],
        "delta": [Interval(Real, 0, 1, closed="both")],
        "dev_size": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, probe: Any = None, *, delta: float = 0.01, dev_size: float = 0.2, random_state: Any = 0) -> None:
        self.probe = probe
        self.delta = delta
        self.dev_size = dev_size
        self.random_state = random_state

    def fit(self, X: Any, y: Any, *, layers: Sequence[Any], groups: Any = None) -> "LayerSelector":
        """Train one probe per prefix of layers and keep the smallest within ``delta`` of the oracle.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
        y : array-like of shape (n_rows,)
        layers : sequence of length n_neurons
            Layer of each column (e.g. the site of each neuron id), in model order.
        groups : array-like of shape (n_rows,), optional
            Sentence of each row: the dev rows are whole sentences.

        Returns
        -------
        self
        """
        self._validate_params()
        X = as_float_rows(X)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise InvalidParameterError(f"y must have one label per row of X ({X.shape[0]}); got shape {y.shape}")
        names, cols = layer_order(layers, X.shape[1])
        probe = LinearProbe() if self.probe is None else self.probe
        fit_rows, dev_rows = _dev_split(X.shape[0], float(self.dev_size), groups, self.random_state)
        X_fit, y_fit, X_dev, y_dev = X[fit_rows], y[fit_rows], X[dev_rows], y[dev_rows]
        oracle = _accuracy(probe, X_fit, y_fit, X_dev, y_dev)
        accs = np.full(len(names), np.nan)
        accs[-1] = oracle
        chosen = len(names)
        for layer in range(len(names) - 1):
            prefix = np.concatenate(cols[:layer + 1])
            accs[layer] = _accuracy(probe, X_fit[:, prefix], y_fit, X_dev[:, prefix], y_dev)
            if accs[layer] >= oracle - self.delta:
                chosen = layer + 1
                break
        self.layers_ = names
        self.prefix_accuracies_ = accs
        self.oracle_accuracy_ = oracle
        self.n_layers_selected_ = chosen
        self.selected_layers_ = names[:chosen]
        self.columns_ = np.concatenate(cols[:chosen])
        self.support_ = np.zeros(X.shape[1], dtype=bool)
        self.support_[self.columns_] = True
        self.n_features_in_ = int(X.shape[1])
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The columns of the selected layers."""
        if not hasattr(self, "columns_"):
            raise NotFittedError("This LayerSelector instance is not fitted yet; call fit(X, y, layers=...) first.")
        return as_float_rows(X)[:, self.columns_]
