"""Issue 13 on dask: the probe's loss and gradient as a map-reduce on two worker processes, AP on dask, and the
mergeable statistics (moments, correlation, Gaussian sufficient statistics) streamed and on dask, against numpy and
the single-process results."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dask.array")
pytest.importorskip("distributed")

from neuronlab.concepts.probes import LinearProbe  # noqa: E402
from neuronlab.concepts.probes.gaussian import map_parameters, map_parameters_from_statistics  # noqa: E402
from neuronlab.concepts.study import probe_concept, rank_concept  # noqa: E402
from neuronlab.errors import InvalidParameterError  # noqa: E402
from neuronlab.scale import stats  # noqa: E402
from neuronlab.scale.dask_arrays import view_array  # noqa: E402
from neuronlab.scale.dask_probe import DaskRows, default_chunk_rows  # noqa: E402
from neuronlab.store import ActivationStore  # noqa: E402
from neuronlab.testing import synthetic_store  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two worker processes and a client on it, shared by the module."""
    from distributed import Client, LocalCluster

    lc = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(lc)
    yield client
    client.close()
    lc.close()


@pytest.fixture(scope="module")
def dstore(tmp_path_factory):
    """2,400 rows x 2 sites (32 neurons), 3 classes planted, an offset column (large mean, small spread), float16."""
    rng = np.random.default_rng(3)
    n_sent, n_words = 240, 10
    n = n_sent * n_words
    y = rng.integers(0, 3, size=n)
    data = {"layers.0": rng.normal(size=(n, 16)).astype(np.float16),
            "layers.1": rng.normal(size=(n, 16)).astype(np.float16)}
    for c in range(3):
        data["layers.1"][y == c, 4 * c] += np.float16(1.0 + 0.5 * c)
    data["layers.0"][:, 5] = (300.0 + rng.normal(size=n) * 0.25).astype(np.float16)
    path = tmp_path_factory.mktemp("dask") / "d.h5"
    synthetic_store(path, [[f"w{j}" for j in range(n_words)]] * n_sent, data=data, dtype="float16",
                    labels={"concept": ([f"c{c}" for c in y], "row")})
    X = np.hstack([data["layers.0"], data["layers.1"]]).astype(np.float64)
    return path, X, y


def test_probe_map_reduce_on_two_workers_equals_one_process(cluster, dstore):
    _, X, y = dstore
    assert len(cluster.scheduler_info()["workers"]) == 2
    # float64 rows, squared penalty: the optimum is pinned down; only the order of the chunk sums differs
    mem = LinearProbe(alpha=0.1, tol=1e-8, max_iter=300).fit(X, y)
    src = DaskRows(X, cluster, chunk_rows=700)  # 4 chunks over the two workers
    dist = LinearProbe(alpha=0.1, tol=1e-8, max_iter=300).fit(src, y)
    assert dist.streamed_ == "dask" and src.passes >= dist.n_fun_
    np.testing.assert_allclose(dist.objective_, mem.objective_, rtol=1e-12)
    np.testing.assert_allclose(dist.coef_, mem.coef_, atol=1e-6 * np.abs(mem.coef_).max())


def test_rank_and_probe_with_a_scheduler_address(cluster, dstore):
    """The workers read the store themselves (float16 -> float32 arithmetic, as in memory)."""
    path, _, _ = dstore
    address = cluster.scheduler.address
    sparse = {"lambda_l1": 1e-2}
    with ActivationStore.open(path) as st:
        ref = rank_concept(st, "concept", "linear", params=dict(sparse))
        got = rank_concept(st, "concept", "linear", params=dict(sparse), scheduler=address)
        assert got.config["scheduler"] == address and got.ranking == ref.ranking
        np.testing.assert_allclose(got.class_scores, ref.class_scores, atol=1e-5 * ref.class_scores.max())
        p_ref = probe_concept(st, "concept", controls=False)
        p_got = probe_concept(st, "concept", controls=False, scheduler=address)
        assert p_got.config["scheduler"] == address and p_got.config["streamed"] is True
        assert p_got.ranking[:5] == p_ref.ranking[:5] and abs(p_got.accuracy - p_ref.accuracy) <= 1 / p_ref.n_test
        with pytest.raises(InvalidParameterError, match="evaluate="):
            probe_concept(st, "concept", controls=False, scheduler=address, evaluate=["layerwise"])


