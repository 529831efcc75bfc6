"""Latent concepts (Dalvi et al. 2022): per-type caps, Ward clusters, planted clusters found (issue 12)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from neuronlab.concepts.unsupervised.latent import LatentConcepts, cut_tree_labels, sample_per_type
from neuronlab.concepts.unsupervised.metrics import bcubed
from neuronlab.errors import InvalidParameterError, NotFittedError, ParameterConstraintError
from neuronlab.testing import synthetic_store


def blobs(n_per=30, k=4, dim=12, seed=0, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 5
    y = np.repeat(np.arange(k), n_per)
    X = centres[y] + spread * rng.normal(size=(y.size, dim))
    perm = rng.permutation(y.size)
    return X[perm], y[perm]


def test_sample_per_type_caps_every_type_and_keeps_rare_ones():
    words = np.array(["the"] * 25 + ["cat"] * 3 + ["sat"] * 12 + ["on"])
    rng = np.random.default_rng(1)
    words = words[rng.permutation(words.size)]
    keep = sample_per_type(words, 10, random_state=0)
    assert Counter(words[keep].tolist()) == {"the": 10, "cat": 3, "sat": 10, "on": 1}
    assert np.all(np.diff(keep) > 0)
    assert sample_per_type(words, 10, random_state=0).tolist() == keep.tolist()  # deterministic
    assert sample_per_type(words, 10, random_state=1).tolist() != keep.tolist()  # another draw of 'the'/'sat'
    only_frequent = sample_per_type(words, None, min_count=4)
    assert Counter(words[only_frequent].tolist()) == {"the": 25, "sat": 12}


def test_cut_equals_scikit_learn_ward_clustering():
    from scipy.cluster.hierarchy import linkage

    X = np.random.default_rng(4).normal(size=(80, 5))
    Z = linkage(X, "ward")
    for k in (1, 2, 7, 20, 80):
        ours = cut_tree_labels(Z, k)
        ref = AgglomerativeClustering(n_clusters=k, linkage="ward").fit(X).labels_
        assert np.unique(ours).size == k
        assert adjusted_rand_score(ref, ours) == 1.0


def test_planted_clusters_are_found():
    X, y = blobs()
    est = LatentConcepts(n_clusters=4, max_per_type=None).fit(X)
    assert adjusted_rand_score(y, est.labels_) == 1.0
    assert bcubed(est.labels_, y).f1 == 1.0
    assert est.cluster_sizes_.tolist() == [30, 30, 30, 30]
    for c in range(4):  # centres are the means of their members
        np.testing.assert_allclose(est.cluster_centers_[c], X[est.labels_ == c].mean(axis=0))
    # new points from the same blobs go to their own cluster
    X2, y2 = blobs(n_per=10, seed=0)
    mapping = {int(a): int(b) for a, b in zip(y, est.labels_)}
    assert est.predict(X2).tolist() == [mapping[int(v)] for v in y2]


def test_word_types_are_capped_before_clustering():
    X, y = blobs(n_per=30, k=3)
    words = np.array([f"t{v}_{i % 2}" for i, v in enumerate(y)])  # 6 types of 15 occurrences
    est = LatentConcepts(n_clusters=3, max_per_type=4).fit(X, words=words)
    assert est.sample_.size == 24 and Counter(est.words_.tolist()) == {w: 4 for w in set(words.tolist())}
    assert adjusted_rand_score(y[est.sample_], est.labels_) == 1.0


def test_store_view_gives_the_same_clusters_as_the_array(tmp_path):
    X, _ = blobs(n_per=10, k=3, dim=6)
    X = X.astype(np.float32)
    path = tmp_path / "s.h5"
    synthetic_store(path, [[f"w{i}" for i in range(j, j + 5)] for j in range(0, 30, 5)], data={"layers.0": X})
    from neuronlab.store import ActivationStore

    with ActivationStore.open(path) as store:
        from_view = LatentConcepts(n_clusters=3, max_rows=20, random_state=3).fit(store.view("layers.0"))
    from_array = LatentConcepts(n_clusters=3, max_rows=20, random_state=3).fit(X)
    assert from_view.sample_.tolist() == from_array.sample_.tolist() and from_view.sample_.size == 20
    assert from_view.labels_.tolist() == from_array.labels_.tolist()


def test_bad_input_is_refused_clearly():
    X, _ = blobs(n_per=5, k=2)
    with pytest.raises(InvalidParameterError, match="needs .* GB, more than the 0.00 GB allowed"):
        LatentConcepts(n_clusters=2, max_memory_gb=1e-9).fit(X)
    with pytest.raises(InvalidParameterError, match="only 1 sample"):
        LatentConcepts(n_clusters=2).fit(X[:1])
    with pytest.raises(InvalidParameterError, match="one entry per row of X"):
        LatentConcepts().fit(X, words=["a"])
    with pytest.raises(ParameterConstraintError, match="'n_clusters' parameter of LatentConcepts"):
        LatentConcepts(n_clusters=0).fit(X)
    with pytest.raises(NotFittedError):
        LatentConcepts().predict(X)
    with pytest.raises(InvalidParameterError, match="NaN"):
        LatentConcepts(n_clusters=2).fit(np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X))
