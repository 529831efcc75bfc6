"""The report page: every section, the numbers of the results, provenance, escaping, no external resources."""
from __future__ import annotations

import re

import pytest

from report_stores import SCRIPT, XSS_CONCEPT, study_store

from neuronlab.concepts.results import ProbeResult
from neuronlab.report import SECTIONS, Fragment, SectionEntry, build_report
from neuronlab.report.build import render_report
from neuronlab.report.data import ReportData
from neuronlab.report.sections import ordered_sections
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store


def _html(path) -> str:
    with ActivationStore.open(path) as st:
        return render_report(ReportData(st), svg=False).html


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return study_store(tmp_path_factory.mktemp("html") / "study.h5", seed=2)


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory):
    """Words, class names, the concept name, result names and the file name hold markup, quotes and entities."""
    d = tmp_path_factory.mktemp("hostile")
    words = [SCRIPT, '"quoted"', "&amp;", "it's", "<b>bold</b>", "plain"]
    return study_store(d / "<i>&amp;'q'.h5", seed=3, concept=XSS_CONCEPT, classes=(SCRIPT, '"B" & <c>'),
                       words=words, result_prefix="<b>&amp;\"r\"")


def test_every_registered_section_is_in_the_page(store):
    html = _html(store)
    for entry in SECTIONS.values():
        assert f'<section id="{entry.name}"><h2>{entry.title}</h2>' in html
        assert f'href="#{entry.name}"' in html


def test_probe_numbers_and_baselines_are_shown(store):
    html = _html(store)
    with ActivationStore.open(store) as st:
        res = ProbeResult.from_store(st, "probe")
    section = html[html.index('<section id="probes">'):]
    row = re.search(r"<tr><td>probe</td>.*?</tr>", section).group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    b = res.baselines
    expected = ["probe", "pos", "2", str(res.n_train), str(res.n_test)] + [
        f"{v:.3f}" for v in (res.accuracy, b["majority"], b["control_task"], b["random_init"], res.selectivity)]
    assert cells == expected


def test_provenance_shows_model_hash_corpus_config_and_versions(store):
    from neuronlab import __version__

    html = _html(store)
    assert f"{2:064x}" in html  # weights_sha256
    assert "synthetic-2" in html and "corpus-2.conllu" in html
    assert "<th>report written by neuronlab</th><td>" + __version__ in html
    assert "&quot;granularity&quot;: &quot;word&quot;" in html  # the extraction configuration, as JSON
    for name in ("probe", "rank_ap", "rank_iou"):  # every analysis with its configuration
        assert f"<tr><td>{name}</td>" in html


def test_rankings_section_lists_the_top_neurons_of_each_method(store):
    from neuronlab.concepts.results import RankingResult

    html = _html(store)
    with ActivationStore.open(store) as st:
        for method in ("ap", "iou"):
            res = RankingResult.from_store(st, f"rank_{method}")
            assert f"<tr><td>{method}</td><td>rank_{method}</td><td>{', '.join(res.ranking[:5])}</td>" in html


def _without_explorer(html: str) -> str:
    """The page minus the explorer's two script elements (its JSON data and its code), which must be there."""
    from neuronlab.report.explorer import explorer_script

    code = f"<script>{explorer_script()}</script>"
    data = re.search(r'<script type="application/json" id="explorer-data">[^<]*</script>', html)
    assert code in html and data, "the explorer's script and its JSON data element"
    return html.replace(code, "").replace(data.group(0), "")


def test_store_text_is_escaped(hostile_store):
    html = _without_explorer(_html(hostile_store))
    body = html.split("<body>", 1)[1]
    assert "<script" not in html.lower()
    assert "<img src=x" not in body and "<b>" not in body and "<i>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # words, class names
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp;amp; &#x27;q&#x27;" in html  # the concept
    assert "&lt;i&gt;&amp;amp;&#x27;q&#x27;.h5" in html  # the file name
    assert "&lt;b&gt;&amp;amp;&quot;r&quot;probe" in html  # a result name
    assert "&quot;quoted&quot;" in html
    for attr in re.findall(r'(?:src|href)="([^"]*)"', html):  # nothing loaded from elsewhere
        assert attr.startswith(("data:image/png;base64,", "#", "figures/", "neurons/")), attr


def test_page_is_self_contained(store):
    html = _html(store)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html)
    assert html.count('<img src="data:image/png;base64,') == 5


def test_a_store_without_results_says_how_to_get_them(tmp_path):
    path = tmp_path / "bare.h5"
    synthetic_store(path, [["a", "b"], ["c"]])
    html = _html(path)
    assert "No probe results in this store" in html and "neuronlab probe STORE" in html
    assert "No rankings in this store" in html and "<img" not in html


def test_a_registered_section_appears_without_changing_the_builder(store):
    def render(data):
        return Fragment(["<p>results: ", str(len(data.result_names)), "</p>"])

    SECTIONS.register(SectionEntry("extra", render, "Extra <analysis>", order=250))
    try:
        html = _html(store)
    finally:
        SECTIONS.unregister("extra")
    assert '<section id="extra"><h2>Extra &lt;analysis&gt;</h2><p>results: 3</p>' in html
    assert html.index('id="probes"') < html.index('id="extra"') < html.index('id="rankings"')


def test_build_report_writes_page_figures_and_marker(store, tmp_path):
    out = tmp_path / "rep"
    info = build_report(store, out)
    assert info["report"] == str(out / "index.html") and info["sections"] == [e.name for e in ordered_sections()]
    assert info["sections"][:3] == ["provenance", "probes", "rankings"]
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        f"{stem}.{ext}" for stem in ("probes-probe_accuracy", "probes-layerwise", "probes-ablation_0",
                                     "rankings-top_sites_0", "rankings-agreement_0")
        for ext in ("png", "svg"))
    assert (out / ".neuronlab-report").is_file()
    assert info["bytes"] == len((out / "index.html").read_bytes())


def test_importing_the_report_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, neuronlab.report, neuronlab.cli.main as m; m.build_parser(); print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_results_that_cannot_be_read_are_listed_not_fatal(tmp_path):
    import numpy as np

    path = tmp_path / "odd.h5"
    synthetic_store(path, [["a", "b"], ["c"]])
    with ActivationStore.open(path, mode="r+") as st:
        st.write_result("old_probe", {"coef": np.zeros((1, 3))}, config={"concept": "x"}, kind="probe")
        st.write_result("custom", {"values": np.arange(3)}, config={"k": 1}, kind="future-analysis")
    html = _html(path)
    unreadable = html[html.index("Results that could not be read"):]
    assert "<tr><td>old_probe</td>" in unreadable and "run the analysis again" in unreadable
    assert "<tr><td>custom</td><td>future-analysis</td>" in html
    assert "No probe results in this store" in html
