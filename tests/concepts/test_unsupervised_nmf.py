"""NMF of activations into neuron groups (as Ecco): planted factors recovered, streaming, non-negativity (issue 12)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import NMF

from neuronlab.concepts.unsupervised.nmf import ActivationNMF
from neuronlab.errors import InvalidParameterError, NotFittedError, ParameterConstraintError
from neuronlab.testing import synthetic_store


def planted(n=600, m=40, k=4, seed=0):
    """Sparse non-negative token weights W (n x k) and neuron groups H (k x m): 12 neurons per group, overlapping."""
    rng = np.random.default_rng(seed)
    W = rng.exponential(size=(n, k)) * (rng.random((n, k)) < 0.4)
    H = np.zeros((k, m))
    for c in range(k):
        idx = rng.choice(m, size=12, replace=False)
        H[c, idx] = rng.uniform(0.5, 2.0, size=12)
    return W, H


def matched_correlations(found, truth):
    """Correlation of every true factor with the found one the Hungarian assignment pairs it with."""
    k = truth.shape[0]
    C = np.corrcoef(found, truth)[:found.shape[0], found.shape[0]:]
    rows, cols = linear_sum_assignment(-C)
    assert sorted(cols.tolist()) == list(range(k))
    return C[rows, cols]


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_planted_factors_are_recovered_up_to_permutation(solver):
    W, H = planted()
    nmf = ActivationNMF(n_components=4, solver=solver).fit(W @ H)
    assert np.all(matched_correlations(nmf.components_, H) > 0.95)
    assert np.all(matched_correlations(nmf.transform(W @ H).T, W.T) > 0.95)
    assert nmf.reconstruction_err_ / nmf.data_norm_ < 0.01


def test_minibatch_streams_a_store_and_recovers_the_factors(tmp_path):
    W, H = planted()
    X = (W @ H).astype(np.float32)
    path = tmp_path / "s.h5"
    synthetic_store(path, [[f"w{j}" for j in range(6)]] * 100, data={"layers.0.mlp": X})
    from neuronlab.store import ActivationStore

    reads = []
    with ActivationStore.open(path) as store:
        nmf = ActivationNMF(n_components=4, solver="minibatch", max_iter=30, chunk_rows=128, batch_size=64)
        nmf.fit(store.view("layers.0.mlp"), progress=reads.append)
    assert max(reads) == 128 and sum(reads) == 31 * 600  # 30 passes over blocks of 128 rows + the summary pass
    assert np.all(matched_correlations(nmf.components_, H) > 0.95)
    assert np.all(matched_correlations(nmf.transform(X).T, W.T) > 0.95)


def test_relu_is_eccos_clipping_and_shift_subtracts_each_neurons_minimum():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 7))
    relu = ActivationNMF(n_components=3, nonnegative="relu").fit(X)
    ref = NMF(n_components=3, init="nndsvda", max_iter=500, tol=1e-4, random_state=0).fit(np.maximum(X, 0))
    np.testing.assert_allclose(relu.components_, ref.components_)
    assert np.all(relu.shift_ == 0)
    shift = ActivationNMF(n_components=3, nonnegative="shift", chunk_rows=7).fit(X)
    np.testing.assert_array_equal(shift.shift_, -X.min(axis=0))
    ref = NMF(n_components=3, init="nndsvda", max_iter=500, tol=1e-4, random_state=0).fit(X - X.min(axis=0))
    np.testing.assert_allclose(shift.components_, ref.components_)
    with pytest.raises(InvalidParameterError, match=r"negative value \(.* at row 0, column 2\).*nonnegative='relu'"):
        ActivationNMF(n_components=2, nonnegative="none").fit(np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]]))


def test_top_rows_and_neurons_are_the_largest_weights_and_loadings():
    W, H = planted(n=300, seed=5)
    X = W @ H
    nmf = ActivationNMF(n_components=4, top_k=7, chunk_rows=32).fit(X)
    weights = nmf.transform(X)
    for k in range(4):
        order = np.lexsort((np.arange(X.shape[0]), -weights[:, k]))[:7]
        assert nmf.top_rows_[k].tolist() == order.tolist()
        np.testing.assert_allclose(nmf.top_row_weights_[k], weights[order, k])
        assert nmf.top_neurons_[k].tolist() == np.lexsort((np.arange(40), -nmf.components_[k]))[:7].tolist()
    groups = nmf.components_.argmax(axis=0)
    groups[nmf.components_.max(axis=0) <= 0] = -1
    assert nmf.neuron_groups_.tolist() == groups.tolist()
    np.testing.assert_allclose(nmf.component_mass_, weights.sum(axis=0) * nmf.components_.sum(axis=1))


def test_bad_input_is_refused_clearly():
    X = np.abs(np.random.default_rng(0).normal(size=(5, 3)))
    with pytest.raises(InvalidParameterError, match="n_components=4 exceeds min.*init='random'"):
        ActivationNMF(n_components=4).fit(X)
    with pytest.raises(ParameterConstraintError, match="'nonnegative' parameter of ActivationNMF"):
        ActivationNMF(nonnegative="abs").fit(X)
    with pytest.raises(NotFittedError):
        ActivationNMF().transform(X)
    with pytest.raises(InvalidParameterError, match="X has 2 features, but ActivationNMF is expecting 3"):
        ActivationNMF(n_components=2).fit(X).transform(X[:, :2])


def test_in_memory_solvers_check_memory_before_reading():
    X = np.ones((100, 10))
    with pytest.raises(InvalidParameterError, match=r"NMF of 100 x 10 activations.*needs .* GB.*solver='minibatch'"):
        ActivationNMF(n_components=2, max_memory_gb=1e-9).fit(X)
    assert ActivationNMF(n_components=2, solver="minibatch", max_iter=2, max_memory_gb=1e-9).fit(X).n_iter_ >= 1
