"""Smallest set of top-ranked neurons that retains the oracle accuracy (Durrani et al. 2020).

References
----------
Durrani, N., Sajjad, H., Dalvi, F., Belinkov, Y. (2020). Analyzing individual neurons in
pre-trained language models. EMNLP.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from neuronlab.concepts.probes.linear import as_float_rows
from neuronlab.errors import InvalidParameterError

__all__ = ["MinimalSubset", "minimal_neuron_subset"]

DEFAULT_GRID = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class MinimalSubset:
    """Result of :func:`minimal_neuron_subset`.

    Attributes
    ----------
    k : int
        Size of the smallest subset found on the grid (chosen on the dev rows).
    fraction : float
        ``k / n_neurons``.
    neurons : ndarray of shape (k,)
        The selected neuron indices (the top ``k`` of the ranking).
    accuracy : float
        Test accuracy of the probe retrained on all training rows with these neurons only.
    oracle_accuracy : float
        Test accuracy of the probe trained on all training rows and all neurons.
    tried : list of (int, float)
        ``(k, dev accuracy)`` of every grid point evaluated, in order.
    dev_accuracy, dev_oracle_accuracy : float
        Dev accuracy of the chosen ``k`` and of all neurons (probes fitted on the training rows
        outside the dev part): the numbers ``k`` was chosen by.
    n_dev : int
        Number of training rows held out as dev.
    """

    k: int
    fraction: float
    neurons: np.ndarray
    accuracy: float
    oracle_accuracy: float
    tried: list[tuple[int, float]] = field(default_factory=list)
    dev_accuracy: float = float("nan")
    dev_oracle_accuracy: float = float("nan")
    n_dev: int = 0


def _dev_split(n: int, dev_size: float, groups: Any, random_state: Any) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(fit, dev)``: a random ``dev_size`` share of the groups (sentences), or of the rows."""
    rng = check_random_state(random_state)
    if groups is None:
        perm = rng.permutation(n)
        n_dev = min(n - 1, max(1, int(round(dev_size * n))))
        return np.sort(perm[n_dev:]), np.sort(perm[:n_dev])
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise InvalidParameterError(f"groups must have one entry per training row ({n}); got shape {groups.shape}")
    uniq = np.unique(groups)
    if len(uniq) < 2:
        raise InvalidParameterError("groups must hold at least 2 distinct groups to hold some out as dev rows")
    n_dev = min(len(uniq) - 1, max(1, int(round(dev_size * len(uniq)))))
    dev_groups = rng.permutation(uniq)[:n_dev]
    is_dev = np.isin(groups, dev_groups)
    return np.flatnonzero(~is_dev), np.flatnonzero(is_dev)


def minimal_neuron_subset(
    probe: Any,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    ranking: Sequence[int] | np.ndarray,
    *,
    delta: float = 0.01,
    grid: Sequence[float] = DEFAULT_GRID,
    dev_size: float = 0.2,
    groups: Any = None,
    random_state: Any = 0,
) -> MinimalSubset:
    """Smallest top-k (k on a fraction grid) whose retrained accuracy is within ``delta`` of the oracle.

    ``k`` is chosen on held-out training rows, never on the test rows it is reported on: a
    ``dev_size`` share of the training rows (of the sentences, when ``groups`` is given) is held
    out, the probe is fitted on the rest with all neurons (the dev oracle) and with the top ``k``
    for growing ``k = max(1, round(fraction * n_neurons))``, and the first ``k`` whose dev accuracy
    is at least ``dev oracle - delta`` is chosen (all neurons when none is). The probe is then
    retrained on all training rows with the chosen neurons and with all of them, and their test
    accuracies are reported.

    Parameters
    ----------
    probe : classifier (cloned for every fit)
    X_train, X_test : array-like of shape (n_rows, n_neurons)
    y_train, y_test : array-like
    ranking : sequence of int
        Best-first neuron indices covering all neurons.
    delta : float, default=0.01
        Allowed accuracy loss (absolute, e.g. 0.01 = one point).
    grid : sequence of float in (0, 1]
    dev_size : float in (0, 1), default=0.2
        Share of the training rows (or groups) held out to choose ``k``.
    groups : array-like of shape (n_train_rows,), optional
        Group (sentence) of each training row; the dev part then holds whole groups, so that
        words of one sentence are not on both sides.
    random_state : int, RandomState or None, default=0
        Seed of the dev split.

    Returns
    -------
    MinimalSubset

    References
    ----------
    Durrani et al. (2020), Analyzing individual neurons in pre-trained language models. EMNLP.
    """
    if isinstance(delta, bool) or not isinstance(delta, Real) or not 0 <= delta <= 1:
        raise InvalidParameterError(f"delta must be a real number in [0, 1]; got {delta!r}")
    if isinstance(dev_size, bool) or not isinstance(dev_size, Real) or not 0 < dev_size < 1:
        raise InvalidParameterError(f"dev_size must be a real number in (0, 1); got {dev_size!r}")
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1 or g.size == 0 or not np.all((g > 0) & (g <= 1)):
        raise InvalidParameterError(f"grid must be a non-empty sequence of fractions in (0, 1]; got {grid!r}")
    X_train = as_float_rows(X_train, name="X_train")
    X_test = as_float_rows(X_test, name="X_test")
    d = X_train.shape[1]
    ranking = np.asarray(ranking, dtype=np.intp)
    if X_test.shape[1] != d or len(ranking) != d:
        raise InvalidParameterError(
            f"X_train, X_test and ranking must cover the same {d} neurons; got {X_test.shape[1]} and {len(ranking)}"
        )
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    fit_rows, dev_rows = _dev_split(X_train.shape[0], float(dev_size), groups, random_state)
    X_fit, y_fit, X_dev, y_dev = X_train[fit_rows], y_train[fit_rows], X_train[dev_rows], y_train[dev_rows]

    def accuracy(cols: np.ndarray, Xa, ya, Xb, yb) -> float:
        full = len(cols) == d
        model = clone(probe).fit(Xa if full else Xa[:, cols], ya)
        return float(np.mean(model.predict(Xb if full else Xb[:, cols]) == yb))

    dev_oracle = accuracy(ranking, X_fit, y_fit, X_dev, y_dev)
    tried: list[tuple[int, float]] = []
    seen: set[int] = set()
    k, dev_acc = d, dev_oracle
    for f in np.sort(g):
        kk = max(1, int(round(f * d)))
        if kk in seen:
            continue
        seen.add(kk)
        acc = dev_oracle if kk == d else accuracy(ranking[:kk], X_fit, y_fit, X_dev, y_dev)
        tried.append((kk, acc))
        if acc >= dev_oracle - delta:
            k, dev_acc = kk, acc
            break
    oracle = accuracy(ranking, X_train, y_train, X_test, y_test)
    test_acc = oracle if k == d else accuracy(ranking[:k], X_train, y_train, X_test, y_test)
    return MinimalSubset(k, k / d, ranking[:k].copy(), test_acc, oracle, tried, dev_acc, dev_oracle, len(dev_rows))
