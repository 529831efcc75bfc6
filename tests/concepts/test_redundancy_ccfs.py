"""LayerSelector, CCFS and task-specific redundancy (Dalvi et al. 2020) on planted synthetic data."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from neuronlab.concepts.evaluation.minimal import _dev_split
from neuronlab.concepts.probes import LinearProbe
from neuronlab.concepts.redundancy import CCFS, LayerSelector, TaskRedundancy
from neuronlab.errors import InvalidParameterError, NotFittedError


def _layered(n=900, seed=0):
    """3 layers of 6 neurons; the class is readable from layer 1 on (neurons 6 and 7 of layer 1, copies of
    one signal in layer 2), layer 0 is noise. Groups: 5 rows per sentence."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    sig = np.eye(3)[y] * 3.0 + rng.normal(size=(n, 3)) * 0.4
    l0 = rng.normal(size=(n, 6))
    l1 = np.column_stack([rng.normal(size=(n, 6))[:, :4], sig[:, :2]])  # neurons 10, 11 carry classes 0, 1
    l2 = np.column_stack([2 * sig[:, 0] + 1, -sig[:, 1], rng.normal(size=(n, 4))])  # copies of 10 and 11
    X = np.hstack([l0, l1, l2])
    layers = ["embeddings"] * 6 + ["layers.0"] * 6 + ["layers.1"] * 6
    return X, y, layers, np.repeat(np.arange(n // 5), 5)


def _dev_accuracy(X, y, cols, groups, probe=LinearProbe()):
    fit, dev = _dev_split(len(y), 0.2, groups, 0)
    m = clone(probe).fit(X[np.ix_(fit, cols)], y[fit])
    return float(np.mean(m.predict(X[np.ix_(dev, cols)]) == y[dev]))


def test_layer_selector_keeps_the_lowest_prefix_within_delta():
    X, y, layers, groups = _layered()
    sel = LayerSelector(delta=0.01).fit(X, y, layers=layers, groups=groups)
    assert sel.layers_ == ["embeddings", "layers.0", "layers.1"]
    assert sel.selected_layers_ == ["embeddings", "layers.0"]
    assert sel.columns_.tolist() == list(range(12))
    # the numbers it chose by are the probes on those prefixes, fitted on the fit rows and scored on the dev rows
    assert sel.oracle_accuracy_ == _dev_accuracy(X, y, np.arange(18), groups)
    assert sel.prefix_accuracies_[1] == _dev_accuracy(X, y, np.arange(12), groups)
    assert sel.prefix_accuracies_[0] == _dev_accuracy(X, y, np.arange(6), groups)
    assert sel.prefix_accuracies_[0] < sel.oracle_accuracy_ - 0.2  # layer 0 alone is noise
    assert sel.prefix_accuracies_[1] >= sel.oracle_accuracy_ - 0.01
    assert sel.transform(X).shape == (len(y), 12)


def test_layer_selector_with_delta_one_keeps_the_first_layer_and_zero_keeps_enough():
    X, y, layers, groups = _layered()
    assert LayerSelector(delta=1.0).fit(X, y, layers=layers).selected_layers_ == ["embeddings"]
    sel = LayerSelector(delta=0.0, probe=LogisticRegression(max_iter=500)).fit(X, y, layers=layers, groups=groups)
    assert sel.n_layers_selected_ >= 2
    assert sel.prefix_accuracies_[sel.n_layers_selected_ - 1] >= sel.oracle_accuracy_


def test_ccfs_removes_the_redundant_copy_and_keeps_the_informative_neurons():
    X, y, layers, groups = _layered()
    ccfs = CCFS(threshold=0.2, delta=0.01, select_layers=False).fit(X, y, groups=groups)
    # clustering merges 10 with 12 and 11 with 13 (|r| = 1); nothing else correlates
    assert ccfs.n_after_layers_ == 18 and ccfs.n_after_clustering_ == 16
    kept = set(ccfs.neurons_.tolist())
    assert len(kept & {10, 12}) == 1 and len(kept & {11, 13}) == 1
    assert ccfs.kept_fraction_ == len(kept) / 18
    assert ccfs.score(X, y) > 0.9
    assert ccfs.probe_.coef_.shape[1] == len(kept)


def test_ccfs_with_layers_stops_at_the_selected_layers():
    X, y, layers, groups = _layered(seed=1)
    ccfs = CCFS(threshold=0.2, delta=0.01).fit(X, y, layers=layers, groups=groups)
    assert ccfs.layer_selector_.selected_layers_ == ["embeddings", "layers.0"]
    assert ccfs.n_after_layers_ == 12 and ccfs.n_after_clustering_ == 12
    assert set(ccfs.neurons_.tolist()) >= {10, 11} and max(ccfs.neurons_) < 12
    assert ccfs.dev_accuracy_ >= ccfs.dev_oracle_accuracy_ - 0.01


def test_task_redundancy_keeps_only_the_informative_neurons():
    X, y, layers, groups = _layered(seed=2)
    tr = TaskRedundancy(delta=0.02).fit(X[:, :12], y, groups=groups)
    assert set(tr.neurons_.tolist()) == {10, 11}
    assert tr.removable_fraction_ == pytest.approx(10 / 12)
    assert tr.ranking_[:2].tolist() in ([10, 11], [11, 10])
    assert tr.score(X[:, :12], y) > 0.9


def test_errors_are_clear():
    X, y, layers, groups = _layered()
    with pytest.raises(InvalidParameterError, match="single class"):
        CCFS().fit(X, np.zeros(len(y)), layers=layers)
    with pytest.raises(InvalidParameterError, match="select_layers=True needs layers="):
        CCFS().fit(X, y)
    with pytest.raises(InvalidParameterError, match="layer of each of the 18 columns"):
        LayerSelector().fit(X, y, layers=layers[:-1])
    with pytest.raises(InvalidParameterError, match="'delta' parameter of TaskRedundancy"):
        TaskRedundancy(delta=2).fit(X, y)
    with pytest.raises(NotFittedError, match="not fitted"):
        CCFS().predict(X)


@pytest.mark.parametrize("cls", ["StreamingCorrelation", "CorrelationClustering", "GeneralRedundancy",
                                 "LayerSelector", "CCFS", "TaskRedundancy"])
def test_estimator_contract(cls):
    import neuronlab.concepts.redundancy as red
    from sklearn.base import clone as sk_clone

    est = getattr(red, cls)()
    assert set(est._parameter_constraints) == set(est.get_params(deep=False))
    twin = sk_clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
