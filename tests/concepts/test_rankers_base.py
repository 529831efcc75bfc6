"""Shared ranker helpers: score -> ranking, input conversion, label encoding."""
import numpy as np
import pytest

from neuronlab.concepts.rankers import IoURanker, ranking_from_scores
from neuronlab.concepts.rankers.base import check_activations, check_labels
from neuronlab.errors import InvalidParameterError


def test_ranking_ties_by_index_and_nan_last():
    scores = np.array([0.2, 0.9, np.nan, 0.9, 0.2, -1.0])
    assert ranking_from_scores(scores).tolist() == [1, 3, 0, 4, 5, 2]


def test_check_activations_dtypes_and_chunks():
    x16 = np.arange(12, dtype=np.float16).reshape(6, 2)
    out = check_activations(x16, chunk_rows=4)
    assert out.dtype == np.float32 and np.array_equal(out, x16.astype(np.float32))
    assert check_activations(np.ones((2, 2), dtype=np.int32)).dtype == np.float64
    x32 = np.ones((3, 2), dtype=np.float32)
    assert check_activations(x32) is x32  # no copy when nothing needs converting
    assert check_activations([[1.0, 2.0], [3.0, 4.0]]).shape == (2, 2)
    with pytest.raises(InvalidParameterError, match="X must hold numbers"):
        check_activations(np.array([["a", "b"]]))
    inf = np.ones((5, 2))
    inf[4, 1] = np.inf
    with pytest.raises(InvalidParameterError, match="row 4, neuron 1"):
        check_activations(inf, chunk_rows=2)


def test_h5py_input_for_in_memory_rankers(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)).astype(np.float16)
    y = rng.integers(0, 2, 400)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["x"] = X
    with h5py.File(tmp_path / "a.h5", "r") as f:
        from_file = IoURanker(quantile=0.9, chunk_rows=64).fit(f["x"], y)
    expected = IoURanker(quantile=0.9).fit(X, y).class_scores_
    np.testing.assert_array_equal(from_file.class_scores_, expected)


def test_check_labels():
    classes, enc = check_labels(["b", "a", "b", "c"], 4)
    assert classes.tolist() == ["a", "b", "c"] and enc.tolist() == [1, 0, 1, 2]
    with pytest.raises(InvalidParameterError, match="concept has only one class \\('a'\\)"):
        check_labels(["a", "a"], 2)
    with pytest.raises(InvalidParameterError, match="X has 3 rows, y has 2 labels"):
        check_labels([0, 1], 3)
    with pytest.raises(InvalidParameterError, match="y must be 1-D"):
        check_labels([[0, 1]], 1)
    with pytest.raises(InvalidParameterError, match="NaN"):
        check_labels([0.0, np.nan], 2)
