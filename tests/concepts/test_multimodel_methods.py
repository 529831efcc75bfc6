"""Multi-model search (Bau et al. 2019) and linear CKA (Kornblith et al. 2019) against direct computations."""
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from neuronlab.concepts.multimodel import SVCCA, LinearCKA, LinReg, MaxCorr, MinCorr, joint_moments
from neuronlab.errors import InvalidParameterError, NotFittedError

SHARED = {3: 7, 11: 0, 20: 15}  # neuron of model A -> its counterpart in model B


def two_models(n=800, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 30))
    b = rng.normal(size=(n, 25))
    a[:, 3] = 2 * b[:, 7] + 0.1 * rng.normal(size=n)
    a[:, 11] = -b[:, 0] + 0.2 * rng.normal(size=n)
    a[:, 20] = b[:, 15] + 0.3 * rng.normal(size=n) + 5.0
    return a, b


def best_abs_corr(x, y):
    """For every column of x: (index, signed r) of its most |correlated| column of y, by np.corrcoef."""
    r = np.corrcoef(x.T, y.T)[: x.shape[1], x.shape[1]:]
    j = np.abs(r).argmax(axis=1)
    return j, r[np.arange(len(j)), j]


def test_maxcorr_ranks_the_shared_neurons_first():
    a, b = two_models()
    r = MaxCorr().fit([a, b])
    assert set(r.ranking_[0][:3].tolist()) == set(SHARED)
    assert r.ranking_[0][:3].tolist() == [3, 11, 20]  # the least noisy copy first
    assert set(r.ranking_[1][:3].tolist()) == set(SHARED.values())
    for i, j in SHARED.items():
        assert r.best_match_[0][1][i] == j and r.best_match_[1][0][j] == i
    assert r.best_correlation_[0][1][11] < -0.9


@pytest.mark.parametrize("chunk_rows", [64, 16384])
def test_maxcorr_and_mincorr_equal_np_corrcoef(chunk_rows):
    rng = np.random.default_rng(1)
    models = [rng.normal(size=(300, w)) for w in (6, 5, 4)]
    models[1][:, 2] = models[0][:, 1] + 0.5 * rng.normal(size=300)
    models[2][:, 0] = models[0][:, 4] * 3 - 1
    mx = MaxCorr(chunk_rows=chunk_rows).fit(models)
    mn = MinCorr(chunk_rows=chunk_rows).fit(models)
    for m in range(3):
        per_model = []
        for f in range(3):
            if f == m:
                continue
            j, r = best_abs_corr(models[m], models[f])
            np.testing.assert_array_equal(mx.best_match_[m][f], j)
            np.testing.assert_allclose(mx.best_correlation_[m][f], r, atol=1e-12)
            per_model.append(np.abs(r))
        np.testing.assert_allclose(mx.scores_[m], np.max(per_model, axis=0), atol=1e-12)
        np.testing.assert_allclose(mn.scores_[m], np.min(per_model, axis=0), atol=1e-12)


def test_mincorr_needs_a_counterpart_in_every_model():
    rng = np.random.default_rng(2)
    a, b, c = (rng.normal(size=(500, 4)) for _ in range(3))
    b[:, 0] = a[:, 0]  # a0: only in b
    b[:, 1] = a[:, 1] + 0.3 * rng.normal(size=500)  # a1: in b and c, a bit noisy
    c[:, 2] = a[:, 1] + 0.3 * rng.normal(size=500)
    assert MaxCorr().fit([a, b, c]).ranking_[0][0] == 0
    assert MinCorr().fit([a, b, c]).ranking_[0][0] == 1


def test_linreg_errors_equal_sklearn_on_standardised_neurons():
    a, b = two_models(n=400)
    a[:, 5] = b[:, :3].sum(axis=1)  # distributed over three neurons of b: LinReg finds it, MaxCorr less so
    r = LinReg(chunk_rows=100).fit([a, b])
    za = (a - a.mean(0)) / a.std(0)
    zb = (b - b.mean(0)) / b.std(0)
    ref = ((LinearRegression().fit(zb, za).predict(zb) - za) ** 2).mean(axis=0)
    np.testing.assert_allclose(r.errors_[0][1], ref, atol=1e-9)
    np.testing.assert_allclose(r.scores_[0], -ref, atol=1e-9)
    assert r.ranking_[0][0] == 5
    assert set(r.ranking_[0][:4].tolist()) == {5, *SHARED}


def test_constant_neuron_correlates_with_nothing_and_ranks_last_in_linreg():
    a, b = two_models(n=200)
    a[:, 0] = 4.0
    assert MaxCorr().fit([a, b]).scores_[0][0] == 0.0
    r = LinReg().fit([a, b])
    assert np.isnan(r.errors_[0][1][0]) and r.ranking_[0][-1] == 0


