"""The report's section of input-level explanations: word heatmaps from stored Explanation results."""
from __future__ import annotations

import re

from neuronlab.explain.base import Explanation
from neuronlab.report.build import render_report
from neuronlab.report.data import ReportData
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store

WORDS = [["<script>alert(1)</script>", "liked", "it"], ["a", "&amp;", "\"quoted\"", "film"]]


def _store(tmp_path, with_result: bool):
    path = tmp_path / ("with.h5" if with_result else "without.h5")
    synthetic_store(path, [["a", "b"], ["c"]])
    if with_result:
        ex = Explanation(method="leave-one-out", target={"kind": "logit", "index": (1, 0)}, config={"mode": "drop"},
                         words=WORDS, word_scores=[[2.0, -1.0, 0.5], [0.0, 0.25, -0.5, 1.0]],
                         target_value=[1.5, -0.2], reference_value=[-0.5, 0.1], forward_passes=9)
        with ActivationStore.open(path, mode="r+") as st:
            ex.to_store(st, "explain_loo")
    with ActivationStore.open(path) as st:
        return ReportData(st)


def _section(html: str) -> str:
    start = html.index('id="explanations"')
    return html[start:html.index("</section>", start)]


def test_each_input_is_a_heatmap_of_its_word_scores(tmp_path):
    html = _section(render_report(_store(tmp_path, True), sections=["explanations"], svg=False).html)
    assert "explain_loo" in html and "leave-one-out" in html and "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&amp;amp;" in html
    # one title per word with its score, f(x), f(ref) and the sum of the scores per input
    titles = re.findall(r'title="([^"]*)"', html)
    assert sum("2" in t for t in titles) >= 1 and len([t for t in titles if t]) >= 7
    assert "f(x)=1.5 f(ref)=-0.5 sum=1.5" in html and "f(x)=-0.2 f(ref)=0.1 sum=0.75" in html


def test_a_store_without_explanations_names_the_command(tmp_path):
    html = _section(render_report(_store(tmp_path, False), sections=["explanations"], svg=False).html)
    assert "neuronlab explain MODEL" in html
