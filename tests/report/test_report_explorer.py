"""The explorer's data blob, its script and CSP hash, and the dossier wiring of build_report and the CLI (no browser:
the browser checks are in test_report_browser.py)."""
from __future__ import annotations

import base64
import hashlib
import importlib.abc
import importlib.util
import json
import re
import sys
import types

import numpy as np
import pytest

from explorer_stores import fake_write_dossiers, ranked_store
from report_stores import SCRIPT, XSS_CONCEPT, study_store

from neuronlab.cli.main import main
from neuronlab.concepts.results import ProbeResult, RankingResult
from neuronlab.errors import InvalidParameterError
from neuronlab.report import build_report
from neuronlab.report.build import render_report
from neuronlab.report.data import ReportData
from neuronlab.report.explorer import DATA_ID, blob_json, explorer_blob, explorer_script, neuron_stats
from neuronlab.report.paths import dossier_path
from neuronlab.store import ActivationStore

SITES = {"embeddings": 4, "layers.0": 4, "layers.0.mlp": 6}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return study_store(tmp_path_factory.mktemp("explorer") / "study.h5", seed=7)


def _data(path) -> ReportData:
    with ActivationStore.open(path) as st:
        return ReportData(st)


def _ids(blob) -> list[str]:
    """The neuron id of every column, rebuilt from sites and widths the way explorer.js does."""
    return [f"{s}:{i}" for s, w in zip(blob["sites"], blob["widths"]) for i in range(w)]


