"""Neuron rankings from the weights of a linear probe (Dalvi et al. 2019).

For each class, the neurons sorted by absolute weight are taken until their cumulative weight
reaches a percentage of the class's total weight mass (at 0% the class's top neuron, as in NeuroX's
``get_top_neurons``); the global ordering grows the percentage over a grid and appends the neurons in
the order they enter the union of the per-class top sets (NeuroX's ``get_neuron_ordering``
semantics; within one step NeuroX's order is arbitrary, here it is by the largest ``|w|``).

Which weights: those the probe's penalty sees, ``coef_ * scale_`` (:func:`probe_weights`), i.e. the raw
weights unless the probe standardises its input; ``LinearProbeRanker`` and
:func:`neuronlab.concepts.probing.probe_concept` both rank on them.

References
----------
Dalvi, F., Durrani, N., Sajjad, H., Belinkov, Y., Bau, A., Glass, J. (2019). What is one grain
of sand in the desert? Analyzing individual neurons in deep NLP models. AAAI.
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state

from neuronlab.concepts.probes._chunked import ChunkedRows, is_row_source
from neuronlab.concepts.probes.linear import LinearProbe
from neuronlab.concepts.rankers.base import BaseRanker, check_activations, check_labels
from neuronlab.concepts.rankers.streaming import is_lazy
from neuronlab.concepts.validation import HasMethods, Interval, StrOptions
from neuronlab.errors import InvalidParameterError, choices

__all__ = ["top_neurons_per_class", "neuron_ordering", "entry_steps", "probe_weights", "select_neurons",
           "LinearProbeRanker"]


def _abs_weights(coef: Any) -> np.ndarray:
    W = np.abs(np.asarray(coef, dtype=np.float64))
    if W.ndim != 2 or W.shape[1] == 0:
        raise InvalidParameterError(f"coef must have shape (n_classes, n_neurons); got {W.shape}")
    if not np.isfinite(W).all():
        raise InvalidParameterError("coef contains NaN or infinite values")
    return W


def top_neurons_per_class(coef: Any, percentage: float) -> list[np.ndarray]:
    """Per class, the shortest prefix of neurons by ``|w|`` holding ``percentage`` of its mass.

    Parameters
    ----------
    coef : array-like of shape (n_classes, n_neurons)
        Probe weights (a binary probe's single row counts as one "class").
    percentage : float in [0, 1]
        Fraction of each class's total absolute weight to cover.

    Returns
    -------
    list of ndarray
        For each row of ``coef``, the selected neuron indices, largest ``|w|`` first (ties by
        index): the shortest prefix whose cumulative ``|w|`` is at least ``percentage`` of the
        total, as NeuroX's ``get_top_neurons`` (so ``percentage = 0`` selects the top neuron). A
        class whose weights are all zero selects nothing (NeuroX would return one arbitrary
        zero-weight neuron).

    References
    ----------
    Dalvi et al. (2019), What is one grain of sand in the desert? AAAI.

    Examples
    --------
    >>> [t.tolist() for t in top_neurons_per_class([[0.5, -3.0, 1.0, 0.5]], 0.6)]
    [[1]]
    >>> [t.tolist() for t in top_neurons_per_class([[0.5, -3.0, 1.0, 0.5]], 0.7)]
    [[1, 2]]
    >>> [t.tolist() for t in top_neurons_per_class([[0.5, -3.0, 1.0, 0.5]], 0.0)]
    [[1]]
    """
    if isinstance(percentage, bool) or not isinstance(percentage, Real) or not 0 <= percentage <= 1:
        raise InvalidParameterError(f"percentage must be a real number in [0, 1]; got {percentage!r}")
    W = _abs_weights(coef)
    out = []
    for row in W:
        order = np.lexsort((np.arange(len(row)), -row))  # by |w| descending, then index
        cum = np.cumsum(row[order])
        if cum[-1] <= 0:
            out.append(order[:0])
            continue
        target = percentage * cum[-1]
        # cum[-1] is the total; compare with a tiny relative slack against rounding
        k = int(np.searchsorted(cum, target * (1 - 1e-12), side="left")) + 1
        out.append(order[: min(k, len(row))])
    return out


def entry_steps(coef: Any, *, search_stride: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The grid step at which each neuron first enters a class's top set (:func:`top_neurons_per_class`).

    Parameters
    ----------
    coef : array-like of shape (n_classes, n_neurons)
    search_stride : int, default=100
        Number of steps of the percentage grid ``0, 1/search_stride, ..., 1``.

    Returns
    -------
    steps : int ndarray of shape (n_neurons,)
        ``s`` such that the neuron is first selected at percentage ``s / search_stride``;
        ``search_stride + 1`` for neurons that never enter (zero weight in every class).
    classes : int ndarray of shape (n_neurons,)
        The row of ``coef`` through which it enters (the one with the largest ``|w|`` among
        those that select it at that step); -1 for neurons that never enter.

    Notes
    -----
    Exactly the steps of the grid search in NeuroX's ``get_neuron_ordering``, computed per class
    from one sort instead of one selection per step: the neuron at position ``i`` of a class's
    ``|w|``-descending order is selected at percentage ``p`` iff ``i = 0`` or the cumulative weight
    of the ``i`` neurons before it is below ``p`` times the class's mass.

    Examples
    --------
    >>> steps, classes = entry_steps([[4.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 0.0]], search_stride=4)
    >>> steps.tolist(), classes.tolist()
    ([0, 0, 4, 5], [0, 1, 0, -1])
    """
    if isinstance(search_stride, bool) or not isinstance(search_stride, Integral) or search_stride < 1:
        raise InvalidParameterError(f"search_stride must be an integer >= 1; got {search_stride!r}")
    W = _abs_weights(coef)
    n_classes, n = W.shape
    never = search_stride + 1
    steps = np.full(n, never, dtype=np.int64)
    via = np.full(n, -1, dtype=np.int64)
    grid = np.arange(search_stride + 1) / search_stride
    for c in range(n_classes):
        row = W[c]
        order = np.lexsort((np.arange(n), -row))
        cum = np.cumsum(row[order])
        if cum[-1] <= 0:
            continue
        thresholds = grid * cum[-1] * (1 - 1e-12)  # the same floating-point targets as top_neurons_per_class
        s = np.empty(n, dtype=np.int64)
        s[0] = 0
        s[1:] = np.searchsorted(thresholds, cum[:-1], side="right")  # first step whose target exceeds cum[i-1]
        s = np.minimum(s, never)
        s_of = np.empty(n, dtype=np.int64)
        s_of[order] = s
        better = (s_of < steps) | ((s_of == steps) & (s_of < never) & (row > W[np.maximum(via, 0), np.arange(n)]))
        steps[better] = s_of[better]
        via[better] = c
    return steps, via


def neuron_ordering(coef: Any, *, search_stride: int = 100) -> np.ndarray:
    """Global best-first ordering of all neurons (Dalvi et al. 2019).

    The percentage grows over ``0, 1/search_stride, ..., 1``; at each step the neurons that
    newly enter the union of the per-class top sets (:func:`top_neurons_per_class`) are
    appended, those with the larger maximum ``|w|`` over classes first (then by index). The
    first step (0%) holds every class's top neuron, as in NeuroX's ``get_neuron_ordering``.
    Neurons that never enter (all weights zero) come last, in index order.

    Parameters
    ----------
    coef : array-like of shape (n_classes, n_neurons)
    search_stride : int, default=100
        Number of steps of the percentage grid.

    Returns
    -------
    ndarray of shape (n_neurons,)
        A permutation of the neuron indices, most important first.

    References
    ----------
    Dalvi et al. (2019), What is one grain of sand in the desert? AAAI.

    Examples
    --------
    >>> neuron_ordering([[4.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 0.0]], search_stride=4).tolist()
    [0, 1, 2, 3]
    """
    W = _abs_weights(coef)
    steps, _ = entry_steps(W, search_stride=search_stride)
    peak = np.where(steps <= search_stride, W.max(axis=0), 0.0)
    return np.lexsort((np.arange(W.shape[1]), -peak, steps)).astype(np.intp)


def probe_weights(probe: Any) -> np.ndarray:
    """``|coef_ * scale_|`` of a fitted probe, one row per class: the weights its rankings use.

    ``scale_`` (the feature standard deviations when the probe standardises, else absent or ones)
    makes these the weights the penalty acted on. A binary probe with one weight vector (a
    sigmoid) gives that vector's ``|w|`` to both classes.

    Parameters
    ----------
    probe : fitted estimator with ``coef_`` (and optionally ``scale_``, ``classes_``)

    Returns
    -------
    ndarray of shape (n_classes, n_neurons)
    """
    coef = np.asarray(probe.coef_, dtype=np.float64)
    scale = getattr(probe, "scale_", None)
    if scale is not None:
        coef = coef * np.asarray(scale, dtype=np.float64)[None, :]
    W = np.abs(coef)
    classes = getattr(probe, "classes_", None)
    if W.shape[0] == 1 and classes is not None and len(classes) == 2:
        W = np.repeat(W, 2, axis=0)
    return W


def select_neurons(
    ordering: Sequence[int] | np.ndarray,
    *,
    k: int | None = None,
    fraction: float | None = None,
    which: str = "top",
    random_state: Any = None,
) -> np.ndarray:
    """Pick ``k`` (or a ``fraction`` of the) neurons from a best-first ordering.

    Parameters
    ----------
    ordering : sequence of int
        Best-first neuron indices (for example ``ranker.ranking_``).
    k : int, optional
        Number of neurons. Give exactly one of ``k`` and ``fraction``.
    fraction : float in [0, 1], optional
        ``k = round(fraction * len(ordering))``, at least 1 when ``fraction > 0``.
    which : {"top", "bottom", "random"}, default="top"
        The first ``k``, the last ``k`` (least important), or ``k`` drawn uniformly.
    random_state : int, RandomState or None
        Used by ``which="random"``.

    Returns
    -------
    ndarray of shape (k,)
        Neuron indices (for "top"/"bottom" in ordering order, for "random" sorted).

    References
    ----------
    Dalvi et al. (2019), What is one grain of sand in the desert? AAAI (top / bottom / random
    neuron ablations).

    Examples
    --------
    >>> select_neurons([3, 1, 0, 2], k=2).tolist()
    [3, 1]
    >>> select_neurons([3, 1, 0, 2], fraction=0.5, which="bottom").tolist()
    [0, 2]
    """
    ordering = np.asarray(ordering)
    if ordering.ndim != 1 or (len(ordering) and ordering.dtype.kind not in "iu"):
        raise InvalidParameterError(f"ordering must be a 1-d sequence of integer indices; got {ordering!r:.80}")
    n = len(ordering)
    if (k is None) == (fraction is None):
        raise InvalidParameterError(f"give exactly one of k and fraction; got k={k!r}, fraction={fraction!r}")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, Integral) or not 0 <= k <= n:
            raise InvalidParameterError(f"k must be an integer in [0, {n}]; got {k!r}")
    else:
        if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0 <= fraction <= 1:
            raise InvalidParameterError(f"fraction must be a real number in [0, 1]; got {fraction!r}")
        k = int(round(fraction * n))
        if fraction > 0:
            k = max(k, 1)
    k = int(k)
    if which == "top":
        return ordering[:k].copy()
    if which == "bottom":
        return ordering[n - k:].copy()
    if which == "random":
        rng = check_random_state(random_state)
        return np.sort(rng.choice(ordering, size=k, replace=False))
    raise InvalidParameterError(f"which must be one of {choices(['top', 'bottom', 'random'])}; got {which!r}")