def direct_svcca(x, y, variance):
    """SVD of the centred data, keep the top singular directions, CCA by QR + SVD (Bjorck & Golub)."""
    def reduce(z):
        z = z - z.mean(0)
        u, s, vt = np.linalg.svd(z, full_matrices=False)
        k = int(np.searchsorted(np.cumsum(s ** 2), variance * (s ** 2).sum() * (1 - 1e-12))) + 1
        return z @ vt[:k].T
    qx, _ = np.linalg.qr(reduce(x))
    qy, _ = np.linalg.qr(reduce(y))
    return np.linalg.svd(qx.T @ qy, compute_uv=False)


@pytest.mark.parametrize("variance", [0.9, 0.99, 1.0])
def test_svcca_equals_direct_svd_and_cca(variance):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(600, 3))
    x = np.c_[z, rng.normal(size=(600, 5))] @ rng.normal(size=(8, 8))
    y = np.c_[z @ rng.normal(size=(3, 3)), 0.5 * rng.normal(size=(600, 4))]
    res = SVCCA(variance=variance, chunk_rows=128).fit([x, y])
    pair = res.pairs_[0, 1]
    np.testing.assert_allclose(pair["correlations"], direct_svcca(x, y, variance), atol=1e-9)
    assert res.similarity_[0, 1] == pytest.approx(pair["correlations"].mean())
    # the k-th canonical directions of both models give variates with correlation rho_k
    for k in range(3):
        u = (x - x.mean(0)) @ pair["directions_a"][:, k]
        v = (y - y.mean(0)) @ pair["directions_b"][:, k]
        assert abs(np.corrcoef(u, v)[0, 1]) == pytest.approx(pair["correlations"][k], abs=1e-9)
    np.testing.assert_allclose(res.pairs_[1, 0]["directions_a"], pair["directions_b"])


def kernel_cka(x, y):
    """CKA from the Gram matrices with the centring matrix H (Kornblith et al. 2019, eq. 3)."""
    n = x.shape[0]
    h = np.eye(n) - 1.0 / n
    k, l_ = h @ x @ x.T @ h, h @ y @ y.T @ h

    def hsic(p, q):
        return np.trace(p @ q)

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def test_linear_cka_equals_the_kernel_computation():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(120, 6)) + 3
    y = x @ rng.normal(size=(6, 4)) + rng.normal(size=(120, 4))
    w = rng.normal(size=(120, 9))
    sim = LinearCKA(chunk_rows=50).fit([x, y, w]).similarity_
    for i, p in enumerate([x, y, w]):
        for j, q in enumerate([x, y, w]):
            assert sim[i, j] == pytest.approx(kernel_cka(p, q), abs=1e-10)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))  # invariant to rotation and isotropic scaling
    assert LinearCKA().fit([x, 2.5 * x @ q]).similarity_[0, 1] == pytest.approx(1.0)


def test_joint_moments_equal_numpy_with_a_large_offset():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(257, 3)) + 1e6
    y = rng.normal(size=(257, 2))
    m = joint_moments([x, y], chunk_rows=40)
    np.testing.assert_allclose(m.mean, np.r_[x.mean(0), y.mean(0)])
    np.testing.assert_allclose(m.covariance, np.cov(np.c_[x, y].T, bias=True), atol=1e-9)


def test_bad_input():
    a, b = two_models(n=100)
    with pytest.raises(InvalidParameterError, match="block 1 has 99 rows but block 0 has 100"):
        MaxCorr().fit([a, b[:99]])
    with pytest.raises(InvalidParameterError, match="at least 2 activation matrices"):
        MaxCorr().fit([a])
    with pytest.raises(InvalidParameterError, match="list of at least 2"):
        LinReg().fit(a)
    bad = a.copy()
    bad[7, 2] = np.nan
    with pytest.raises(InvalidParameterError, match="NaN.*row 7, neuron 2"):
        SVCCA().fit([bad, b])
    with pytest.raises(NotFittedError, match="call fit"):
        MaxCorr().ranking_
    with pytest.raises(InvalidParameterError, match="variance"):
        SVCCA(variance=1.5).fit([a, b])


@pytest.mark.parametrize("name", ["maxcorr", "mincorr", "linreg", "svcca", "cka"])
def test_registered_methods_are_estimators(name):
    from sklearn.base import clone

    from neuronlab.concepts.multimodel import CROSSMODEL_METHODS

    est = CROSSMODEL_METHODS[name].build()
    assert set(est._parameter_constraints) == set(est.get_params())
    copy = clone(est)
    a, b = two_models(n=60)
    assert copy.fit([a, b]) is copy and not hasattr(est, "n_rows_")
    assert copy.n_features_in_ == [30, 25] and copy.n_rows_ == 60