def _blob_of(html: str) -> dict:
    m = re.search(rf'<script type="application/json" id="{DATA_ID}">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def test_blob_holds_every_ranking_exactly(store):
    data = _data(store)
    blob = explorer_blob(data)
    ids = _ids(blob)
    assert blob["n_neurons"] == len(ids) == 14 and blob["sites"] == list(SITES)
    assert blob["concepts"] == ["pos"]
    by_result = {r["result"]: r for r in blob["rankings"]}
    assert set(by_result) == {"probe", "rank_ap", "rank_iou"}
    with ActivationStore.open(store) as st:
        for method in ("ap", "iou"):
            res = RankingResult.from_store(st, f"rank_{method}")
            got = by_result[f"rank_{method}"]
            assert got["method"] == method and blob["concepts"][got["concept"]] == "pos"
            assert [ids[n] for n in got["order"]] == list(res.ranking)
            np.testing.assert_allclose(got["scores"], res.scores, rtol=5e-4)
        ap = by_result["rank_ap"]
        assert [ap["classes"][c] for c in ap["cls"]] == RankingResult.from_store(st, "rank_ap").average_precision[
            "class"]
        probe = ProbeResult.from_store(st, "probe")
    got = by_result["probe"]
    assert [ids[n] for n in got["order"]] == list(probe.ranking) and got["score_name"] == "max |coef|"
    coef = np.asarray(probe.coef)  # (n_classes, n_neurons), columns in probe.neuron_ids order
    columns = [probe.neuron_ids.index(n) for n in probe.ranking]
    np.testing.assert_allclose(got["scores"], [np.abs(coef[:, j]).max() for j in columns], rtol=5e-4)
    assert [got["classes"][c] for c in got["cls"]] == [probe.classes[int(np.argmax(coef[:, j]))] for j in columns]


def test_the_blob_is_in_the_page_and_parses_back(store):
    html = render_report(_data(store), svg=False, sections=["provenance"]).html
    assert _blob_of(html) == json.loads(blob_json(explorer_blob(_data(store))))
    assert html.count("<script") == 2 and f'<section id="explorer"><h2>Explorer</h2>' in html
    assert html.index('id="explorer"') < html.index('id="provenance"')


def test_blob_json_cannot_end_the_script_element():
    hostile = {"w": ["</script><script>alert(1)</script>", "<!-- x -->", "a & b > c", "\u2028\u2029", "é"]}
    text = blob_json(hostile)
    assert not set("<>&") & set(text) and "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == hostile


def test_csp_allows_exactly_the_explorer_script_by_its_hash(store):
    html = render_report(_data(store), svg=False, sections=["provenance"]).html
    source = explorer_script()
    digest = base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1)
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == f"'sha256-{digest}'"
    assert f"<script>{source}</script>" in html
    for forbidden in ("eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                      "fetch(", "XMLHttpRequest", "import("):
        assert forbidden not in source, forbidden


def test_page_without_explorer_has_no_script(store):
    html = render_report(_data(store), svg=False, explorer=False, sections=["provenance"]).html
    assert "<script" not in html and "script-src" not in html and 'id="explorer"' not in html


def test_hostile_store_text_only_travels_in_the_json(tmp_path):
    words = [SCRIPT, '"quoted"', "&amp;", "</script><!--"]
    path = study_store(tmp_path / "<i>&amp;'q'.h5", seed=3, concept=XSS_CONCEPT, classes=(SCRIPT, "</script>"),
                       words=words, result_prefix="<!--<b>")
    html = render_report(_data(path), svg=False, sections=["provenance"]).html
    blob = _blob_of(html)  # the element is not ended early: the whole blob parses
    assert blob["concepts"] == [XSS_CONCEPT]
    assert {r["result"] for r in blob["rankings"]} == {"<!--<b>probe", "<!--<b>rank_ap", "<!--<b>rank_iou"}
    assert "</script>" in {c for r in blob["rankings"] for c in (r["classes"] or [])}
    assert html.lower().count("</script") == 2


def test_dossier_links_are_checked(store):
    data = _data(store)
    dossiers = {
        "layers.0:1": {"dossier": dossier_path("layers.0:1"), "description": "fires on <b>B</b>", "auc": 0.87654321},
        "embeddings:2": {"dossier": "javascript:alert(1)", "description": "x", "auc": None},   # not a dossier path
        "layers.9:0": {"dossier": "neurons/layers.9-0.html", "description": "x", "auc": None},  # not in the store
        "layers.0.mlp:5": {"dossier": dossier_path("layers.0.mlp:5"), "description": "", "auc": None},
    }
    links = explorer_blob(data, dossiers)["dossiers"]
    ids = _ids(explorer_blob(data))
    assert [ids[n] for n in links["neuron"]] == ["layers.0:1", "layers.0.mlp:5"]
    assert links["href"] == ["neurons/layers.0-1.html", "neurons/layers.0.mlp-5.html"]
    assert links["description"] == ["fires on <b>B</b>", ""] and links["auc"] == [0.8765, None]


def test_ranking_neurons_outside_the_store_are_left_out(store):
    data = _data(store)
    name, res = data.of_kind("ranking")[0]
    res.ranking = ["layers.7:0", *res.ranking, "embeddings:99"]
    res.scores = [9.0, *res.scores, -1.0]
    got = next(r for r in explorer_blob(data)["rankings"] if r["result"] == name)
    assert len(got["order"]) == 14 and got["scores"][0] != 9.0


def _fake_dossiers(monkeypatch, calls: list) -> None:
    """Use a stand-in write_dossiers (tiny pages for the best neurons of the first ranking, then the others)."""
    fake = fake_write_dossiers(calls, per_ranking=10**6)
    monkeypatch.setattr("neuronlab.report.build.dossier_writer", lambda: fake)


def test_build_report_writes_the_dossiers_and_links_them(store, tmp_path, monkeypatch):
    calls: list = []
    _fake_dossiers(monkeypatch, calls)
    info = build_report(store, tmp_path / "r", dossiers=3, model="minilm", sections=["provenance"])
    assert calls == [{"store": str(store), "max_neurons": 3, "model": "minilm", "progress": False}]
    assert info["dossiers"] == 3 and info["explorer"] == {"neurons": 14, "rankings": 3, "concepts": 1,
                                                           "dossiers": 3}
    top = RankingResult.from_store(ActivationStore.open(store), "rank_ap").ranking[:3]
    for nid in top:
        assert (tmp_path / "r" / dossier_path(nid)).is_file()
    blob = _blob_of((tmp_path / "r" / "index.html").read_text())
    ids = _ids(blob)
    assert [ids[n] for n in blob["dossiers"]["neuron"]] == sorted(top, key=ids.index)
    assert blob["dossiers"]["href"] == [dossier_path(ids[n]) for n in blob["dossiers"]["neuron"]]
    assert blob["dossiers"]["description"] == [f"fires for {ids[n]}" for n in blob["dossiers"]["neuron"]]


def test_no_dossiers_when_zero_or_when_the_module_is_absent(store, tmp_path, monkeypatch):
    calls: list = []
    _fake_dossiers(monkeypatch, calls)
    info = build_report(store, tmp_path / "zero", dossiers=0, sections=["provenance"])
    assert calls == [] and info["dossiers"] == 0 and not (tmp_path / "zero" / "neurons").exists()
    monkeypatch.undo()  # the real dossier_writer, with the module made absent
    monkeypatch.setitem(sys.modules, "neuronlab.report.dossier", None)  # import fails: ModuleNotFoundError
    info = build_report(store, tmp_path / "absent", sections=["provenance"])
    assert info["dossiers"] == 0 and info["explorer"]["dossiers"] == 0


class _BrokenDossierLoader(importlib.abc.Loader):
    """Loads a neuronlab.report.dossier whose own import of a dependency fails."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        import neuronlab_absent_dependency  # noqa: F401


class _BrokenDossierFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "neuronlab.report.dossier":
            return importlib.util.spec_from_loader(name, _BrokenDossierLoader())
        return None


def test_an_import_error_inside_the_dossier_module_is_not_hidden(monkeypatch):
    from neuronlab.report.build import dossier_writer

    monkeypatch.delitem(sys.modules, "neuronlab.report.dossier", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BrokenDossierFinder(), *sys.meta_path])
    with pytest.raises(ModuleNotFoundError, match="neuronlab_absent_dependency"):
        dossier_writer()
    monkeypatch.setitem(sys.modules, "neuronlab.report.dossier", types.ModuleType("neuronlab.report.dossier"))
    with pytest.raises(ImportError, match="write_dossiers"):  # the module is there but lacks the function
        dossier_writer()


def test_negative_dossiers_is_refused(store, tmp_path):
    with pytest.raises(InvalidParameterError, match="dossiers must be a whole number >= 0"):
        build_report(store, tmp_path / "r", dossiers=-1)
    assert not (tmp_path / "r").exists()


def test_cli_passes_dossiers_and_model_and_reports_the_count(store, tmp_path, monkeypatch, capsys):
    calls: list = []
    _fake_dossiers(monkeypatch, calls)
    assert main(["report", str(store), "--out", str(tmp_path / "r"), "--dossiers", "2", "--model", "minilm",
                 "--quiet", "--json", "--sections", "provenance"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["dossiers"] == 2 and payload["explorer"]["dossiers"] == 2
    assert calls == [{"store": str(store), "max_neurons": 2, "model": "minilm", "progress": False}]
    assert main(["report", str(store), "--out", str(tmp_path / "r2"), "--dossiers", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuronlab: error: ") and "--dossiers must be 0 or more" in err and err.count("\n") == 1


def test_neuron_stats_equal_numpy_over_the_first_rows(tmp_path):
    from neuronlab.testing import synthetic_store

    rng = np.random.default_rng(1)
    X = np.hstack([rng.normal(size=(21, 3)), rng.normal(size=(21, 2)) * 100 + 5000])  # a large mean: no cancellation
    synthetic_store(tmp_path / "t.h5", [["a", "b", "c"]] * 7, data={"embeddings": X[:, :3], "layers.0": X[:, 3:]})
    with ActivationStore.open(tmp_path / "t.h5") as st:
        full, part = neuron_stats(st), neuron_stats(st, max_rows=5)
    assert full["rows"] == 21 and part["rows"] == 5
    X = X.astype(np.float32).astype(np.float64)  # what the store holds
    for key, fn in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max)):
        np.testing.assert_allclose(full[key], fn(X, axis=0), rtol=5e-4)
        np.testing.assert_allclose(part[key], fn(X[:5], axis=0), rtol=5e-4)


def test_the_blob_carries_the_stats_build_report_computes(store, tmp_path):
    info = build_report(store, tmp_path / "r", sections=["provenance"])
    blob = _blob_of((tmp_path / "r" / "index.html").read_text())
    with ActivationStore.open(store) as st:
        assert blob["stats"] == neuron_stats(st)
    assert blob["stats"]["rows"] == 200 and info["explorer"]["neurons"] == len(blob["stats"]["mean"]) == 14


def test_bert_base_sized_blob_is_compact(tmp_path):
    from explorer_stores import BERT_BASE_SITES

    path = ranked_store(tmp_path / "big.h5", sites=BERT_BASE_SITES, concepts=("a", "b"), n_sentences=8)
    blob = explorer_blob(_data(path))
    assert blob["n_neurons"] == 9984 and len(blob["rankings"]) == 2
    assert all(sorted(r["order"]) == list(range(9984)) for r in blob["rankings"])
    assert len(blob_json(blob)) < 2 * 9984 * 16  # about 13 bytes per ranked neuron (id + score + class)
