"""`neuronlab stats` writes its result into the store (with its configuration), like every other analysis."""
from __future__ import annotations

import json

import numpy as np

from neuronlab.cli.main import main
from neuronlab.scale.stats_result import NeuronStatsResult
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store


def _store(tmp_path):
    rng = np.random.default_rng(5)
    data = {"layers.0": rng.normal(size=(60, 4)).astype(np.float32),
            "layers.1": rng.normal(size=(60, 3)).astype(np.float32)}
    data["layers.1"][:, 2] = 1.5  # a dead neuron
    path = tmp_path / "s.h5"
    synthetic_store(path, [[f"w{j}" for j in range(6)]] * 10, data=data)
    return path, np.hstack([data["layers.0"], data["layers.1"]]).astype(np.float64)


def test_stats_result_is_written_into_the_store_and_reads_back(tmp_path, capsys):
    path, X = _store(tmp_path)
    rc = main(["stats", str(path), "--quantile", "0.5", "--quantile", "0.9", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["result_path"] == "/results/stats"
    with ActivationStore.open(path) as store:
        back = NeuronStatsResult.from_store(store, "stats")
        raw = store.read_result("stats")
    assert {**back.to_dict(), "result_path": out["result_path"]} == out  # the path is known after writing
    assert back.dead_neurons == ["layers.1:2"] and raw["config"]["quantiles"] == [0.5, 0.9]
    np.testing.assert_allclose(raw["mean"], X.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(raw["std"], X.std(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(raw["quantile_levels"], [0.5, 0.9])
    np.testing.assert_allclose(raw["quantiles"][1], np.quantile(X.astype(np.float32), 0.9, axis=0), rtol=1e-6)


def test_stats_no_write_back_and_a_named_result(tmp_path, capsys):
    path, _ = _store(tmp_path)
    assert main(["stats", str(path), "--no-write-back", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["result_path"] is None
    with ActivationStore.open(path) as store:
        assert "stats" not in store.result_names()
    assert main(["stats", str(path), "--sites", "layers.0", "--name", "stats_l0"]) == 0
    assert "/results/stats_l0" in capsys.readouterr().out
    with ActivationStore.open(path) as store:
        assert NeuronStatsResult.from_store(store, "stats_l0").n_neurons == 4
