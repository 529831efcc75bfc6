"""LIME for text: a weighted linear surrogate of the model around an input, fit on word-removal samples.

The procedure of the ``lime`` package's ``LimeTextExplainer`` (Ribeiro et al. 2016), on the words of the
input:

1. samples: the first is the input itself; each further sample draws a number of words to remove uniformly
   from 1..n and removes that many distinct words at random (``numpy.random.RandomState(seed)``, drawn in the
   same order as ``lime``, so a seed gives ``lime``'s samples);
2. distances: cosine distance of each sample's binary word vector to the all-ones vector, times 100;
   weights: the exponential kernel ``sqrt(exp(-d^2 / kernel_width^2))``;
3. feature selection (``auto``: forward selection for at most 6 features, else the highest weights of a
   ridge fit; ``none``: all words), then a weighted ridge regression (``alpha=1``, with intercept) of the
   target on the selected words. A word's score is its coefficient (0 for words not selected).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidParameterError, choices
from .base import PREDICTED, Explainer, Explanation
from .perturb import WordExplainer, n_words, tick

__all__ = ["LimeText", "lime_samples", "lime_weights", "lime_fit", "FEATURE_SELECTIONS"]

FEATURE_SELECTIONS = ("auto", "none", "forward_selection", "highest_weights")


def lime_samples(n: int, n_samples: int, random_state: np.random.RandomState) -> np.ndarray:
    """Binary samples (n_samples, n) of ``LimeTextExplainer``: row 0 all ones, then random word removals.

    >>> lime_samples(3, 3, np.random.RandomState(0)).astype(int).tolist()
    [[1, 1, 1], [1, 1, 0], [0, 1, 0]]
    """
    sizes = random_state.randint(1, n + 1, n_samples - 1)
    data = np.ones((n_samples, n))
    for i, size in enumerate(sizes, start=1):
        data[i, random_state.choice(range(n), size, replace=False)] = 0
    return data


def lime_weights(data: np.ndarray, kernel_width: float = 25.0) -> np.ndarray:
    """Sample weights: the exponential kernel of the cosine distance (x 100) to the first row.

    >>> lime_weights(np.array([[1., 1.], [1., 0.]])).round(4).tolist()
    [1.0, 0.5034]
    """
    from sklearn.metrics.pairwise import pairwise_distances

    d = pairwise_distances(data, data[:1], metric="cosine").ravel() * 100
    return np.sqrt(np.exp(-(d ** 2) / kernel_width ** 2))


def _forward_selection(data, labels, weights, num_features):
    from sklearn.linear_model import Ridge

    clf = Ridge(alpha=0, fit_intercept=True)
    used: list[int] = []
    for _ in range(min(num_features, data.shape[1])):
        best, best_score = 0, -1e8
        for f in range(data.shape[1]):
            if f in used:
                continue
            clf.fit(data[:, used + [f]], labels, sample_weight=weights)
            score = clf.score(data[:, used + [f]], labels, sample_weight=weights)
            if score > best_score:
                best, best_score = f, score
        used.append(best)
    return np.array(used)


def _highest_weights(data, labels, weights, num_features):
    from sklearn.linear_model import Ridge

    coef = Ridge(alpha=0.01, fit_intercept=True).fit(data, labels, sample_weight=weights).coef_
    weighted = coef * data[0]
    order = sorted(zip(range(data.shape[1]), weighted), key=lambda x: np.abs(x[1]), reverse=True)
    return np.array([f for f, _ in order[:num_features]])


def _select(data, labels, weights, num_features, how):
    if how == "none":
        return np.arange(data.shape[1])
    if how == "auto":
        how = "forward_selection" if num_features <= 6 else "highest_weights"
    return {"forward_selection": _forward_selection, "highest_weights": _highest_weights}[how](
        data, labels, weights, num_features)


def lime_fit(data: np.ndarray, labels: np.ndarray, weights: np.ndarray, *, num_features: int = 10,
             feature_selection: str = "auto") -> tuple[np.ndarray, float, float]:
    """Select features and fit the weighted ridge surrogate (``lime``'s ``explain_instance_with_data``).

    Returns
    -------
    coef : numpy.ndarray of shape (n_features,)
        Ridge coefficients of the selected features, 0 elsewhere.
    intercept : float
    score : float
        Weighted R^2 of the surrogate on the samples.
    """
    from sklearn.linear_model import Ridge

    used = _select(data, labels, weights, num_features, feature_selection)
    model = Ridge(alpha=1, fit_intercept=True).fit(data[:, used], labels, sample_weight=weights)
    coef = np.zeros(data.shape[1])
    coef[used] = model.coef_
    return coef, float(model.intercept_), float(model.score(data[:, used], labels, sample_weight=weights))


class LimeText(WordExplainer, Explainer):
    """LIME for text (word-removal sampling, cosine kernel, weighted ridge), as ``lime.LimeTextExplainer``.

    Parameters
    ----------
    live : LiveModel
    target : Target, int, dict or "predicted", default="predicted"
        ``lime`` regresses class probabilities: use ``{"kind": "probability"}`` to match it.
    batch_size : int, default=32
    n_samples : int, default=5000
        Samples per example, the input itself included (``lime``'s ``num_samples``); repeated samples are
        evaluated once.
    kernel_width : float, default=25
    feature_selection : {"auto", "none", "forward_selection", "highest_weights"}, default="auto"
    num_features : int, default=10
        Words the surrogate may use (``lime``'s ``num_features``).
    seed : int, default=0
        ``lime``'s ``random_state``.
    mode : {"drop", "mask", "unk", "pad"}, default="drop"
        ``drop`` removes the words as ``lime``'s bag-of-words mode does.
    engine : {"auto", "native", "hf"}, default="auto"
        Forward pass of the perturbed inputs: packed where the model allows it
        (:mod:`~neuronlab.explain.packed`), always transformers' (``hf``), or packed or an error (``native``).

    Notes
    -----
    ``config["intercept"]`` and ``config["score"]`` (weighted R^2) hold the surrogate's intercept and fit per
    example. Reference: M. T. Ribeiro, S. Singh, C. Guestrin, "Why should I trust you? Explaining the
    predictions of any classifier", KDD 2016.
    """

    name = "lime"

    def __init__(self, live: Any, *, target: Any = PREDICTED, batch_size: int = 32, n_samples: int = 5000,
                 kernel_width: float = 25.0, feature_selection: str = "auto", num_features: int = 10, seed: int = 0,
                 mode: str = "drop", engine: str = "auto") -> None:
        super().__init__(live, target=target, batch_size=batch_size)
        if int(n_samples) < 2:
            raise InvalidParameterError(f"n_samples must be >= 2 (the input and one perturbation); got {n_samples}")
        if float(kernel_width) <= 0:
            raise InvalidParameterError(f"kernel_width must be > 0; got {kernel_width}")
        if feature_selection not in FEATURE_SELECTIONS:
            raise InvalidParameterError(
                f"feature_selection must be one of {choices(FEATURE_SELECTIONS)}; got {feature_selection!r}")
        if int(num_features) < 1:
            raise InvalidParameterError(f"num_features must be >= 1; got {num_features}")
        self.n_samples = int(n_samples)
        self.kernel_width = float(kernel_width)
        self.feature_selection = feature_selection
        self.num_features = int(num_features)
        self.seed = int(seed)
        self._set_mode(mode)
        self._set_engine(engine)
        self._extra: dict = {}

    def params(self) -> dict:
        return {**super().params(), "n_samples": self.n_samples, "kernel_width": self.kernel_width,
                "feature_selection": self.feature_selection, "num_features": self.num_features, "seed": self.seed,
                "mode": self.mode}

    def _scores(self, enc, resolved, progress):
        rng = np.random.RandomState(self.seed)
        samples = [lime_samples(n_words(enc, i), self.n_samples, rng) for i in range(enc.n_examples)]
        values = self._evaluate(enc, resolved, [(i, s.astype(bool)) for i, s in enumerate(samples)])
        scores, intercepts, fits = [], [], []
        for data, y in zip(samples, values):
            coef, intercept, score = lime_fit(data, y, lime_weights(data, self.kernel_width),
                                              num_features=self.num_features,
                                              feature_selection=self.feature_selection)
            scores.append(coef)
            intercepts.append(intercept)
            fits.append(score)
            tick(progress)
        self._extra = {"intercept": intercepts, "score": fits}
        return scores, None

    def explain(self, inputs: Any, *, target: Any = None, progress: bool = False) -> Explanation:
        ex = super().explain(inputs, target=target, progress=progress)
        ex.config.update(self._extra)
        return ex
