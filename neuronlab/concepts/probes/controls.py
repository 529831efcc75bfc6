"""Control tasks and selectivity (Hewitt & Liang 2019).

A control task gives every word *type* a fixed random label drawn from the empirical label
distribution of the real task. A probe that reaches high accuracy on it does so by memorising
types, not by reading the property from the representation; selectivity (task accuracy minus
control accuracy) measures how much of a probe's accuracy is due to the representation.

References
----------
Hewitt, J., Liang, P. (2019). Designing and interpreting probes with control tasks. EMNLP.
"""
from __future__ import annotations

import hashlib
from numbers import Integral, Real
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from neuronlab.concepts.validation import ValidatedEstimator
from neuronlab.errors import InvalidParameterError, NotFittedError

__all__ = ["ControlTask", "selectivity"]


def _as_types(word_types: Any, name: str = "word_types") -> list[str]:
    if isinstance(word_types, (str, bytes)) or not hasattr(word_types, "__len__"):
        raise InvalidParameterError(f"{name} must be a sequence of word types (strings); got {word_types!r:.80}")
    return [str(t) for t in word_types]


class ControlTask(ValidatedEstimator, BaseEstimator):
    """Per-type random labels with the real task's label distribution (Hewitt & Liang 2019).

    Parameters
    ----------
    random_state : int, RandomState or None
        Seed of the assignment. With an int the labels depend only on (type, seed), so they
        are the same across calls, splits, processes and Python versions. With None a seed is
        drawn at ``fit`` (stored in ``seed_``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit``.
    probabilities_ : ndarray of shape (n_classes,)
        Their empirical frequencies (the distribution the control labels are drawn from).
    seed_ : int

    Notes
    -----
    The label of a type is the inverse-CDF draw of a uniform number computed from a BLAKE2b
    hash of ``(seed_, type)`` (not Python's salted ``hash``), so types unseen in ``fit`` also
    get a deterministic label, and independent types get independent draws.

    References
    ----------
    Hewitt & Liang (2019), Designing and interpreting probes with control tasks. EMNLP.

    Examples
    --------
    >>> task = ControlTask(random_state=0).fit(["the", "dog", "the", "ran"], [0, 1, 0, 2])
    >>> a = task.transform(["dog", "the", "dog"])
    >>> bool(a[0] == a[2])
    True
    """

    _parameter_constraints: dict = {"random_state": ["random_state"]}

    def __init__(self, *, random_state: Any = None) -> None:
        self.random_state = random_state

    def fit(self, word_types: Sequence[str], labels: Sequence[Any]) -> "ControlTask":
        """Learn the empirical label distribution of the real task.

        Parameters
        ----------
        word_types : sequence of str of length n_rows
            The word (type) of each row.
        labels : array-like of shape (n_rows,)
            The real task's label of each row.

        Returns
        -------
        self : ControlTask
        """
        self._validate_params()
        types = _as_types(word_types)
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(types) or len(types) == 0:
            raise InvalidParameterError(
                f"labels must be 1-d with one label per word type ({len(types)}, at least 1); got shape {labels.shape}"
            )
        self.classes_, counts = np.unique(labels, return_counts=True)
        self.probabilities_ = counts / counts.sum()
        if isinstance(self.random_state, Integral) and not isinstance(self.random_state, bool):
            self.seed_ = int(self.random_state)
        else:
            self.seed_ = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        return self

    def _uniform(self, word_type: str) -> float:
        digest = hashlib.blake2b(f"{self.seed_}\x1f{word_type}".encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "little") / 2.0**64

    def transform(self, word_types: Sequence[str]) -> np.ndarray:
        """Control label of each word type (the same type always gets the same label).

        Parameters
        ----------
        word_types : sequence of str of length n_rows

        Returns
        -------
        ndarray of shape (n_rows,)
            Labels from ``classes_``.
        """
        if not hasattr(self, "classes_"):
            raise NotFittedError("this ControlTask is not fitted yet; call fit(word_types, labels) first")
        types = _as_types(word_types)
        cdf = np.cumsum(self.probabilities_)
        cdf[-1] = 1.0
        cache: dict[str, int] = {}
        idx = np.empty(len(types), dtype=np.intp)
        for i, t in enumerate(types):
            j = cache.get(t)
            if j is None:
                j = cache[t] = int(np.searchsorted(cdf, self._uniform(t), side="right"))
            idx[i] = j
        return self.classes_[np.minimum(idx, len(cdf) - 1)]

    def fit_transform(self, word_types: Sequence[str], labels: Sequence[Any]) -> np.ndarray:
        """``fit(word_types, labels).transform(word_types)``."""
        return self.fit(word_types, labels).transform(word_types)


def selectivity(task_accuracy: float, control_accuracy: float) -> float:
    """Selectivity of a probe: task accuracy minus control-task accuracy (Hewitt & Liang 2019).

    Parameters
    ----------
    task_accuracy, control_accuracy : float in [0, 1]

    Returns
    -------
    float

    Examples
    --------
    >>> selectivity(0.97, 0.71)
    0.26
    """
    for name, value in (("task_accuracy", task_accuracy), ("control_accuracy", control_accuracy)):
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= 1:
            raise InvalidParameterError(f"{name} must be a real number in [0, 1]; got {value!r}")
    return round(float(task_accuracy) - float(control_accuracy), 12)
