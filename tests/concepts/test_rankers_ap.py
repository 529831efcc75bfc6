"""APRanker and column_average_precision against sklearn.metrics.average_precision_score."""
import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from neuronlab.concepts.rankers import APRanker, column_average_precision
from neuronlab.errors import InvalidParameterError


def sklearn_ap(X, y, classes, sign=1.0):
    return np.array(
        [[average_precision_score(y == c, sign * X[:, j].astype(np.float64)) for j in range(X.shape[1])]
         for c in classes]
    )


def test_hand_computed_with_ties():
    # scores 0.9 (pos), 0.8 (neg), 0.8 (pos), 0.1 (neg): thresholds at 0.9 -> P=1, R=1/2;
    # at 0.8 -> P=2/3, R=1; AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    X = np.array([[0.9], [0.8], [0.8], [0.1]])
    r = APRanker(signed="positive").fit(X, [1, 0, 1, 0])
    assert r.class_scores_[1, 0] == pytest.approx(5 / 6, abs=1e-12)
    # class 0 with -X: order 0.1 (pos), then tie 0.8 (neg, pos), then 0.9 (neg)
    # AP = 1/2 * 1 + 1/2 * 2/3 = 5/6 ; with +X: 0.9 neg, tie {neg pos} -> P=1/3 at R=1/2, then 0.1 -> P=1/2
    # AP(+X, class 0) = 1/2 * 1/3 + 1/2 * 2/4 = 5/12
    r_max = APRanker(signed="max").fit(X, [1, 0, 1, 0])
    assert r_max.class_scores_[0, 0] == pytest.approx(5 / 6, abs=1e-12)
    assert r.class_scores_[0, 0] == pytest.approx(5 / 12, abs=1e-12)
    assert r_max.sign_[0, 0] == -1 and r_max.sign_[1, 0] == 1


@pytest.mark.parametrize("kind", ["rounded", "float16", "integers"])
def test_equals_sklearn_with_many_ties(kind):
    rng = np.random.default_rng(1)
    n_rows, n_neurons = 400, 25
    y = rng.integers(0, 3, n_rows)
    X = rng.normal(size=(n_rows, n_neurons)) + 0.7 * (y[:, None] == (np.arange(n_neurons) % 3))
    if kind == "rounded":
        X = np.round(X, 1)
    elif kind == "float16":
        X = (X + 1024.0).astype(np.float16)  # float16 spacing near 1024 is 0.5-1: many exact ties
    else:
        X = rng.integers(0, 4, size=(n_rows, n_neurons))
    assert len(np.unique(np.asarray(X)[:, 0])) < n_rows / 4  # ties really are there
    pos = APRanker(signed="positive").fit(X, y)
    np.testing.assert_allclose(pos.class_scores_, sklearn_ap(X, y, range(3)), rtol=0, atol=1e-10)
    both = APRanker(signed="max").fit(X, y)
    expected = np.maximum(sklearn_ap(X, y, range(3)), sklearn_ap(X, y, range(3), sign=-1.0))
    np.testing.assert_allclose(both.class_scores_, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(both.scores_, expected.max(axis=0), rtol=0, atol=1e-10)


def test_blocked_columns_equal_unblocked(monkeypatch):
    import neuronlab.concepts.rankers.ap as precision

    rng = np.random.default_rng(2)
    X = np.round(rng.normal(size=(300, 40)), 1)
    pos = rng.integers(0, 2, size=(300, 2)).astype(bool)
    full = column_average_precision(X, pos)
    monkeypatch.setattr(precision, "_BLOCK_ELEMENTS", 300 * 7)  # blocks of 7 neurons
    np.testing.assert_array_equal(column_average_precision(X, pos), full)
    expected = [[average_precision_score(pos[:, c], X[:, j]) for j in range(40)] for c in range(2)]
    np.testing.assert_allclose(full, expected, rtol=0, atol=1e-10)


def test_negative_neuron_needs_signed_max():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 1000)
    X = rng.normal(size=(1000, 30))
    X[:, 12] -= 4.0 * (y == 1)  # fires negatively for class 1 (so positively for class 0)
    X[:, 20] -= 4.0 * (y == 1) * (rng.random(1000) < 0.5)  # weaker, only negative for class 1
    assert APRanker(signed="max").fit(X, y).ranking_[0] == 12
    r = APRanker(signed="max").fit(X, y)
    assert r.sign_[1, 12] == -1 and r.sign_[0, 12] == 1
    assert APRanker(signed="positive").fit(X, y).per_class_ranking_[1][0] != 12


def test_invalid_signed():
    with pytest.raises(InvalidParameterError, match="The 'signed' parameter of APRanker must be a str among .*Got 'abs' instead"):
        APRanker(signed="abs").fit(np.eye(4), [0, 1, 0, 1])


def test_class_without_positives_rejected():
    with pytest.raises(InvalidParameterError, match="at least one positive"):
        column_average_precision(np.eye(3), np.zeros((3, 2), dtype=bool))
