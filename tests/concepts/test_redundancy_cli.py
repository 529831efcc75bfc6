"""``neuronlab redundancy``: JSON, write-back into /results, memory refusal and bad input as one-line errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neuronlab.cli.main import main
from neuronlab.concepts.redundancy.results import RedundancyResult
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store


@pytest.fixture()
def dup_store(tmp_path):
    """40 sentences x 5 words; layers.0 has 6 neurons, layers.1 repeats neurons 0 and 1 of layers.0 (|r| = 1)
    and adds 2 of its own; a 2-class concept read by layers.0:0."""
    rng = np.random.default_rng(0)
    n = 200
    y = rng.integers(0, 2, n)
    l0 = rng.normal(size=(n, 6)).astype(np.float32)
    l0[:, 0] += 3 * y
    l1 = np.column_stack([2 * l0[:, 0] + 1, -l0[:, 1], rng.normal(size=(n, 2))]).astype(np.float32)
    path = tmp_path / "dup.h5"
    synthetic_store(path, [[f"w{i}" for i in range(5)] for _ in range(40)], data={"layers.0": l0, "layers.1": l1},
                    labels={"tag": (["AB"[c] for c in y], "row")})
    return path


def test_json_general_redundancy_and_write_back(dup_store, capsys):
    assert main(["redundancy", str(dup_store), "--threshold", "0.01", "0.5", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_neurons"] == 10 and out["n_rows"] == 200
    assert out["memory"]["matrix_gb"] == pytest.approx(8 * 100 / 2 ** 30)
    first = out["general"][0]
    assert first["threshold"] == 0.01 and first["n_clusters"] == 8
    assert first["removable_fraction"] == pytest.approx(0.2)
    assert sum(first["kept_per_site"].values()) == 8
    assert out["result_path"] == "/results/redundancy"
    with ActivationStore.open(dup_store) as st:
        back = RedundancyResult.from_store(st, "redundancy")
    assert back.general == out["general"]
    assert back.kept.shape == (2, 10) and back.kept[0].sum() == 8
    assert back.neuron_ids[6] == "layers.1:0" and back.labels[0, 0] == back.labels[0, 6]


def test_concept_runs_ccfs_and_task_redundancy(dup_store, capsys):
    assert main(["redundancy", str(dup_store), "--threshold", "0.01", "--concept", "tag", "--no-write-back",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "CCFS for tag" in text and "task-specific redundancy" in text
    assert main(["redundancy", str(dup_store), "--threshold", "0.01", "--concept", "tag", "--no-write-back",
                 "--json", "--delta", "0.05"]) == 0
    out = json.loads(capsys.readouterr().out)
    c = out["ccfs"]
    assert c["selected_layers"] == ["layers.0"] and c["n_after_layers"] == 6
    assert "layers.0:0" in c["kept_neurons"] and c["accuracy"] > 0.8
    assert out["task"]["kept_neurons"][0] in ("layers.0:0", "layers.1:0")


def test_budget_too_small_is_one_line_error_before_any_work(dup_store, capsys):
    assert main(["redundancy", str(dup_store), "--max-memory-gb", "1e-7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("neuronlab: error: correlation of 10 neurons")
    assert "exceeds the given budget (--max-memory-gb)" in err[0]
    with ActivationStore.open(dup_store) as st:
        assert "redundancy" not in st.result_names()


@pytest.mark.parametrize("argv, match", [
    (["--threshold", "3"], "--threshold takes distances 1 - |r| in [0, 2]"),
    (["--delta", "5"], "--delta is an accuracy loss"),
    (["--ccfs-threshold", "0.3"], "pass --concept too"),
    (["--concept", "nope"], "concept 'nope' is not in"),
])
def test_bad_arguments(dup_store, capsys, argv, match):
    assert main(["redundancy", str(dup_store), "--quiet", "--no-write-back"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuronlab: error: ") and match in err and "Traceback" not in err


def test_help_explains(capsys):
    with pytest.raises(SystemExit):
        main(["redundancy", "--help"])
    out = capsys.readouterr().out
    assert "--max-memory-gb" in out and "8 n^2 bytes" in out and "CCFS" in out


def test_out_file_holds_the_json_report_and_is_not_overwritten_without_the_flag(dup_store, tmp_path, capsys):
    out = tmp_path / "red.json"
    assert main(["redundancy", str(dup_store), "--threshold", "0.5", "--quiet", "--no-write-back",
                 "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["general"][0]["threshold"] == 0.5 and report["result_path"] is None
    capsys.readouterr()
    assert main(["redundancy", str(dup_store), "--quiet", "--no-write-back", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
