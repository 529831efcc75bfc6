"""Declarative parameter validation and the input checks shared by probes and rankers."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.exceptions
from sklearn.utils._param_validation import InvalidParameterError as SkInvalidParameterError

from neuronlab.concepts.probes import LinearProbe
from neuronlab.concepts.rankers import RANKERS, IoURanker, ProbelessRanker
from neuronlab.errors import InvalidParameterError, NeuronlabError, NotFittedError


def _data(n=120, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 1] > 0).astype(int)
    return X, y


def test_parameter_error_names_parameter_allowed_values_and_value_and_is_both_libraries_error():
    X, y = _data()
    with pytest.raises(InvalidParameterError) as info:
        IoURanker(quantile=1.5).fit(X, y)
    assert isinstance(info.value, SkInvalidParameterError) and isinstance(info.value, ValueError)
    assert str(info.value) == (
        "The 'quantile' parameter of IoURanker must be a float in the range (0.0, 1.0). Got 1.5 instead."
    )
    with pytest.raises(SkInvalidParameterError, match="The 'max_iter' parameter of LinearProbe must be an int in "
                                                      r"the range \[1, inf\). Got 0 instead."):
        LinearProbe(max_iter=0).fit(X, y)


def test_not_fitted_error_is_sklearns():
    assert issubclass(NotFittedError, sklearn.exceptions.NotFittedError)
    assert issubclass(NotFittedError, NeuronlabError) and issubclass(NotFittedError, AttributeError)
    with pytest.raises(sklearn.exceptions.NotFittedError, match="not fitted"):
        LinearProbe().predict(np.zeros((2, 3)))
    with pytest.raises(sklearn.exceptions.NotFittedError, match="not fitted"):
        ProbelessRanker().ranking_


def test_predict_refuses_nan():
    X, y = _data()
    probe = LinearProbe().fit(X, y)
    bad = X[:10].copy()
    bad[4, 2] = np.inf
    with pytest.raises(InvalidParameterError, match=r"NaN or infinity \(first at row 4, neuron 2\)"):
        probe.predict(bad)


@pytest.mark.parametrize("name", ["probe"] + sorted(RANKERS))
def test_continuous_target_refused(name):
    X, _ = _data()
    y = np.linspace(0.0, 1.0, X.shape[0])  # 120 distinct values: a regression target, not 120 classes
    est = LinearProbe() if name == "probe" else RANKERS[name].build()
    with pytest.raises(InvalidParameterError, match="y holds continuous values"):
        est.fit(X, y)


def test_integral_float_labels_still_accepted():
    X, y = _data()
    a = LinearProbe().fit(X, y.astype(float))
    assert a.classes_.tolist() == [0.0, 1.0]


def test_presolve_subsample_follows_random_state():
    X, y = _data(n=2000, d=8)
    kw = dict(presolve=0.25, tol=1e-4)
    a = LinearProbe(random_state=1, **kw).fit(X, y)
    b = LinearProbe(random_state=1, **kw).fit(X, y)
    c = LinearProbe(random_state=2, **kw).fit(X, y)
    assert a.presolve_iter_ > 0
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.loss_curve_[0] != c.loss_curve_[0]  # another subsample: another warm start


def test_sparse_and_complex_refused_with_a_message():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, y = _data()
    with pytest.raises(InvalidParameterError, match="sparse input is not supported"):
        ProbelessRanker().fit(scipy_sparse.csr_matrix(X), y)
    with pytest.raises(InvalidParameterError, match="sparse input is not supported"):
        LinearProbe().fit(scipy_sparse.csr_matrix(X), y)
    with pytest.raises(InvalidParameterError, match="Complex data not supported"):
        LinearProbe().fit(X + 1j, y)


def test_column_vector_y_warns_and_is_used():
    X, y = _data()
    with pytest.warns(sklearn.exceptions.DataConversionWarning, match="column-vector y"):
        col = ProbelessRanker().fit(X, y[:, None])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = ProbelessRanker().fit(X, y)
    np.testing.assert_array_equal(col.scores_, flat.scores_)
