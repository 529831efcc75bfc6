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
