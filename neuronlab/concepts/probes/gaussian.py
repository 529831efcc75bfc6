"""The Gaussian probe: one Gaussian per class with a Normal-Inverse-Wishart prior (Torroba Hennigen et al. 2020).

Intrinsic probing: a probe whose parameters over *all* neurons are estimated once, so that the
probe of any subset of neurons is read off by slicing (a marginal of a Gaussian is the Gaussian of
the sliced mean and covariance), and neurons are selected greedily by the mutual information (bits)
between the concept and the selected neurons, or by accuracy
(:mod:`neuronlab.concepts.probes.gaussian_greedy`).
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Sequence

import numpy as np
from scipy.linalg import solve_triangular
from sklearn.base import BaseEstimator

from neuronlab.concepts.probes._chunked import is_row_source
from neuronlab.concepts.probes.gaussian_greedy import (CRITERIA, GreedyGaussianState, chunk_criterion_sums,
                                                       greedy_select, greedy_select_from_sums)
from neuronlab.concepts.probes.linear import as_float_rows
from neuronlab.concepts.validation import Interval, StrOptions, ValidatedEstimator, check_target
from neuronlab.errors import InvalidParameterError, NotFittedError

__all__ = ["GaussianProbe", "map_parameters", "map_parameters_from_statistics", "class_statistics_of_block",
           "merge_class_statistics"]

_LOG_2PI = math.log(2.0 * math.pi)
_FITTED = frozenset({"means_", "covariances_", "class_prior_", "classes_", "class_counts_", "n_features_in_",
                     "selected_", "mi_path_", "accuracy_path_", "last_scores_", "streamed_"})


def map_parameters(X: np.ndarray, y: np.ndarray, n_classes: int, *, nu0: float | None = None,
                   reg_covar: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MAP mean and covariance of every class under the Normal-Inverse-Wishart prior of the paper.

    With the prior of Torroba Hennigen et al. (2020) as their code sets it (and NeuroX's port of it):
    ``mu_0`` = the class mean, ``Lambda_0`` = the diagonal of the class's sample covariance, ``nu_0 = D + 2``
    (``D`` = number of neurons), ``kappa_0 = 0.01``. The joint posterior mode of NIW(mu_n, kappa_n, Lambda_n,
    nu_n) is ``mu* = mu_n`` and ``Sigma* = Lambda_n / (nu_n + D + 2)``; since ``mu_0`` is the class mean,
    ``mu* = mean_c`` and ``kappa_0`` drops out::

        Sigma*_c = (diag(var_c) + sum_{i in c} (x_i - mean_c)(x_i - mean_c)^T) / (nu_0 + n_c + D + 2) + reg_covar I

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_neurons)
    y : int ndarray of shape (n_rows,)
        Class index ``0..n_classes-1`` of every row.
    n_classes : int
    nu0 : float, optional
        Degrees of freedom of the prior; ``D + 2`` (the paper's) when None.
    reg_covar : float
        Added to the diagonal of every covariance (0: exactly the paper's MAP).

    Returns
    -------
    means : ndarray of shape (n_classes, n_neurons)
    covariances : ndarray of shape (n_classes, n_neurons, n_neurons)
    counts : int64 ndarray of shape (n_classes,)

    References
    ----------
    Torroba Hennigen, Williams, Cotterell (2020), Intrinsic Probing through Dimension Selection. EMNLP.
    Murphy (2007), Conjugate Bayesian analysis of the Gaussian distribution (NIW posterior and mode).

    Examples
    --------
    >>> X = np.array([[0.0], [2.0], [10.0], [14.0]])
    >>> means, covs, counts = map_parameters(X, np.array([0, 0, 1, 1]), 2)
    >>> means.ravel().tolist(), covs.ravel().tolist()   # (var + scatter) / (3 + 2 + 1 + 2)
    ([1.0, 12.0], [0.5, 2.0])
    """
    n_neurons = X.shape[1]
    counts = np.bincount(y, minlength=n_classes).astype(np.int64)
    means = np.empty((n_classes, n_neurons), dtype=np.float64)
    scatters = np.empty((n_classes, n_neurons, n_neurons), dtype=np.float64)
    for c in range(n_classes):
        Xc = np.asarray(X[y == c], dtype=np.float64)
        means[c] = Xc.mean(axis=0)
        centred = Xc - means[c]
        scatters[c] = centred.T @ centred
    return map_parameters_from_statistics(counts, means, scatters, nu0=nu0, reg_covar=reg_covar)