@pytest.mark.parametrize("signed", ["max", "positive"])
def test_ap_on_dask_equals_one_process(cluster, dstore, signed):
    path, _, _ = dstore
    with ActivationStore.open(path) as st:
        ref = rank_concept(st, "concept", "ap", params={"signed": signed})
        got = rank_concept(st, "concept", "ap", params={"signed": signed}, scheduler=cluster.scheduler.address)
    assert got.ranking == ref.ranking and np.array_equal(got.class_scores, ref.class_scores)


def test_moments_and_correlation_streamed_and_on_dask_equal_numpy(cluster, dstore):
    path, X, _ = dstore
    with ActivationStore.open(path) as st:
        lazy = st.view()
        arr = view_array(st, rows_per_chunk=512)
        for source in (lazy, arr):  # streamed in this process, then on the workers
            mean, var = stats.neuron_moments(source, chunk_rows=333)
            np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-13, atol=1e-13)
            np.testing.assert_allclose(var, X.var(axis=0), rtol=1e-11)
            np.testing.assert_allclose(stats.correlation_matrix(source, chunk_rows=333), np.corrcoef(X.T),
                                       atol=1e-12)
            q = stats.neuron_quantile(source, 0.9, chunk_rows=333)
            np.testing.assert_array_equal(q, np.quantile(X.astype(np.float32), 0.9, axis=0))


def test_chan_merge_keeps_a_small_spread_under_a_large_mean():
    rng = np.random.default_rng(0)
    x = 1e8 + rng.normal(size=(10_000, 1))
    merged = stats.streamed(stats.moments_of, x, chunk_rows=7)
    naive = (x * x).mean(axis=0) - x.mean(axis=0) ** 2  # the raw-sums formula cancels catastrophically
    np.testing.assert_allclose(merged.var, x.var(axis=0), rtol=1e-6)
    assert abs(naive[0] - x.var()) > 1e-3


def test_gaussian_sufficient_statistics_streamed_and_on_dask(cluster, dstore):
    path, X, y = dstore
    want = map_parameters(X, y, 3)
    with ActivationStore.open(path) as st:
        for source in (st.view(), view_array(st, rows_per_chunk=512)):
            counts, means, scatters = stats.class_statistics(source, y, 3, chunk_rows=500)
            got = map_parameters_from_statistics(counts, means, scatters)
            np.testing.assert_array_equal(got[2], want[2])
            np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-12)


def test_default_chunk_rows_are_whole_blocks():
    assert default_chunk_rows(2688) % 2048 == 0 and default_chunk_rows(16) == 1048576
    assert default_chunk_rows(10**8) == 1


def test_cli_stats_streamed_and_on_dask(cluster, dstore, capsys, tmp_path):
    import json

    from neuronlab.cli.main import main

    path, X, _ = dstore
    for extra in (["--max-memory-gb", "0.002"], ["--scheduler", cluster.scheduler.address]):
        rc = main(["stats", str(path), "--quantile", "0.99", "--quantile", "0.01", "--json", *extra])
        out = json.loads(capsys.readouterr().out)
        assert rc == 0 and out["n_rows"] == X.shape[0] and out["config"]["streamed"] is ("--max-memory-gb" in extra)
        np.testing.assert_allclose(out["mean"], X.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(out["std"], X.std(axis=0), rtol=1e-10)
        for q in (0.99, 0.01):
            np.testing.assert_array_equal(out["quantiles"][str(q)], np.quantile(X.astype(np.float32), q, axis=0))
    rc = main(["stats", str(path), "--quantile", "0.5", "--max-memory-gb", "0.0002"])
    err = capsys.readouterr().err
    assert rc == 2 and "--max-memory-gb" in err and "Traceback" not in err
