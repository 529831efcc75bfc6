"""Evaluation of a clustering against gold concepts: B-cubed, normalised PMI, a classifier that reads one cluster.

All functions take two label vectors of the same length (cluster ids, gold labels; any hashable values)
and work on their contingency table ``n[c, l]`` = number of items in cluster ``c`` with gold label ``l``.

References
----------
A. Bagga, B. Baldwin. "Algorithms for Scoring Coreference Chains". LREC 1998 workshop (B-cubed).
E. Amigó, J. Gonzalo, J. Artiles, F. Verdejo. "A comparison of extrinsic clustering evaluation metrics based on
formal constraints". Information Retrieval 12(4), 2009 (B-cubed satisfies all four constraints).
G. Bouma. "Normalized (pointwise) mutual information in collocation extraction". GSCL 2009 (NPMI).
F. Dalvi, A. R. Khan, F. Alam, N. Durrani, J. Xu, H. Sajjad. "Discovering Latent Concepts Learned in BERT".
ICLR 2022 (clusters of contextual representations aligned with gold concepts).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuronlab.errors import InvalidParameterError, NotFittedError

__all__ = ["contingency", "bcubed", "npmi", "cluster_alignment", "ClusterLabelClassifier", "BCubed"]


def contingency(clusters: Any, gold: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The contingency table of two labellings.

    Parameters
    ----------
    clusters, gold : array-like of shape (n_items,)
        Cluster id and gold label of every item.

    Returns
    -------
    table : int64 ndarray of shape (n_clusters, n_labels)
        ``table[c, l]``: items in cluster ``cluster_ids[c]`` with label ``labels[l]``.
    cluster_ids, labels : ndarray
        The sorted distinct values of ``clusters`` and ``gold``.

    Examples
    --------
    >>> contingency([0, 0, 1], ["a", "b", "b"])[0].tolist()
    [[1, 1], [0, 1]]
    """
    clusters = np.asarray(clusters)
    gold = np.asarray(gold)
    if clusters.ndim != 1 or gold.ndim != 1:
        raise InvalidParameterError(f"clusters and gold must be 1-D, got shapes {clusters.shape} and {gold.shape}")
    if clusters.shape != gold.shape:
        raise InvalidParameterError(
            f"clusters and gold must have one entry per item: {clusters.shape[0]} clusters vs {gold.shape[0]} labels")
    if clusters.size == 0:
        raise InvalidParameterError("clusters and gold are empty: nothing to evaluate")
    cluster_ids, ci = np.unique(clusters, return_inverse=True)
    labels, li = np.unique(gold, return_inverse=True)
    table = np.zeros((cluster_ids.size, labels.size), dtype=np.int64)
    np.add.at(table, (ci.ravel(), li.ravel()), 1)
    return table, cluster_ids, labels


@dataclass(frozen=True)
class BCubed:
    """B-cubed precision, recall and F of a clustering (item-averaged)."""

    precision: float
    recall: float
    f1: float


def bcubed(clusters: Any, gold: Any) -> BCubed:
    """B-cubed precision, recall and F1 (Bagga & Baldwin 1998; Amigó et al. 2009).

    For an item ``i`` with cluster ``C(i)`` (the items sharing its cluster, itself included) and gold class
    ``L(i)``::

        precision(i) = |C(i) ∩ L(i)| / |C(i)|        recall(i) = |C(i) ∩ L(i)| / |L(i)|

    ``precision`` and ``recall`` are the means over all items, ``f1 = 2 P R / (P + R)`` (Amigó et al.'s
    F of the averaged precision and recall). On the contingency table ``n[c, l]`` this is
    ``P = sum_cl n_cl^2 / n_c / N`` and ``R = sum_cl n_cl^2 / n_l / N``, computed in O(items).

    Parameters
    ----------
    clusters, gold : array-like of shape (n_items,)

    Returns
    -------
    BCubed

    Examples
    --------
    >>> r = bcubed([0, 0, 1, 1], ["a", "a", "a", "b"])
    >>> round(r.precision, 4), round(r.recall, 4)
    (0.75, 0.6667)
    """
    table, _, _ = contingency(clusters, gold)
    n = table.sum()
    sq = table.astype(np.float64) ** 2
    precision = float((sq.sum(axis=1) / table.sum(axis=1)).sum() / n)
    recall = float((sq.sum(axis=0) / table.sum(axis=0)).sum() / n)
    f1 = 2 * precision * recall / (precision + recall)
    return BCubed(precision=precision, recall=recall, f1=float(f1))


