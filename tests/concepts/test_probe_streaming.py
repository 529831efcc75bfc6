"""Issue 13: the linear probe trained streamed from a store (loss and gradient summed over row chunks) reaches the
in-memory optimum; `probe` and `rank --method linear` stream when the matrix does not fit the budget."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neuronlab.cli.main import main
from neuronlab.concepts.probes import LinearProbe
from neuronlab.concepts.probes._chunked import ChunkedRows, chunk_rows_for_budget
from neuronlab.concepts.study import probe_concept, rank_concept
from neuronlab.errors import InvalidParameterError
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store


@pytest.fixture(scope="module")
def probe_store(tmp_path_factory):
    """3,000 rows x 2 sites (48 neurons), a 4-class concept planted in a few neurons plus noise, float16."""
    rng = np.random.default_rng(5)
    n_sent, n_words = 300, 10
    n = n_sent * n_words
    y = rng.integers(0, 4, size=n)
    data = {"layers.0": rng.normal(size=(n, 24)).astype(np.float16),
            "layers.1": rng.normal(size=(n, 24)).astype(np.float16)}
    for c in range(4):
        data["layers.1"][y == c, 5 * c] += np.float16(1.0 + 0.4 * c)
        data["layers.0"][y == c, 3] += np.float16(0.3 * c)
    path = tmp_path_factory.mktemp("probe") / "p3k.h5"
    synthetic_store(path, [[f"w{j}" for j in range(n_words)]] * n_sent, data=data, dtype="float16",
                    labels={"concept": ([f"c{c}" for c in y], "row")})
    return path, data, y


def _matrix(data):
    return np.hstack([data["layers.0"], data["layers.1"]]).astype(np.float32)


@pytest.mark.parametrize("params", [dict(lambda_l1=1e-3, lambda_l2=1e-3),
                                    dict(alpha=1e-3, l1_ratio=0.5, standardize=True),
                                    dict(lambda_l1=1e-3, lambda_l2=0.0, fit_intercept=False, class_weight="balanced")])
def test_chunks_of_whole_blocks_are_bit_identical_to_in_memory(probe_store, params):
    path, data, y = probe_store
    X = _matrix(data)
    mem = LinearProbe(**params).fit(X, y)
    with ActivationStore.open(path) as st:
        streamed = LinearProbe(**params).fit(ChunkedRows(st.view(), chunk_rows=2048), y)
    assert mem.streamed_ is None and streamed.streamed_ == "chunked"
    # chunks of whole 2,048-row blocks: the same floating-point operations in the same order as in memory
    assert np.array_equal(streamed.coef_, mem.coef_) and np.array_equal(streamed.intercept_, mem.intercept_)
    assert streamed.n_iter_ == mem.n_iter_


def test_small_chunks_reach_the_same_optimum(probe_store):
    path, data, y = probe_store
    # float64 data is solved in float64, and the squared (strongly convex) penalty pins the optimum down
    X64 = _matrix(data).astype(np.float64)
    mem = LinearProbe(alpha=1e-2, tol=1e-7, max_iter=300).fit(X64, y)
    src = ChunkedRows(X64, chunk_rows=500)  # chunks that cut the 2,048-row blocks: other rounding only
    streamed = LinearProbe(alpha=1e-2, tol=1e-7, max_iter=300).fit(src, y)
    assert mem.converged_ and streamed.converged_
    assert src.passes >= streamed.n_fun_ + 1  # one pass per objective evaluation, plus the moments
    np.testing.assert_allclose(streamed.objective_, mem.objective_, rtol=1e-12)
    np.testing.assert_allclose(streamed.coef_, mem.coef_, atol=1e-7 * np.abs(mem.coef_).max())
    # from the float16 store (float32 arithmetic) at the default tolerance: the same objective and top neurons
    ref = LinearProbe().fit(_matrix(data), y)
    with ActivationStore.open(path) as st:
        got = LinearProbe().fit(ChunkedRows(st.view(), chunk_rows=700), y)
    np.testing.assert_allclose(got.objective_, ref.objective_, rtol=1e-5)
    top = lambda p: np.argsort(-np.abs(p.coef_).max(axis=0), kind="stable")[:8].tolist()  # noqa: E731
    assert top(got) == top(ref)


def test_presolve_subsample_and_working_set_fall_back(probe_store):
    path, data, y = probe_store
    X = _matrix(data)
    mem = LinearProbe(presolve=0.25, solver="owlqn").fit(X, y)
    with ActivationStore.open(path) as st:
        src = ChunkedRows(st.view(), chunk_rows=2048, budget_gb=1.0)
        streamed = LinearProbe(presolve=0.25, solver="working-set").fit(src, y)
    assert streamed.solver_ == "owlqn" and streamed.presolve_iter_ == mem.presolve_iter_ > 0
    assert np.array_equal(streamed.coef_, mem.coef_)  # the subsample is read row for row
    # a budget too small for the subsample: no warm start, the same objective solved from zero weights
    X64 = X.astype(np.float64)
    tiny = LinearProbe(presolve=0.25, tol=1e-6).fit(ChunkedRows(X64, chunk_rows=1000, budget_gb=1e-4), y)
    ref = LinearProbe(presolve=None, tol=1e-6).fit(X64, y)
    assert tiny.presolve_iter_ == 0
    np.testing.assert_allclose(tiny.objective_, ref.objective_, rtol=1e-9)


def test_streamed_probe_refuses_non_finite_rows_and_tiny_budgets():
    X = np.ones((50, 3), dtype=np.float32)
    X[31, 2] = np.nan
    with pytest.raises(InvalidParameterError, match="row 31, neuron 2"):
        LinearProbe().fit(ChunkedRows(X, chunk_rows=10), np.arange(50) % 2)
    with pytest.raises(InvalidParameterError, match="max_memory_gb"):
        chunk_rows_for_budget(10**9, 1e-3)
    assert chunk_rows_for_budget(100, 1.0) % 8192 == 0 and chunk_rows_for_budget(100, 3e-3) == 2048


def test_probe_concept_streams_when_the_matrix_does_not_fit(probe_store):
    path, _, _ = probe_store
    with ActivationStore.open(path) as st:
        mem = probe_concept(st, "concept", controls=True)
        # 3,000 x 48 float32 with work space is 1.4 MB: a 0.3 MB budget streams
        low = probe_concept(st, "concept", controls=True, max_memory_gb=0.0003)
        with pytest.raises(InvalidParameterError, match="evaluate="):
            probe_concept(st, "concept", max_memory_gb=0.0003, evaluate=["layerwise"])
    assert mem.config["streamed"] is False and low.config["streamed"] is True
    assert low.config["max_memory_gb"] == 0.0003
    assert low.ranking == mem.ranking
    assert low.accuracy == mem.accuracy and low.baselines == mem.baselines
    np.testing.assert_allclose(low.coef, mem.coef, atol=1e-3 * np.abs(mem.coef).max())  # at the default tol


def test_rank_linear_streams_when_the_matrix_does_not_fit(probe_store):
    path, _, _ = probe_store
    sparse = {"lambda_l1": 1e-2}  # most weights exactly 0: no near-ties among tiny weights in the ordering
    with ActivationStore.open(path) as st:
        mem = rank_concept(st, "concept", "linear", params=dict(sparse))
        # 3,000 x 48 float32 is 0.6 MB: a 0.3 MB budget streams in chunks of a few hundred rows
        low = rank_concept(st, "concept", "linear", params=dict(sparse), max_memory_gb=0.0003)
        mem_default = rank_concept(st, "concept", "linear")
        low_default = rank_concept(st, "concept", "linear", max_memory_gb=0.0003)
    assert mem.config["streamed"] is False and low.config["streamed"] is True
    assert low.config["params"]["max_memory_gb"] == pytest.approx(0.0003)
    assert low.ranking == mem.ranking
    np.testing.assert_allclose(low.class_scores, mem.class_scores, atol=1e-5 * mem.class_scores.max())
    # the default (denser) probe stops at a point that differs by float32 rounding: its top neurons agree
    assert low_default.ranking[:10] == mem_default.ranking[:10]


def test_cli_probe_records_streaming(probe_store, capsys):
    path, _, _ = probe_store
    rc = main(["probe", str(path), "--concept", "concept", "--no-controls", "--max-memory-gb", "0.0003",
               "--json", "--quiet", "--no-write-back"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["config"]["streamed"] is True and out["config"]["max_memory_gb"] == 0.0003
