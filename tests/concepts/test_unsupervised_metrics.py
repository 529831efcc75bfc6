"""Cluster evaluation against gold concepts: B-cubed, NPMI, alignment, the cluster-id classifier (issue 12)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuronlab.concepts.unsupervised.metrics import (
    ClusterLabelClassifier,
    bcubed,
    cluster_alignment,
    contingency,
    npmi,
)
from neuronlab.errors import InvalidParameterError, NotFittedError


def bcubed_by_sets(clusters, gold):
    """Reference: Bagga & Baldwin's per-item definition with explicit sets (Amigó et al. 2009, eq. for B-cubed)."""
    items = range(len(clusters))
    prec, rec = [], []
    for i in items:
        same_cluster = {j for j in items if clusters[j] == clusters[i]}
        same_class = {j for j in items if gold[j] == gold[i]}
        both = same_cluster & same_class
        prec.append(len(both) / len(same_cluster))
        rec.append(len(both) / len(same_class))
    p, r = sum(prec) / len(prec), sum(rec) / len(rec)
    return p, r, 2 * p * r / (p + r)


def npmi_by_counting(clusters, gold, c, l):
    """Reference: NPMI of one (cluster, label) pair from raw counts with math.log."""
    n = len(clusters)
    n_cl = sum(1 for a, b in zip(clusters, gold) if a == c and b == l)
    if n_cl == 0:
        return -1.0
    p_cl, p_c, p_l = n_cl / n, clusters.count(c) / n, gold.count(l) / n
    if p_cl == 1.0:
        return 1.0
    return math.log(p_cl / (p_c * p_l)) / -math.log(p_cl)


@pytest.mark.parametrize("clusters, gold", [
    ([0, 0, 1, 1], ["a", "a", "a", "b"]),
    ([0, 0, 0, 0, 0], ["a", "b", "c", "a", "a"]),
    ([0, 1, 2, 3], ["a", "a", "b", "b"]),
    ([5, 5, 7, 7, 7, 9], ["x", "y", "y", "y", "x", "x"]),
])
def test_bcubed_equals_the_set_definition_on_small_examples(clusters, gold):
    r = bcubed(clusters, gold)
    p, rc, f = bcubed_by_sets(clusters, gold)
    assert (r.precision, r.recall, r.f1) == pytest.approx((p, rc, f), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3)), min_size=1, max_size=30))
def test_bcubed_equals_the_set_definition_on_random_labellings(pairs):
    clusters, gold = [a for a, _ in pairs], [b for _, b in pairs]
    r = bcubed(clusters, gold)
    assert (r.precision, r.recall, r.f1) == pytest.approx(bcubed_by_sets(clusters, gold), abs=1e-12)


def test_bcubed_known_values():
    # one cluster for everything: precision = sum over classes of (n_l / N)^2, recall 1
    r = bcubed([0] * 4, ["a", "a", "a", "b"])
    assert r.precision == pytest.approx((3 / 4) ** 2 + (1 / 4) ** 2) and r.recall == 1.0
    # singletons: precision 1, recall = mean over items of 1 / |class|
    r = bcubed([0, 1, 2, 3], ["a", "a", "a", "b"])
    assert r.precision == 1.0 and r.recall == pytest.approx((3 * (1 / 3) + 1) / 4)
    assert bcubed([3, 3, 1], ["x", "x", "y"]).f1 == 1.0


def test_npmi_known_table():
    clusters, gold = [0, 0, 0, 1], ["a", "a", "b", "b"]
    table, cids, labels = npmi(clusters, gold)
    assert cids.tolist() == [0, 1] and labels.tolist() == ["a", "b"]
    # p(0,a)=1/2, p(0)=3/4, p(a)=1/2 -> log(4/3)/log(2); p(0,b)=1/4 -> log(2/3)/log(4); (1,a) never; (1,b): log 2/log 4
    expected = [[math.log(4 / 3) / math.log(2), math.log(2 / 3) / math.log(4)], [-1.0, 0.5]]
    np.testing.assert_allclose(table, expected, rtol=0, atol=1e-12)


def test_npmi_extremes_and_independence():
    np.testing.assert_allclose(npmi([0, 0, 1, 1], ["a", "b", "a", "b"])[0], np.zeros((2, 2)), atol=1e-12)
    assert npmi([0, 0, 1, 1], ["a", "a", "b", "b"])[0].tolist() == [[1.0, -1.0], [-1.0, 1.0]]
    assert npmi([4, 4], ["z", "z"])[0].tolist() == [[1.0]]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=25))
def test_npmi_equals_counting(pairs):
    clusters, gold = [a for a, _ in pairs], [b for _, b in pairs]
    table, cids, labels = npmi(clusters, gold)
    for i, c in enumerate(cids.tolist()):
        for j, l in enumerate(labels.tolist()):
            assert table[i, j] == pytest.approx(npmi_by_counting(clusters, gold, c, l), abs=1e-12)
    assert np.all(table <= 1 + 1e-12) and np.all(table >= -1 - 1e-12)


def test_alignment_majority_purity_and_threshold():
    clusters = [0] * 10 + [1] * 4
    gold = ["N"] * 9 + ["V"] + ["V", "V", "N", "N"]
    a = cluster_alignment(clusters, gold, threshold=0.9)
    assert a["majority"].tolist() == ["N", "N"]  # tie in cluster 1 goes to the smaller label
    assert a["purity"].tolist() == [0.9, 0.5]
    assert a["aligned"].tolist() == [True, False]
    assert a["aligned_fraction"] == 0.5 and a["aligned_items"] == pytest.approx(10 / 14)
    assert a["npmi"][0] == pytest.approx(npmi_by_counting(clusters, gold, 0, "N"))
    with pytest.raises(InvalidParameterError, match="threshold must lie in"):
        cluster_alignment(clusters, gold, threshold=0.0)


def test_cluster_label_classifier():
    clf = ClusterLabelClassifier().fit([2, 2, 2, 5, 5, 9], ["N", "N", "V", "V", "V", "A"])
    assert clf.predict([9, 5, 2, 3]).tolist() == ["A", "V", "N", "V"]  # 3 unseen -> overall majority V (3 of 6)
    assert clf.score([2, 5, 9], ["N", "N", "A"]) == pytest.approx(2 / 3)
    # on its training items the classifier's accuracy is the purity of the clustering
    assert clf.score([2, 2, 2, 5, 5, 9], ["N", "N", "V", "V", "V", "A"]) == pytest.approx(5 / 6)
    with pytest.raises(NotFittedError, match="not fitted"):
        ClusterLabelClassifier().predict([0])


def test_contingency_and_bad_input():
    table, cids, labels = contingency([1, 1, 0], ["b", "a", "a"])
    assert table.tolist() == [[1, 0], [1, 1]] and cids.tolist() == [0, 1] and labels.tolist() == ["a", "b"]
    with pytest.raises(InvalidParameterError, match="one entry per item: 3 clusters vs 2 labels"):
        bcubed([0, 1, 1], ["a", "b"])
    with pytest.raises(InvalidParameterError, match="empty"):
        npmi([], [])
