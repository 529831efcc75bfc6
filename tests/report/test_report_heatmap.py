"""Activation heatmaps over text (neuronlab/report/heatmap.py): escaping, one shared colour scale, marks."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from neuronlab.report.heatmap import ColourScale, heatmap_html, legend_html, sentence_html, store_heatmap
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store

HOSTILE = ["<script>alert(1)</script>", '"quoted"', "it's", "&amp;", "<b>bold</b>", "plain"]


class _Spans(HTMLParser):
    """Collects (attributes, text) of every word span and every tag seen."""

    def __init__(self):
        super().__init__()
        self.spans, self.tags, self._cur = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "span" and "data-value" in attrs:
            self._cur = [attrs, ""]

    def handle_data(self, data):
        if self._cur is not None:
            self._cur[1] += data

    def handle_endtag(self, tag):
        if tag == "span" and self._cur is not None:
            self.spans.append(tuple(self._cur))
            self._cur = None


def _parse(html: str) -> _Spans:
    p = _Spans()
    p.feed(html)
    p.close()
    return p


def _alpha(style: str) -> float:
    return float(re.search(r"background:rgba\(\d+,\d+,\d+,([0-9.]+)\)", style).group(1))


def test_words_are_text_never_markup():
    html = heatmap_html([HOSTILE], [np.arange(len(HOSTILE), dtype=float)])
    parsed = _parse(html)
    assert [text for _, text in parsed.spans] == HOSTILE  # every word comes back as the same text
    assert "script" not in parsed.tags and "b" not in parsed.tags
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&amp;amp;" in html and "&quot;quoted&quot;" in html and "it&#x27;s" in html


def test_one_colour_scale_for_every_sentence_and_the_max_word_strongest():
    sents = [["a", "b", "c"], ["d", "e"]]
    vals = [[0.5, 1.0, -2.0], [4.0, 1.0]]
    parsed = _parse(heatmap_html(sents, vals))
    alphas = {text: _alpha(a["style"]) for a, text in parsed.spans}
    assert alphas == {"a": 0.125, "b": 0.25, "c": 0.5, "d": 1.0, "e": 0.25}  # |v| / 4 on every sentence
    assert max(alphas, key=alphas.get) == "d"
    colours = {text: re.search(r"rgba\((\d+,\d+,\d+)", a["style"]).group(1) for a, text in parsed.spans}
    assert colours["c"] == "31,119,180" and colours["a"] == "214,39,40"  # negative blue, positive red
    titles = {text: a["title"] for a, text in parsed.spans}
    assert titles["c"] == "-2" and titles["d"].startswith("4 ")


def test_sentence_maximum_and_focus_are_marked():
    scale = ColourScale(10.0)
    parsed = _parse(sentence_html(["x", "y", "z"], [1.0, 3.0, 2.0], scale, focus=2))
    classes = {text: a["class"].split() for a, text in parsed.spans}
    assert classes == {"x": ["hm"], "y": ["hm", "hm-max"], "z": ["hm", "hm-focus"]}
    assert _alpha(parsed.spans[1][0]["style"]) == 0.3  # the sentence's max is not the page's: the shared scale rules


def test_given_scale_and_legend():
    scale = ColourScale(2.0)
    html = heatmap_html([["w"]], [[1.0]], scale=scale, captions=["<cap>"])
    assert _alpha(_parse(html).spans[0][0]["style"]) == 0.5 and "&lt;cap&gt;" in html
    legend = legend_html(scale, steps=3)
    assert re.findall(r">(-?[0-9.]+)</span>", legend) == ["-2", "0", "2"]
    assert ColourScale(0.0).vmax == 1.0 and ColourScale.for_values([[0.0, 0.0]]).vmax == 1.0


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="2 words but 1 values"):
        sentence_html(["a", "b"], [1.0], ColourScale(1.0))
    with pytest.raises(ValueError, match="1 sentences but 2 value lists"):
        heatmap_html([["a"]], [[1.0], [2.0]])


def test_store_heatmap_reads_the_neurons_values(tmp_path):
    sentences = [["the", "<script>x</script>"], ["dogs", "bark", "loudly"], ["hi"]]
    rng = np.random.default_rng(3)
    data = {"layers.0": rng.normal(size=(6, 3)).astype(np.float32), "layers.1": rng.normal(size=(6, 2))}
    synthetic_store(tmp_path / "s.h5", sentences, data=data)
    with ActivationStore.open(tmp_path / "s.h5") as st:
        html = store_heatmap(st, "layers.0:2", [1, 0])
    parsed = _parse(html)
    assert [t for _, t in parsed.spans] == ["dogs", "bark", "loudly", "the", "<script>x</script>"]
    col = data["layers.0"][:, 2]
    assert [float(a["data-value"]) for a, _ in parsed.spans] == pytest.approx([*col[2:5], *col[0:2]], abs=1e-5)
    top = int(np.argmax(np.abs([*col[2:5], *col[0:2]])))
    assert _alpha(parsed.spans[top][0]["style"]) == 1.0
