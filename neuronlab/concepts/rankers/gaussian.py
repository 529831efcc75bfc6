"""Gaussian-probe ranking: the greedy dimension-selection order (Torroba Hennigen et al. 2020)."""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from neuronlab.concepts.probes._chunked import GIB, ChunkedRows, chunk_rows_for_budget, is_row_source
from neuronlab.concepts.probes.gaussian import GaussianProbe
from neuronlab.concepts.probes.gaussian_greedy import CRITERIA
from neuronlab.concepts.rankers.base import BaseRanker, check_activations, check_labels
from neuronlab.concepts.rankers.streaming import is_lazy
from neuronlab.concepts.validation import Interval, StrOptions
from neuronlab.errors import InvalidParameterError

__all__ = ["GaussianRanker"]


class GaussianRanker(BaseRanker):
    """Rank neurons by greedy selection with the Gaussian probe (intrinsic probing).

    The first ``max_dims`` neurons are those :class:`~neuronlab.concepts.probes.gaussian.GaussianProbe`
    selects, in selection order (each maximises the mutual information, or accuracy, of the selected set
    with the concept); the others follow, ordered by their criterion as the candidate of the last greedy
    step (ties by index). ``scores_`` is a rank, ``1 - position / n_neurons``; the measurements are
    ``mi_path_`` and ``accuracy_path_``.

    Parameters
    ----------
    criterion : {"mi", "accuracy"}, default="mi"
    max_dims : int, default=50
        Greedy steps (capped at the number of neurons). Every class needs more rows than this.
    nu0 : float or None, default=None
        Prior degrees of freedom (``n_neurons + 2`` when None, the paper's).
    reg_covar : float, default=1e-6
        Added to every covariance diagonal.
    max_memory_gb : float, optional
        Memory budget of a streamed fit: a lazy ``X`` (a store view) is not loaded but read in row chunks sized
        to it, once for the class statistics and once per greedy step (same selection as in memory). The
        ``n_classes x n_neurons^2`` covariances must fit it.

    Attributes
    ----------
    probe_ : GaussianProbe
    selected_ : int64 ndarray of shape (min(max_dims, n_neurons),)
    mi_path_, accuracy_path_ : ndarray
        Mutual information (bits) and accuracy of the selected set after each step (training rows).
    ranking_, scores_, classes_
        See :mod:`neuronlab.concepts.rankers.base`; ``class_scores_`` and ``per_class_ranking_`` are None.

    References
    ----------
    L. Torroba Hennigen, A. Williams, R. Cotterell (2020). Intrinsic Probing through Dimension Selection.
    EMNLP.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 600)
    >>> X = rng.normal(size=(600, 8)); X[:, 5] += 4 * y; X[:, 2] += 3 * (y == 2)
    >>> GaussianRanker(max_dims=3).fit(X, y).ranking_[:2].tolist()
    [5, 2]
    """

    _parameter_constraints: dict = {
        "criterion": [StrOptions(set(CRITERIA))],
        "max_dims": [Interval(Integral, 1, None, closed="left")],
        "nu0": [Interval(Real, 0, None, closed="neither"), None],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
        "max_memory_gb": [Interval(Real, 0, None, closed="neither"), None],
    }

    #: ``fit`` streams a lazy ``X`` (a store view) in row chunks, and takes a row source (dask workers' chunks)
    streams = True

    def __init__(self, *, criterion: str = "mi", max_dims: int = 50, nu0: float | None = None,
                 reg_covar: float = 1e-6, max_memory_gb: float | None = None) -> None:
        self.criterion = criterion
        self.max_dims = max_dims
        self.nu0 = nu0
        self.reg_covar = reg_covar
        self.max_memory_gb = max_memory_gb

    @staticmethod
    def in_memory_bytes(n_rows: int, n_neurons: int, n_classes: int) -> float:
        """Memory of an in-memory fit: the float32 matrix with work space, the greedy selection's float64 residual
        of every row, class and neuron, and three class covariance-sized arrays (``rank_concept`` streams when
        this does not fit the budget)."""
        return n_rows * n_neurons * (4 * 1.5 + 8 * n_classes) + 3.0 * n_classes * n_neurons * n_neurons * 8

    def fit(self, X: Any, y: Any) -> "GaussianRanker":
        """Fit the Gaussian probe, select greedily, and rank (Torroba Hennigen et al. 2020).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons), a store view or a row source
            A lazy ``X`` is streamed (:class:`~neuronlab.concepts.probes._chunked.ChunkedRows` under
            ``max_memory_gb``); a row source (``ChunkedRows``, :class:`~neuronlab.scale.dask_probe.DaskRows`) is
            used as it is.
        y : array-like of shape (n_rows,)

        Returns
        -------
        self
        """
        self._validate_params()
        if is_row_source(X):
            pass
        elif is_lazy(X):
            X = _chunked_rows(X, y, self.max_memory_gb)
        else:
            X = check_activations(X)
        classes, _ = check_labels(y, X.shape[0])
        probe = GaussianProbe(criterion=self.criterion, max_dims=self.max_dims, nu0=self.nu0,
                              reg_covar=self.reg_covar).fit(X, y)
        self.probe_ = probe
        self.selected_ = probe.selected_
        self.mi_path_ = probe.mi_path_
        self.accuracy_path_ = probe.accuracy_path_
        n = X.shape[1]
        rest = np.setdiff1d(np.arange(n), self.selected_)
        keys = -probe.last_scores_[rest]
        rest = rest[np.lexsort((rest, np.where(np.isnan(keys), np.inf, keys)))]
        ranking = np.concatenate([self.selected_, rest]).astype(np.int64)
        scores = np.empty(n)
        scores[ranking] = 1.0 - np.arange(n) / n
        return self._set_scores(classes, scores, None)


def _chunked_rows(X: Any, y: Any, budget_gb: float | None) -> ChunkedRows:
    """Row chunks of a lazy ``X`` for a streamed fit; refuses when the covariances alone exceed the budget."""
    n_rows, n_neurons = X.shape
    if budget_gb is None:
        return ChunkedRows(X)
    n_classes = len(np.unique(np.asarray(y)))
    # the covariances, the statistics being merged and one chunk's; per row of a chunk, the rows (with a float64
    # copy) and the selection kernel's class x candidate temporaries (its sub-blocks are at most 2,048 rows)
    reserved = 3.0 * n_classes * n_neurons * n_neurons * 8
    if reserved >= budget_gb * GIB:
        raise InvalidParameterError(
            f"the Gaussian probe holds {n_classes} class covariances of {n_neurons} x {n_neurons} neurons "
            f"({reserved / GIB:.3g} GB with work space) but the memory budget is {budget_gb:g} GB; select fewer "
            "sites (sites=) or raise max_memory_gb=")
    rows = chunk_rows_for_budget(n_neurons, budget_gb, itemsize=4, copies=3.0 + 6.0 * n_classes,
                                 reserved_bytes=reserved)
    return ChunkedRows(X, chunk_rows=rows, budget_gb=budget_gb)
