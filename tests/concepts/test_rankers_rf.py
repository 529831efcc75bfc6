"""RandomForestRanker: Gini importances of sklearn's forest."""
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from neuronlab.concepts.rankers import RandomForestRanker
from neuronlab.errors import InvalidParameterError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    X = rng.normal(size=(400, 20))
    X[:, 3] += 3.0 * (y == 0)
    X[:, 11] += 3.0 * (y == 2)
    return X, y


def test_scores_are_the_forest_importances(data):
    X, y = data
    params = dict(n_estimators=20, max_depth=4, max_features=0.5, class_weight="balanced", random_state=3)
    r = RandomForestRanker(**params).fit(X, y)
    expected = RandomForestClassifier(**params).fit(X, y).feature_importances_
    np.testing.assert_allclose(r.scores_, expected, rtol=1e-12)
    assert r.scores_.sum() == pytest.approx(1.0)
    assert r.class_scores_ is None and r.per_class_ranking_ is None
    with pytest.raises(InvalidParameterError, match="no per-class scores"):
        r.top_k(2, cls=0)


def test_per_class_one_vs_rest(data):
    X, y = data
    r = RandomForestRanker(n_estimators=20, random_state=1, per_class=True).fit(X, y)
    assert r.class_scores_.shape == (3, 20)
    binary = RandomForestClassifier(n_estimators=20, random_state=1).fit(X, y == 2).feature_importances_
    np.testing.assert_allclose(r.class_scores_[2], binary, rtol=1e-12)
    assert r.per_class_ranking_[0][0] == 3 and r.per_class_ranking_[2][0] == 11


def test_dict_class_weight_uses_original_labels(data):
    X, y = data
    words = np.array(["a", "b", "c"])[y]
    r = RandomForestRanker(n_estimators=5, class_weight={"a": 1.0, "b": 2.0, "c": 1.0}, random_state=0)
    assert r.fit(X, words).estimator_.classes_.tolist() == ["a", "b", "c"]
    with pytest.raises(InvalidParameterError, match="class_weight must be None, 'balanced'"):
        r.set_params(per_class=True).fit(X, words)


def test_sklearn_parameter_errors_are_ours(data):
    X, y = data
    with pytest.raises(InvalidParameterError, match="n_estimators"):
        RandomForestRanker(n_estimators=0).fit(X, y)