def map_parameters_from_statistics(counts: np.ndarray, means: np.ndarray, scatters: np.ndarray, *,
                                   nu0: float | None = None, reg_covar: float = 0.0
                                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`map_parameters` from the sufficient statistics: class counts, means and scatter matrices.

    The statistics merge over row chunks, so a store larger than memory (or one spread over a dask cluster)
    gives them in one streamed pass (:func:`neuronlab.scale.stats.class_statistics`); ``scatters`` is
    overwritten (it becomes the covariances).

    Parameters
    ----------
    counts : int ndarray of shape (n_classes,)
    means : ndarray of shape (n_classes, n_neurons)
    scatters : ndarray of shape (n_classes, n_neurons, n_neurons)
        ``sum_{i in c} (x_i - mean_c)(x_i - mean_c)^T``.
    nu0, reg_covar : see :func:`map_parameters`

    Returns
    -------
    means, covariances, counts : as :func:`map_parameters`

    References
    ----------
    Torroba Hennigen, Williams, Cotterell (2020), Intrinsic Probing through Dimension Selection. EMNLP.
    """
    n_neurons = means.shape[1]
    nu0 = n_neurons + 2.0 if nu0 is None else float(nu0)
    covs = np.asarray(scatters, dtype=np.float64)
    for c in range(len(counts)):
        scatter = covs[c]
        prior_scale = np.diagonal(scatter) / (counts[c] - 1)  # the sample variance (ddof=1), as np.cov
        scatter[np.diag_indices(n_neurons)] += prior_scale + reg_covar * (nu0 + counts[c] + n_neurons + 2)
        covs[c] = scatter / (nu0 + counts[c] + n_neurons + 2)
    return means, covs, np.asarray(counts, dtype=np.int64)


class GaussianProbe(ValidatedEstimator, BaseEstimator):
    """Class-conditional Gaussians with a Normal-Inverse-Wishart prior, probed on any subset of neurons.

    ``p(x | c) = N(x | mu*_c, Sigma*_c)`` with the MAP parameters of :func:`map_parameters` (the paper uses
    the MAP estimate, not the posterior predictive), ``p(c)`` the class frequencies of the training rows, and
    ``p(c | x[S]) ∝ p(c) N(x[S] | mu*_c[S], Sigma*_c[S, S])`` for a subset ``S``: the parameters are never
    re-fitted for a subset. ``fit`` also selects ``max_dims`` neurons greedily by ``criterion`` on the
    training rows (as the paper and NeuroX do), each step an incremental update of every candidate
    (:mod:`~neuronlab.concepts.probes.gaussian_greedy`).

    Parameters
    ----------
    criterion : {"mi", "accuracy"}, default="mi"
        Greedy criterion: mutual information ``I(class; x[S])`` in bits, estimated as
        ``H(class) - mean_i(-log2 p(y_i | x_i[S]))`` (the paper's estimate, with ``H`` of the empirical class
        distribution), or accuracy. Ties go to the lowest neuron index.
    max_dims : int or None, default=None
        Neurons to select; all neurons when None, 0 to skip selection. Every class needs more training rows
        than this, and than the size of any subset evaluated later (a class covariance over more dimensions
        than it has rows is determined by the prior, not by the class's data): both are clear errors.
    nu0 : float or None, default=None
        Prior degrees of freedom; ``n_neurons + 2`` (the paper's) when None.
    reg_covar : float, default=1e-6
        Added to every covariance diagonal (keeps a neuron that is constant within a class usable; 0 is the
        paper's MAP exactly).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    class_counts_ : int64 ndarray of shape (n_classes,)
    class_prior_ : ndarray of shape (n_classes,)
    means_ : ndarray of shape (n_classes, n_neurons)
    covariances_ : ndarray of shape (n_classes, n_neurons, n_neurons)
    selected_ : int64 ndarray of shape (max_dims,)
        Neurons in greedy selection order.
    mi_path_, accuracy_path_ : ndarray of shape (max_dims,)
        Mutual information (bits) and accuracy on the training rows after each selection step.
    last_scores_ : ndarray of shape (n_neurons,)
        The criterion of every candidate at the last step (NaN for selected neurons): how the ranker orders
        the neurons that were not selected.
    streamed_ : None, "chunked" or "dask"
        How the training rows were read (None: in memory).

    References
    ----------
    L. Torroba Hennigen, A. Williams, R. Cotterell (2020). Intrinsic Probing through Dimension Selection.
    EMNLP.

    See Also
    --------
    neuronlab.concepts.rankers.gaussian.GaussianRanker

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> X = rng.normal(size=(400, 5)); X[:, 3] += 4 * y
    >>> probe = GaussianProbe(max_dims=2).fit(X, y)
    >>> int(probe.selected_[0]), bool(probe.mi_path_[0] > 0.8)
    (3, True)
    >>> float(probe.score(X, y, dims=[3])) > 0.95
    True
    """

    _parameter_constraints: dict = {
        "criterion": [StrOptions(set(CRITERIA))],
        "max_dims": [Interval(Integral, 0, None, closed="left"), None],
        "nu0": [Interval(Real, 0, None, closed="neither"), None],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, *, criterion: str = "mi", max_dims: int | None = None, nu0: float | None = None,
                 reg_covar: float = 1e-6) -> None:
        self.criterion = criterion
        self.max_dims = max_dims
        self.nu0 = nu0
        self.reg_covar = reg_covar

    def __getattr__(self, name: str) -> Any:
        if name in _FITTED:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit(X, y) before reading {name}.")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def fit(self, X: Any, y: Any, *, progress: Any = None) -> "GaussianProbe":
        """Estimate the MAP Gaussians over all neurons, then select ``max_dims`` neurons greedily.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons), or a row source
            A row source (:class:`~neuronlab.concepts.probes._chunked.ChunkedRows` over a store view, or
            :class:`~neuronlab.scale.dask_probe.DaskRows` on a dask cluster) is never held in memory: the class
            statistics are merged over its row chunks (Chan et al. 1979) and every greedy step is one pass
            that sums each chunk's criterion (:func:`~neuronlab.concepts.probes.gaussian_greedy.chunk_criterion_sums`); same selection
            as in memory, ``streamed_`` says how the rows were read.
        y : array-like of shape (n_rows,)
        progress : callable, optional
            Wraps the range of greedy steps (e.g. ``tqdm.tqdm``).

        Returns
        -------
        self
        """
        self._validate_params()
        source = is_row_source(X)  # rows read in chunks (a store larger than memory, or on dask workers)
        X = X if source else as_float_rows(X)
        y = check_target(y, X.shape[0], estimator=type(self).__name__)
        classes, y_enc = np.unique(y, return_inverse=True)
        y_enc = y_enc.reshape(-1)
        if len(classes) < 2:
            raise InvalidParameterError(f"y has only one class ({classes.tolist()!r}); the Gaussian probe needs at "
                                        "least 2 classes (e.g. the concept and everything else)")
        n_neurons = X.shape[1]
        n_dims = n_neurons if self.max_dims is None else min(self.max_dims, n_neurons)
        counts = np.bincount(y_enc, minlength=len(classes))
        _check_rows_per_class(classes, counts, max(n_dims, 1))
        self.classes_ = classes
        self.n_features_in_ = int(n_neurons)
        if source:
            counts_s, means_s, scatters_s = _reduce_chunks(X, class_statistics_of_block, merge_class_statistics,
                                                           y_enc, len(classes))
            self.means_, self.covariances_, self.class_counts_ = map_parameters_from_statistics(
                counts_s, means_s, scatters_s, nu0=self.nu0, reg_covar=self.reg_covar)
        else:
            self.means_, self.covariances_, self.class_counts_ = map_parameters(
                X, y_enc, len(classes), nu0=self.nu0, reg_covar=self.reg_covar)
        self.class_prior_ = self.class_counts_ / self.class_counts_.sum()
        self.streamed_ = X.kind if source else None
        if n_dims == 0:  # no selection: no greedy state (its residuals are classes x rows x neurons)
            path = {"selected": np.zeros(0, dtype=np.int64), "mi": np.zeros(0), "accuracy": np.zeros(0),
                    "last_scores": np.full(n_neurons, np.nan)}
        elif source:  # one pass over the chunks per step, the residuals recomputed from the neuron state
            path = _greedy_over_chunks(X, y_enc, self.means_, self.covariances_, np.log(self.class_prior_), n_dims,
                                       criterion=self.criterion, progress=progress)
        else:
            state = GreedyGaussianState(self.means_, self.covariances_, np.log(self.class_prior_), X, y_enc)
            path = greedy_select(state, n_dims, criterion=self.criterion, progress=progress)
        self.selected_ = path["selected"]
        self.mi_path_ = path["mi"]
        self.accuracy_path_ = path["accuracy"]
        self.last_scores_ = path["last_scores"]
        return self

    # ------------------------------------------------------------------ evaluation of a subset
    def _dims(self, dims: Sequence[int] | None) -> np.ndarray:
        n = self.n_features_in_
        if dims is None:
            dims = self.selected_ if len(self.selected_) else np.arange(n)
        dims = np.asarray(dims)
        if dims.ndim != 1 or dims.size == 0 or dims.dtype.kind not in "iu":
            raise InvalidParameterError(f"dims must be a non-empty 1-d sequence of neuron indices; got {dims!r:.80}")
        if dims.min() < 0 or dims.max() >= n or np.unique(dims).size != dims.size:
            raise InvalidParameterError(f"dims must be distinct neuron indices in [0, {n}); got {dims.tolist()!r:.80}")
        _check_rows_per_class(self.classes_, self.class_counts_, dims.size, what="dims")
        return dims.astype(np.int64)

    def _check_X(self, X: Any) -> np.ndarray:
        X = as_float_rows(X)
        if X.shape[1] != self.n_features_in_:
            raise InvalidParameterError(
                f"X has {X.shape[1]} neurons but the probe was fitted on {self.n_features_in_}; pass the same columns")
        return X

    def log_likelihood(self, X: Any, dims: Sequence[int] | None = None) -> np.ndarray:
        """``log N(x[dims] | mu*_c[dims], Sigma*_c[dims, dims])`` of every row and class.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
        dims : sequence of int, optional
            The subset (default: ``selected_``, or all neurons when nothing was selected).

        Returns
        -------
        ndarray of shape (n_rows, n_classes)
        """
        X = self._check_X(X)
        dims = self._dims(dims)
        out = np.empty((X.shape[0], len(self.classes_)))
        Xs = np.asarray(X[:, dims], dtype=np.float64)
        for c in range(len(self.classes_)):
            chol = np.linalg.cholesky(self.covariances_[c][np.ix_(dims, dims)])
            z = solve_triangular(chol, (Xs - self.means_[c, dims]).T, lower=True)
            out[:, c] = -0.5 * (dims.size * _LOG_2PI + (z * z).sum(axis=0)) - np.log(np.diagonal(chol)).sum()
        return out

    def predict_log_proba(self, X: Any, dims: Sequence[int] | None = None) -> np.ndarray:
        """``log p(c | x[dims])`` (Bayes' rule with ``class_prior_``), shape (n_rows, n_classes)."""
        joint = self.log_likelihood(X, dims) + np.log(self.class_prior_)[None, :]
        top = joint.max(axis=1, keepdims=True)
        return joint - (top + np.log(np.exp(joint - top).sum(axis=1, keepdims=True)))

    def predict_proba(self, X: Any, dims: Sequence[int] | None = None) -> np.ndarray:
        """``p(c | x[dims])``, shape (n_rows, n_classes)."""
        return np.exp(self.predict_log_proba(X, dims))

    def predict(self, X: Any, dims: Sequence[int] | None = None) -> np.ndarray:
        """The most probable class of every row (a value of ``classes_``)."""
        return self.classes_[np.argmax(self.predict_log_proba(X, dims), axis=1)]

    def score(self, X: Any, y: Any, dims: Sequence[int] | None = None) -> float:
        """Accuracy on ``X, y`` with the subset ``dims``."""
        return float(np.mean(self.predict(X, dims) == np.asarray(y)))

    def mutual_information(self, X: Any, y: Any, dims: Sequence[int] | None = None) -> float:
        """``I(class; x[dims])`` in bits: ``H(class) - mean_i(-log2 p(y_i | x_i[dims]))`` on ``X, y``.

        ``H`` is the entropy of the class distribution of ``y`` (the paper's estimate; labels unseen in
        training are an error).
        """
        log_post = self.predict_log_proba(X, dims)
        y = np.asarray(y)
        index = {(c.item() if isinstance(c, np.generic) else c): i for i, c in enumerate(self.classes_)}
        try:
            y_enc = np.array([index[v.item() if isinstance(v, np.generic) else v] for v in y], dtype=np.int64)
        except KeyError as exc:
            raise InvalidParameterError(f"y holds class {exc.args[0]!r} the probe was not fitted on; "
                                        f"fitted classes: {self.classes_.tolist()}") from None
        freq = np.bincount(y_enc, minlength=len(self.classes_)) / len(y_enc)
        nz = freq[freq > 0]
        entropy = -(nz * np.log(nz)).sum()
        cross_entropy = -log_post[np.arange(len(y_enc)), y_enc].mean()
        return float((entropy - cross_entropy) / math.log(2.0))


def _check_rows_per_class(classes: np.ndarray, counts: np.ndarray, n_dims: int, *, what: str = "max_dims") -> None:
    """Every class needs more rows than the dimensions of the covariance it is evaluated with (and >= 2)."""
    need = max(n_dims + 1, 2)
    short = np.flatnonzero(counts < need)
    if short.size:
        c = short[0]
        label = classes[c].item() if isinstance(classes[c], np.generic) else classes[c]
        fix = ("pass fewer dims" if what == "dims" else
               "lower max_dims, probe fewer neurons (sites), or drop rare classes (min_class_count)")
        raise InvalidParameterError(
            f"class {label!r} has {int(counts[c])} row(s) but {what} asks for a {n_dims}-dimensional Gaussian per "
            f"class, which needs at least {need} rows in every class (more rows than dimensions); {fix}")


# ---------------------------------------------------------------- statistics and selection over row chunks (issue 13)
def class_statistics_of_block(X: np.ndarray, y: np.ndarray, n_classes: int
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class counts, means and scatter matrices of one block of rows (float64), the map step of a streamed fit.

    Returns
    -------
    counts : int64 ndarray of shape (n_classes,)
    means : ndarray of shape (n_classes, n_neurons)
    scatters : ndarray of shape (n_classes, n_neurons, n_neurons)
        ``sum_{i in c} (x_i - mean_c)(x_i - mean_c)^T`` over the block's rows of class ``c``.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    d = X.shape[1]
    counts = np.bincount(y, minlength=n_classes).astype(np.int64)[:n_classes]
    means = np.zeros((n_classes, d))
    scatters = np.zeros((n_classes, d, d))
    for c in np.flatnonzero(counts):
        Xc = X[y == c]
        means[c] = Xc.mean(axis=0)
        centred = Xc - means[c]
        scatters[c] = centred.T @ centred
    return counts, means, scatters


def merge_class_statistics(a: tuple, b: tuple, *, inplace: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The statistics of the rows of both ``a`` and ``b`` (Chan, Golub & LeVeque 1979, per class).

    ``S = S_a + S_b + (n_a n_b / n) d d^T`` with ``d = mean_b - mean_a``: no raw sums of squares, so no
    cancellation when a mean is large against the spread. ``inplace`` reuses ``a``'s arrays.

    References
    ----------
    Chan, T. F., Golub, G. H., LeVeque, R. J. (1979). Updating formulae and a pairwise algorithm for computing
    sample variances. Technical report STAN-CS-79-773, Stanford University.

    Examples
    --------
    >>> X, y = np.array([[0.0], [2.0], [10.0], [14.0]]), np.array([0, 0, 1, 1])
    >>> a, b = class_statistics_of_block(X[:3], y[:3], 2), class_statistics_of_block(X[3:], y[3:], 2)
    >>> counts, means, scatters = merge_class_statistics(a, b)
    >>> counts.tolist(), means.ravel().tolist(), scatters.ravel().tolist()
    ([2, 2], [1.0, 12.0], [2.0, 8.0])
    """
    na, ma, sa = a
    nb, mb, sb = b
    counts = na + nb
    means = ma if inplace else ma.copy()
    scatters = sa if inplace else sa.copy()
    for c in np.flatnonzero(nb):
        if na[c] == 0:
            means[c] = mb[c]
            scatters[c] = sb[c]
            continue
        delta = mb[c] - ma[c]
        means[c] = ma[c] + delta * (nb[c] / counts[c])
        scatters[c] += sb[c]
        scatters[c] += np.outer(delta, delta * (na[c] * nb[c] / counts[c]))
    return counts, means, scatters


def _map_chunks(source: Any, fn: Any, y: np.ndarray, *args: Any) -> list:
    """``fn(block, y_block, *args)`` for every row chunk of a row source, in chunk order (on the workers for
    a dask source)."""
    if hasattr(source, "map_chunks"):
        return source.map_chunks(fn, y, *args)
    return [fn(block, y[a:b], *args) for a, b, block in source.blocks()]


def _reduce_chunks(source: Any, fn: Any, merge: Any, y: np.ndarray, *args: Any) -> Any:
    """``fn`` over the row chunks merged by ``merge``: folded here, or a tree reduction on dask workers."""
    if hasattr(source, "reduce_chunks"):
        return source.reduce_chunks(fn, merge, y, *args)
    out = None
    for a, b, block in source.blocks():
        part = fn(block, y[a:b], *args)
        out = part if out is None else merge(out, part, inplace=True)
    return out


def _greedy_over_chunks(source: Any, y: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                        log_prior: np.ndarray, n_dims: int, *, criterion: str, progress: Any) -> dict:
    """Greedy selection with one pass over the source's chunks per step (:func:`greedy_select_from_sums`)."""
    n_rows = int(y.shape[0])
    freq = np.bincount(y) / n_rows
    nz = freq[freq > 0]
    entropy = float(-(nz * np.log(nz)).sum())

    def sums(state) -> tuple[np.ndarray, np.ndarray]:
        parts = _map_chunks(source, chunk_criterion_sums, y, means, log_prior, state.chol_rows, state.schur,
                            list(state.selected))
        ce = np.zeros(covariances.shape[1])
        correct = np.zeros(covariances.shape[1])
        for part_ce, part_correct in parts:  # in chunk order
            ce += part_ce
            correct += part_correct
        return ce, correct

    return greedy_select_from_sums(sums, covariances, n_rows, entropy, n_dims, criterion=criterion,
                                   progress=progress)
