"""`neuronlab describe`: the four methods end to end (store-only and live), --json, write-back, user errors."""
from __future__ import annotations

import io
import json
import logging
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store


def _cli(*args):
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


def _one_error(res, *patterns):
    rc, _, err = res
    lines = [ln for ln in err.splitlines() if ln.startswith("neuronlab: error:")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    for p in patterns:
        assert p in lines[0], lines[0]


@pytest.fixture()
def planted_store(tmp_path):
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(10)] + ["a", "b"]
    words = rng.choice(vocab, size=400)
    upos = rng.choice(["NOUN", "VERB", "X", "ADJ"], size=400)
    planted = np.isin(words, ["a", "b"]) & (upos != "X")
    data = {"layers.0": rng.normal(0, 0.3, size=(400, 4)).astype(np.float32)}
    data["layers.0"][:, 2] += 4 * planted
    path = tmp_path / "p.h5"
    synthetic_store(path, [list(words[i:i + 8]) for i in range(0, 400, 8)], data=data,
                    labels={"upos": (list(upos), "row")})
    return path


def test_describe_compositional_json_and_write_back(planted_store, tmp_path):
    res = _cli("describe", planted_store, "--neuron", "layers.0:2", "--threshold", "2", "--json",
               "--out", tmp_path / "r.json")
    assert res[0] == 0, res[2]
    payload = json.loads(res[1])
    (row,) = payload["results"][0]["neurons"]
    assert row["formula"] in ("(word=a OR word=b) AND NOT upos=X", "(word=b OR word=a) AND NOT upos=X")
    assert row["iou"] == 1.0 and payload["stored"] == ["/results/compositional"]
    assert json.loads((tmp_path / "r.json").read_text()) == payload
    with ActivationStore.open(planted_store) as st:
        assert list(st.read_result("compositional")["formula"]) == [row["formula"]]
    text = _cli("describe", planted_store, "--neuron", "layers.0:2", "--threshold", "2", "--no-write-back")
    assert text[0] == 0 and "AND NOT upos=X" in text[1] and "written into" not in text[1]


def test_describe_contexts(planted_store):
    res = _cli("describe", planted_store, "--neurons", "layers.0:2,layers.0:0", "--method", "contexts", "-k", "3",
               "--ngrams", "1", "--json")
    assert res[0] == 0, res[2]
    first = json.loads(res[1])["results"][0]["neurons"][0]
    assert first["neuron"] == "layers.0:2" and {c["word"] for c in first["contexts"]} <= {"a", "b"}
    assert first["ngrams"]["1"][0]["ngram"] in ("a", "b")


def test_describe_user_errors(planted_store):
    _one_error(_cli("describe", planted_store, "--neuron", "layers.0:9"), "has 4 neurons")
    _one_error(_cli("describe", planted_store, "--neuron", "layers.7:1"), "stored sites: layers.0")
    _one_error(_cli("describe", planted_store, "--neuron", "layers.0:1", "--beam", "0"), "--beam must be >= 1")
    _one_error(_cli("describe", planted_store, "--neuron", "layers.0:1", "--concepts", "tense"),
               "concept 'tense' is not in", "stored concepts: upos")
    _one_error(_cli("describe", planted_store, "--neuron", "layers.0:1", "--ngrams", "x"), "--ngrams")
    assert _cli("describe", planted_store, "--neuron", "layers.0:1", "--method", "nope")[0] == 2


def test_describe_live_methods(tmp_path):
    pytest.importorskip("torch")
    from helpers.tiny_models import build_tiny_model

    model = build_tiny_model("bert", tmp_path / "m")
    corpus = tmp_path / "c.txt"
    corpus.write_text("the dog barked at the cat\na small house\nthe cat sat on the mat\n")
    store = tmp_path / "s.h5"
    assert _cli("extract", "--model", model, "--corpus", corpus, "--sites", "embeddings", "--out", store,
                "--quiet")[0] == 0
    res = _cli("describe", store, "--neuron", "embeddings:1", "--method", "alignment", "--min-count", "1",
               "--ngrams", "1", "-k", "3", "--json", "--quiet")
    assert res[0] == 0, res[2]
    payload = json.loads(res[1])
    (al,) = payload["results"]
    assert al["neuron"] == "embeddings:1" and len(al["concepts"]) == 3
    assert payload["stored"] == ["/results/alignment_embeddings:1"]
    assert al["config"]["length"] == 5  # the store's mean sentence length (6, 3, 6 words)
    res = _cli("describe", store, "--neuron", "embeddings:1", "--method", "generate", "--steps", "3",
               "--restarts", "2", "--ngram-length", "2", "--min-count", "1", "-k", "2", "--json", "--quiet")
    assert res[0] == 0, res[2]
    gen = json.loads(res[1])["results"][0]
    assert len(gen["generated"]) >= 1 and len(gen["corpus"]) == 2
    assert all(len(g["ngram"].split()) == 2 for g in gen["generated"] + gen["corpus"])
    _one_error(_cli("describe", store, "--neuron", "embeddings:1", "--method", "generate", "--model", "minilm",
                    "--steps", "1", "--quiet"), "another model")
