"""IoURanker against a per-neuron set computation."""
import numpy as np
import pytest

from neuronlab.concepts.rankers import IoURanker
from neuronlab.errors import InvalidParameterError


def set_iou(X, y, thresholds):
    """IoU written with Python sets of row indices, one neuron and one class at a time."""
    classes = sorted(set(y.tolist()))
    out = np.zeros((len(classes), X.shape[1]))
    for j in range(X.shape[1]):
        fired = {i for i in range(X.shape[0]) if X[i, j] > thresholds[j]}
        for k, c in enumerate(classes):
            concept = {i for i in range(X.shape[0]) if y[i] == c}
            union = fired | concept
            out[k, j] = len(fired & concept) / len(union) if union else 0.0
    return out


def test_hand_computed():
    # neuron 0 fires (> 0.5) on rows {0, 1, 2}; class 1 = rows {0, 1}: IoU = 2/3, class 0 = {2, 3}: 1/4 (union is all 4 rows)
    X = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    r = IoURanker(threshold=0.5).fit(X, [1, 1, 0, 0])
    np.testing.assert_allclose(r.class_scores_, [[1 / 4, 1 / 2], [2 / 3, 0.0]])
    np.testing.assert_allclose(r.scores_, [2 / 3, 1 / 2])
    assert r.ranking_.tolist() == [0, 1]


@pytest.mark.parametrize("quantile", [0.995, 0.9, 0.5])
def test_quantile_masks_equal_set_computation(quantile):
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(300, 12)), 1)  # ties at the threshold included
    y = rng.integers(0, 3, 300)
    r = IoURanker(quantile=quantile).fit(X, y)
    thresholds = [np.percentile(X[:, j], 100 * quantile) for j in range(12)]
    np.testing.assert_allclose(r.thresholds_, thresholds)
    np.testing.assert_allclose(r.class_scores_, set_iou(X, y, thresholds), rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.scores_, r.class_scores_.max(axis=0))


def test_fixed_thresholds_scalar_and_per_neuron():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 6))
    y = rng.integers(0, 2, 200)
    per_neuron = np.linspace(-1, 1, 6)
    r = IoURanker(threshold=per_neuron, chunk_rows=17).fit(X, y)
    np.testing.assert_allclose(r.class_scores_, set_iou(X, y, per_neuron), atol=1e-12)
    r = IoURanker(threshold=0.3).fit(X, y)
    np.testing.assert_allclose(r.class_scores_, set_iou(X, y, [0.3] * 6), atol=1e-12)


def test_planted_and_dead_neurons():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 4000)
    X = rng.normal(size=(4000, 50))
    X[:, 31] += 5.0 * (y == 2)
    X[:, 5] = 0.0  # dead neuron: empty mask, IoU 0 (not the class frequency)
    r = IoURanker().fit(X, y)
    assert r.ranking_[0] == 31 and r.per_class_ranking_[2][0] == 31
    # every one of the top 0.5% rows of neuron 31 is class 2: IoU = 20 / |class 2|
    assert r.class_scores_[2, 31] == pytest.approx(20 / np.sum(y == 2))
    assert np.all(r.class_scores_[:, 5] == 0.0)


def test_bad_parameters():
    X, y = np.eye(4), [0, 1, 0, 1]
    for q in (0.0, 1.0, 1.5, "high"):
        with pytest.raises(InvalidParameterError, match=r"The 'quantile' parameter of IoURanker must be a float in the range \(0.0, 1.0\). Got "):
            IoURanker(quantile=q).fit(X, y)
    with pytest.raises(InvalidParameterError, match=r"threshold must be a number or an array of shape \(n_neurons,\)"):
        IoURanker(threshold=[0.1, 0.2]).fit(X, y)
    with pytest.raises(InvalidParameterError, match="The 'chunk_rows' parameter of IoURanker must be an int in the range \\[1, inf\\). Got 0"):
        IoURanker(chunk_rows=0).fit(X, y)
