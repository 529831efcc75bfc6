"""Checks every registered ranker must pass (in the spirit of sklearn's parametrize_with_checks)."""
import numpy as np
import pytest
from sklearn.base import clone

from neuronlab.concepts.rankers import RANKERS
from neuronlab.errors import InvalidParameterError, NotFittedError

PLANTED = (17, 88, 150)  # carry classes 0, 1, 2
COPY = 199  # noisy copy of neuron 17

# small settings keep the suite fast; every other hyper-parameter keeps its default
FAST = {"rf": {"n_estimators": 30, "max_depth": 8, "random_state": 0}, "gaussian": {"max_dims": 10}}


def make_ranker(name):
    return RANKERS[name].build(**FAST.get(name, {}))


def planted_data(n_rows=3000, n_neurons=200, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n_rows)
    X = rng.normal(size=(n_rows, n_neurons))
    for cls, col in enumerate(PLANTED):
        X[:, col] += 3.0 * (y == cls)
    X[:, COPY] = X[:, PLANTED[0]] + rng.normal(size=n_rows)
    return X.astype(dtype), y


@pytest.fixture(scope="module")
def data():
    return planted_data()


names = pytest.mark.parametrize("name", sorted(RANKERS))


@names
def test_planted_neurons_in_top5(name, data):
    X, y = data
    top5 = set(make_ranker(name).fit(X, y).top_k(5).tolist())
    assert set(PLANTED) <= top5


@names
def test_clone_and_fit_returns_self(name, data):
    X, y = data
    ranker = make_ranker(name)
    copy = clone(ranker)
    assert copy.get_params() == ranker.get_params()
    assert copy.fit(X, y) is copy
    assert not hasattr(ranker, "ranking_")  # cloning did not fit the original


@names
def test_ranking_is_sorted_permutation(name, data):
    X, y = data
    r = make_ranker(name).fit(X, y)
    n = X.shape[1]
    assert r.ranking_.dtype == np.int64
    assert sorted(r.ranking_.tolist()) == list(range(n))
    s = r.scores_[r.ranking_]
    assert np.all(np.diff(s) <= 0)  # best first
    assert r.scores_.shape == (n,)
    assert r.classes_.tolist() == [0, 1, 2, 3]
    if r.class_scores_ is not None:
        assert r.class_scores_.shape == (4, n)
        for i, c in enumerate(r.classes_):
            assert np.all(np.diff(r.class_scores_[i][r.per_class_ranking_[c]]) <= 0)


@names
def test_deterministic(name, data):
    X, y = data
    a = make_ranker(name).fit(X, y)
    b = clone(a).fit(X, y)
    np.testing.assert_array_equal(a.ranking_, b.ranking_)
    np.testing.assert_array_equal(a.scores_, b.scores_)


@names
def test_string_labels_same_as_ints(name, data):
    X, y = data
    words = np.array(["adj", "noun", "verb", "x"])[y]  # sorted, so the class order is kept
    a = make_ranker(name).fit(X, y)
    b = make_ranker(name).fit(X, words)
    assert b.classes_.tolist() == ["adj", "noun", "verb", "x"]
    np.testing.assert_allclose(a.scores_, b.scores_)
    if a.class_scores_ is not None:
        np.testing.assert_array_equal(b.top_k(3, cls="noun"), a.top_k(3, cls=1))


@names
def test_not_fitted(name):
    ranker = make_ranker(name)
    with pytest.raises(NotFittedError, match="not fitted yet.*ranking_"):
        ranker.ranking_
    with pytest.raises(NotFittedError):
        ranker.top_k(3)


@names
def test_bad_input(name, data):
    X, y = data
    ranker = make_ranker(name)
    with pytest.raises(InvalidParameterError, match="only one class"):
        ranker.fit(X[:50], np.zeros(50, dtype=int))
    with pytest.raises(InvalidParameterError, match="different lengths|one label per row"):
        ranker.fit(X, y[:-1])
    with pytest.raises(InvalidParameterError, match="empty"):
        ranker.fit(np.empty((0, 5)), np.empty(0, dtype=int))
    with pytest.raises(InvalidParameterError, match="2-D"):
        ranker.fit(X[:, 0], y)
    bad = X[:100].copy()
    bad[7, 3] = np.nan
    with pytest.raises(InvalidParameterError, match="NaN.*row 7, neuron 3"):
        ranker.fit(bad, y[:100])
    ranker.fit(X[:200], y[:200])
    with pytest.raises(InvalidParameterError, match="k must be between 1 and n_neurons=200; got k=201"):
        ranker.top_k(201)
    if ranker.class_scores_ is not None:
        with pytest.raises(InvalidParameterError, match="cls must be one of the fitted classes"):
            ranker.top_k(3, cls=9)


@pytest.mark.parametrize("name", sorted(set(RANKERS) - {"rf"}))
def test_float16_same_as_float32(name):
    X, y = planted_data(n_rows=600, dtype=np.float16)
    a = make_ranker(name).fit(X, y)
    b = make_ranker(name).fit(X.astype(np.float32), y)
    np.testing.assert_allclose(a.scores_, b.scores_, rtol=1e-6)


@names
def test_input_not_modified(name):
    X, y = planted_data(n_rows=300)
    X = X[:, :20]
    before = X.copy()
    make_ranker(name).fit(X, y)
    np.testing.assert_array_equal(X, before)
    column = np.asfortranarray(X[:, :1])  # a one-column slice whose transpose is contiguous
    make_ranker(name).fit(column, y)
    np.testing.assert_array_equal(column, before[:, :1])


@names
def test_pickle_round_trip(name):
    import pickle

    X, y = planted_data(n_rows=300)
    fitted = make_ranker(name).fit(X[:, :20], y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.ranking_, fitted.ranking_)
    assert not hasattr(pickle.loads(pickle.dumps(make_ranker(name))), "ranking_")
