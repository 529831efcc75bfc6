"""The proximal Newton solver (``solver="prox-newton"``): the same optimum as OWL-QN and as a direct minimisation."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.concepts.probes import LinearProbe
from neuronlab.concepts.probes._prox_newton import _RowModel, _penalty_hessian, _solve_model, prox_newton

from helpers.probe_problems import direct_neurox_minimum, neurox_objective, sparse_problem


@pytest.mark.parametrize("n", [1000, 4000])  # all rows in the Hessian (n < 2,048), and a 2,048-row subsample
def test_prox_newton_reaches_the_owlqn_optimum(n):
    X, y = sparse_problem(n, d=40)
    X = X.astype(np.float64)  # float32 rounding would blur the comparison at 1e-8
    kw = dict(lambda_l1=3e-3, lambda_l2=1e-3, max_iter=5000)
    plain = LinearProbe(solver="owlqn", tol=1e-11, **kw).fit(X, y)
    pn = LinearProbe(solver="prox-newton", tol=1e-8, **kw).fit(X, y)
    assert plain.solver_ == "owlqn" and pn.solver_ == "prox-newton"
    assert plain.converged_ and pn.converged_
    assert (plain.coef_ == 0).any()  # the L1 term is active: the free set is a strict subset
    assert pn.objective_ == pytest.approx(neurox_objective(pn.coef_, pn.intercept_, X, y, 3e-3, 1e-3), rel=1e-12)
    assert abs(pn.objective_ - plain.objective_) <= 1e-8
    np.testing.assert_allclose(pn.coef_, plain.coef_, atol=1e-4)
    np.testing.assert_array_equal(pn.coef_ != 0, plain.coef_ != 0)
    assert pn.n_iter_ < plain.n_iter_ / 5  # Newton steps: a few dozen at most where OWL-QN needs hundreds


@pytest.mark.parametrize("l1,l2", [(0.01, 0.02), (0.003, 0.3)])
@pytest.mark.parametrize("n_classes", [3, 2])
def test_prox_newton_minimises_neurox_objective(l1, l2, n_classes):
    # an independent reference: scipy's L-BFGS-B on NeuroX's objective written out in numpy
    X, y = sparse_problem(300, d=8, k=3, seed=3)
    X = X.astype(np.float64)
    if n_classes == 2:
        y = (y == 1).astype(int)
    ours = LinearProbe(lambda_l1=l1, lambda_l2=l2, tol=1e-10, max_iter=500, solver="prox-newton").fit(X, y)
    W, b, f_ref = direct_neurox_minimum(X, y, l1, l2)
    f_ours = neurox_objective(ours.coef_, ours.intercept_, X, y, l1, l2)
    assert ours.converged_ and ours.objective_ == pytest.approx(f_ours, rel=1e-9)
    assert f_ours <= f_ref + 1e-9
    assert f_ours == pytest.approx(f_ref, rel=1e-7)
    np.testing.assert_allclose(ours.coef_, W, atol=2e-4 * np.abs(W).max())


@pytest.mark.parametrize("kw", [
    dict(alpha=3e-3, l1_ratio=0.7),  # glmnet: squared norm, one sigmoid vector for two classes
    dict(alpha=3e-3, l1_ratio=0.7, fit_intercept=False, standardize=True),
    dict(lambda_l1=3e-3, lambda_l2=1e-3, standardize=True, class_weight="balanced"),
])
def test_prox_newton_other_objectives(kw):
    X, y = sparse_problem(1200, d=20, k=3, seed=4)
    X = X.astype(np.float64)
    y = (y == 1).astype(int) if "alpha" in kw else y
    plain = LinearProbe(solver="owlqn", tol=1e-11, max_iter=5000, **kw).fit(X, y)
    pn = LinearProbe(solver="prox-newton", tol=1e-9, max_iter=500, **kw).fit(X, y)
    assert pn.converged_
    assert abs(pn.objective_ - plain.objective_) <= 1e-8
    np.testing.assert_allclose(pn.coef_, plain.coef_, atol=1e-4)
    centre = (lambda b: b - b.mean()) if len(pn.intercept_) > 1 else (lambda b: b)  # a softmax's shift is free
    np.testing.assert_allclose(centre(pn.intercept_), centre(plain.intercept_), atol=1e-4)


@pytest.mark.parametrize("penalty,m", [("neurox", 3), ("glmnet", 3), ("glmnet", 1)])
def test_hessian_matches_finite_differences(penalty, m):
    # the explicit Hessian (softmax or sigmoid Jacobian per row, the L2 term's curvature) against central differences
    # of the gradient, on all rows
    from neuronlab.concepts.probes._numerics import _PENALTY_L2
    from neuronlab.concepts.probes._objective import SmoothPart

    X, y = sparse_problem(400, d=6, k=3, seed=5)
    X = X.astype(np.float64)
    target = np.eye(3)[y] if m == 3 else (y == 1).astype(float)[:, None]
    rng = np.random.default_rng(1)
    w2 = rng.uniform(0.5, 2.0, size=(6, 1))
    full = SmoothPart(X, target, np.full(400, 1 / 400), inv=1 / X.std(0), shift=X.mean(0) / X.std(0), m=m,
                      fit_intercept=True, penalty=_PENALTY_L2[penalty], w2=w2, l2=0.05)
    theta = rng.normal(size=6 * m + m) * 0.3
    theta[[1, 4]] = 0.0  # zero weights outside the free set
    free = np.array([j for j in range(theta.size) if j not in (1, 4)])
    H = _RowModel(full, np.arange(400), full.row_weight).hessian(theta, free) + _penalty_hessian(full, theta, free)
    eps = 1e-6
    num = np.empty((theta.size, free.size))
    for i, j in enumerate(free):
        e = np.zeros_like(theta)
        e[j] = eps
        gp = full.grad(theta + e, full.fun(theta + e)[1])
        gm = full.grad(theta - e, full.fun(theta - e)[1])
        num[:, i] = (gp - gm) / (2 * eps)
    np.testing.assert_allclose(H, num[free], atol=1e-7, rtol=1e-5)


def test_model_solver_matches_a_direct_lasso_solution():
    # the inner solve of g^T d + 1/2 d^T H d + c|x| against coordinate descent to machine precision
    rng = np.random.default_rng(6)
    A = rng.normal(size=(40, 12))
    H = A.T @ A / 40 + 0.01 * np.eye(12)
    g = rng.normal(size=12) * 0.5
    x0 = np.where(rng.random(12) < 0.5, rng.normal(size=12), 0.0)
    c = np.full(12, 0.3)
    c[-1] = 0.0  # an unpenalised coordinate (an intercept)
    x, _ = _solve_model(g, H, x0, c, gtol=1e-12, max_iter=200)
    np.testing.assert_allclose(x, _lasso_reference(g, H, x0, c, sweeps=5000), atol=1e-9)


def test_block_steps_when_the_free_set_is_capped():
    # more non-zero weights than max_free: block steps on the coordinates of largest pseudo-gradient still converge
    from neuronlab.concepts.probes import linear

    X, y = sparse_problem(1000, d=20, k=3, seed=7)
    X = X.astype(np.float64)
    kw = dict(lambda_l1=2e-3, lambda_l2=1e-3, max_iter=3000)
    plain = LinearProbe(solver="owlqn", tol=1e-11, **kw).fit(X, y)
    linear._SOLVERS["capped"] = lambda *a, **k: prox_newton(*a, max_free=30, **k)
    try:
        pn = LinearProbe(solver="owlqn", tol=1e-7, **kw)
        pn._validate_params = lambda: None  # "capped" is not among the public choices
        pn.solver = "capped"
        pn.fit(X, y)
    finally:
        del linear._SOLVERS["capped"]
    assert (plain.coef_ != 0).sum() > 30 and pn.converged_
    assert abs(pn.objective_ - plain.objective_) <= 1e-8
    np.testing.assert_allclose(pn.coef_, plain.coef_, atol=1e-4)


def _lasso_reference(g, H, x0, c, sweeps=20000):
    """Coordinate descent with exact soft-thresholding on g^T (x - x0) + 1/2 (x - x0)^T H (x - x0) + c|x|."""
    x = x0.copy()
    r = g.copy()  # the model's gradient at x
    for _ in range(sweeps):
        for j in range(len(x)):
            z = H[j, j] * x[j] - r[j]
            new = np.sign(z) * max(abs(z) - c[j], 0.0) / H[j, j]
            if new != x[j]:
                r += H[j] * (new - x[j])
                x[j] = new
    return x


def _ill_conditioned_model(seed=11, n=40):
    # correlated coordinates (condition ~1e5), a dense start whose minimiser is sparse: most coordinates must reach 0
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(3 * n, n)) @ (np.eye(n) + 0.9 * np.ones((n, n)) / n) @ np.diag(np.logspace(0, -2.5, n))
    H = A.T @ A / (3 * n) + 1e-7 * np.eye(n)
    x0 = rng.normal(size=n)
    g = rng.normal(size=n) * 0.05
    c = np.full(n, 0.05)
    return g, H, x0, c


def test_model_solver_zeroes_a_dense_start_on_an_ill_conditioned_model():
    g, H, x0, c = _ill_conditioned_model()
    assert np.linalg.cond(H) > 1e4
    x, _ = _solve_model(g, H, x0, c, gtol=1e-10, max_iter=20000)
    ref = _lasso_reference(g, H, x0, c)
    np.testing.assert_array_equal(x == 0, ref == 0)
    assert (ref == 0).sum() >= len(x0) // 4
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-8)


def test_model_solver_recovers_from_an_underestimated_lipschitz_constant(monkeypatch):
    # the power iteration approaches the largest eigenvalue from below; a step too long for the curvature must be
    # caught (the model value rises), the step shortened and the solve still end at the minimiser
    import neuronlab.concepts.probes._prox_newton as pn

    g, H, x0, c = _ill_conditioned_model(seed=12)
    top = float(np.linalg.eigvalsh(H)[-1])
    assert pn._lipschitz(H) >= top
    monkeypatch.setattr(pn, "_lipschitz", lambda H: top / 4)
    x, _ = pn._solve_model(g, H, x0, c, gtol=1e-10, max_iter=20000)
    assert np.isfinite(x).all()
    np.testing.assert_allclose(x, _lasso_reference(g, H, x0, c), rtol=0, atol=1e-8)


def _confident_problem(n=3000, d=6, k=3, seed=5):
    # a fitted-looking point where most rows are classified with confidence: the curvature sits in few rows
    from neuronlab.concepts.probes._numerics import _PENALTY_L2
    from neuronlab.concepts.probes._objective import SmoothPart

    X, y = sparse_problem(n, d=d, k=k, seed=seed)
    X = X.astype(np.float64)
    full = SmoothPart(X, np.eye(k)[y], np.full(n, 1 / n), inv=1 / X.std(0), shift=X.mean(0) / X.std(0), m=k,
                      fit_intercept=True, penalty=_PENALTY_L2["neurox"], w2=np.ones((d, 1)), l2=0.0)
    theta = np.random.default_rng(2).normal(size=d * k + k) * 3.0
    return full, theta, np.arange(theta.size)


def test_curvature_sampled_hessian_is_unbiased_and_tighter_than_uniform_rows(monkeypatch):
    # the subsample keeps row i with probability q_i and weighs it 1 / q_i: the average of many draws is the
    # all-row Hessian; spending the rows where the curvature is makes one draw closer to it than uniform rows
    import neuronlab.concepts.probes._prox_newton as pn

    full, theta, free = _confident_problem()
    curvature = pn._hessian_rows(full, theta, full.X.shape[0])[1]  # all rows: their own weights
    np.testing.assert_array_equal(curvature, full.row_weight)
    exact = _RowModel(full, np.arange(full.X.shape[0]), full.row_weight).hessian(theta, free)

    def draws(uniform_share):
        monkeypatch.setattr(pn, "_UNIFORM_SHARE", uniform_share)
        return np.array([_RowModel(full, *pn._hessian_rows(full, theta, 300, seed=s)).hessian(theta, free)
                         for s in range(200)])

    mixed, uniform = draws(pn._UNIFORM_SHARE), draws(1.0)
    standard_error = mixed.std(axis=0) / np.sqrt(len(mixed))
    assert np.all(np.abs(mixed.mean(axis=0) - exact) <= 5 * standard_error + 1e-12)
    error = {name: np.mean(np.linalg.norm(est - exact, axis=(1, 2))) / np.linalg.norm(exact)
             for name, est in (("mixed", mixed), ("uniform", uniform))}
    assert error["mixed"] < 0.7 * error["uniform"]


@pytest.mark.parametrize("penalty,m", [("neurox", 3), ("glmnet", 1)])
def test_row_model_diagonal_is_the_hessian_diagonal(penalty, m):
    # the stopping rule's one-coordinate Newton estimate for a violating zero weight uses this diagonal
    full, theta, _ = _confident_problem(n=500)
    if m == 1:
        from neuronlab.concepts.probes._numerics import _PENALTY_L2
        from neuronlab.concepts.probes._objective import SmoothPart

        target = full.target[:, 1:2]
        full = SmoothPart(full.X, target, full.row_weight, inv=full.inv, shift=full.shift, m=1, fit_intercept=True,
                          penalty=_PENALTY_L2[penalty], w2=full.w2, l2=0.0)
        theta = theta[:full.d + 1]
    model = _RowModel(full, np.arange(500), full.row_weight)
    coords = np.arange(full.d * full.m)
    np.testing.assert_allclose(model.diagonal(theta, coords), np.diag(model.hessian(theta, coords)), rtol=1e-10)


@pytest.mark.slow
def test_prox_newton_at_the_default_tol_gives_the_converged_ranking():
    # the rule watches the Newton direction (one step, not three): the ranking at the default tol must still be
    # the converged one (top 10 and top 1%), on the same check as OWL-QN's default
    from neuronlab.concepts.rankers.linear import neuron_ordering

    from helpers.probe_problems import six_class_problem

    X, y = six_class_problem()
    fast = LinearProbe(solver="prox-newton").fit(X, y)
    ref = LinearProbe(solver="owlqn", tol=1e-6, max_iter=2000).fit(X, y)
    assert fast.converged_ and ref.converged_
    ours, best = neuron_ordering(fast.coef_), neuron_ordering(ref.coef_)
    for k in (10, 3):  # k = 10 and 1% of the 300 neurons
        assert len(set(ours[:k].tolist()) & set(best[:k].tolist())) / k >= 0.95
    assert np.abs(fast.coef_ - ref.coef_).max() <= 0.05 * np.abs(ref.coef_).max()


def test_prox_newton_stops_where_the_float32_objective_resolves_no_more_decrease():
    # on float32 rows a tol beyond the objective's precision cannot be met by the Newton direction; once a line
    # search finds no decrease at all the fit has converged (it used to loop to max_iter at a 3e-10 decrease on EWT)
    X, y = sparse_problem(4000, d=40)
    kw = dict(lambda_l1=3e-3, lambda_l2=1e-3)
    fit = LinearProbe(solver="prox-newton", tol=1e-9, max_iter=60, **kw).fit(X, y)
    assert fit.converged_ and fit.n_iter_ < 60
    ref = LinearProbe(solver="owlqn", tol=1e-11, max_iter=5000, **kw).fit(X.astype(np.float64), y)
    assert fit.objective_ == pytest.approx(ref.objective_, rel=1e-6)
    np.testing.assert_allclose(fit.coef_, ref.coef_, atol=1e-3 * np.abs(ref.coef_).max())
