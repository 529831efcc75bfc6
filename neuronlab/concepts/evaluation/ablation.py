"""Ablation of ranked neurons in a trained probe, and retraining on a selection (Dalvi et al. 2019).

References
----------
Dalvi, F., Durrani, N., Sajjad, H., Belinkov, Y., Bau, A., Glass, J. (2019). What is one grain
of sand in the desert? Analyzing individual neurons in deep NLP models. AAAI.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from neuronlab.concepts.probes.linear import as_float_rows
from neuronlab.concepts.rankers.linear import select_neurons
from neuronlab.errors import InvalidParameterError, choices

__all__ = ["AblationCurve", "ablation_curve", "masked_accuracy", "retrain_accuracy"]

DEFAULT_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class AblationCurve:
    """Accuracy of a probe as more ranked neurons are kept (or zeroed).

    Attributes
    ----------
    fractions : ndarray of shape (n_points,)
    n_neurons : ndarray of shape (n_points,)
        Number of neurons selected at each point.
    accuracy : ndarray of shape (n_points,)
    full_accuracy : float
        Accuracy with every neuron intact.
    mode, order : str
    """

    fractions: np.ndarray
    n_neurons: np.ndarray
    accuracy: np.ndarray
    full_accuracy: float
    mode: str
    order: str


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidParameterError(f"{name} must be one of {choices(allowed)}; got {value!r}")


def masked_accuracy(probe: Any, X: Any, y: Any, neurons: Sequence[int] | np.ndarray, *, mode: str = "keep") -> float:
    """Accuracy of a trained probe with only ``neurons`` kept (others zeroed) or with them zeroed.

    Zeroing an activation of a linear probe is done by zeroing its weight column (no copy of
    ``X``); probes without ``coef_`` get a copy of ``X`` with the columns zeroed.

    Parameters
    ----------
    probe : fitted classifier
    X : array-like of shape (n_rows, n_neurons)
    y : array-like of shape (n_rows,)
    neurons : sequence of int
    mode : {"keep", "zero"}

    Returns
    -------
    float

    References
    ----------
    Dalvi et al. (2019), What is one grain of sand in the desert? AAAI.
    """
    _check_choice("mode", mode, ("keep", "zero"))
    X = as_float_rows(X)
    y = np.asarray(y)
    if len(y) != X.shape[0]:
        raise InvalidParameterError(f"y must have one label per row of X ({X.shape[0]}); got {len(y)}")
    mask = np.zeros(X.shape[1], dtype=bool)
    neurons = np.asarray(neurons, dtype=np.intp)
    if neurons.size and (neurons.min() < 0 or neurons.max() >= X.shape[1]):
        raise InvalidParameterError(f"neuron indices must be in [0, {X.shape[1]}); got {neurons.min()}..{neurons.max()}")
    mask[neurons] = True
    keep = mask if mode == "keep" else ~mask
    if hasattr(probe, "coef_") and hasattr(probe, "intercept_") and hasattr(probe, "classes_"):
        coef = np.asarray(probe.coef_) * keep[None, :]
        z = X @ coef.T.astype(X.dtype) + np.asarray(probe.intercept_)
        pred = probe.classes_[(z[:, 0] > 0).astype(int)] if z.shape[1] == 1 else probe.classes_[z.argmax(axis=1)]
    else:
        Xm = X * keep[None, :].astype(X.dtype)
        pred = probe.predict(Xm)
    return float(np.mean(pred == y))


def ablation_curve(
    probe: Any,
    X_test: Any,
    y_test: Any,
    ranking: Sequence[int] | np.ndarray,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    mode: str = "keep",
    order: str = "top",
    random_state: Any = None,
) -> AblationCurve:
    """Accuracy of a trained probe keeping only (or zeroing) growing sets of ranked neurons.

    Parameters
    ----------
    probe : fitted classifier (a :class:`~neuronlab.concepts.probes.LinearProbe`)
    X_test : array-like of shape (n_rows, n_neurons)
    y_test : array-like of shape (n_rows,)
    ranking : sequence of int
        Best-first neuron indices.
    fractions : sequence of float in [0, 1]
    mode : {"keep", "zero"}, default="keep"
        Keep only the selected neurons (others set to 0) or set the selected ones to 0.
    order : {"top", "bottom", "random"}, default="top"
        Which neurons of the ranking are selected (see :func:`select_neurons`).
    random_state : int, RandomState or None
        For ``order="random"`` (one draw per fraction).

    Returns
    -------
    AblationCurve

    References
    ----------
    Dalvi et al. (2019), What is one grain of sand in the desert? AAAI (Table 2: masking top,
    random and bottom neurons in the trained probe).
    """
    _check_choice("mode", mode, ("keep", "zero"))
    _check_choice("order", order, ("top", "bottom", "random"))
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or fr.size == 0 or not np.all((fr >= 0) & (fr <= 1)):
        raise InvalidParameterError(f"fractions must be a non-empty sequence of numbers in [0, 1]; got {fractions!r}")
    X_test = as_float_rows(X_test, name="X_test")
    ranking = np.asarray(ranking)
    if len(ranking) != X_test.shape[1]:
        raise InvalidParameterError(
            f"ranking must order all {X_test.shape[1]} neurons of X_test; got {len(ranking)} entries"
        )
    rng = check_random_state(random_state)
    ks, accs = [], []
    for f in fr:
        sel = select_neurons(ranking, fraction=float(f), which=order, random_state=rng)
        ks.append(len(sel))
        accs.append(masked_accuracy(probe, X_test, y_test, sel, mode=mode))
    full = masked_accuracy(probe, X_test, y_test, np.arange(X_test.shape[1]), mode="keep")
    return AblationCurve(fr, np.asarray(ks), np.asarray(accs), full, mode, order)


def retrain_accuracy(
    probe: Any,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    selected: Sequence[int] | np.ndarray,
    *,
    random_state: Any = None,
) -> dict[str, Any]:
    """Accuracy of a fresh probe trained on the selected neurons only, and on as many random ones.

    Parameters
    ----------
    probe : unfitted (or fitted; it is cloned) classifier
    X_train, X_test : array-like of shape (n_rows, n_neurons)
    y_train, y_test : array-like
    selected : sequence of int
    random_state : int, RandomState or None
        Draw of the random subset of the same size.

    Returns
    -------
    dict
        ``{"k", "selected_accuracy", "random_accuracy"}``.

    References
    ----------
    Dalvi et al. (2019), What is one grain of sand in the desert? AAAI (retraining on top
    neurons vs random neurons).
    """
    X_train = as_float_rows(X_train, name="X_train")
    X_test = as_float_rows(X_test, name="X_test")
    if X_train.shape[1] != X_test.shape[1]:
        raise InvalidParameterError(
            f"X_train and X_test must have the same neurons; got {X_train.shape[1]} and {X_test.shape[1]}"
        )
    selected = np.asarray(selected, dtype=np.intp)
    d = X_train.shape[1]
    if selected.size == 0 or selected.min() < 0 or selected.max() >= d:
        raise InvalidParameterError(f"selected must be a non-empty set of indices in [0, {d}); got {selected!r:.80}")
    rand = np.sort(check_random_state(random_state).choice(d, size=len(selected), replace=False))
    out: dict[str, Any] = {"k": int(len(selected))}
    for key, cols in (("selected_accuracy", selected), ("random_accuracy", rand)):
        model = clone(probe).fit(X_train[:, cols], y_train)
        out[key] = float(np.mean(model.predict(X_test[:, cols]) == np.asarray(y_test)))
    return out
