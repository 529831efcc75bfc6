"""`neuronlab explain-compare --generation | --neurons`: the tables equal the library's comparisons, the results go
into the store and the report's explainer ranking, user mistakes are one-line errors."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")

from cli_helpers import assert_user_error, cli  # noqa: E402

PROMPTS = ["The quick brown fox", "A cat sat"]
TARGETS = [" jumps over", " on the mat"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    from helpers.live_models import tiny_bert

    d = tmp_path_factory.mktemp("lv_bert")
    live = tiny_bert()
    live.model.save_pretrained(str(d))
    live.tokenizer.save_pretrained(str(d))
    return d


def _texts(flag, values):
    out = []
    for v in values:
        out += [flag, v]
    return out


def test_generation_level_equals_the_library_and_goes_to_the_report(gpt2_dir, tmp_path):
    from neuronlab.explain.compare_generation import compare_generation_explainers
    from neuronlab.models.live import load_live
    from neuronlab.report.build import render_report
    from neuronlab.report.data import ReportData
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    store = tmp_path / "s.h5"
    synthetic_store(store, [["a", "b"]])
    argv = ["explain-compare", gpt2_dir, "--generation", "--methods", "gradient,occlusion", "--step-target",
            "log_probability", "--bins", "0.2,0.5", "--quiet", "--store", store, "--plot", tmp_path / "p.png",
            *_texts("--text", PROMPTS), *_texts("--target-text", TARGETS)]
    rc, out, err = cli(*argv, "--json")
    assert rc == 0, err
    r = json.loads(out)
    live = load_live(str(gpt2_dir), head="causal-lm")
    want = compare_generation_explainers(live, PROMPTS, ["gradient", "occlusion"], step_target="log_probability",
                                         target_texts=TARGETS, bins=(0.2, 0.5))
    assert r["level"] == "generation" and [x["method"] for x in r["rows"]] == [x["method"] for x in want.rows]
    for got, exp in zip(r["rows"], want.rows):
        for c in ("comprehensiveness", "sufficiency", "aopc", "random_comprehensiveness"):
            assert got[c] == pytest.approx(exp[c], abs=1e-6)
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    with ActivationStore.open(store) as st:
        html = render_report(ReportData(st), sections=["explainer_ranking"], svg=False, explorer=False).html
    assert "explain_compare_generation" in html and "occlusion" in html
    assert "source tokens of each step removed in a random order" in html and "words removed" not in html


def test_neuron_level_equals_the_library(bert_dir):
    from neuronlab.explain.compare_neurons import compare_neuron_attributors
    from neuronlab.models.live import load_live

    texts = ["a good movie", "the plot was dull"]
    rc, out, err = cli("explain-compare", bert_dir, "--neurons", "--site", "layers.1", "--methods",
                       "grad-x-act,ablation", "--ablation", "mean", "--quiet", "--json", *_texts("--text", texts))
    assert rc == 0, err
    r = json.loads(out)
    want = compare_neuron_attributors(load_live(str(bert_dir)), [t.split() for t in texts], ["grad-x-act", "ablation"],
                                      site="layers.1", ablation="mean")
    assert r["level"] == "neurons" and r["config"]["site"] == "layers.1"
    for got, exp in zip(r["rows"], want.rows):
        assert got["method"] == exp["method"]
        assert got["comprehensiveness"] == pytest.approx(exp["comprehensiveness"], abs=1e-6)
        assert got["random_aopc"] == pytest.approx(exp["random_aopc"], abs=1e-6)
    rc, out, _ = cli("explain-compare", bert_dir, "--neurons", "--site", "layers.1", "--methods", "grad-x-act",
                     "--quiet", "--text", "a good movie")
    assert rc == 0 and "neuron attributors of layers.1" in out and "grad-x-act" in out


def test_level_user_mistakes(bert_dir, gpt2_dir):
    assert_user_error(cli("explain-compare", bert_dir, "--neurons", "--text", "a b"), "--site")
    assert_user_error(cli("explain-compare", bert_dir, "--neurons", "--site", "layers.1", "--text", "a b",
                          "--methods", "attention"), "cannot be compared")
    assert_user_error(cli("explain-compare", bert_dir, "--neurons", "--site", "layers.1", "--text", "a b",
                          "--metrics", "infidelity"), "--metrics")
    assert_user_error(cli("explain-compare", bert_dir, "--text", "a b", "--site", "layers.1", "--methods",
                          "gradient"), "--site is for")
    assert_user_error(cli("explain-compare", bert_dir, "--text", "a b"), "at least one explainer")
    assert_user_error(cli("explain-compare", gpt2_dir, "--generation", "--text", "a b", "--bins", "0,x"), "--bins")
    assert_user_error(cli("explain-compare", gpt2_dir, "--generation", "--text", "a b", "--target-text", "c",
                          "--target-text", "d"), "one --target-text per --text")
    assert_user_error(cli("explain-compare", gpt2_dir, "--generation", "--text", "a b", "--methods", "lime"),
                      "lime")
