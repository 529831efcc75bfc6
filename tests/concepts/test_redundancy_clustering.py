"""Correlation clustering (Dalvi et al. 2020): same clusters and representatives as NeuroX 1.0.9, planted groups."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from neuronlab.concepts.redundancy.clustering import (CorrelationClustering, GeneralRedundancy, _pack_condensed,
                                                      pick_representatives)
from neuronlab.errors import InvalidParameterError, NotFittedError

neurox_clustering = pytest.importorskip("neurox.interpretation.clustering")


def _mixed(n_rows=400, n=60, seed=1):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_rows, 10))
    return (base @ rng.normal(size=(10, n)) + 0.5 * rng.normal(size=(n_rows, n))).astype(np.float32)


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):  # NeuroX prints sizes and counts
        return fn(*args, **kwargs)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("method", ["average", "complete"])
def test_same_clusters_as_neurox(threshold, method):
    X = _mixed()
    ref = _quiet(neurox_clustering.create_correlation_clusters, X, clustering_threshold=threshold, method=method)
    cc = CorrelationClustering(threshold, linkage=method, chunk_rows=37).fit(X)
    assert (cc.labels_ + 1).tolist() == list(ref)
    assert 1 < cc.n_clusters_ < X.shape[1]


@pytest.mark.parametrize("seed", [0, 5])
def test_same_representatives_as_neurox_with_the_same_seed(seed):
    X = _mixed(seed=2)
    np.random.seed(seed)
    independent, labels = _quiet(neurox_clustering.extract_independent_neurons, X, clustering_threshold=0.5)
    cc = CorrelationClustering(0.5, random_state=seed).fit(X)
    assert (cc.labels_ + 1).tolist() == list(labels)
    assert cc.representatives_.tolist() == [int(i) for i in independent]
    assert cc.removable_fraction_ == pytest.approx(1 - len(independent) / X.shape[1])


def test_planted_duplicate_groups_cluster_exactly():
    rng = np.random.default_rng(7)
    n_rows, groups = 300, [5, 1, 3, 7, 2, 4]
    sources = rng.normal(size=(n_rows, len(groups)))
    cols, truth = [], []
    for g, size in enumerate(groups):
        for _ in range(size):  # exact copies, scaled, shifted and sign-flipped: |r| = 1
            cols.append(rng.choice([-1, 1]) * rng.uniform(0.5, 3) * sources[:, g] + rng.normal())
            truth.append(g)
    perm = rng.permutation(len(cols))
    X = np.stack(cols, axis=1)[:, perm]
    truth = np.array(truth)[perm]
    for t in (0.01, 0.3, 0.5):
        cc = CorrelationClustering(t).fit(X)
        assert cc.n_clusters_ == len(groups)
        # the same partition: a bijection between found and planted labels
        pairs = set(zip(cc.labels_.tolist(), truth.tolist()))
        assert len(pairs) == len(groups)
        assert sorted(truth[cc.representatives_].tolist()) == list(range(len(groups)))
        assert cc.removable_fraction_ == pytest.approx(1 - len(groups) / X.shape[1])


def test_packed_condensed_distances_equal_squareform():
    rng = np.random.default_rng(0)
    n = 9
    R = np.corrcoef(rng.normal(size=(30, n)).T)
    buf = np.ascontiguousarray(np.triu(R)).ravel().copy()
    got = _pack_condensed(buf, n, use_abs=True)
    np.testing.assert_array_equal(got, squareform(1 - np.abs(R), checks=False))
    buf = np.ascontiguousarray(np.triu(R)).ravel().copy()
    np.testing.assert_array_equal(_pack_condensed(buf, n, use_abs=False), np.maximum(squareform(1 - R, checks=False), 0))


def test_cut_equals_a_refit_and_general_redundancy_cuts_one_tree():
    X = _mixed(seed=3)
    cc = CorrelationClustering(0.3).fit(X)
    for t in (0.5, 0.7):
        assert cc.cut(t).tolist() == CorrelationClustering(t).fit(X).labels_.tolist()
    gr = GeneralRedundancy([0.3, 0.5, 0.7]).fit(X)
    Z = linkage(squareform(1 - np.abs(np.corrcoef(X.T.astype(np.float64))), checks=False), method="average")
    for i, t in enumerate((0.3, 0.5, 0.7)):
        ref = fcluster(Z, t, criterion="distance")
        assert gr.n_clusters_[i] == ref.max()
        assert gr.removable_fraction_[i] == pytest.approx(1 - ref.max() / X.shape[1])
        assert sorted(np.unique(gr.labels_[i][gr.representatives_[i]]).tolist()) == list(range(ref.max()))
    assert list(gr.n_clusters_) == sorted(gr.n_clusters_, reverse=True)


def test_constant_neurons_stay_alone_below_distance_one():
    X = _mixed(n=8, seed=4).astype(np.float64)
    X[:, 3] = 2.5
    cc = CorrelationClustering(0.99).fit(X)
    assert cc.constant_.tolist() == [j == 3 for j in range(8)]
    assert np.sum(cc.labels_ == cc.labels_[3]) == 1


def test_pick_representatives_first_and_random():
    labels = np.array([1, 0, 1, 2, 0])
    assert pick_representatives(labels, "first").tolist() == [1, 0, 3]
    rng = np.random.RandomState(3)
    expected = [rng.choice(np.where(labels == c)[0]) for c in range(3)]
    assert pick_representatives(labels, "random", 3).tolist() == expected


def test_errors_name_the_problem():
    with pytest.raises(InvalidParameterError, match="'threshold' parameter of CorrelationClustering"):
        CorrelationClustering(threshold=3.0).fit(_mixed())
    with pytest.raises(InvalidParameterError, match="'linkage' parameter"):
        CorrelationClustering(linkage="ward").fit(_mixed())
    with pytest.raises(InvalidParameterError, match="at least 2"):
        CorrelationClustering().fit(np.ones((10, 1)))
    with pytest.raises(NotFittedError, match="not fitted"):
        CorrelationClustering().cut(0.5)
    with pytest.raises(InvalidParameterError, match=r"thresholds must be distances in \[0, 2\]"):
        GeneralRedundancy([0.5, -1]).fit(_mixed())
