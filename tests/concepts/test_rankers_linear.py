"""Probe-based neuron ordering (Dalvi et al. 2019) and selections."""
import numpy as np
import pytest
from sklearn.base import clone

from neuronlab.concepts.probes import LinearProbe
from neuronlab.concepts.rankers.linear import (LinearProbeRanker, entry_steps, neuron_ordering, probe_weights,
                                               select_neurons, top_neurons_per_class)
from neuronlab.errors import InvalidParameterError


def test_top_neurons_exact():
    coef = np.array([[0.5, -3.0, 1.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    # class 0: mass 5, sorted |w| = 3, 1, .5, .5 -> cumulative 3, 4, 4.5, 5
    assert top_neurons_per_class(coef, 0.6)[0].tolist() == [1]          # 3 >= 3
    assert top_neurons_per_class(coef, 0.61)[0].tolist() == [1, 2]      # 3 < 3.05 <= 4
    assert top_neurons_per_class(coef, 1.0)[0].tolist() == [1, 2, 0, 3]  # ties by index
    assert top_neurons_per_class(coef, 0.0)[0].tolist() == [1]         # NeuroX: cum_sums >= 0 keeps the top neuron
    assert top_neurons_per_class(coef, 1.0)[1].tolist() == []           # no mass, nothing


def test_ordering_by_entry_percentage():
    # class 0 mass 10 (8, 2); class 1 mass 10 (5, 5); class 2 mass 1 (1 on neuron 4)
    coef = np.array([[8, 2, 0, 0, 0, 0], [0, 0, 5, 5, 0, 0], [0, 0, 0, 0, 1, 0]], float)
    # p = 0.1: {0}, {2}, {4} enter together -> by peak |w|: 0 (8), 2 (5), 4 (1);
    # p = 0.6: class 1 needs 3 too; p = 0.9: class 0 needs 1; neuron 5 never enters
    assert neuron_ordering(coef, search_stride=10).tolist() == [0, 2, 4, 3, 1, 5]


def _neurox_ordering(coef, stride):
    """NeuroX 1.0.9's get_neuron_ordering on a probe holding ``coef`` (float32, as NeuroX stores it)."""
    torch = pytest.importorskip("torch")
    nx = pytest.importorskip("neurox.interpretation.linear_probe")
    probe = nx.LinearProbe(coef.shape[1], coef.shape[0])
    with torch.no_grad():
        probe.linear.weight.copy_(torch.tensor(coef))
    return nx.get_neuron_ordering(probe, {f"c{i}": i for i in range(coef.shape[0])}, search_stride=stride)


@pytest.mark.parametrize("seed,n_classes,stride", [(0, 5, 100), (1, 3, 20), (2, 1, 50)])
def test_ordering_buckets_match_neurox(seed, n_classes, stride):
    rng = np.random.default_rng(seed)
    coef = (rng.normal(size=(n_classes, 60)) * rng.gamma(0.5, size=60)).astype(np.float32)
    nx_order, cutoffs = _neurox_ordering(coef, stride)
    ours = neuron_ordering(coef, search_stride=stride)
    assert len(cutoffs) == stride + 1
    # the 0% bucket is every class's top neuron
    assert cutoffs[0] == len({int(np.abs(row).argmax()) for row in coef})
    start = 0
    for cut in cutoffs:  # NeuroX's order inside a bucket is arbitrary (a set); the buckets themselves must agree
        assert set(ours[start:cut].tolist()) == {int(i) for i in nx_order[start:cut]}, (start, cut)
        start = cut
    assert start == 60
    steps, via = entry_steps(coef, search_stride=stride)
    assert np.all(np.diff(steps[ours]) >= 0)
    assert [int(np.sum(steps <= s)) for s in range(stride + 1)] == list(cutoffs)  # the same bucket boundaries


@pytest.mark.parametrize("percentage", [0.0, 0.05, 0.5, 1.0])
def test_top_neurons_match_neurox(percentage):
    torch = pytest.importorskip("torch")
    nx = pytest.importorskip("neurox.interpretation.linear_probe")
    rng = np.random.default_rng(3)
    coef = (rng.normal(size=(4, 50)) * rng.gamma(0.5, size=50)).astype(np.float32)
    probe = nx.LinearProbe(50, 4)
    with torch.no_grad():
        probe.linear.weight.copy_(torch.tensor(coef))
    _, theirs = nx.get_top_neurons(probe, percentage, {c: c for c in range(4)})
    ours = top_neurons_per_class(coef, percentage)
    for c in range(4):
        assert ours[c].tolist() == theirs[c].tolist()


def test_ordering_is_a_permutation_and_sign_invariant():
    rng = np.random.default_rng(0)
    coef = rng.normal(size=(4, 50))
    o = neuron_ordering(coef)
    assert sorted(o.tolist()) == list(range(50))
    np.testing.assert_array_equal(o, neuron_ordering(-coef))


def test_select_neurons():
    order = [5, 3, 1, 0, 2, 4]
    assert select_neurons(order, k=2).tolist() == [5, 3]
    assert select_neurons(order, k=2, which="bottom").tolist() == [2, 4]
    assert select_neurons(order, fraction=0.5).tolist() == [5, 3, 1]
    assert select_neurons(order, fraction=0.01).tolist() == [5]  # at least one
    r1 = select_neurons(order, k=3, which="random", random_state=1)
    np.testing.assert_array_equal(r1, select_neurons(order, k=3, which="random", random_state=1))
    assert len(set(r1.tolist())) == 3 and set(r1.tolist()) <= set(order)
    with pytest.raises(InvalidParameterError, match="exactly one of k and fraction"):
        select_neurons(order, k=1, fraction=0.5)
    with pytest.raises(InvalidParameterError, match="which must be one of top, bottom, random"):
        select_neurons(order, k=1, which="middle")
    with pytest.raises(InvalidParameterError, match="k must be an integer in"):
        select_neurons(order, k=7)


def _planted(n=3000, d=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = np.argmax(X[:, [3, 17, 29]] * 2 + 0.3 * rng.normal(size=(n, 3)), axis=1)
    return X, y


def test_ranker_finds_planted_and_contract():
    X, y = _planted()
    r = LinearProbeRanker(lambda_l1=1e-3, lambda_l2=1e-3).fit(X, y)
    assert set(r.ranking_[:3].tolist()) == {3, 17, 29}
    np.testing.assert_array_equal(np.argsort(-r.scores_, kind="stable"), r.ranking_)
    assert r.class_scores_.shape == (3, 40)
    np.testing.assert_allclose(r.class_scores_, np.abs(r.probe_.coef_))
    for c, planted in enumerate([3, 17, 29]):
        assert r.per_class_ranking_[c][0] == planted
    clone(r)


def test_ranker_reports_the_weight_mass_that_ranked():
    X, y = _planted()
    r = LinearProbeRanker().fit(X, y)
    # the three planted neurons are their classes' top neurons: they enter at 0% of the mass, through their class
    for c, planted in enumerate([3, 17, 29]):
        assert r.entry_percentage_[planted] == 0.0 and r.entry_class_[planted] == c
    entry = r.entry_percentage_[r.ranking_]
    assert np.all(np.diff(entry[np.isfinite(entry)]) >= 0) and np.isfinite(entry).sum() > 3
    W = np.abs(r.probe_.coef_)
    i = r.ranking_[5]  # recompute its entry share by hand: the mass before it in its class, in percent, rounded up
    c = r.entry_class_[i]
    before = np.sort(W[c])[::-1][: list(np.argsort(-W[c], kind="stable")).index(i)].sum() / W[c].sum()
    assert r.entry_percentage_[i] == pytest.approx(np.floor(before * 100 + 1) / 100)


def test_probe_concept_and_ranker_rank_the_same_weights():
    # one rule: rankings use |coef_ * scale_| (the penalised weights), in the ranker and in probe_weights
    X, y = _planted(seed=2)
    X = X * np.linspace(0.1, 10, X.shape[1]).astype(np.float32)
    probe = LinearProbe(standardize=True)
    r = LinearProbeRanker(probe).fit(X, y)
    np.testing.assert_allclose(probe_weights(r.probe_), np.abs(r.probe_.coef_ * r.probe_.scale_))
    np.testing.assert_array_equal(r.ranking_, neuron_ordering(probe_weights(r.probe_)))
    assert not np.array_equal(r.ranking_, neuron_ordering(r.probe_.coef_))  # raw coef_ would rank differently


def test_ranker_with_probe_and_binary():
    X, y = _planted(seed=1)
    yb = (y == 1).astype(int)
    r = LinearProbeRanker(LinearProbe(lambda_l1=1e-3, lambda_l2=0.0)).fit(X, yb)
    assert r.class_scores_.shape == (2, 40) and r.ranking_[0] == 17
    g = LinearProbeRanker(LinearProbe(alpha=2e-3, l1_ratio=0.5)).fit(X, yb)  # one sigmoid vector, given to both
    assert g.probe_.coef_.shape == (1, 40) and g.class_scores_.shape == (2, 40) and g.ranking_[0] == 17
    with pytest.raises(InvalidParameterError, match="not both"):
        LinearProbeRanker(LinearProbe(), lambda_l1=1e-2).fit(X, y)


def test_ranker_passes_solver_and_presolve_to_its_probe():
    # rank --param solver=owlqn --param presolve=none: an in-memory fit on the streamed fit's path
    from neuronlab.concepts.rankers import RANKERS

    X, y = _planted(seed=3)
    entry = RANKERS["linear"]
    params = entry.parse_params({"solver": "owlqn", "presolve": "none"})
    r = entry.build(**params).fit(X, y)
    assert r.probe_.solver_ == "owlqn" and r.probe_.presolve is None and r.probe_.presolve_iter_ == 0
    r = LinearProbeRanker(solver="working-set", presolve=0.5).fit(X, y)
    assert r.probe_.solver_ == "working-set" and r.probe_.presolve == 0.5
    params = entry.parse_params({"solver": "prox-newton"})  # every probe solver is open to the ranker
    assert entry.build(**params).fit(X, y).probe_.solver_ == "prox-newton"
    with pytest.raises(InvalidParameterError, match="solver"):
        LinearProbeRanker(solver="newton").fit(X, y)