class LinearProbeRanker(BaseRanker):
    """Rank neurons by the weights of an elastic-net probe (Dalvi et al. 2019).

    Parameters
    ----------
    probe : LinearProbe, optional
        The probe to train (cloned at ``fit``). When omitted, one is built from
        ``lambda_l1``, ``lambda_l2``, ``class_weight`` and ``tol``; giving ``probe`` together
        with any of those is an error.
    lambda_l1, lambda_l2 : float, optional
        Penalties in NeuroX's parametrisation (default 1e-3 each, the values NeuroX's example
        scripts pass; see :class:`LinearProbe` for the objective).
    class_weight : None, "balanced" or dict, default=None
    tol : float, optional
        Solver tolerance of the built probe (``LinearProbe``'s default when None).
    solver : {"auto", "owlqn", "working-set", "prox-newton"}, optional
        Solver of the built probe (``LinearProbe``'s "auto" when None).
    presolve : "auto", float or None, default="auto"
        Subsample warm start of the built probe (None switches it off; see ``LinearProbe``).
        A streamed fit runs plain OWL-QN and warm-starts only when the subsample fits the budget, so
        ``solver="owlqn", presolve="none"`` makes an in-memory fit take exactly the streamed fit's path.
    search_stride : int, default=100
        Grid size of the percentage search in :func:`neuron_ordering`.
    max_memory_gb : float, optional
        Memory budget of a streamed fit: a lazy ``X`` (a store view) is not loaded but streamed in row chunks
        sized to it (:class:`~neuronlab.concepts.probes._chunked.ChunkedRows`; same optimum as in memory).

    Attributes
    ----------
    probe_ : LinearProbe
        The fitted probe.
    ranking_ : ndarray of shape (n_neurons,)
        Column indices, most important first (:func:`neuron_ordering`).
    scores_ : ndarray of shape (n_neurons,)
        ``1 - position / n_neurons`` of each neuron in ``ranking_`` (higher = more important,
        so ``argsort(-scores_)`` gives ``ranking_``): a rank, not a measurement; the quantities
        that ranked the neurons are ``entry_percentage_`` and ``class_scores_``.
    entry_percentage_ : ndarray of shape (n_neurons,)
        The share of its class's weight mass at which each neuron entered the ordering (0 for
        every class's top neuron; ``inf`` for neurons with zero weight everywhere).
    entry_class_ : int ndarray of shape (n_neurons,)
        Index into ``classes_`` of the class through which it entered (-1: never).
    class_scores_ : ndarray of shape (n_classes, n_neurons)
        ``|w|`` per class, from :func:`probe_weights` (``|coef_ * scale_|``: weights of the
        standardised features when the probe standardises). A binary probe with one weight
        vector gives both classes its ``|w|``.
    per_class_ranking_ : dict of class label -> ndarray
        For each class (a value of ``classes_``), the neurons sorted by ``|w|`` (descending, ties by index).
    classes_ : ndarray of shape (n_classes,)

    References
    ----------
    Dalvi et al. (2019), What is one grain of sand in the desert? AAAI.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 6)).astype(np.float32)
    >>> y = (X[:, 4] > 0).astype(int)
    >>> int(LinearProbeRanker().fit(X, y).ranking_[0])
    4
    """

    _parameter_constraints: dict = {
        "probe": [HasMethods(["fit"]), None],
        "lambda_l1": [Interval(Real, 0, np.inf, closed="left"), None],
        "lambda_l2": [Interval(Real, 0, np.inf, closed="left"), None],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "tol": [Interval(Real, 0, None, closed="neither"), None],
        "solver": [StrOptions({"auto", "owlqn", "working-set", "prox-newton"}), None],
        "presolve": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="neither"), None],
        "search_stride": [Interval(Integral, 1, None, closed="left")],
        "max_memory_gb": [Interval(Real, 0, None, closed="neither"), None],
    }

    #: ``fit`` streams a lazy ``X`` (a store view) through the probe's chunked objective
    streams = True

    def __init__(
        self,
        probe: LinearProbe | None = None,
        *,
        lambda_l1: float | None = None,
        lambda_l2: float | None = None,
        class_weight: Any = None,
        tol: float | None = None,
        solver: str | None = None,
        presolve: str | float | None = "auto",
        search_stride: int = 100,
        max_memory_gb: float | None = None,
    ) -> None:
        self.probe = probe
        self.lambda_l1 = lambda_l1
        self.lambda_l2 = lambda_l2
        self.class_weight = class_weight
        self.tol = tol
        self.solver = solver
        self.presolve = presolve
        self.search_stride = search_stride
        self.max_memory_gb = max_memory_gb

    def _make_probe(self) -> BaseEstimator:
        own = {"lambda_l1": self.lambda_l1, "lambda_l2": self.lambda_l2,
               "class_weight": self.class_weight, "tol": self.tol, "solver": self.solver}
        if self.probe is not None:
            given = [name for name, value in own.items() if value is not None]
            given += ["presolve"] if self.presolve != "auto" else []
            if given:
                raise InvalidParameterError(
                    f"give either probe or probe hyper-parameters, not both; got probe={self.probe!r} and {given}"
                )
            return clone(self.probe)
        kwargs = {k: v for k, v in own.items() if v is not None}
        kwargs["presolve"] = self.presolve
        if "lambda_l1" not in kwargs and "lambda_l2" not in kwargs:
            kwargs.update(lambda_l1=1e-3, lambda_l2=1e-3)
        return LinearProbe(**kwargs)

    def fit(self, X: Any, y: Any) -> "LinearProbeRanker":
        """Train the probe and rank the neurons by its weights (Dalvi et al. 2019).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
        y : array-like of shape (n_rows,)

        Returns
        -------
        self : LinearProbeRanker
        """
        self._validate_params()
        if is_row_source(X):
            pass
        elif is_lazy(X):
            X = ChunkedRows(X, budget_gb=self.max_memory_gb)
        else:
            X = check_activations(X)
        check_labels(y, X.shape[0])
        probe = self._make_probe().fit(X, y)
        self.probe_ = probe
        self.classes_ = probe.classes_
        W = probe_weights(probe)
        self.class_scores_ = W
        steps, via = entry_steps(W, search_stride=self.search_stride)
        self.entry_percentage_ = np.where(steps <= self.search_stride, steps / self.search_stride, np.inf)
        self.entry_class_ = via
        self.ranking_ = neuron_ordering(W, search_stride=self.search_stride)
        n = W.shape[1]
        self.scores_ = np.empty(n)
        self.scores_[self.ranking_] = 1.0 - np.arange(n) / n
        idx = np.arange(n)
        self.per_class_ranking_ = {
            (label.item() if isinstance(label, np.generic) else label): np.lexsort((idx, -W[c]))
            for c, label in enumerate(self.classes_)
        }
        self.n_features_in_ = int(n)
        return self

    def select(self, *, k: int | None = None, fraction: float | None = None, which: str = "top",
               random_state: Any = None) -> np.ndarray:
        """:func:`select_neurons` applied to ``ranking_``."""
        return select_neurons(self.ranking_, k=k, fraction=fraction, which=which, random_state=random_state)

