"""`neuronlab explain`: the scores equal the library's, --list lists every family, results go into a store,
user mistakes are one-line errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cli_helpers import assert_user_error, cli, make_store  # noqa: E402

TEXTS = ["a good movie", "nobody liked the plot"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A random tiny BERT sentence classifier saved as a transformers directory."""
    from helpers.live_models import tiny_bert

    d = tmp_path_factory.mktemp("explaincli") / "clf"
    live = tiny_bert(hidden=16)
    with torch.no_grad():
        live.model.classifier.weight.normal_(0, 1.0)
    live.model.save_pretrained(str(d))
    live.tokenizer.save_pretrained(str(d))
    return d


def _args(model_dir, *extra):
    out = ["explain", model_dir]
    for t in TEXTS:
        out += ["--text", t]
    return out + list(extra) + ["--quiet"]


def test_json_scores_equal_the_library_and_the_text_shows_bars(model_dir):
    from neuronlab.explain import EXPLAINERS
    from neuronlab.models.live import load_live

    rc, out, err = cli(*_args(model_dir, "--method", "integrated_gradients", "--param", "steps=8", "--json"))
    assert rc == 0, err
    r = json.loads(out)
    live = load_live(str(model_dir))
    ex = EXPLAINERS["integrated_gradients"](live, steps=8).explain([t.split() for t in TEXTS])
    assert r["method"] == "integrated_gradients" and r["config"]["steps"] == 8 and r["n_examples"] == 2
    for got, scores, words in zip(r["examples"], ex.word_scores, ex.words):
        assert got["words"] == words
        np.testing.assert_allclose(got["scores"], scores, atol=1e-9)
        assert got["top"][0][0] == words[int(np.argmax(scores))]
        assert got["sum_of_scores"] == pytest.approx(sum(scores))
    rc, out, _ = cli(*_args(model_dir, "--method", "gradient", "--top-k", "2", "--chunk", "1"))
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("gradient on") and "2 inputs" in lines[0]
    assert lines[1].startswith("[") and "a good movie" in lines[1]
    top = lines[2].split()
    assert top[1].startswith("+") and set(top[-1]) == {"+"} and len(top[-1]) == 24  # the top word: a full bar
    assert len([ln for ln in lines if ln.startswith("    ")]) == 4  # 2 words per input


def test_list_shows_every_registered_explainer_with_family_unit_and_paper():
    from neuronlab.explain import EXPLAINERS

    rc, out, _ = cli("explain", "--list", "--json")
    assert rc == 0
    rows = {e["name"]: e for e in json.loads(out)["explainers"]}
    assert set(rows) == set(EXPLAINERS.keys())
    assert rows["lrp"]["family"] == "propagation" and rows["lrp"]["reference"] == "Ali et al. 2022"
    assert rows["integrated_gradients"]["unit"] == "token"
    rc, text, _ = cli("explain", "--list")
    assert rc == 0 and all(name in text for name in rows)


def test_store_receives_the_explanation(model_dir, tmp_path):
    from neuronlab.explain.base import Explanation
    from neuronlab.store import ActivationStore

    store = make_store(tmp_path / "s.h5") or tmp_path / "s.h5"
    rc, out, err = cli(*_args(model_dir, "--method", "gradient_x_input", "--store", store, "--name", "why", "--json"))
    assert rc == 0, err
    r = json.loads(out)
    with ActivationStore.open(store) as st:
        back = Explanation.from_store(st, "why")
    assert back.method == "gradient_x_input" and back.words == [t.split() for t in TEXTS]
    np.testing.assert_allclose(back.word_scores[1], r["examples"][1]["scores"])
    assert r["result_path"]


@pytest.mark.parametrize("extra,patterns", [
    (("--method", "nope"), ("unknown explainer 'nope'", "integrated_gradients", "lrp")),
    (("--method", "gradient", "--param", "steps=3"), ("unknown parameter 'steps'",)),
    (("--method", "integrated_gradients", "--param", "steps=zero"), ("'steps'", "must be an int")),
    (("--method", "gradient", "--target", "7"), ("--target '7' is not a class of the model",)),
    (("--method", "guided_backprop",), ("ReLU networks only",)),
    (("--method", "gradient", "--top-k", "0"), ("--top-k must be a positive int",)),
    (("--method", "gradient", "--name", "x"), ("--name names the result in --store",)),
    ((), ("give --method",)),
])
def test_user_mistakes_are_one_line_errors(model_dir, extra, patterns):
    assert_user_error(cli(*_args(model_dir, *extra)), *patterns)


def test_missing_model_or_inputs_are_one_line_errors(model_dir, tmp_path):
    assert_user_error(cli("explain", "--method", "gradient"), "give the MODEL")
    assert_user_error(cli("explain", model_dir, "--method", "gradient"), "--text SENTENCE")
    assert_user_error(cli("explain", model_dir, "--corpus", tmp_path / "none.txt", "--method", "gradient"),
                      "is not a file")


def test_corpus_input_and_out_file(model_dir, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a good movie\nnobody liked the plot\nthe end\n")
    out = tmp_path / "r.json"
    rc, stdout, err = cli("explain", model_dir, "--corpus", corpus, "--max-examples", "2", "--method", "lrp",
                          "--chunk", "1", "--out", out, "--quiet")
    assert rc == 0, err
    r = json.loads(out.read_text())
    assert [e["text"] for e in r["examples"]] == TEXTS
    assert r["forward_passes"] == 2 * 2  # per input: f(x) (the predicted-class pass) and one gradient pass
    assert "nobody liked the plot" in stdout
    assert_user_error(cli("explain", model_dir, "--corpus", corpus, "--method", "lrp", "--out", out, "--quiet"),
                      "--overwrite")


@pytest.mark.parametrize("method", ["leave-one-out", "kernel-shap"])
def test_engine_parameter_reaches_the_perturbation_explainers(model_dir, method):
    # --param engine=hf (transformers' padded forward) and the packed default give the same scores
    runs = {}
    for engine in ("auto", "hf"):
        rc, out, err = cli(*_args(model_dir, "--method", method, "--param", f"engine={engine}", "--json"))
        assert rc == 0, err
        r = json.loads(out)
        runs[engine] = r
    assert runs["hf"]["config"]["engine"] == "hf" and runs["auto"]["config"]["engine"] == "auto"
    for a, b in zip(runs["auto"]["examples"], runs["hf"]["examples"]):
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-5)
    assert_user_error(cli(*_args(model_dir, "--method", method, "--param", "engine=fast")), "engine")
