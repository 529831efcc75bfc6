"""Correlation clustering of neurons and general (task-agnostic) redundancy (Dalvi et al. 2020).

Neurons are clustered hierarchically on the distance ``1 - |r|`` (``r``: Pearson correlation over the
rows) with SciPy's agglomerative clustering and the linkage NeuroX uses (``average``), and the tree is
cut at a distance ``threshold`` (``fcluster(..., criterion="distance")``): the same clusters as NeuroX
1.0.9's ``interpretation.clustering.create_correlation_clusters`` on the same data (tested). One neuron
per cluster is kept (NeuroX's and the paper's rule: drawn at random, here from ``random_state``); the
others are *redundant*, and ``1 - n_clusters / n_neurons`` of the neurons can be removed.

Memory: the correlation is accumulated over row chunks (:mod:`.correlation`), then turned into condensed
distances *in the same buffer* (row by row, front to back) and the buffer is shrunk to the condensed
length before SciPy copies it, so the peak is one ``n_neurons^2`` float64 matrix (``8 n^2`` bytes)
plus a chunk of rows, whatever the number of rows. NeuroX holds the activations in memory and several
``n^2`` matrices at once (``corrcoef``, ``nan_to_num``, the symmetrised copy, ``1 - |r|``, ``squareform``).

References
----------
Dalvi, F., Sajjad, H., Durrani, N., Belinkov, Y. (2020). Analyzing Redundancy in Pretrained Transformer
Models. EMNLP.
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Sequence

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage as scipy_linkage
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from neuronlab.concepts.rankers.base import check_shape
from neuronlab.concepts.redundancy.correlation import accumulate_scatter, plan_memory, scatter_to_correlation
from neuronlab.concepts.validation import Interval, StrOptions, ValidatedEstimator
from neuronlab.errors import InvalidParameterError, NotFittedError

__all__ = ["CorrelationClustering", "GeneralRedundancy", "correlation_linkage", "pick_representatives"]

#: linkages valid for an arbitrary dissimilarity (ward, centroid and median assume Euclidean distances)
LINKAGES = ("average", "complete", "single", "weighted")
#: how one neuron is kept per cluster
REPRESENTATIVES = ("random", "first")


def _pack_condensed(buf: np.ndarray, n: int, use_abs: bool) -> np.ndarray:
    """Turn the correlations in the upper triangle of ``buf`` (flat, ``n*n``) into condensed distances.

    Row ``i``'s entries ``(i, j > i)`` move to condensed offset ``i*n - i*(i+1)/2``, which is never
    after their own position, so moving rows front to back overwrites only entries already used.
    The buffer is then shrunk (``ndarray.resize``: ``realloc``) to ``n*(n-1)/2`` values.
    """
    pos = 0
    for i in range(n - 1):
        src = buf[i * n + i + 1:(i + 1) * n]
        if use_abs:
            np.abs(src, out=src)
        np.subtract(1.0, src, out=src)
        np.maximum(src, 0.0, out=src)
        m = n - i - 1
        buf[pos:pos + m] = src  # numpy copies overlapping ranges correctly
        pos += m
    buf.resize(pos, refcheck=False)
    return buf


def correlation_linkage(
    X: Any,
    *,
    method: str = "average",
    use_abs: bool = True,
    chunk_rows: int | None = None,
    max_memory_gb: float | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """Hierarchical clustering tree of the neurons of ``X`` on ``1 - |r|``, with one ``n^2`` buffer.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_neurons)
        Read in row chunks (ndarray, memmap, h5py dataset, StoreView).
    method : {"average", "complete", "single", "weighted"}
    use_abs : bool
        Distance ``1 - |r|`` (True, NeuroX's default) or ``1 - r``.
    chunk_rows, max_memory_gb, progress
        See :class:`~neuronlab.concepts.redundancy.StreamingCorrelation`.

    Returns
    -------
    Z : ndarray of shape (n_neurons - 1, 4)
        SciPy's linkage matrix.
    constant : bool ndarray of shape (n_neurons,)
    plan : MemoryPlan
    """
    if not hasattr(X, "shape"):
        X = np.asarray(X)
    n_rows, n = check_shape(X)
    if n_rows < 2:
        raise InvalidParameterError(f"X has {n_rows} row; a correlation needs at least 2 rows")
    if n < 2:
        raise InvalidParameterError(f"X has {n} neuron; clustering needs at least 2")
    plan = plan_memory(n, itemsize=np.dtype(X.dtype).itemsize, max_memory_gb=max_memory_gb,
                       chunk_rows=chunk_rows, n_rows=n_rows)
    buf = np.empty(n * n, dtype=np.float64)
    square = buf.reshape(n, n)
    _, _, _, lo, hi = accumulate_scatter(X, plan.chunk_rows, out=square, progress=progress)
    constant = lo == hi
    scatter_to_correlation(square, constant)
    del square
    condensed = _pack_condensed(buf, n, use_abs)
    Z = scipy_linkage(condensed, method=method)
    return Z, constant, plan


def pick_representatives(labels: np.ndarray, rule: str = "random", random_state: Any = None) -> np.ndarray:
    """One neuron per cluster, clusters in label order.

    Parameters
    ----------
    labels : int ndarray of shape (n_neurons,)
        Cluster of each neuron, ``0..k-1``.
    rule : {"random", "first"}
        ``random``: a uniform draw among the members (NeuroX's ``np.random.choice(np.where(labels == c)[0])``,
        from the same generator: with ``random_state=s`` the draws equal NeuroX's after ``np.random.seed(s)``);
        ``first``: the member with the lowest index.
    random_state : int, RandomState or None

    Returns
    -------
    int ndarray of shape (k,)
    """
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    groups = np.split(order, bounds)
    if rule == "first":
        return np.array([g[0] for g in groups], dtype=np.intp)
    rng = check_random_state(random_state)
    # ``rng.choice(g)`` draws ``g[rng.randint(0, len(g))]``; calling randint directly gives the same stream
    # (tested against NeuroX) without choice's per-call overhead (0.25 s for 1,000 clusters)
    return np.array([g[rng.randint(0, len(g))] for g in groups], dtype=np.intp)


class CorrelationClustering(ValidatedEstimator, BaseEstimator):
    """Agglomerative clustering of neurons on ``1 - |r|``, one representative per cluster (Dalvi et al. 2020).

    Parameters
    ----------
    threshold : float in [0, 2], default=0.5
        Distance at which the tree is cut (``fcluster(Z, threshold, "distance")``): with the average
        linkage, neurons whose clusters are on average correlated above ``1 - threshold`` (in absolute
        value) end up together. NeuroX's ``clustering_threshold``.
    linkage : {"average", "complete", "single", "weighted"}, default="average"
        NeuroX's (and SciPy's) linkage method.
    use_abs : bool, default=True
        ``1 - |r|``: neurons correlated with opposite signs are redundant too (NeuroX's default).
    representative : {"random", "first"}, default="random"
        Which neuron a cluster keeps: a random member (NeuroX's and the paper's rule) or the lowest index.
    random_state : int, RandomState or None, default=0
        Draws of ``representative="random"``.
    chunk_rows, max_memory_gb, progress
        See :class:`~neuronlab.concepts.redundancy.StreamingCorrelation`.

    Attributes
    ----------
    linkage_ : ndarray of shape (n_neurons - 1, 4)
        The tree (SciPy's linkage matrix); :meth:`cut` reads other thresholds from it without refitting.
    labels_ : int ndarray of shape (n_neurons,)
        Cluster of each neuron, ``0..n_clusters_-1`` (``labels_ + 1`` is SciPy's/NeuroX's numbering).
    n_clusters_ : int
    representatives_ : int ndarray of shape (n_clusters_,)
        The neuron each cluster keeps, in cluster order.
    removable_fraction_ : float
        ``1 - n_clusters_ / n_neurons``: the share of neurons that are redundant.
    constant_ : bool ndarray of shape (n_neurons,)
        Constant neurons (correlation 0 with every other neuron: each is its own cluster below 1).
    memory_plan_ : MemoryPlan
    n_features_in_ : int

    References
    ----------
    Dalvi et al. (2020), Analyzing Redundancy in Pretrained Transformer Models. EMNLP.

    See Also
    --------
    GeneralRedundancy, StreamingCorrelation

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2, 200))
    >>> X = np.stack([a, 2 * a + 1, b, -b, rng.normal(size=200)], axis=1)
    >>> cc = CorrelationClustering(threshold=0.3, representative="first").fit(X)
    >>> cc.labels_.tolist(), cc.representatives_.tolist()
    ([0, 0, 1, 1, 2], [0, 2, 4])
    >>> round(cc.removable_fraction_, 2)
    0.4
    """

    _parameter_constraints: dict = {
        "threshold": [Interval(Real, 0, 2, closed="both")],
        "linkage": [StrOptions(set(LINKAGES))],
        "use_abs": ["boolean"],
        "representative": [StrOptions(set(REPRESENTATIVES))],
        "random_state": ["random_state"],
        "chunk_rows": [Interval(Integral, 1, None, closed="left"), None],
        "max_memory_gb": [Interval(Real, 0, None, closed="neither"), None],
        "progress": ["boolean"],
    }

    def __init__(self, threshold: float = 0.5, *, linkage: str = "average", use_abs: bool = True,
                 representative: str = "random", random_state: Any = 0, chunk_rows: int | None = None,
                 max_memory_gb: float | None = None, progress: bool = False) -> None:
        self.threshold = threshold
        self.linkage = linkage
        self.use_abs = use_abs
        self.representative = representative
        self.random_state = random_state
        self.chunk_rows = chunk_rows
        self.max_memory_gb = max_memory_gb
        self.progress = progress

    def fit(self, X: Any, y: Any = None) -> "CorrelationClustering":
        """Correlate the neurons of ``X`` over row chunks, build the tree and cut it at ``threshold``.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        Z, constant, plan = correlation_linkage(
            X, method=self.linkage, use_abs=self.use_abs, chunk_rows=self.chunk_rows,
            max_memory_gb=self.max_memory_gb, progress=self.progress,
        )
        self.linkage_ = Z
        self.constant_ = constant
        self.memory_plan_ = plan
        self.n_features_in_ = int(constant.shape[0])
        self.labels_ = self.cut(self.threshold)
        self.n_clusters_ = int(self.labels_.max()) + 1
        self.representatives_ = pick_representatives(self.labels_, self.representative, self.random_state)
        self.removable_fraction_ = 1.0 - self.n_clusters_ / self.n_features_in_
        return self

    def cut(self, threshold: float) -> np.ndarray:
        """Cluster labels (``0..k-1``) of the fitted tree cut at another distance ``threshold``."""
        if not hasattr(self, "linkage_"):
            raise NotFittedError("This CorrelationClustering instance is not fitted yet; call fit(X) first.")
        if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0 <= threshold <= 2:
            raise InvalidParameterError(f"threshold must be a distance in [0, 2]; got {threshold!r}")
        return fcluster(self.linkage_, float(threshold), criterion="distance").astype(np.intp) - 1


class GeneralRedundancy(ValidatedEstimator, BaseEstimator):
    """Share of neurons removable at several clustering thresholds: one tree, several cuts (Dalvi et al. 2020).

    Parameters
    ----------
    thresholds : sequence of float in [0, 2], default=(0.3, 0.5, 0.7)
    linkage, use_abs, representative, random_state, chunk_rows, max_memory_gb, progress
        See :class:`CorrelationClustering`.

    Attributes
    ----------
    clustering_ : CorrelationClustering
        Fitted at ``thresholds[0]``; its ``linkage_`` is shared by every cut.
    labels_ : list of int ndarray
        Cluster labels per threshold.
    n_clusters_ : int ndarray of shape (n_thresholds,)
    representatives_ : list of int ndarray
        Neurons kept per threshold.
    removable_fraction_ : ndarray of shape (n_thresholds,)
        ``1 - n_clusters / n_neurons`` per threshold.

    References
    ----------
    Dalvi et al. (2020), Analyzing Redundancy in Pretrained Transformer Models. EMNLP (Section 4.2).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=300)
    >>> X = np.stack([a, a + 0.5 * rng.normal(size=300), rng.normal(size=300)], axis=1)
    >>> GeneralRedundancy(thresholds=[0.05, 0.5]).fit(X).n_clusters_.tolist()
    [3, 2]
    """

    _parameter_constraints: dict = {
        **{k: v for k, v in CorrelationClustering._parameter_constraints.items() if k != "threshold"},
        "thresholds": ["array-like"],
    }

    def __init__(self, thresholds: Sequence[float] = (0.3, 0.5, 0.7), *, linkage: str = "average",
                 use_abs: bool = True, representative: str = "random", random_state: Any = 0,
                 chunk_rows: int | None = None, max_memory_gb: float | None = None, progress: bool = False) -> None:
        self.thresholds = thresholds
        self.linkage = linkage
        self.use_abs = use_abs
        self.representative = representative
        self.random_state = random_state
        self.chunk_rows = chunk_rows
        self.max_memory_gb = max_memory_gb
        self.progress = progress

    def fit(self, X: Any, y: Any = None) -> "GeneralRedundancy":
        """Build the tree once and cut it at every threshold.

        Returns
        -------
        self
        """
        self._validate_params()
        ts = np.asarray(self.thresholds, dtype=np.float64).ravel()
        if ts.size == 0 or not np.all((ts >= 0) & (ts <= 2)):
            raise InvalidParameterError(f"thresholds must be distances in [0, 2]; got {list(self.thresholds)!r}")
        params = {k: v for k, v in self.get_params().items() if k != "thresholds"}
        self.clustering_ = CorrelationClustering(float(ts[0]), **params).fit(X)
        n = self.clustering_.n_features_in_
        self.labels_ = [self.clustering_.labels_] + [self.clustering_.cut(float(t)) for t in ts[1:]]
        self.n_clusters_ = np.array([int(lab.max()) + 1 for lab in self.labels_], dtype=np.int64)
        self.representatives_ = [self.clustering_.representatives_] + [
            pick_representatives(lab, self.representative, self.random_state) for lab in self.labels_[1:]
        ]
        self.removable_fraction_ = 1.0 - self.n_clusters_ / n
        self.n_features_in_ = n
        return self
