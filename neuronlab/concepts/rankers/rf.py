"""Rank neurons by the Gini importance of a random forest."""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from neuronlab.concepts.rankers.base import BaseRanker, check_activations, check_labels
from neuronlab.concepts.validation import Interval, StrOptions
from neuronlab.errors import InvalidParameterError

__all__ = ["RandomForestRanker"]


class RandomForestRanker(BaseRanker):
    """Gini importance (mean decrease in impurity) of a random forest trained on the neurons.

    A :class:`sklearn.ensemble.RandomForestClassifier` predicts the concept from all neurons;
    a neuron's score is its ``feature_importances_``: the impurity decrease of the splits on it,
    weighted by the fraction of samples reaching them, summed per tree, normalised to sum to 1
    and averaged over trees (Breiman 2001). MDI is known to favour high-cardinality features
    and is computed on the training rows; use it as a ranking, not as a test.

    Parameters
    ----------
    n_estimators, max_depth, max_features, class_weight, n_jobs, random_state
        Passed to :class:`~sklearn.ensemble.RandomForestClassifier`.
    per_class : bool, default=False
        If ``True``, also fit one binary forest per class (class c against the rest, same
        hyper-parameters) and store its importances as row c of ``class_scores_``. If ``False``,
        ``class_scores_`` and ``per_class_ranking_`` are ``None``. ``scores_`` always comes from
        the multiclass forest.

    Attributes
    ----------
    estimator_ : RandomForestClassifier
        The multiclass forest.
    scores_ : ndarray of shape (n_neurons,)
        Gini importances (sum to 1).
    class_scores_ : ndarray of shape (n_classes, n_neurons) or None
    ranking_, per_class_ranking_, classes_
        See :mod:`neuronlab.concepts.rankers.base`.

    References
    ----------
    L. Breiman. "Random Forests". Machine Learning 45, 5-32, 2001.

    See Also
    --------
    ProbelessRanker, APRanker

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 300)
    >>> X = rng.normal(size=(300, 10)); X[:, 4] += 3 * y
    >>> int(RandomForestRanker(n_estimators=20, random_state=0).fit(X, y).ranking_[0])
    4
    """

    _parameter_constraints: dict = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "max_depth": [Interval(Integral, 1, None, closed="left"), None],
        "max_features": [StrOptions({"sqrt", "log2"}), Interval(Integral, 1, None, closed="left"),
                         Interval(Real, 0.0, 1.0, closed="right"), None],
        "class_weight": [StrOptions({"balanced", "balanced_subsample"}), dict, list, None],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "per_class": ["boolean"],
    }

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        max_depth: int | None = None,
        max_features: Any = "sqrt",
        class_weight: Any = None,
        n_jobs: int | None = None,
        random_state: Any = None,
        per_class: bool = False,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.max_features = max_features
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.per_class = per_class

    def _forest(self) -> RandomForestClassifier:
        return RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            max_features=self.max_features,
            class_weight=self.class_weight,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )

    def fit(self, X: Any, y: Any) -> "RandomForestRanker":
        """Fit the forest(s) and rank neurons by Gini importance.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
            Activations.
        y : array-like of shape (n_rows,)
            Concept labels (ints or strings).

        Returns
        -------
        self
        """
        self._validate_params()
        if self.class_weight is not None and self.class_weight not in ("balanced", "balanced_subsample"):
            if self.per_class:
                # a dict keyed by the multiclass labels has no meaning for the binary forests
                raise InvalidParameterError(
                    "class_weight must be None, 'balanced' or 'balanced_subsample' when per_class=True; "
                    f"got {self.class_weight!r}."
                )
        X = check_activations(X)
        classes, y_enc = check_labels(y, X.shape[0])
        y_fit = np.asarray(y) if isinstance(self.class_weight, dict) else y_enc
        try:
            self.estimator_ = self._forest().fit(X, y_fit)
        except ValueError as err:  # sklearn's own parameter validation: re-raise as ours
            raise InvalidParameterError(f"RandomForestRanker: {err}") from err
        class_scores = None
        if self.per_class:
            class_scores = np.stack(
                [self._forest().fit(X, (y_enc == c).astype(np.int64)).feature_importances_
                 for c in range(classes.shape[0])]
            )
        return self._set_scores(classes, self.estimator_.feature_importances_, class_scores)
