"""Latent concepts: agglomerative (Ward) clustering of contextual word representations (Dalvi et al. 2022)."""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from neuronlab.concepts.unsupervised._rows import (
    as_rows,
    check_memory_need,
    check_n_features,
    read_rows,
    seed_of,
    subsample,
)
from neuronlab.concepts.validation import Interval, ValidatedEstimator
from neuronlab.errors import InvalidParameterError, NotFittedError

__all__ = ["LatentConcepts", "sample_per_type", "cut_tree_labels"]


def sample_per_type(words: Any, max_per_type: int | None, *, min_count: int = 1, random_state: Any = 0) -> np.ndarray:
    """Row positions keeping at most ``max_per_type`` occurrences of every word type.

    Types seen fewer than ``min_count`` times are left out. Which occurrences of a frequent type are
    kept is drawn with ``random_state`` (deterministic for an int).

    Returns
    -------
    ndarray of int64
        Sorted row positions.

    Examples
    --------
    >>> sample_per_type(["a", "b", "a", "a", "c"], 2, min_count=1, random_state=0).size
    4
    >>> sample_per_type(["a", "b", "a", "a", "c"], None, min_count=2).tolist()
    [0, 2, 3]
    """
    words = np.asarray(words, dtype=object)
    _, inverse, counts = np.unique(words.astype(str), return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    rng = np.random.default_rng(seed_of(random_state))
    order = rng.permutation(words.size)  # random tie order inside a type
    order = order[np.argsort(inverse[order], kind="stable")]  # grouped by type, random within
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(words.size, dtype=np.int64)
    rank[order] = np.arange(words.size) - np.repeat(starts, counts)
    keep = counts[inverse] >= min_count
    if max_per_type is not None:
        keep &= rank < max_per_type
    return np.flatnonzero(keep).astype(np.int64)


def cut_tree_labels(linkage_matrix: np.ndarray, n_clusters: int) -> np.ndarray:
    """Flat labels of a hierarchical clustering cut into exactly ``n_clusters`` clusters.

    Replays the first ``n - n_clusters`` merges of a SciPy linkage matrix (the cheapest ones, as the
    agglomeration made them) and numbers the clusters in the order of their first item.

    Examples
    --------
    >>> from scipy.cluster.hierarchy import linkage
    >>> cut_tree_labels(linkage([[0.0], [0.1], [5.0], [5.2]], "ward"), 2).tolist()
    [0, 0, 1, 1]
    """
    n = linkage_matrix.shape[0] + 1
    if not 1 <= n_clusters <= n:
        raise InvalidParameterError(f"n_clusters must lie in 1..{n} (the number of items), got {n_clusters}")
    merges = n - n_clusters
    node_label = np.full(2 * n - 1, -1, dtype=np.int64)
    next_label = 0
    children = linkage_matrix[:merges, :2].astype(np.int64)
    for i in range(merges - 1, -1, -1):  # top-down over the kept merges
        node = n + i
        if node_label[node] < 0:
            node_label[node] = next_label
            next_label += 1
        node_label[children[i]] = node_label[node]
    leaves = node_label[:n]
    singles = leaves < 0
    leaves[singles] = next_label + np.arange(int(singles.sum()))
    _, first, inverse = np.unique(leaves, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inverse.ravel()]


class LatentConcepts(ValidatedEstimator, ClusterMixin, BaseEstimator):
    """Latent concepts of a site: Ward clustering of its contextual word representations.

    Dalvi et al. (2022) take the representation of every word occurrence at one layer, keep at most
    a fixed number of occurrences per word type (10 in the paper) so that frequent words do not fill
    the space, cluster them agglomeratively with Ward's criterion (each merge is the one that increases
    the total within-cluster variance least) and cut the tree at K clusters (K = 1000 in the paper).
    A cluster is a *latent concept*: words grouped by the model, lexically, morphologically,
    syntactically or semantically, which can then be compared with gold concepts
    (:mod:`neuronlab.concepts.unsupervised.metrics`).

    The linkage is SciPy's (nearest-neighbour chain, exact Ward), which needs the condensed distance
    matrix: ``8 n (n - 1) / 2`` bytes for ``n`` clustered rows. The need is checked before any work
    against ``max_memory_gb`` (or the available memory).

    Parameters
    ----------
    n_clusters : int, default=50
        K, the number of latent concepts (capped at the number of clustered rows).
    max_per_type : int or None, default=10
        At most this many occurrences of each word type are clustered (needs ``words`` in :meth:`fit`).
    min_type_count : int, default=1
        Word types with fewer occurrences are left out.
    max_rows : int or None, default=20000
        After the per-type cap, at most this many rows (a random subset) are clustered.
    max_memory_gb : float or None, default=None
    random_state : int, RandomState or None, default=0
        Which occurrences the caps keep.

    Attributes
    ----------
    sample_ : ndarray of int64, shape (n_samples,)
        Positions (rows of ``X``) that were clustered.
    labels_ : ndarray of int64, shape (n_samples,)
        Cluster of every clustered row, numbered in order of first row.
    cluster_centers_ : ndarray of shape (n_clusters_, n_neurons)
    cluster_sizes_ : ndarray of int64
    n_clusters_ : int
    linkage_ : ndarray of shape (n_samples - 1, 4)
        The SciPy linkage matrix (the whole tree: a different K is a cut of it, :func:`cut_tree_labels`).
    words_ : ndarray of object or None
        The word type of every clustered row (when ``words`` was given).

    References
    ----------
    F. Dalvi, A. R. Khan, F. Alam, N. Durrani, J. Xu, H. Sajjad. "Discovering Latent Concepts Learned in
    BERT". ICLR 2022. J. H. Ward. "Hierarchical Grouping to Optimize an Objective Function". JASA 1963.

    See Also
    --------
    neuronlab.concepts.unsupervised.metrics.bcubed, neuronlab.concepts.unsupervised.metrics.npmi

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [0.0, 0.2]])
    >>> LatentConcepts(n_clusters=2, max_per_type=None).fit(X).labels_.tolist()
    [0, 0, 1, 1, 0]
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "max_per_type": [Interval(Integral, 1, None, closed="left"), None],
        "min_type_count": [Interval(Integral, 1, None, closed="left")],
        "max_rows": [Interval(Integral, 2, None, closed="left"), None],
        "max_memory_gb": [Interval(Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
    }

    def __init__(self, n_clusters: int = 50, *, max_per_type: int | None = 10, min_type_count: int = 1,
                 max_rows: int | None = 20000, max_memory_gb: float | None = None, random_state: Any = 0) -> None:
        self.n_clusters = n_clusters
        self.max_per_type = max_per_type
        self.min_type_count = min_type_count
        self.max_rows = max_rows
        self.max_memory_gb = max_memory_gb
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None, *, words: Any = None) -> "LatentConcepts":
        """Select rows (per-type cap, ``max_rows``), build the Ward tree and cut it at ``n_clusters``.

        Parameters
        ----------
        X : array-like or StoreView of shape (n_rows, n_neurons)
            Contextual representations of word occurrences (one site).
        y : ignored
        words : array-like of str, shape (n_rows,), optional
            Word type of every row; needed for ``max_per_type`` and ``min_type_count`` (without it,
            every row is its own occurrence and only ``max_rows`` applies).

        Returns
        -------
        self
        """
        from scipy.cluster.hierarchy import linkage

        self._validate_params()
        X, n_rows, n_neurons = as_rows(X)
        if words is not None:
            words = np.asarray(words, dtype=object)
            if words.shape != (n_rows,):
                raise InvalidParameterError(f"words must have one entry per row of X ({n_rows}), got {words.shape}")
            sample = sample_per_type(words, self.max_per_type, min_count=self.min_type_count,
                                     random_state=self.random_state)
        else:
            sample = np.arange(n_rows, dtype=np.int64)
        sample = sample[subsample(sample.size, self.max_rows, self.random_state)]
        n = sample.size
        if n < 2:
            raise InvalidParameterError(f"only {n} sample(s) (rows) left to cluster after the caps; need at least 2 "
                                        "(n_samples=1 cannot be clustered)" if n == 1 else
                                        "no rows left to cluster after the caps; need at least 2")
        check_memory_need(4.0 * n * (n - 1) + 8.0 * n * n_neurons, f"Ward clustering of {n} rows",
                          max_memory_gb=self.max_memory_gb)
        data = read_rows(X, sample, dtype=np.float64)
        self.linkage_ = linkage(data, method="ward")
        k = min(self.n_clusters, n)
        self.labels_ = cut_tree_labels(self.linkage_, k)
        self.n_clusters_ = k
        self.cluster_sizes_ = np.bincount(self.labels_, minlength=k).astype(np.int64)
        sums = np.zeros((k, n_neurons))
        np.add.at(sums, self.labels_, data)
        self.cluster_centers_ = sums / self.cluster_sizes_[:, None]
        self.sample_ = sample
        self.words_ = words[sample] if words is not None else None
        self.n_features_in_ = n_neurons
        return self

    def predict(self, X: Any, *, chunk_rows: int = 8192) -> np.ndarray:
        """Nearest cluster centre (Euclidean: the Ward criterion's geometry) of every row of ``X``."""
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError("This LatentConcepts instance is not fitted yet; call fit first.")
        X, n_rows, n_neurons = as_rows(X)
        check_n_features(self, n_neurons)
        centers = self.cluster_centers_
        c2 = (centers ** 2).sum(axis=1)
        out = np.empty(n_rows, dtype=np.int64)
        for start in range(0, n_rows, chunk_rows):
            block = read_rows(X, np.arange(start, min(n_rows, start + chunk_rows)))
            out[start:start + block.shape[0]] = np.argmin(c2[None, :] - 2.0 * block @ centers.T, axis=1)
        return out
