"""Probe-level evaluation: ablation curves, retraining, minimal subsets, layer distribution."""
import numpy as np
import pytest
from sklearn.base import clone

from neuronlab.concepts.evaluation import (ablation_curve, layer_distribution, layerwise_accuracy, masked_accuracy,
                                           minimal_neuron_subset, retrain_accuracy)
from neuronlab.concepts.probes import LinearProbe
from neuronlab.concepts.rankers import LinearProbeRanker
from neuronlab.errors import InvalidParameterError

N_PLANTED, D = 10, 200


@pytest.fixture(scope="module")
def planted():
    """10 informative neurons out of 200 (5%), 4 classes; the rest is noise."""
    rng = np.random.default_rng(0)
    n = 4000
    y = rng.integers(0, 4, size=n)
    X = rng.normal(size=(n, D)).astype(np.float32)
    # planted neuron j signals class j % 4 only, so every one of them is needed
    means = 1.5 * (np.arange(N_PLANTED)[None, :] % 4 == np.arange(4)[:, None])
    X[:, :N_PLANTED] += means[y]
    perm = rng.permutation(D)  # informative neurons at scattered columns
    X = X[:, perm]
    planted_cols = np.flatnonzero(perm < N_PLANTED)
    probe = LinearProbe(lambda_l1=1e-3, lambda_l2=1e-3)
    ranker = LinearProbeRanker(probe).fit(X[:3000], y[:3000])
    return X[:3000], y[:3000], X[3000:], y[3000:], planted_cols, probe, ranker


def test_ranking_recovers_planted(planted):
    *_, planted_cols, _, ranker = planted
    assert set(ranker.ranking_[:N_PLANTED].tolist()) == set(planted_cols.tolist())


def test_zeroing_top_hurts_more_than_random(planted):
    Xtr, ytr, Xte, yte, _, _, ranker = planted
    kw = dict(fractions=(0.05,), mode="zero")
    top = ablation_curve(ranker.probe_, Xte, yte, ranker.ranking_, order="top", **kw)
    rnd = ablation_curve(ranker.probe_, Xte, yte, ranker.ranking_, order="random", random_state=0, **kw)
    assert top.full_accuracy > 0.8
    assert top.accuracy[0] < 0.45  # chance is 0.25
    assert rnd.accuracy[0] > top.full_accuracy - 0.15
    assert top.n_neurons.tolist() == [10]


def test_keeping_top_ten_percent_is_close_to_oracle(planted):
    Xtr, ytr, Xte, yte, _, _, ranker = planted
    curve = ablation_curve(ranker.probe_, Xte, yte, ranker.ranking_, fractions=(0.1, 1.0), mode="keep")
    assert curve.accuracy[0] >= curve.full_accuracy - 0.02
    assert curve.accuracy[1] == pytest.approx(curve.full_accuracy)
    bottom = ablation_curve(ranker.probe_, Xte, yte, ranker.ranking_, fractions=(0.5,), order="bottom")
    assert bottom.accuracy[0] < 0.45


def test_masked_accuracy_matches_copy_of_X(planted):
    Xtr, ytr, Xte, yte, _, _, ranker = planted
    sel = ranker.ranking_[:7]
    Xm = np.zeros_like(Xte)
    Xm[:, sel] = Xte[:, sel]
    expected = np.mean(ranker.probe_.predict(Xm) == yte)
    assert masked_accuracy(ranker.probe_, Xte, yte, sel, mode="keep") == pytest.approx(expected)


def test_retrain_top_beats_random(planted):
    Xtr, ytr, Xte, yte, _, probe, ranker = planted
    res = retrain_accuracy(probe, Xtr, ytr, Xte, yte, ranker.ranking_[:N_PLANTED], random_state=0)
    assert res["k"] == N_PLANTED
    assert res["selected_accuracy"] > res["random_accuracy"] + 0.2