def npmi(clusters: Any, gold: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised pointwise mutual information between every cluster and every gold label (Bouma 2009).

    With ``p(c, l) = n_cl / N``, ``p(c) = n_c / N`` and ``p(l) = n_l / N``::

        npmi(c, l) = log(p(c, l) / (p(c) p(l))) / -log p(c, l)

    in [-1, 1]: 1 when cluster and label coincide (``p(c, l) = p(c) = p(l)``), 0 when independent, and -1
    by definition when they never co-occur (``p(c, l) = 0``). When ``p(c, l) = 1`` (one cluster, one label)
    the ratio is 0/0 and the value is 1 (perfect co-occurrence).

    Parameters
    ----------
    clusters, gold : array-like of shape (n_items,)

    Returns
    -------
    table : ndarray of shape (n_clusters, n_labels)
    cluster_ids, labels : ndarray
        Row and column values of ``table`` (sorted).

    Examples
    --------
    >>> t, _, _ = npmi([0, 0, 1, 1], ["a", "a", "b", "b"])
    >>> t.round(6).tolist()
    [[1.0, -1.0], [-1.0, 1.0]]
    """
    table, cluster_ids, labels = contingency(clusters, gold)
    n = float(table.sum())
    p_cl = table / n
    p_c = table.sum(axis=1, keepdims=True) / n
    p_l = table.sum(axis=0, keepdims=True) / n
    out = np.full(table.shape, -1.0)
    seen = table > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(p_cl / (p_c * p_l))
        denom = -np.log(p_cl)
        vals = np.where(denom > 0, pmi / np.where(denom > 0, denom, 1.0), 1.0)
    out[seen] = vals[seen]
    return out, cluster_ids, labels


def cluster_alignment(clusters: Any, gold: Any, *, threshold: float = 0.9) -> dict:
    """Per cluster: its majority gold label, that label's share (purity) and NPMI; and the aligned clusters.

    A cluster is *aligned* with a gold concept when at least ``threshold`` of its items carry that label
    (Dalvi et al. 2022 use 90%).

    Returns
    -------
    dict
        ``cluster_ids``, ``majority`` (label per cluster), ``purity``, ``npmi`` (of the majority label),
        ``size``, ``aligned`` (bool per cluster), ``aligned_fraction`` (of clusters), ``aligned_items``
        (fraction of items in aligned clusters), ``threshold``.
    """
    if not 0.0 < float(threshold) <= 1.0:
        raise InvalidParameterError(f"threshold must lie in (0, 1], got {threshold!r}")
    table, cluster_ids, labels = contingency(clusters, gold)
    scores, _, _ = npmi(clusters, gold)
    size = table.sum(axis=1)
    best = table.argmax(axis=1)  # ties: the smallest label
    purity = table[np.arange(table.shape[0]), best] / size
    aligned = purity >= threshold
    return {
        "cluster_ids": cluster_ids,
        "majority": labels[best],
        "purity": purity,
        "npmi": scores[np.arange(table.shape[0]), best],
        "size": size,
        "aligned": aligned,
        "aligned_fraction": float(aligned.mean()),
        "aligned_items": float(size[aligned].sum() / size.sum()),
        "threshold": float(threshold),
    }


class ClusterLabelClassifier:
    """A classifier whose only input is the cluster id of an item: it predicts the cluster's majority label.

    ``fit(clusters, y)`` learns, per cluster, the most frequent gold label among its training items
    (ties: the smallest label); ``predict`` maps a cluster id to it, and a cluster absent from training
    to the overall majority label. Held-out accuracy of this classifier measures how much of the gold
    concept a single cluster id carries; on the training items it equals the clustering's purity.

    Examples
    --------
    >>> clf = ClusterLabelClassifier().fit([0, 0, 0, 1], ["N", "N", "V", "V"])
    >>> clf.predict([0, 1, 7]).tolist()
    ['N', 'V', 'N']
    """

    def fit(self, clusters: Any, y: Any) -> "ClusterLabelClassifier":
        table, cluster_ids, labels = contingency(clusters, y)
        self.cluster_ids_ = cluster_ids
        self.classes_ = labels
        self.mapping_ = labels[table.argmax(axis=1)]
        self.default_ = labels[table.sum(axis=0).argmax()]
        return self

    def predict(self, clusters: Any) -> np.ndarray:
        if not hasattr(self, "mapping_"):
            raise NotFittedError("This ClusterLabelClassifier instance is not fitted yet; call fit first.")
        clusters = np.asarray(clusters)
        pos = np.searchsorted(self.cluster_ids_, clusters)
        pos = np.clip(pos, 0, self.cluster_ids_.size - 1)
        known = self.cluster_ids_[pos] == clusters
        return np.where(known, self.mapping_[pos], self.default_)

    def score(self, clusters: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` against ``y``."""
        y = np.asarray(y)
        return float(np.mean(self.predict(clusters) == y))
