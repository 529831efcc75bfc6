"""Issue 13: the Gaussian probe (Torroba Hennigen et al. 2020) streamed over row chunks and on dask.

The class statistics are merged over chunks (on the workers for dask) and every greedy step is one pass that sums
each chunk's per-candidate cross-entropy and correct predictions; the selection must equal the in-memory probe's
(statistics to 1e-10 in float64, same selected neurons, same ranking), on a LocalCluster of two worker processes.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from neuronlab.concepts.probes._chunked import ChunkedRows
from neuronlab.concepts.probes.gaussian import (GaussianProbe, class_statistics_of_block, map_parameters,
                                                merge_class_statistics)
from neuronlab.concepts.rankers.gaussian import GaussianRanker
from neuronlab.concepts.study import rank_concept
from neuronlab.errors import InvalidParameterError
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store


def _planted(n_rows: int = 2400, seed: int = 3):
    """32 neurons (2 sites x 16), 3 classes planted in layers.1, a correlated copy, an offset column, float16."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n_rows)
    a = rng.normal(size=(n_rows, 16))
    b = rng.normal(size=(n_rows, 16))
    for c in range(3):
        b[y == c, 4 * c] += 1.0 + 0.5 * c
    a[:, 2] = 0.6 * b[:, 4] + 0.8 * a[:, 2]  # a neuron correlated with a planted one: conditioning matters
    a[:, 5] = 300.0 + 0.25 * a[:, 5]  # large mean, small spread (the Chan merge keeps its variance)
    return {"layers.0": a.astype(np.float16), "layers.1": b.astype(np.float16)}, y


