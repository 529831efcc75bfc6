"""The `neuronlab` command: extract / info / sites, --json output, errors without stack traces."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")


def run(*args, check=True):
    env = dict(os.environ, HF_HUB_OFFLINE="1")  # no hub retries for unknown ids in tests
    res = subprocess.run([sys.executable, "-m", "neuronlab", *args], capture_output=True, text=True, env=env)
    if check and res.returncode != 0:
        raise AssertionError(f"exit {res.returncode}: {res.stderr}")
    return res


@pytest.fixture(scope="module")
def conllu_store(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    src = d / "c.conllu"
    src.write_text(
        "# sent_id = 1\n# sent_polarity = positive\n"
        "1\tDogs\tdog\tNOUN\tNNS\tNumber=Plur\t2\tnsubj\t_\t_\n"
        "2\tbarked\tbark\tVERB\tVBD\tTense=Past\t0\troot\t_\t_\n\n"
        "# sent_id = 2\n# sent_polarity = negative\n"
        "1\tA\ta\tDET\tDT\t_\t2\tdet\t_\t_\n"
        "2\tcat\tcat\tNOUN\tNN\tNumber=Sing\t3\tnsubj\t_\t_\n"
        "3\tsleeps\tsleep\tVERB\tVBZ\tNumber=Sing|Tense=Pres\t0\troot\t_\t_\n\n"
    )
    out = d / "s.h5"
    res = run("extract", "--corpus", str(src), "--sites", "embeddings,layers.*.mlp", "--out", str(out), "--json")
    return out, json.loads(res.stdout)


def test_extract_json_summary(conllu_store):
    out, summary = conllu_store
    assert summary["complete"] and summary["n_rows"] == 5 and summary["n_sentences"] == 2
    assert list(summary["sites"]) == ["embeddings"] + [f"layers.{i}.mlp" for i in range(6)]
    assert summary["sites"]["layers.0.mlp"] == [5, 1536]
    assert summary["labels"]["upos"]["vocabulary"] == ["DET", "NOUN", "VERB"]
    assert summary["labels"]["Tense"]["n_labelled"] == 2
    assert summary["labels"]["polarity"]["level"] == "sentence"
    assert summary["model"]["name"] == "minilm" and summary["model"]["weights_sha256"]
    assert summary["config"]["aggregation"] == "mean"


def test_info_human_and_json(conllu_store):
    out, _ = conllu_store
    text = run("info", str(out)).stdout
    assert "complete" in text and "layers.5.mlp" in text and "5 x 1536" in text and "upos" in text
    data = json.loads(run("info", str(out), "--json").stdout)
    assert data["n_neurons"] == 384 + 6 * 1536


@pytest.mark.parametrize(
    "args, message",
    [
        (["extract", "--corpus", "/no/such/file.txt", "--out", "{tmp}/x.h5"], "file not found"),
        (["extract", "--sites", "layers.9", "--out", "{tmp}/x.h5"], "valid sites: embeddings"),
        (["extract", "--model", "nosuchalias", "--out", "{tmp}/x.h5"], "known aliases|not an alias"),
        (["extract", "--out", "{existing}"], "exists; pass --overwrite"),
        (["extract", "--device", "gpu", "--out", "{tmp}/x.h5"], "unknown device 'gpu'"),
        (["extract", "--max-length", "9999", "--out", "{tmp}/x.h5"], "exceeds the 512 positions"),
        (["info", "{tmp}/nothing.h5"], "does not exist"),
        (["info", "{garbage}"], "not a readable HDF5 file"),
    ],
)
def test_user_mistakes_give_one_line_errors(tmp_path, args, message):
    existing = tmp_path / "existing.h5"
    existing.write_text("keep me")
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not hdf5 at all")
    args = [a.format(tmp=tmp_path, existing=existing, garbage=garbage) for a in args]
    res = run(*args, "--json" if args[0] == "info" else "--quiet", check=False)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert res.stderr.startswith("neuronlab: error:")
    import re

    assert re.search(message, res.stderr), res.stderr
    assert existing.read_text() == "keep me"


def test_help_explains_every_option():
    text = run("extract", "--help").stdout
    for opt in ("--model", "--corpus", "--format", "--sites", "--granularity", "--aggregation", "--pooling", "--dtype",
                "--batch-size", "--device", "--max-length", "--resume", "--overwrite", "--json"):
        assert opt in text
    assert "layers.*.mlp" in text


def test_sites_lists_model_sites():
    data = json.loads(run("sites", "--model", "minilm", "--sites", "layers.0.**", "--json").stdout)
    assert data["sites"] == {"layers.0.attn.heads": 384, "layers.0.attn": 384, "layers.0.mlp": 1536}


@pytest.mark.parametrize("fmt", ["hdf5", "json"])
def test_neurox_export_import_round_trip(conllu_store, tmp_path, fmt):
    import numpy as np

    from neuronlab.store import ActivationStore

    out, _ = conllu_store
    # export the embeddings and the block outputs would differ in width from mlp: export a same-width selection
    exported = tmp_path / f"nx.{fmt}"
    run("export-neurox", str(out), "--out", str(exported), "--format", fmt, "--sites", "layers.*.mlp")
    back = tmp_path / "back.h5"
    summary = json.loads(run("import-neurox", str(exported), "--out", str(back), "--json").stdout)
    assert summary["n_rows"] == 5 and summary["n_sentences"] == 2
    with ActivationStore.open(out) as a, ActivationStore.open(back) as b:
        assert b.tokens() == a.tokens()
        orig = a.view(sites="layers.*.mlp").to_numpy()
        got = b.view().to_numpy()
        np.testing.assert_allclose(got, orig, rtol=1e-6, atol=1e-6)
    res = run("export-neurox", str(out), "--out", str(tmp_path / "bad.hdf5"), check=False)
    assert res.returncode == 2 and "width" in res.stderr


def test_help_explains_engine_options():
    text = run("extract", "--help").stdout
    for opt in ("--engine", "--batch-tokens", "--workers", "--memory-mb"):
        assert opt in text
    assert "native" in text and "hf" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "0"], "workers must be"),
        (["--batch-tokens", "0"], "batch_tokens must be"),
        (["--engine", "fast"], "invalid choice"),
    ],
)
def test_bad_engine_options_are_one_line_errors(tmp_path, args, message):
    import re

    res = run("extract", "--out", str(tmp_path / "x.h5"), "--quiet", *args, check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert re.search(message, res.stderr), res.stderr
    assert not (tmp_path / "x.h5").exists()


def test_native_engine_on_unsupported_model_says_why(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/helpers
    from helpers.tiny_models import build_tiny_model

    model_dir = build_tiny_model("gpt2", tmp_path / "gpt2")
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n")
    res = run("extract", "--model", str(model_dir), "--corpus", str(corpus), "--out", str(tmp_path / "x.h5"),
              "--engine", "native", "--quiet", check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("neuronlab: error:") and "--engine hf" in res.stderr, res.stderr
    # auto falls back to transformers and records which engine ran
    res = run("extract", "--model", str(model_dir), "--corpus", str(corpus), "--out", str(tmp_path / "y.h5"),
              "--sites", "layers.0", "--json")
    assert json.loads(res.stdout)["config"]["engine"] == "hf"


def test_engines_write_the_same_store(tmp_path):
    import numpy as np

    from neuronlab.store import ActivationStore

    corpus = tmp_path / "c.txt"
    corpus.write_text("The quick brown fox jumps .\nDogs bark loudly at unbelievable strangers !\nYes\n")
    outs = {}
    for engine in ("native", "hf"):
        outs[engine] = tmp_path / f"{engine}.h5"
        res = run("extract", "--corpus", str(corpus), "--out", str(outs[engine]), "--engine", engine,
                  "--sites", "embeddings,layers.2,layers.5.mlp", "--dtype", "float32", "--json")
        assert json.loads(res.stdout)["config"]["engine"] == engine
    with ActivationStore.open(outs["native"]) as a, ActivationStore.open(outs["hf"]) as b:
        assert a.tokens() == b.tokens()
        np.testing.assert_allclose(a.view().to_numpy(), b.view().to_numpy(), rtol=1e-4, atol=1e-4)
