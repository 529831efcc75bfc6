"""The Gaussian probe (Torroba Hennigen et al. 2020): MAP parameters, subset likelihoods, incremental greedy steps."""
import math

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from neuronlab.concepts.probes.gaussian import GaussianProbe, map_parameters
from neuronlab.concepts.probes.gaussian_greedy import GreedyGaussianState
from neuronlab.concepts.rankers import RANKERS
from neuronlab.errors import InvalidParameterError


def correlated_data(n_rows=240, n_neurons=7, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n_rows)
    mix = rng.normal(size=(n_neurons, n_neurons))
    X = rng.normal(size=(n_rows, n_neurons)) @ mix + 0.8 * rng.normal(size=(n_classes, n_neurons))[y]
    return X, y


def reference_map(X, y, n_classes):
    """The NIW MAP written as the paper's code (NeuroX master) computes it: np.cov, diag prior, nu0 = D + 2."""
    D = X.shape[1]
    means, covs = [], []
    for c in range(n_classes):
        Xc = X[y == c]
        emp_mean, emp_cov = Xc.mean(axis=0), np.cov(Xc, rowvar=False)
        lambda_0, v_0, k_0, n = np.diag(np.diag(emp_cov)), D + 2, 0.01, len(Xc)
        mu_n = (k_0 * emp_mean + n * emp_mean) / (k_0 + n)
        lambda_n = lambda_0 + (Xc - emp_mean).T @ (Xc - emp_mean)
        means.append(mu_n)
        covs.append(lambda_n / (v_0 + n + D + 2))
    return np.array(means), np.array(covs)


def reference_mi(X, y, means, covs, prior, dims):
    """MI in bits from scipy densities on the sliced MAP parameters (the from-scratch computation)."""
    dims = list(dims)
    ll = np.stack([multivariate_normal(means[c, dims], covs[c][np.ix_(dims, dims)]).logpdf(X[:, dims]).reshape(-1)
                   for c in range(len(prior))], axis=1)
    joint = ll + np.log(prior)
    post = joint - logsumexp(joint, axis=1, keepdims=True)
    freq = np.bincount(y) / len(y)
    entropy = -(freq * np.log(freq)).sum()
    mi = (entropy + post[np.arange(len(y)), y].mean()) / math.log(2)
    acc = np.mean(joint.argmax(axis=1) == y)
    return mi, acc


def test_map_parameters_equal_the_papers_code():
    X, y = correlated_data()
    means, covs, counts = map_parameters(X, y, 3)
    ref_means, ref_covs = reference_map(X, y, 3)
    np.testing.assert_allclose(means, ref_means, rtol=1e-12)
    np.testing.assert_allclose(covs, ref_covs, rtol=1e-10, atol=1e-14)
    assert counts.tolist() == np.bincount(y).tolist()


@pytest.mark.parametrize("dims", [[4], [2, 0], [6, 1, 3, 5], None])
def test_log_likelihood_equals_scipy_on_sliced_map_parameters(dims):
    X, y = correlated_data()
    probe = GaussianProbe(max_dims=0, reg_covar=0.0).fit(X, y)
    ll = probe.log_likelihood(X[:50], dims)
    d = list(range(7)) if dims is None else dims
    for c in range(3):
        ref = multivariate_normal(probe.means_[c, d], probe.covariances_[c][np.ix_(d, d)]).logpdf(X[:50][:, d])
        np.testing.assert_allclose(ll[:, c], ref, rtol=1e-10)
    post = probe.predict_proba(X[:50], dims)
    np.testing.assert_allclose(post.sum(axis=1), 1.0)


def test_incremental_greedy_step_equals_from_scratch_for_every_candidate():
    X, y = correlated_data(n_neurons=9)
    means, covs, _ = map_parameters(X, y, 3)
    prior = np.bincount(y) / len(y)
    state = GreedyGaussianState(means, covs, np.log(prior), X, y)
    for step, j in enumerate([5, 0, 7]):  # any order: the state after each add is checked against scratch
        cands = np.array([d for d in range(9) if d not in state.selected])
        scores = state.candidate_scores(cands)
        np.testing.assert_array_equal(state.candidate_scores(), scores)  # all candidates: the same numbers
        np.testing.assert_array_equal(state.candidate_scores(criterion="mi")[:, 0], scores[:, 0])
        for k, d in enumerate(cands):
            mi, acc = reference_mi(X, y, means, covs, prior, state.selected + [int(d)])
            assert scores[k, 0] == pytest.approx(mi, rel=1e-9, abs=1e-12)
            assert scores[k, 1] == acc
        state.add(j)
    # the loglik of the selected set itself
    ll = np.stack([multivariate_normal(means[c, [5, 0, 7]], covs[c][np.ix_([5, 0, 7], [5, 0, 7])]).logpdf(X[:, [5, 0, 7]])
                   for c in range(3)], axis=1)
    np.testing.assert_allclose(state.loglik, ll, rtol=1e-10)


