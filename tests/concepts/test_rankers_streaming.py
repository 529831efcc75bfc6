"""Issue 13: rankers that stream a store in blocks under a memory budget give the in-memory result."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.concepts.rankers.streaming import iter_column_blocks, rows_for_budget, streaming_quantile
from neuronlab.concepts.study import rank_concept
from neuronlab.errors import InvalidParameterError
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store


@pytest.mark.parametrize("q", [0.995, 0.9, 0.5, 0.31, 0.01, 0.0, 1.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streaming_quantile_is_bit_identical_to_numpy(q, dtype):
    rng = np.random.default_rng(7)
    for n, chunk in [(1, 1), (2, 1), (37, 5), (400, 33), (1000, 1000)]:
        X = rng.normal(size=(n, 6)).astype(dtype)
        X[:, 2] = np.round(X[:, 2])  # ties
        X[:, 3] = 1.5  # constant
        got = streaming_quantile(X, q, chunk_rows=chunk)
        want = np.quantile(X, q, axis=0)
        assert got.dtype == want.dtype and np.array_equal(got, want), (n, chunk)


def test_streaming_quantile_refuses_a_budget_below_its_buffer():
    X = np.zeros((100_000, 50), dtype=np.float32)
    with pytest.raises(InvalidParameterError, match="threshold="):
        streaming_quantile(X, 0.5, chunk_rows=1000, budget_gb=0.001)


def test_column_blocks_cover_every_column_once(tmp_path):
    rng = np.random.default_rng(0)
    data = {"layers.0": rng.normal(size=(50, 7)).astype(np.float32)}
    synthetic_store(tmp_path / "s.h5", [["w"] * 10] * 5, data=data)
    with ActivationStore.open(tmp_path / "s.h5") as st:
        view = st.view()
        cols = np.concatenate([b for _, _, b in iter_column_blocks(view, 3, chunk_rows=8)], axis=1)
    assert np.array_equal(cols, data["layers.0"])


def test_rows_for_budget_fits_and_refuses():
    assert rows_for_budget(1000, None) == 16384
    assert rows_for_budget(1000, 1.0, copies=4.0) * 1000 * 8 * 4 <= 1 << 30
    with pytest.raises(InvalidParameterError, match="max_memory_gb"):
        rows_for_budget(10**9, 0.001)


@pytest.fixture()
def store_4k(tmp_path):
    """4,000 rows x 3 sites (96 neurons), a 5-class concept with planted neurons, float16 like real stores."""
    rng = np.random.default_rng(11)
    n_sent, n_words = 400, 10
    n = n_sent * n_words
    y = rng.integers(0, 5, size=n)
    sites = {"layers.0": 32, "layers.1": 32, "layers.2": 32}
    data = {s: rng.normal(size=(n, w)).astype(np.float16) for s, w in sites.items()}
    for c in range(5):
        data["layers.1"][y == c, 3 * c] += np.float16(2.0 + c)
    data["layers.2"][:, 7] = np.round(data["layers.2"][:, 7])  # ties for AP and the quantile
    path = tmp_path / "s4k.h5"
    synthetic_store(path, [[f"w{j}" for j in range(n_words)]] * n_sent, data=data, dtype="float16",
                    labels={"concept": ([f"c{c}" for c in y], "row")})
    return path


@pytest.mark.parametrize("method,params", [("iou", {}), ("iou", {"quantile": 0.05}), ("ap", {}),
                                           ("ap", {"signed": "positive"}), ("probeless", {})])
def test_streamed_ranking_equals_in_memory(store_4k, method, params):
    with ActivationStore.open(store_4k) as st:
        mem = rank_concept(st, "concept", method, params=dict(params))
        # 4,000 x 96 float32 is 1.5 MB; a 0.5 MB budget forces the streamed path with several blocks
        low = rank_concept(st, "concept", method, params=dict(params), max_memory_gb=0.0005)
    assert mem.config["streamed"] is False and low.config["streamed"] is True
    assert low.ranking == mem.ranking
    if method == "probeless":  # float64 sums in other blocks: equal to rounding
        np.testing.assert_allclose(low.class_scores, mem.class_scores, rtol=1e-12, atol=1e-12)
    else:  # thresholds, masks and AP are computed exactly
        assert np.array_equal(low.class_scores, mem.class_scores)
    assert low.top[:5] == mem.top[:5]


@pytest.fixture(scope="module")
def local_cluster():
    pytest.importorskip("distributed")
    from neuronlab.scale.dask_arrays import scheduler

    with scheduler("local:2") as client:
        yield client


@pytest.mark.parametrize("method,params", [("probeless", {}), ("iou", {}), ("iou", {"threshold": 0.5})])
def test_dask_map_reduce_on_two_worker_processes_equals_one_process(store_4k, local_cluster, method, params):
    from neuronlab.scale.dask_arrays import rank_distributed, view_array

    with ActivationStore.open(store_4k) as st:
        ref = rank_concept(st, "concept", method, params=dict(params))
        X = view_array(st, rows_per_chunk=512)  # 8 chunks of rows, computed on the two workers
        assert np.array_equal(X.compute(), st.view().to_numpy(dtype=np.float16))
        class_scores, scores, classes, ids, _ = rank_distributed(st, "concept", method, params=dict(params),
                                                                 rows_per_chunk=512)
    assert ids == ref.neuron_ids and classes == ref.classes
    if method == "probeless":
        np.testing.assert_allclose(class_scores, ref.class_scores, rtol=1e-12, atol=1e-12)
    else:
        assert np.array_equal(class_scores, ref.class_scores)


def test_rank_with_a_scheduler_through_the_api_and_refusals(store_4k):
    pytest.importorskip("distributed")
    with ActivationStore.open(store_4k) as st:
        ref = rank_concept(st, "concept", "probeless")
        got = rank_concept(st, "concept", "probeless", scheduler="local:1")
        assert got.ranking == ref.ranking and got.config["scheduler"] == "local:1"
        with pytest.raises(InvalidParameterError, match="runs in one process"):
            rank_concept(st, "concept", "rf", scheduler="local:1")  # ap runs on dask since the stream part
        with pytest.raises(InvalidParameterError, match="local:N"):
            rank_concept(st, "concept", "iou", scheduler="local:zero")
