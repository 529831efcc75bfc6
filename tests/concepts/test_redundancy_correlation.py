"""Streaming Pearson correlation (Dalvi et al. 2020): equals numpy.corrcoef, constant neurons, memory budget."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.concepts.redundancy.correlation import GB, StreamingCorrelation, plan_memory
from neuronlab.errors import InvalidParameterError
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store


def _mixed(n_rows=500, n=40, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_rows, 8))
    return base @ rng.normal(size=(8, n)) + 0.3 * rng.normal(size=(n_rows, n))


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 500, 10_000])
def test_equals_numpy_corrcoef_for_any_chunking(chunk_rows):
    X = _mixed()
    c = StreamingCorrelation(chunk_rows=chunk_rows).fit(X)
    np.testing.assert_allclose(c.correlation_, np.corrcoef(X.T), rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.mean_, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(c.std_, X.std(axis=0), rtol=1e-10)
    assert c.n_rows_ == 500 and not c.constant_.any()
    assert np.array_equal(c.correlation_, c.correlation_.T)


def test_large_means_keep_their_digits():
    # raw sums of squares (X^T X - n m m^T) lose ~8 digits at a mean of 1e4 times the spread; Chan's update does not
    X = _mixed(seed=1) + 1e5
    c = StreamingCorrelation(chunk_rows=33).fit(X)
    ref = np.corrcoef(X.T)
    np.testing.assert_allclose(c.correlation_, ref, rtol=0, atol=1e-9)


def test_float16_store_view_equals_in_memory(tmp_path):
    X = _mixed(n_rows=120, n=24).astype(np.float16)
    sents = [[f"w{i}" for i in range(6)] for _ in range(20)]
    synthetic_store(tmp_path / "s.h5", sents, data={"layers.0": X[:, :10], "layers.1": X[:, 10:]}, dtype="float16")
    with ActivationStore.open(tmp_path / "s.h5") as st:
        c = StreamingCorrelation(chunk_rows=17).fit(st.view())
    np.testing.assert_allclose(c.correlation_, np.corrcoef(X.astype(np.float64).T), atol=1e-12)


def test_constant_neurons_have_zero_correlation_and_are_flagged():
    X = _mixed(n_rows=200, n=6)
    X[:, 2] = 0.1  # a constant whose float mean is not exactly 0.1
    X[:, 4] = -3.0
    c = StreamingCorrelation(chunk_rows=3).fit(X)
    assert c.constant_.tolist() == [False, False, True, False, True, False]
    for j in (2, 4):
        expected = np.zeros(6)
        expected[j] = 1.0
        assert c.correlation_[j].tolist() == expected.tolist()
        assert c.correlation_[:, j].tolist() == expected.tolist()
        assert c.std_[j] == 0.0
    keep = [0, 1, 3, 5]
    np.testing.assert_allclose(c.correlation_[np.ix_(keep, keep)], np.corrcoef(X[:, keep].T), atol=1e-12)
    # NeuroX's rule on the same data: nan_to_num of corrcoef, unit diagonal
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = np.nan_to_num(np.corrcoef(X.T))
    np.fill_diagonal(ref, 1)
    np.testing.assert_allclose(c.correlation_, ref, atol=1e-12)


def test_input_is_not_modified():
    X = _mixed(n_rows=50, n=5)
    before = X.copy()
    StreamingCorrelation(chunk_rows=8).fit(X)
    assert np.array_equal(X, before)


def test_memory_plan_says_what_the_matrix_takes_and_refuses_a_small_budget():
    plan = plan_memory(10_000, itemsize=2, max_memory_gb=4.0)
    assert plan.matrix_bytes == 8 * 10_000 ** 2
    assert "10,000 x 10,000 float64 matrix takes 0.75 GB" in plan.describe()
    assert plan.chunk_rows == (256 << 20) // (10_000 * 10)  # chunks are capped at 256 MiB
    assert plan_memory(100, max_memory_gb=4.0).chunk_rows == 8192
    tight = plan_memory(10_000, itemsize=2, max_memory_gb=0.76)  # room for a few hundred rows only
    assert 64 <= tight.chunk_rows < 8192 and tight.total_bytes <= 0.76 * GB
    with pytest.raises(InvalidParameterError, match=r"matrix takes 0\.75 GB.*exceeds the given budget .*0\.50 GB.*"
                                                     r"select fewer sites"):
        plan_memory(10_000, max_memory_gb=0.5)


def test_fit_refuses_before_reading_any_row():
    class Exploding:
        shape, dtype = (1000, 20_000), np.dtype(np.float32)

        def __getitem__(self, key):
            raise AssertionError("rows were read although the budget cannot hold the matrix")

    with pytest.raises(InvalidParameterError, match=r"20,000 x 20,000 float64 matrix takes 2\.98 GB"):
        StreamingCorrelation(max_memory_gb=1.0).fit(Exploding())


@pytest.mark.parametrize("X, match", [
    (np.ones((1, 3)), "at least 2 rows"),
    (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN or infinity"),
    (np.ones(5), "2-D"),
])
def test_bad_input_is_a_clear_error(X, match):
    with pytest.raises(InvalidParameterError, match=match):
        StreamingCorrelation().fit(X)


def test_redundancy_package_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; import neuronlab.concepts.redundancy.study, neuronlab.concepts.redundancy.ccfs; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
