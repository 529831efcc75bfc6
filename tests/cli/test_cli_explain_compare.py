"""`neuronlab explain-compare`: the table equals the library's comparison; user mistakes are one-line errors."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from cli_helpers import assert_user_error, cli  # noqa: E402

TEXTS = ["nobody liked the dull plot", "everyone saw a great film"]


@pytest.fixture(scope="module")
def planted_dir(tmp_path_factory):
    from helpers.planted import planted_classifier

    d = tmp_path_factory.mktemp("xcompare") / "planted"
    live = planted_classifier()
    live.model.save_pretrained(str(d))
    live.tokenizer.save_pretrained(str(d))
    return d


def test_table_ranks_methods_like_the_library(planted_dir):
    from neuronlab.explain.compare import compare_explainers
    from neuronlab.models.live import load_live

    argv = ["explain-compare", str(planted_dir), "--methods", "leave-one-out,attention", "--quiet"]
    for t in TEXTS:
        argv += ["--text", t]
    rc, out, err = cli(*argv, "--json")
    assert rc == 0, err
    r = json.loads(out)
    want = compare_explainers(load_live(str(planted_dir)), [t.split() for t in TEXTS], ["leave-one-out", "attention"])
    assert [row["method"] for row in r["rows"]] == [row["method"] for row in want.rows]
    for got, exp in zip(r["rows"], want.rows):
        assert got["comprehensiveness"] == pytest.approx(exp["comprehensiveness"], abs=1e-6)
        assert got["sufficiency"] == pytest.approx(exp["sufficiency"], abs=1e-6)
    rc, out, _ = cli(*argv)
    assert rc == 0 and "best first" in out and "leave-one-out" in out.splitlines()[2]


def test_user_mistakes(planted_dir):
    assert_user_error(cli("explain-compare", str(planted_dir), "--text", "a b", "--methods", "nosuch"),
                      "unknown explainer 'nosuch'")
    assert_user_error(cli("explain-compare", str(planted_dir), "--text", "a b", "--methods", ","),
                      "at least one explainer")


def test_robustness_metrics_plot_and_store(planted_dir, tmp_path):
    from neuronlab.explain.compare import ExplainerComparison
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    store = tmp_path / "s.h5"
    synthetic_store(store, [["a", "b"]])
    syn = tmp_path / "syn.tsv"
    syn.write_text("liked\tsaw,loved\ndull\tbad\nplot\tfilm\n")
    argv = ["explain-compare", str(planted_dir), "--methods", "gradient", "--text", TEXTS[0], "--quiet",
            "--metrics", "infidelity,fragility,sanity-model", "--n-perturb", "4", "--synonyms", str(syn),
            "--max-swaps", "1", "--plot", str(tmp_path / "c.png"), "--store", str(store), "--name", "cmp"]
    rc, out, err = cli(*argv, "--json")
    assert rc == 0, err
    r = json.loads(out)
    row = r["rows"][0]
    assert r["config"]["metrics"] == ["infidelity", "fragility", "sanity-model"]
    assert row["infidelity"] >= 0 and 0 <= row["fragility_topk"] <= 1 and row["sanity_spearman"] is not None
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with ActivationStore.open(str(store)) as st:
        back = ExplainerComparison.from_store(st, "cmp")
    assert back.rows[0]["infidelity"] == pytest.approx(row["infidelity"])
    assert_user_error(cli(*argv), "exists")  # the plot is not overwritten without --overwrite


def test_metric_mistakes(planted_dir, tmp_path):
    base = ["explain-compare", str(planted_dir), "--text", "a b", "--methods", "gradient"]
    assert_user_error(cli(*base, "--metrics", "aopc,robust"), "metric 'robust' is unknown")
    assert_user_error(cli(*base, "--plot", str(tmp_path / "x.pdf")), "give a .png file name")
    assert_user_error(cli(*base, "--metrics", "fragility", "--synonyms", str(tmp_path / "none.tsv")),
                      "does not exist")
    assert_user_error(cli(*base, "--n-perturb", "0"), "--n-perturb must be a positive int")
