"""`neuronlab probe` on a real minilm store, with the random-init control extracted from the store's provenance."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")


def test_probe_with_all_controls_on_minilm(tmp_path):
    from neuronlab.corpus import load_embedded_corpus

    src = tmp_path / "c.txt"
    corpus = load_embedded_corpus().subset(range(150))
    # neurox format keeps word labels: sentences + one upos label per word
    src = tmp_path / "c.in"
    src.write_text("\n".join(" ".join(s) for s in corpus.sentences) + "\n")
    (tmp_path / "c.label").write_text("\n".join(" ".join(t) for t in corpus.word_labels["upos"]) + "\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    store = tmp_path / "m.h5"
    cmd = [sys.executable, "-m", "neuronlab"]
    subprocess.run(cmd + ["extract", "--corpus", str(src), "--label-name", "upos", "--sites", "layers.0,layers.1",
                          "--out", str(store), "--quiet"], check=True, env=env, capture_output=True)
    res = subprocess.run(cmd + ["probe", str(store), "--concept", "upos", "--json", "--quiet"], capture_output=True,
                         text=True, env=env)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    b = r["baselines"]
    assert r["accuracy"] > 0.85
    assert r["accuracy"] > b["majority"] + 0.3
    assert b["random_init"] is not None and 0 < b["random_init"] <= 1
    assert b["control_task"] is not None and r["selectivity"] == pytest.approx(r["accuracy"] - b["control_task"])
    twins = list((tmp_path / ".neuronlab_cache").glob("m.random-init-seed0-*.h5"))
    assert len(twins) == 1  # cached next to the store, reused by the next call
    from neuronlab.store import ActivationStore

    with ActivationStore.open(twins[0]) as twin, ActivationStore.open(store) as orig:
        assert twin.model["random_init"] and twin.n_rows == orig.n_rows
        assert twin.label("upos").vocabulary == orig.label("upos").vocabulary
        assert twin.config["sites"] == orig.config["sites"]
