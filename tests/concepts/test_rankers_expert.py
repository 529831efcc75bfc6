"""ExpertRanker: sentence-level max pooling + AP, against sklearn on pooled features."""
import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from neuronlab.concepts.rankers import ExpertRanker
from neuronlab.errors import InvalidParameterError


def token_data(seed=0, n_sentences=120, n_neurons=15):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 9, n_sentences)
    groups = np.repeat(np.arange(n_sentences) * 3 + 5, lengths)  # ids not 0..n-1
    perm = rng.permutation(groups.size)  # rows of a sentence need not be contiguous
    groups = groups[perm]
    y = rng.integers(0, 4, groups.size)
    X = np.round(rng.normal(size=(groups.size, n_neurons)), 1)  # ties after pooling too
    return X, y, groups


def test_hand_example():
    # sentence 0 = rows 0, 1 -> max (5, 1); sentence 1 = rows 2, 3 -> max (1, 2)
    X = np.array([[0.0, 1.0], [5.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
    r = ExpertRanker().fit(X, ["pos", "neg"], groups=[0, 0, 1, 1])
    np.testing.assert_allclose(r.class_scores_, [[0.5, 1.0], [1.0, 0.5]])
    assert r.n_sentences_ == 2


def test_per_row_labels_equal_sklearn_on_pooled():
    X, y, groups = token_data()
    r = ExpertRanker().fit(X, y, groups=groups)
    ids = sorted(set(groups.tolist()))
    pooled = np.array([[max(X[i, j] for i in np.flatnonzero(groups == g)) for j in range(X.shape[1])]
                       for g in ids])
    positive = np.array([[np.any(y[groups == g] == c) for c in range(4)] for g in ids])
    expected = [[average_precision_score(positive[:, c], pooled[:, j]) for j in range(X.shape[1])]
                for c in range(4)]
    np.testing.assert_allclose(r.class_scores_, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(r.scores_, np.max(expected, axis=0), rtol=0, atol=1e-10)


def test_per_sentence_labels():
    X, _, groups = token_data(seed=1)
    ids = np.unique(groups)
    rng = np.random.default_rng(5)
    sentence_y = rng.choice(["neg", "pos"], ids.size)
    r = ExpertRanker().fit(X, sentence_y, groups=groups)
    pooled = np.array([X[groups == g].max(axis=0) for g in ids])
    expected = [[average_precision_score(sentence_y == c, pooled[:, j]) for j in range(X.shape[1])]
                for c in ("neg", "pos")]
    np.testing.assert_allclose(r.class_scores_, expected, rtol=0, atol=1e-10)


def test_planted_expert_found():
    rng = np.random.default_rng(2)
    n_sentences, n_neurons = 300, 60
    lengths = rng.integers(3, 12, n_sentences)
    groups = np.repeat(np.arange(n_sentences), lengths)
    X = rng.normal(size=(groups.size, n_neurons))
    is_concept = rng.random(n_sentences) < 0.3
    # neuron 44 spikes on one token of each concept sentence; its mean over tokens barely moves
    first_rows = np.r_[0, np.cumsum(lengths)[:-1]]
    X[first_rows[is_concept], 44] += 6.0
    r = ExpertRanker().fit(X, is_concept.astype(int), groups=groups)
    assert r.ranking_[0] == 44 and r.per_class_ranking_[1][0] == 44
    assert r.class_scores_[1, 44] > 0.95


def test_degenerate_class_warns_and_is_left_out():
    X = np.array([[0.0, 1.0], [5.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    y = ["det", "noun", "det", "verb"]  # "det" occurs in both sentences
    with pytest.warns(UserWarning, match=r"\['det'\] occur in every sentence"):
        r = ExpertRanker().fit(X, y, groups=[0, 0, 1, 1])
    assert np.isnan(r.class_scores_[0]).all()
    np.testing.assert_allclose(r.scores_, np.nanmax(r.class_scores_, axis=0))
    with pytest.raises(InvalidParameterError, match="every class occurs in every sentence"):
        ExpertRanker().fit(X, ["a", "b", "a", "b"], groups=[0, 0, 1, 1])


def test_bad_groups_and_lengths():
    X = np.zeros((6, 2))
    with pytest.raises(InvalidParameterError, match="groups must be 1-D with one sentence id per row of X \\(6 rows\\)"):
        ExpertRanker().fit(X, [0, 1], groups=[0, 1])
    with pytest.raises(InvalidParameterError, match=r"one label per row \(6\) or per sentence \(3\); got shape \(4,\)"):
        ExpertRanker().fit(X, [0, 1, 0, 1], groups=[0, 0, 1, 1, 2, 2])
