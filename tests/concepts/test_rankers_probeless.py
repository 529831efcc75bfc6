"""ProbelessRanker: hand values, an independent group-by, and streaming from HDF5."""
from itertools import combinations

import numpy as np
import pytest

from neuronlab.concepts.rankers import ProbelessRanker
from neuronlab.errors import InvalidParameterError


def test_three_class_toy_by_hand():
    # neuron 0: class a rows 1, 3 (mean 2); class b row 4 (mean 4); class c rows 0, 0, 3 (mean 1)
    #   pairs: |2-4| + |2-1| + |4-1| = 6 ; per class: a 2+1=3, b 2+3=5, c 1+3=4
    # neuron 1: constant 7 -> 0 everywhere
    # neuron 2: class a -1, -1 ; b 2 ; c 0, 0, 0 -> |-1-2| + |-1-0| + |2-0| = 6 ; a 4, b 5, c 3
    X = np.array(
        [[1, 7, -1], [3, 7, -1], [4, 7, 2], [0, 7, 0], [0, 7, 0], [3, 7, 0]], dtype=np.float32
    )
    y = np.array(["a", "a", "b", "c", "c", "c"])
    r = ProbelessRanker().fit(X, y)
    np.testing.assert_allclose(r.means_, [[2, 7, -1], [4, 7, 2], [1, 7, 0]])
    np.testing.assert_allclose(r.scores_, [6, 0, 6])
    np.testing.assert_allclose(r.class_scores_, [[3, 0, 4], [5, 0, 5], [4, 0, 3]])
    assert r.ranking_.tolist() == [0, 2, 1]  # tie between 0 and 2 broken by index
    assert r.counts_.tolist() == [2, 1, 3]


def groupby_scores(X, y):
    """Per-class means with boolean masks and np.mean, pairs with itertools."""
    labels = sorted(set(y.tolist()))
    means = {c: X[y == c].mean(axis=0, dtype=np.float64) for c in labels}
    total = sum(np.abs(means[a] - means[b]) for a, b in combinations(labels, 2))
    per_class = [sum(np.abs(means[c] - means[d]) for d in labels if d != c) for c in labels]
    return total, np.array(per_class)


def test_equals_groupby():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 40)).astype(np.float32)
    y = rng.integers(0, 5, 500)
    r = ProbelessRanker(chunk_rows=64).fit(X, y)
    total, per_class = groupby_scores(X, y)
    np.testing.assert_allclose(r.scores_, total, rtol=1e-10)
    np.testing.assert_allclose(r.class_scores_, per_class, rtol=1e-10)


class RowSliceOnly:
    """A dataset-like object: a shape, row slicing, nothing else; records the rows read."""

    def __init__(self, array):
        self._array = array
        self.shape = array.shape
        self.dtype = array.dtype
        self.reads = []

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("only row slices")
        block = self._array[key]
        self.reads.append(block.shape[0])
        return block.copy()


def test_streams_in_chunks():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(103, 8)).astype(np.float16)
    y = rng.integers(0, 3, 103)
    source = RowSliceOnly(X)
    r = ProbelessRanker(chunk_rows=25).fit(source, y)
    assert source.reads == [25, 25, 25, 25, 3]
    np.testing.assert_allclose(r.scores_, ProbelessRanker().fit(X, y).scores_, rtol=1e-12)


def test_h5py_dataset(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 6)).astype(np.float16)
    y = rng.integers(0, 2, 90)
    with h5py.File(tmp_path / "acts.h5", "w") as f:
        f.create_dataset("acts", data=X, chunks=(16, 6))
    with h5py.File(tmp_path / "acts.h5", "r") as f:
        r = ProbelessRanker(chunk_rows=16).fit(f["acts"], y)
    total, _ = groupby_scores(X.astype(np.float64), y)
    np.testing.assert_allclose(r.scores_, total, rtol=1e-10)


def test_nan_found_in_later_chunk():
    X = np.zeros((50, 3))
    X[:25] = 1.0
    X[41, 2] = np.nan
    with pytest.raises(InvalidParameterError, match="row 41, neuron 2"):
        ProbelessRanker(chunk_rows=10).fit(X, np.arange(50) % 2)
