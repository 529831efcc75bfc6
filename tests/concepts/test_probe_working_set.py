"""The working-set solver (from 40,000 rows when proximal Newton's dense Hessian would be too large): the plain
solver's optimum, a nearer stopping point; and how ``solver="auto"`` chooses between it and proximal Newton."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.concepts.probes import LinearProbe
from neuronlab.concepts.probes._colset import _expand, _restrict
from neuronlab.errors import InvalidParameterError

from helpers.probe_problems import neurox_objective, sparse_problem


@pytest.mark.parametrize("l1,tol", [(3e-3, 1e-6), (1e-2, 1e-7)])
def test_working_set_reaches_the_owlqn_optimum(l1, tol):
    X, y = sparse_problem(2000, d=80)
    kw = dict(lambda_l1=l1, lambda_l2=1e-3, tol=tol, max_iter=3000)
    plain = LinearProbe(solver="owlqn", **kw).fit(X, y)
    ws = LinearProbe(solver="working-set", **kw).fit(X, y)
    assert plain.solver_ == "owlqn" and ws.solver_ == "working-set"
    assert plain.converged_ and ws.converged_
    assert (plain.coef_ == 0).all(axis=0).any()  # some neurons carry no weight: the working set skips them
    expected = neurox_objective(ws.coef_, ws.intercept_, X, y, ws.lambda_l1_, ws.lambda_l2_)
    assert ws.objective_ == pytest.approx(expected, rel=1e-7)
    assert ws.objective_ == pytest.approx(plain.objective_, rel=1e-7)
    np.testing.assert_allclose(ws.coef_, plain.coef_, atol=1e-3 * np.abs(plain.coef_).max())
    np.testing.assert_array_equal(ws.coef_ != 0, plain.coef_ != 0)


@pytest.mark.slow
def test_working_set_default_tol_gives_the_converged_ranking():
    # plain OWL-QN at the default tol stops here with ~10% weight errors (its top 1% still right); each round of the
    # working set has to satisfy the same rule again, after the optimality check of the neurons outside the set
    from neuronlab.concepts.rankers.linear import neuron_ordering

    X, y = sparse_problem(8000, d=200, seed=1)
    kw = dict(lambda_l1=3e-3, lambda_l2=1e-3)
    ws = LinearProbe(solver="working-set", **kw).fit(X, y)
    ref = LinearProbe(solver="owlqn", tol=1e-5, max_iter=1000, **kw).fit(X, y)
    assert ws.converged_ and ref.converged_
    ours, best = neuron_ordering(ws.coef_), neuron_ordering(ref.coef_)
    for k in (10, 2):  # k = 10 and 1% of the 200 neurons
        assert len(set(ours[:k].tolist()) & set(best[:k].tolist())) / k >= 0.95
    assert np.abs(ws.coef_ - ref.coef_).max() <= 0.01 * np.abs(ref.coef_).max()


def test_auto_solver_from_40000_rows_takes_proximal_newton_when_its_hessian_fits(monkeypatch):
    # from 40,000 rows with an L1 term proximal Newton (the solver that stops at the converged ranking) when the
    # warm start's non-zero weights fit its dense Hessian and that Hessian is not dear next to a pass over X;
    # otherwise the working set
    import neuronlab.concepts.probes.linear as linear

    X, y = sparse_problem(40_000, d=60, seed=3)
    kw = dict(lambda_l1=3e-3, lambda_l2=1e-3)
    auto = LinearProbe(**kw).fit(X, y)
    plain = LinearProbe(solver="owlqn", **kw).fit(X, y)
    assert auto.solver_ == "prox-newton" and plain.solver_ == "owlqn"
    assert auto.presolve_iter_ > 0 and auto.converged_ and 0 < auto.passes_
    assert auto.objective_ <= plain.objective_ * (1 + 1e-6)
    ref = LinearProbe(solver="owlqn", tol=1e-6, max_iter=3000, **kw).fit(X, y)
    np.testing.assert_allclose(auto.coef_, ref.coef_, atol=1e-2 * np.abs(ref.coef_).max())
    assert np.count_nonzero(auto.coef_) ** 2 <= linear._NEWTON_RATIO * auto.coef_.size
    dense_kw = dict(lambda_l1=1e-5, lambda_l2=1e-3)  # nearly every one of the 300 weights is non-zero
    assert LinearProbe(**dense_kw).fit(X, y).solver_ == "prox-newton"  # |F|^2 <= 300 * 300 and |F| <= 3,072
    monkeypatch.setattr(linear, "_NEWTON_RATIO", 100.0)  # the Newton Hessian dear next to a pass: the working set
    dense = LinearProbe(**dense_kw).fit(X, y)
    assert dense.solver_ == "working-set" and dense.converged_
    assert np.count_nonzero(dense.coef_) ** 2 > 100.0 * dense.coef_.size
    monkeypatch.setattr(linear, "_NEWTON_RATIO", 1e9)
    monkeypatch.setattr(linear, "MAX_FREE", 200)  # a cap of 150 weights: too many for the dense Hessian
    capped = LinearProbe(**dense_kw).fit(X, y)
    assert capped.solver_ == "working-set" and np.count_nonzero(capped.coef_) > linear._NEWTON_SHARE * 200
    assert LinearProbe(**kw).fit(X[:39_999], y[:39_999]).solver_ == "owlqn"
    assert LinearProbe(lambda_l1=0.0, lambda_l2=1e-3).fit(X, y).solver_ == "owlqn"  # no zero weights to skip
    with pytest.raises(InvalidParameterError, match="The 'solver' parameter of LinearProbe must be"):
        LinearProbe(solver="newton").fit(X[:100], y[:100])