def test_minimal_subset_recovers_planted_count(planted):
    Xtr, ytr, Xte, yte, _, probe, ranker = planted
    grid = (0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.5)  # k = 2, 4, 6, 8, 10, 20, 100
    res = minimal_neuron_subset(probe, Xtr, ytr, Xte, yte, ranker.ranking_, delta=0.01, grid=grid)
    assert res.k == N_PLANTED and res.fraction == pytest.approx(0.05)
    assert res.n_dev == 600 and res.dev_accuracy >= res.dev_oracle_accuracy - 0.01
    assert [k for k, _ in res.tried] == [2, 4, 6, 8, 10]
    assert all(acc < res.dev_oracle_accuracy - 0.01 for _, acc in res.tried[:-1])
    # the reported numbers are test accuracies of probes retrained on all training rows
    top = ranker.ranking_[:N_PLANTED]
    expected = np.mean(clone(probe).fit(Xtr[:, top], ytr).predict(Xte[:, top]) == yte)
    assert res.accuracy == pytest.approx(expected)
    assert res.oracle_accuracy == pytest.approx(np.mean(clone(probe).fit(Xtr, ytr).predict(Xte) == yte))


def test_minimal_subset_is_chosen_without_the_test_labels(planted):
    # k must come from held-out training rows: scrambling the test labels may change the reported accuracy, not k
    Xtr, ytr, Xte, yte, _, probe, ranker = planted
    grid = (0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.5)
    groups = np.arange(len(ytr)) // 5  # "sentences" of 5 rows: the dev part holds whole groups
    real = minimal_neuron_subset(probe, Xtr, ytr, Xte, yte, ranker.ranking_, grid=grid, groups=groups)
    scrambled = minimal_neuron_subset(probe, Xtr, ytr, Xte, np.random.default_rng(1).permutation(yte),
                                      ranker.ranking_, grid=grid, groups=groups)
    assert real.k == scrambled.k and real.k in (8, 10) and real.tried == scrambled.tried
    assert scrambled.accuracy < 0.4 < real.accuracy
    with pytest.raises(InvalidParameterError, match="dev_size"):
        minimal_neuron_subset(probe, Xtr, ytr, Xte, yte, ranker.ranking_, dev_size=1.0)
    with pytest.raises(InvalidParameterError, match="groups must have one entry"):
        minimal_neuron_subset(probe, Xtr, ytr, Xte, yte, ranker.ranking_, groups=groups[:10])


def test_layer_distribution_exact():
    ids = [f"embeddings:{i}" for i in range(3)] + [f"layers.0.mlp:{i}" for i in range(4)] + ["layers.1:0", "layers.1:1"]
    ranking = [8, 3, 0, 4, 7, 1, 2, 5, 6]  # top 5: layers.1:1, layers.0.mlp:0, embeddings:0, layers.0.mlp:1, layers.1:0
    assert layer_distribution(ranking, ids, 5) == {"embeddings": 1, "layers.0.mlp": 2, "layers.1": 2}
    assert list(layer_distribution(ranking, ids, 0)) == ["embeddings", "layers.0.mlp", "layers.1"]
    assert sum(layer_distribution(ranking, ids, 9).values()) == 9
    with pytest.raises(InvalidParameterError, match="site:index"):
        layer_distribution([0], ["embeddings"], 1)
    with pytest.raises(InvalidParameterError, match="k must be an integer"):
        layer_distribution(ranking, ids, 10)


def test_layerwise_accuracy_prefers_informative_site(planted):
    Xtr, ytr, Xte, yte, planted_cols, probe, _ = planted
    noise = np.setdiff1d(np.arange(D), planted_cols)[:N_PLANTED]
    data = {"layers.0": (Xtr[:, noise], Xte[:, noise]), "layers.1": (Xtr[:, planted_cols], Xte[:, planted_cols])}
    acc = layerwise_accuracy(probe, data, ytr, yte)
    assert list(acc) == ["layers.0", "layers.1"]
    assert acc["layers.1"] > 0.8 and acc["layers.0"] < 0.4


def test_evaluation_errors(planted):
    Xtr, ytr, Xte, yte, _, probe, ranker = planted
    with pytest.raises(InvalidParameterError, match="mode must be one of keep, zero"):
        ablation_curve(ranker.probe_, Xte, yte, ranker.ranking_, mode="drop")
    with pytest.raises(InvalidParameterError, match="order must be one of"):
        ablation_curve(ranker.probe_, Xte, yte, ranker.ranking_, order="best")
    with pytest.raises(InvalidParameterError, match="ranking must order all 200"):
        ablation_curve(ranker.probe_, Xte, yte, ranker.ranking_[:5])
    with pytest.raises(InvalidParameterError, match="delta"):
        minimal_neuron_subset(probe, Xtr, ytr, Xte, yte, ranker.ranking_, delta=2)
    with pytest.raises(InvalidParameterError, match="selected"):
        retrain_accuracy(probe, Xtr, ytr, Xte, yte, [500])
