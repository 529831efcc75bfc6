"""`neuronlab discover`: NMF, UMAP and latent concepts from the command line, results in /results (issue 12)."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sys
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

from neuronlab.testing import synthetic_store


def run_cli(*args) -> tuple[int, str, str]:
    from neuronlab.cli.main import main

    logger = logging.getLogger("neuronlab")
    for h in [h for h in logger.handlers if getattr(h, "_neuronlab", False)]:
        logger.removeHandler(h)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def user_error(res) -> str:
    rc, _, err = res
    lines = [ln for ln in err.splitlines() if ln.startswith("neuronlab: error:")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture()
def store(tmp_path):
    """40 sentences x 6 words; a word's class (N/V/A) decides its cluster centre at site layers.1."""
    rng = np.random.default_rng(7)
    n_sent, n_words = 40, 6
    n = n_sent * n_words
    words = rng.choice([f"w{i}" for i in range(24)], size=n)
    y = np.array([int(w[1:]) % 3 for w in words])
    centres = rng.normal(size=(3, 10)) * 5
    data = {"layers.0": rng.normal(size=(n, 10)).astype(np.float32),
            "layers.1": (centres[y] + 0.5 * rng.normal(size=(n, 10))).astype(np.float32)}
    path = tmp_path / "s.h5"
    synthetic_store(path, [list(words[i * n_words:(i + 1) * n_words]) for i in range(n_sent)], data=data,
                    labels={"pos": (["NVA"[c] for c in y], "row")}, config={"sites": "all"})
    return path


def test_latent_concepts_found_evaluated_and_stored(store):
    from neuronlab.concepts.unsupervised.results import LatentConceptsResult
    from neuronlab.store import ActivationStore

    rc, out, err = run_cli("discover", store, "--method", "latent", "--site", "layers.1", "--concept", "pos",
                           "--n-clusters", 3, "--max-per-type", 5, "--json")
    assert rc == 0, err
    r = json.loads(out)
    ev = r["evaluation"]
    assert ev["bcubed"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert ev["aligned_fraction"] == 1.0 and ev["npmi_majority_mean"] == pytest.approx(1.0)
    assert ev["classifier"]["accuracy"] == 1.0 and ev["classifier"]["majority_baseline"] < 0.6
    assert "nearest cluster centre" in ev["classifier"]["protocol"]
    assert r["n_clusters"] == 3 and sorted(c["majority"] for c in r["clusters"]) == ["A", "N", "V"]
    for c in r["clusters"]:  # every cluster's words have its class; at most 5 occurrences of a word type
        assert all(int(w[1:]) % 3 == "NVA".index(c["majority"]) and n <= 5 for w, n in c["top_words"])
    assert r["config"]["params"]["max_per_type"] == 5 and r["result_path"] == "/results/discover_latent_layers.1_pos"
    with ActivationStore.open(store) as st:
        back = LatentConceptsResult.from_store(st, "discover_latent_layers.1_pos")
    assert {**back.to_dict(), "result_path": r["result_path"]} == r
    assert back.rows.size == r["n_clustered"] and back.centers.shape == (3, 10)


def test_nmf_text_output_lists_components_with_tokens_in_context(store):
    from neuronlab.concepts.unsupervised.results import NMFResult
    from neuronlab.store import ActivationStore

    rc, out, err = run_cli("discover", store, "--method", "nmf", "--site", "layers.1", "--concept", "pos",
                           "--n-components", 3, "--top-k", 4, "--nonnegative", "shift", "--quiet")
    assert rc == 0, err
    assert out.count("component ") == 3 and "[[" in out and "classes" in out and "written" in out
    with ActivationStore.open(store) as st:
        r = NMFResult.from_store(st, "discover_nmf_layers.1_pos")
    assert r.loadings.shape == (3, 10) and r.top_rows.shape == (3, 4) and r.neuron_ids[0] == "layers.1:0"
    assert r.config["params"]["nonnegative"] == "shift"
    tokens = [t for c in r.components for t in c["top_tokens"]]
    assert all(f"[[{t['token']}]]" in t["context"] for t in tokens)


def test_json_out_file_and_no_write_back_leave_the_store_alone(store, tmp_path):
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    out_file = tmp_path / "r.json"
    rc, out, err = run_cli("discover", store, "--method", "latent", "--site", "layers.0", "--n-clusters", 4,
                           "--max-per-type", "0", "--max-rows", 50, "--no-write-back", "--out", out_file, "--json")
    assert rc == 0, err
    r = json.loads(out)
    assert json.loads(out_file.read_text()) == r
    assert r["evaluation"] is None and r["n_clustered"] == 50 and r["config"]["params"]["max_per_type"] is None
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before


def test_user_mistakes_are_one_line_errors(store, monkeypatch):
    msg = user_error(run_cli("discover", store, "--method", "nmf", "--site", "layers.1", "--n-clusters", 3))
    assert "--n-clusters applies to --method latent, not nmf" in msg
    msg = user_error(run_cli("discover", store, "--method", "latent", "--site", "layers.9"))
    assert "layers.9" in msg and "layers.0" in msg
    msg = user_error(run_cli("discover", store, "--method", "latent", "--site", "layers.1", "--concept", "tense"))
    assert "tense" in msg and "pos" in msg
    msg = user_error(run_cli("discover", store, "--method", "latent", "--site", "layers.1", "--n-clusters", 0))
    assert "--n-clusters" in msg
    monkeypatch.setitem(sys.modules, "umap", None)
    msg = user_error(run_cli("discover", store, "--method", "umap", "--site", "layers.1"))
    assert "pip install 'neuronlab[umap]'" in msg
    if os.geteuid() == 0:
        return  # root may write a read-only file: nothing to refuse
    os.chmod(store, 0o444)
    try:
        msg = user_error(run_cli("discover", store, "--method", "nmf", "--site", "layers.1"))
        assert "read-only" in msg and "--no-write-back" in msg
    finally:
        os.chmod(store, 0o644)


def test_help_names_every_method():
    rc, out, _ = run_cli("discover", "--help")
    assert rc == 0
    for text in ("nmf:", "umap:", "latent:", "Dalvi et al. 2022", "Ecco", "--max-per-type"):
        assert text in out


@pytest.mark.slow
def test_umap_of_tokens_coloured_by_the_concept(store):
    pytest.importorskip("umap")
    from neuronlab.concepts.unsupervised.results import UMAPResult
    from neuronlab.store import ActivationStore

    rc, out, err = run_cli("discover", store, "--method", "umap", "--site", "layers.1", "--of", "tokens",
                           "--concept", "pos", "--max-rows", 120, "--json")
    assert rc == 0, err
    r = json.loads(out)
    assert r["n_points"] == 120 and r["classes"] == ["A", "N", "V"]
    with ActivationStore.open(store) as st:
        back = UMAPResult.from_store(st, r["result_path"].split("/")[-1])
        tokens = st.tokens()
    assert back.coordinates.shape == (120, 2)
    assert [tokens[int(p)] for p in back.points] == back.tokens
    assert back.labels == ["NVA"[int(t[1:]) % 3] for t in back.tokens]
