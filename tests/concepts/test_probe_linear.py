"""LinearProbe: agreement with scikit-learn on the same objective, planted signal, errors."""
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from neuronlab.concepts.probes import LinearProbe
from neuronlab.errors import InvalidParameterError, NotFittedError

from helpers.probe_problems import direct_neurox_minimum, neurox_objective


def _data(n=240, d=10, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d) + rng.normal(size=d)
    y = (X[:, :k] / X[:, :k].std(0) + 0.8 * rng.normal(size=(n, k))).argmax(1)
    return X, y


def _objective(coef, intercept, X, y, sw, l1, l2, classes):
    """Penalised mean cross-entropy written independently (sklearn's model parametrisation)."""
    z = X @ coef.T + intercept
    codes = np.searchsorted(classes, y)
    if coef.shape[0] == 1:
        z = np.column_stack([np.zeros(len(z)), z[:, 0]])
    z = z - z.max(1, keepdims=True)
    ce = np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), codes]
    return (sw * ce).sum() / len(y) + l1 * np.abs(coef).sum() + l2 * (coef ** 2).sum()


@pytest.mark.parametrize("l1_ratio,solver", [(0.0, "lbfgs"), (1.0, "saga"), (0.5, "saga")])
@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_matches_sklearn(l1_ratio, solver, binary, class_weight):
    X, y = _data()
    if binary:
        y = (y == 1).astype(int)
    n, C = len(y), 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = LogisticRegression(C=C, l1_ratio=l1_ratio, solver=solver, tol=1e-12, max_iter=20000,
                                class_weight=class_weight).fit(X, y)
    ours = LinearProbe(alpha=1 / (n * C), l1_ratio=l1_ratio, class_weight=class_weight,
                       tol=1e-14, max_iter=3000).fit(X, y)
    assert ours.coef_.shape == sk.coef_.shape == ((1 if binary else 3), X.shape[1])
    scale = np.abs(sk.coef_).max()
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-4 * scale)
    # multinomial intercepts are unpenalised, hence defined up to a common shift
    shift = 0 if binary else np.mean(ours.intercept_) - np.mean(sk.intercept_)
    np.testing.assert_allclose(ours.intercept_ - shift, sk.intercept_, atol=1e-3 * max(1, np.abs(sk.intercept_).max()))
    if l1_ratio == 1.0:  # the same coefficients are exactly zero
        np.testing.assert_array_equal(ours.coef_ == 0, np.abs(sk.coef_) < 1e-8)
    counts = np.bincount(y)
    sw = np.ones(n) if class_weight is None else (n / (len(counts) * counts))[y]
    l1, l2 = 1 / (n * C) * l1_ratio, 0.5 / (n * C) * (1 - l1_ratio)
    f_sk = _objective(sk.coef_, sk.intercept_, X, y, sw, l1, l2, sk.classes_)
    f_ours = _objective(ours.coef_, ours.intercept_, X, y, sw, l1, l2, ours.classes_)
    assert ours.objective_ == pytest.approx(f_ours, rel=1e-9)
    assert f_ours <= f_sk + 1e-9
    assert f_ours == pytest.approx(f_sk, rel=1e-7)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize("l1,l2", [(0.0, 0.05), (0.01, 0.02), (0.003, 0.3)])
@pytest.mark.parametrize("n_classes", [3, 2])
def test_neurox_parametrisation_minimises_neurox_objective(l1, l2, n_classes):
    # NeuroX penalises lambda_l2 * ||W||_F (unsquared) and trains a softmax over every class, also for two
    X, y = _data(n=150, d=6, k=3, seed=7)
    if n_classes == 2:
        y = (y == 1).astype(int)
    ours = LinearProbe(lambda_l1=l1, lambda_l2=l2, tol=1e-12, max_iter=3000).fit(X, y)
    W, b, f_ref = direct_neurox_minimum(X, y, l1, l2)
    assert ours.coef_.shape == (n_classes, 6) and ours.penalty_ == "neurox"
    f_ours = neurox_objective(ours.coef_, ours.intercept_, X, y, l1, l2)
    assert ours.objective_ == pytest.approx(f_ours, rel=1e-9)
    assert f_ours <= f_ref + 1e-9
    assert f_ours == pytest.approx(f_ref, rel=1e-7)
    np.testing.assert_allclose(ours.coef_, W, atol=2e-4 * np.abs(W).max())
    np.testing.assert_allclose(ours.intercept_ - ours.intercept_.mean(), b - b.mean(), atol=2e-4)


def test_neurox_zero_weights_when_the_norm_dominates():
    # with a large lambda_l2 the optimum is W = 0, where the unsquared norm has no gradient
    X, y = _data(n=150, d=6, seed=8)
    ours = LinearProbe(lambda_l1=0.0, lambda_l2=2.0).fit(X, y)
    assert not ours.coef_.any() and ours.n_iter_ == 0 and ours.converged_
    prior = np.bincount(y) / len(y)
    np.testing.assert_allclose(ours.predict_proba(X[:3]), np.tile(prior, (3, 1)), atol=1e-12)
    assert ours.objective_ == pytest.approx(neurox_objective(ours.coef_, ours.intercept_, X, y, 0.0, 2.0), rel=1e-12)
    # just below the threshold of the optimality condition the weights are not zero
    assert LinearProbe(lambda_l1=0.0, lambda_l2=0.05).fit(X, y).coef_.any()


