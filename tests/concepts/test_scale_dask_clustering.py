"""Issue 13: correlation clustering (Dalvi et al. 2020) with the correlation matrix reduced on dask workers, and the
one-line errors of ``--scheduler`` (an address nobody answers at, a malformed one, dask not installed)."""
from __future__ import annotations

import json
import socket
import sys

import numpy as np
import pytest

from neuronlab.cli.main import main
from neuronlab.concepts.redundancy import CorrelationClustering, GeneralRedundancy, StreamingCorrelation
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store

pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two worker processes and a client on it, shared by the module."""
    lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(lc)
    yield client
    client.close()
    lc.close()


@pytest.fixture(scope="module")
def cstore(tmp_path_factory):
    """1,500 rows, 2 sites x 12 neurons in correlated groups (copies, sign flips, noisy copies at several levels), a
    constant neuron and an offset one, float16."""
    rng = np.random.default_rng(11)
    n = 1500
    base = rng.normal(size=(n, 6))
    cols = []
    for j in range(24):
        src = base[:, j % 6]
        noise = (0.05, 0.4, 0.9, 2.0)[j // 6]
        cols.append((-1) ** j * src + noise * rng.normal(size=n))
    X = np.stack(cols, axis=1)
    X[:, 7] = 1.5  # constant
    X[:, 13] = 300.0 + 0.25 * X[:, 13]  # large mean, small spread
    data = {"layers.0": X[:, :12].astype(np.float16), "layers.1": X[:, 12:].astype(np.float16)}
    path = tmp_path_factory.mktemp("dask_clustering") / "c.h5"
    synthetic_store(path, [[f"w{j}" for j in range(10)]] * (n // 10), data=data, dtype="float16",
                    labels={"concept": ([f"c{j % 3}" for j in range(n)], "row")})
    return path, np.hstack([data["layers.0"], data["layers.1"]]).astype(np.float64)


def test_clustering_on_dask_equals_in_memory(cluster, cstore):
    from neuronlab.scale.dask_arrays import view_array
    from neuronlab.scale.dask_correlation import DaskCorrelationSource

    path, X = cstore
    with ActivationStore.open(path) as st:
        source = DaskCorrelationSource(view_array(st, rows_per_chunk=256))  # 6 chunks over 2 workers
        corr = StreamingCorrelation().fit(source)
        np.testing.assert_allclose(corr.correlation_, StreamingCorrelation().fit(X).correlation_, atol=1e-12)
        assert corr.constant_.tolist() == [j == 7 for j in range(24)]
        for t in (0.05, 0.3, 0.6, 1.2):
            ref = CorrelationClustering(t).fit(X)
            got = CorrelationClustering(t).fit(source)
            np.testing.assert_array_equal(got.labels_, ref.labels_)
            np.testing.assert_array_equal(got.representatives_, ref.representatives_)
            np.testing.assert_allclose(got.linkage_, ref.linkage_, atol=1e-12)
    counts = GeneralRedundancy([0.05, 0.3, 0.6, 1.2]).fit(X).n_clusters_
    assert counts.tolist() == sorted(counts.tolist(), reverse=True) and counts[0] > counts[-1]  # the cuts differ


def test_cli_redundancy_on_dask_equals_streamed_and_in_memory(cluster, cstore, capsys):
    path, _ = cstore
    base = ["redundancy", str(path), "--threshold", "0.05", "0.3", "0.6", "--no-write-back", "--json"]
    runs = {}
    for name, extra in {"memory": [], "streamed": ["--max-memory-gb", "0.0001"],
                        "dask": ["--scheduler", cluster.scheduler.address]}.items():
        assert main(base + extra) == 0, name
        runs[name] = json.loads(capsys.readouterr().out)
    assert runs["streamed"]["memory"]["chunk_rows"] < runs["memory"]["memory"]["chunk_rows"]  # really in chunks
    assert runs["dask"]["config"]["scheduler"] == cluster.scheduler.address
    for name in ("streamed", "dask"):
        assert runs[name]["general"] == runs["memory"]["general"], name
        assert runs[name]["constant_neurons"] == runs["memory"]["constant_neurons"] == ["layers.0:7"]


def test_redundancy_study_on_dask_writes_the_same_labels(cluster, cstore):
    from neuronlab.concepts.redundancy.study import redundancy_study

    path, _ = cstore
    with ActivationStore.open(path) as st:
        ref = redundancy_study(st, thresholds=[0.3, 0.6], sites="layers.1")
        got = redundancy_study(st, thresholds=[0.3, 0.6], sites="layers.1", scheduler=cluster.scheduler.address)
    np.testing.assert_array_equal(got.labels, ref.labels)
    np.testing.assert_array_equal(got.kept, ref.kept)
    assert got.n_neurons == 12 and got.config["scheduler"] == cluster.scheduler.address


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("neuronlab: error: ") and "Traceback" not in err, err
    return lines[0]


def test_a_scheduler_that_does_not_answer_is_one_error_line(cstore, capsys):
    """A socket that accepts connections but never speaks (a silent or hung host): refused after the short
    connect timeout of dask's config; a closed port and a malformed address: refused at once."""
    import dask

    path, _ = cstore
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
            for cmd in (["redundancy", str(path), "--no-write-back", "--quiet"],
                        ["rank", str(path), "--concept", "concept", "--method", "gaussian", "--no-write-back",
                         "--quiet"],
                        ["stats", str(path)]):
                for address in (f"tcp://127.0.0.1:{silent.getsockname()[1]}", f"127.0.0.1:{closed_port}"):
                    assert main(cmd + ["--scheduler", address]) == 2
                    line = _one_error_line(capsys.readouterr().err)
                    assert "cannot reach the dask scheduler" in line and "dask scheduler" in line
                    assert "local:N" in line
            assert main(["redundancy", str(path), "--scheduler", "myhost", "--quiet"]) == 2
            line = _one_error_line(capsys.readouterr().err)
            assert "'myhost' is not a scheduler address" in line and "tcp://HOST:PORT" in line
    finally:
        silent.close()


def test_without_dask_installed_scheduler_says_what_to_install(cstore, capsys, monkeypatch):
    path, _ = cstore
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main(["redundancy", str(path), "--scheduler", "local:2", "--no-write-back", "--quiet"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "pip install 'neuronlab[dask]'" in line and "drop --scheduler" in line