def test_greedy_path_matches_exhaustive_from_scratch_greedy():
    X, y = correlated_data(n_neurons=6, seed=3)
    probe = GaussianProbe(max_dims=4, reg_covar=0.0).fit(X, y)
    prior = np.bincount(y) / len(y)
    chosen = []
    for step in range(4):
        mis = {d: reference_mi(X, y, probe.means_, probe.covariances_, prior, chosen + [d])[0]
               for d in range(6) if d not in chosen}
        best = max(mis, key=lambda d: (mis[d], -d))
        chosen.append(best)
        assert probe.mi_path_[step] == pytest.approx(mis[best], rel=1e-9)
        assert probe.mutual_information(X, y, chosen) == pytest.approx(mis[best], rel=1e-9)
    assert probe.selected_.tolist() == chosen


def test_accuracy_criterion_path():
    X, y = correlated_data(n_neurons=5, seed=1)
    probe = GaussianProbe(criterion="accuracy", max_dims=3).fit(X, y)
    for step in range(3):
        assert probe.accuracy_path_[step] == probe.score(X, y, probe.selected_[:step + 1])


def test_planted_gaussian_separable_neuron_is_selected_first():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 900)
    X = rng.normal(size=(900, 40))
    X[:, 23] = rng.normal(size=900) * (0.3 + y)  # same mean in every class, separable by its variance only
    X[:, 8] += 0.3 * y  # a weak mean shift elsewhere
    ranker = RANKERS["gaussian"].build(max_dims=5).fit(X, y)
    assert ranker.ranking_[0] == 23
    assert ranker.selected_[1] == 8
    assert ranker.mi_path_[0] > 0.4 and np.all(np.diff(ranker.mi_path_) > -1e-9)


def test_ranking_puts_unselected_neurons_by_their_last_step_score():
    X, y = correlated_data(n_neurons=8)
    r = RANKERS["gaussian"].build(max_dims=3).fit(X, y)
    rest = r.ranking_[3:]
    last = r.probe_.last_scores_[rest]
    assert np.all(np.diff(last) <= 0)
    assert sorted(r.ranking_.tolist()) == list(range(8))


def test_one_class_is_an_error():
    X, y = correlated_data()
    with pytest.raises(InvalidParameterError, match="only one class"):
        GaussianProbe().fit(X, np.zeros(len(X), dtype=int))


def test_fewer_rows_than_dims_in_a_class_is_an_error():
    X, y = correlated_data(n_rows=240, n_neurons=7)
    y = y.copy()
    y[:5] = 9  # class 9 has 5 rows: 7 dimensions need at least 8
    with pytest.raises(InvalidParameterError, match="class 9 has 5 row.*max_dims asks for a 7-dimensional.*lower max_dims"):
        GaussianProbe().fit(X, y)
    probe = GaussianProbe(max_dims=4).fit(X, y)  # 4 dimensions: fine
    with pytest.raises(InvalidParameterError, match="class 9 has 5 row.*dims asks for a 5-dimensional.*fewer dims"):
        probe.log_likelihood(X, [0, 1, 2, 3, 4])
    assert probe.log_likelihood(X, [0, 1, 2, 3]).shape == (240, 4)


def test_bad_dims_and_columns():
    X, y = correlated_data()
    probe = GaussianProbe(max_dims=2).fit(X, y)
    with pytest.raises(InvalidParameterError, match="distinct neuron indices"):
        probe.predict(X, [1, 1])
    with pytest.raises(InvalidParameterError, match="fitted on 7"):
        probe.predict(X[:, :3], [0])
    with pytest.raises(InvalidParameterError, match="not fitted on"):
        probe.mutual_information(X, np.full(len(X), 7), [0])
