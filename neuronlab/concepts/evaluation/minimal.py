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
        Size of the smallest subset found on the grid.
    fraction : float
        ``k / n_neurons``.
    neurons : ndarray of shape (k,)
        The selected neuron indices (the top ``k`` of the ranking).
    accuracy : float
        Test accuracy of the probe retrained on them.
    oracle_accuracy : float
        Test accuracy of the probe trained on all neurons.
    tried : list of (int, float)
        ``(k, accuracy)`` of every grid point evaluated, in order.
    """

    k: int
    fraction: float
    neurons: np.ndarray
    accuracy: float
    oracle_accuracy: float
    tried: list[tuple[int, float]] = field(default_factory=list)


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
) -> MinimalSubset:
    """Smallest top-k (k on a fraction grid) whose retrained accuracy is within ``delta`` of the oracle.

    The oracle is the probe retrained on all neurons; grid points are tried from the smallest
    fraction up, ``k = max(1, round(fraction * n_neurons))``, and the first whose accuracy is
    at least ``oracle - delta`` is returned (all neurons when none is).

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

    Returns
    -------
    MinimalSubset

    References
    ----------
    Durrani et al. (2020), Analyzing individual neurons in pre-trained language models. EMNLP.
    """
    if isinstance(delta, bool) or not isinstance(delta, Real) or not 0 <= delta <= 1:
        raise InvalidParameterError(f"delta must be a real number in [0, 1]; got {delta!r}")
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
    y_test = np.asarray(y_test)

    def accuracy(cols: np.ndarray) -> float:
        model = clone(probe).fit(X_train if len(cols) == d else X_train[:, cols], y_train)
        return float(np.mean(model.predict(X_test if len(cols) == d else X_test[:, cols]) == y_test))

    oracle = accuracy(np.arange(d))
    tried: list[tuple[int, float]] = []
    seen: set[int] = set()
    for f in np.sort(g):
        k = max(1, int(round(f * d)))
        if k in seen:
            continue
        seen.add(k)
        acc = oracle if k == d else accuracy(ranking[:k])
        tried.append((k, acc))
        if acc >= oracle - delta:
            return MinimalSubset(k, k / d, ranking[:k].copy(), acc, oracle, tried)
    return MinimalSubset(d, 1.0, ranking.copy(), oracle, oracle, tried)