def test_neurox_objective_is_neurox_code():
    # the objective_ we report is the loss NeuroX 1.0.9's training loop computes (criterion + its penalties)
    torch = pytest.importorskip("torch")
    nx = pytest.importorskip("neurox.interpretation.linear_probe")
    X, y = _data(n=100, d=5, seed=9)
    p = LinearProbe(lambda_l1=0.01, lambda_l2=0.03, tol=1e-10, max_iter=1000).fit(X, y)
    W = torch.tensor(p.coef_)
    out = torch.tensor(X) @ W.T + torch.tensor(p.intercept_)
    loss = torch.nn.CrossEntropyLoss()(out, torch.tensor(y)) + 0.01 * nx.l1_penalty(W) + 0.03 * nx.l2_penalty(W)
    assert p.objective_ == pytest.approx(float(loss), rel=1e-10)


def test_glmnet_binary_is_one_sigmoid_vector_neurox_binary_two_rows():
    X, y = _data(seed=1)
    yb = (y == 2).astype(int)
    g = LinearProbe(alpha=1e-2, l1_ratio=0.5).fit(X, yb)
    n = LinearProbe(lambda_l1=1e-2, lambda_l2=1e-2).fit(X, yb)
    assert g.coef_.shape == (1, 10) and g.penalty_ == "glmnet"
    assert n.coef_.shape == (2, 10) and n.penalty_ == "neurox"
    assert n.predict_proba(X).shape == (len(y), 2)
    np.testing.assert_allclose(n.predict_proba(X).sum(1), 1.0)


@pytest.mark.parametrize("kwargs", [dict(lambda_l1=1e-2, lambda_l2=1e-2), dict(alpha=2e-2, l1_ratio=0.5)])
def test_standardize_without_intercept_penalises_coef_times_scale(kwargs):
    # one rule with or without an intercept: the penalty acts on coef_ * scale_, scale_ the centred std
    X, y = _data(seed=2)
    s = X.std(0)
    ref = LinearProbe(fit_intercept=False, tol=1e-12, max_iter=3000, **kwargs).fit(X / s, y)
    ours = LinearProbe(fit_intercept=False, standardize=True, tol=1e-12, max_iter=3000, **kwargs).fit(X, y)
    np.testing.assert_allclose(ours.scale_, s, rtol=1e-10)
    np.testing.assert_allclose(ours.coef_ * ours.scale_, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, 0.0)


def test_float16_and_float32_inputs_and_clone():
    X, y = _data(n=400, seed=3)
    p64 = LinearProbe(tol=1e-10, max_iter=1000).fit(X, y)
    p16 = clone(p64).fit(X.astype(np.float16), y)
    assert p16.coef_.shape == p64.coef_.shape
    assert np.mean(p16.predict(X.astype(np.float16)) == p64.predict(X)) > 0.97
    assert p64.n_iter_ >= 1 and len(p64.loss_curve_) == p64.n_iter_ + 1
    assert np.all(np.diff(p64.loss_curve_) <= 1e-12)  # monotone descent


def test_planted_neurons_get_largest_weights():
    rng = np.random.default_rng(4)
    n, d = 3000, 60
    X = rng.normal(size=(n, d)).astype(np.float32)
    planted = [7, 23, 41]
    y = np.argmax(X[:, planted] * 2 + 0.3 * rng.normal(size=(n, 3)), axis=1)
    p = LinearProbe(lambda_l1=1e-3, lambda_l2=1e-3).fit(X, y)
    top = np.argsort(-np.abs(p.coef_).sum(0))[:3]
    assert set(top.tolist()) == set(planted)
    assert p.score(X, y) > 0.9


def test_string_labels():
    X, y = _data(seed=5)
    labels = np.array(["ADJ", "NOUN", "VERB"])[y]
    p = LinearProbe().fit(X, labels)
    assert set(p.predict(X)) <= set(labels) and p.classes_.tolist() == ["ADJ", "NOUN", "VERB"]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(lambda_l1=1e-3, alpha=1e-3), "not both"),
        (dict(l1_ratio=0.5), "without alpha"),
        (dict(alpha=1e-3, l1_ratio=1.5), "l1_ratio"),
        (dict(lambda_l1=-1.0), "lambda_l1"),
        (dict(class_weight="auto"), "class_weight"),
        (dict(class_weight={7: 2.0}), "not classes"),
        (dict(max_iter=0), "max_iter"),
        (dict(tol=0), "tol"),
    ],
)
def test_bad_parameters(kwargs, match):
    X, y = _data(n=50)
    with pytest.raises(InvalidParameterError, match=match):
        LinearProbe(**kwargs).fit(X, y)


def test_bad_inputs():
    X, y = _data(n=50)
    with pytest.raises(InvalidParameterError, match="at least 2 classes"):
        LinearProbe().fit(X, np.zeros(50))
    with pytest.raises(InvalidParameterError, match="one label per row"):
        LinearProbe().fit(X, y[:-1])
    with pytest.raises(InvalidParameterError, match="2-d"):
        LinearProbe().fit(X[0], y)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(InvalidParameterError, match="NaN"):
        LinearProbe().fit(Xn, y)
    with pytest.raises(NotFittedError, match="not fitted"):
        LinearProbe().predict(X)
    with pytest.raises(InvalidParameterError, match="shape"):
        LinearProbe().fit(X, y).predict(X[:, :3])
