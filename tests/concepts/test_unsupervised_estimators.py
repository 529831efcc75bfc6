"""scikit-learn's estimator checks on the unsupervised estimators (issue 12)."""
from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from neuronlab.concepts.unsupervised.latent import LatentConcepts
from neuronlab.concepts.unsupervised.nmf import ActivationNMF


@parametrize_with_checks([LatentConcepts(n_clusters=2), ActivationNMF(n_components=2, max_iter=50)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
