"""scikit-learn's own estimator checks (``parametrize_with_checks``) on every registered estimator.

Every check passes (scikit-learn 1.9: 56 checks on LinearProbe, 41 on each ranker); none needs to be listed as
not applicable. scikit-learn itself skips two: the array-API check (runs only with SCIPY_ARRAY_API=1) and the
pandas-input check (pandas is not a dependency). ``ControlTask`` is not run through them: its X is a sequence of
word types, not numbers, so the checks do not apply; its constraints table is checked below.
"""
from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from neuronlab.concepts.probes import ControlTask, LinearProbe
from neuronlab.concepts.rankers import RANKERS

# small settings keep the checks fast; every other hyper-parameter keeps its default
FAST = {"rf": {"n_estimators": 5}}


def _estimators():
    return [LinearProbe()] + [RANKERS[name].build(**FAST.get(name, {})) for name in sorted(RANKERS)]


@parametrize_with_checks(_estimators())
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", _estimators() + [ControlTask()], ids=lambda e: type(e).__name__)
def test_constraints_table_covers_every_parameter(estimator):
    assert set(estimator._parameter_constraints) == set(estimator.get_params(deep=False))