@pytest.fixture(scope="module")
def gstore(tmp_path_factory):
    data, y = _planted()
    path = tmp_path_factory.mktemp("dask_gaussian") / "g.h5"
    n_words = 10
    synthetic_store(path, [[f"w{j}" for j in range(n_words)]] * (len(y) // n_words), data=data, dtype="float16",
                    labels={"concept": ([f"c{c}" for c in y], "row")})
    X = np.hstack([data["layers.0"], data["layers.1"]]).astype(np.float32)
    return path, X, y


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two worker processes and a client on it, shared by the module."""
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(lc)
    yield client
    client.close()
    lc.close()


def _assert_same_probe(got: GaussianProbe, ref: GaussianProbe) -> None:
    np.testing.assert_array_equal(got.class_counts_, ref.class_counts_)
    np.testing.assert_allclose(got.means_, ref.means_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got.covariances_, ref.covariances_, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(got.selected_, ref.selected_)
    np.testing.assert_allclose(got.mi_path_, ref.mi_path_, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(got.accuracy_path_, ref.accuracy_path_)
    np.testing.assert_allclose(got.last_scores_, ref.last_scores_, rtol=1e-10, atol=1e-12)


def test_merged_class_statistics_equal_map_parameters():
    """Chunks of uneven size, a class absent from a chunk, a large mean: the merge equals the two-pass formula."""
    data, y = _planted(600)
    X = np.hstack([data["layers.0"], data["layers.1"]]).astype(np.float64)
    y = y.copy()
    y[:50] = 0  # the first chunk holds one class only
    parts = [class_statistics_of_block(X[a:b], y[a:b], 3) for a, b in ((0, 50), (50, 333), (333, 334), (334, 600))]
    acc = parts[0]
    for p in parts[1:]:
        acc = merge_class_statistics(acc, p)
    means, covs, counts = map_parameters(X, y, 3)
    from neuronlab.concepts.probes.gaussian import map_parameters_from_statistics

    got = map_parameters_from_statistics(*acc)
    np.testing.assert_array_equal(got[2], counts)
    np.testing.assert_allclose(got[0], means, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[1], covs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("criterion", ["mi", "accuracy"])
def test_chunked_probe_selects_what_the_in_memory_probe_selects(gstore, criterion):
    _, X, y = gstore
    ref = GaussianProbe(max_dims=7, criterion=criterion).fit(X, y)
    got = GaussianProbe(max_dims=7, criterion=criterion).fit(ChunkedRows(X, chunk_rows=777), y)  # uneven chunks
    assert ref.streamed_ is None and got.streamed_ == "chunked"
    _assert_same_probe(got, ref)
    np.testing.assert_array_equal(got.predict(X[:200]), ref.predict(X[:200]))


@pytest.mark.parametrize("criterion", ["mi", "accuracy"])
def test_probe_on_two_dask_workers_equals_one_process(cluster, gstore, criterion):
    from neuronlab.scale.dask_probe import DaskRows

    path, X, y = gstore
    assert len(cluster.scheduler_info()["workers"]) == 2
    ref = GaussianProbe(max_dims=7, criterion=criterion).fit(X, y)
    with ActivationStore.open(path) as st:
        source = DaskRows(st.view(), cluster, chunk_rows=500)  # 5 chunks read by the workers from the file
        got = GaussianProbe(max_dims=7, criterion=criterion).fit(source, y)
    # the statistics (one tree reduction on the workers), then one gather per greedy step
    assert got.streamed_ == "dask" and source.passes == 8
    _assert_same_probe(got, ref)


def test_rank_gaussian_with_a_scheduler_and_streamed_equals_in_memory(cluster, gstore):
    path, _, _ = gstore
    params = {"max_dims": 6}
    with ActivationStore.open(path) as st:
        ref = rank_concept(st, "concept", "gaussian", params=dict(params))
        dist = rank_concept(st, "concept", "gaussian", params=dict(params), scheduler=cluster.scheduler.address)
        streamed = rank_concept(st, "concept", "gaussian", params=dict(params), max_memory_gb=0.0003)
    assert ref.config["streamed"] is False and streamed.config["streamed"] is True
    assert dist.config["scheduler"] == cluster.scheduler.address
    assert dist.ranking == ref.ranking and streamed.ranking == ref.ranking
    assert ref.ranking[0] == "layers.1:8"  # the most separated planted neuron


def test_cli_rank_gaussian_on_dask_equals_one_process(cluster, gstore, capsys):
    from neuronlab.cli.main import main

    path, _, _ = gstore
    base = ["rank", str(path), "--concept", "concept", "--method", "gaussian", "--param", "max_dims=5",
            "--param", "criterion=accuracy", "--no-write-back", "--json"]
    assert main(base) == 0
    ref = json.loads(capsys.readouterr().out)
    assert main(base + ["--scheduler", cluster.scheduler.address]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["ranking"] == ref["ranking"] and got["config"]["scheduler"] == cluster.scheduler.address


def test_streamed_gaussian_refuses_a_budget_below_its_covariances(gstore):
    path, _, y = gstore
    with ActivationStore.open(path) as st:
        with pytest.raises(InvalidParameterError, match=r"3 class covariances of 32 x 32 neurons .* max_memory_gb="):
            GaussianRanker(max_dims=3, max_memory_gb=1e-5).fit(st.view(), y)


def test_rank_gaussian_streams_when_its_residuals_do_not_fit_although_the_matrix_does(gstore):
    # the greedy selection's in-memory state is classes x rows x neurons in float64, 5x the float32 matrix here:
    # rank_concept must decide by that, not by the matrix
    from neuronlab.concepts.rankers.gaussian import GaussianRanker
    from neuronlab.concepts.rankers.streaming import GIB

    path, X, y = gstore
    n, d = X.shape
    budget = 2.0 * n * d * 4 * 1.5  # twice what the matrix needs with work space
    assert GaussianRanker.in_memory_bytes(n, d, 3) > budget
    with ActivationStore.open(path) as st:
        ref = rank_concept(st, "concept", "gaussian", params={"max_dims": 6})
        small = rank_concept(st, "concept", "gaussian", params={"max_dims": 6}, max_memory_gb=budget / GIB)
    assert small.config["streamed"] is True and small.ranking == ref.ranking
