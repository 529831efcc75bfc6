"""Neuron dossiers (neuronlab/report/dossier.py), the report's neurons section and the output effect
(neuronlab/report/output_effect.py) against a direct computation on tiny random language models."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from report_stores import SCRIPT, XSS_CONCEPT, study_store

from neuronlab.report.data import ReportData
from neuronlab.report.dossier import class_boxes_html, neurons_section, write_dossiers
from neuronlab.report.markup import CSP
from neuronlab.report.neurons import default_neurons
from neuronlab.report.paths import dossier_path
from neuronlab.store import ActivationStore


def _data(path) -> ReportData:
    with ActivationStore.open(path) as st:
        return ReportData(st)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return study_store(tmp_path_factory.mktemp("dossier") / "s.h5")


@pytest.fixture(scope="module")
def written(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep")
    return out, write_dossiers(store, _data(store), out, max_neurons=6, chunk_rows=33)


def test_one_page_per_default_neuron_with_the_reports_policy(store, written):
    out, res = written
    assert list(res) == default_neurons(_data(store), 6)
    for nid, entry in res.items():
        assert entry["dossier"] == dossier_path(nid)
        html = (out / entry["dossier"]).read_text()
        assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in html
        assert "<script" not in html.lower() and f"<h1>neuron {nid}</h1>" in html
        assert '<a class="back" href="../index.html#explorer">' in html
        for href in re.findall(r'href="([^"]*)"', html):  # links: the report, anchors, other dossiers that exist
            assert href == "../index.html#explorer" or href.startswith("#") or (out / "neurons" / href).is_file()
        for src in re.findall(r'src="([^"]*)"', html):
            assert src.startswith("data:image/png;base64,")
        for section in ("neuron", "activations", "contexts", "correlated", "output", "analyses"):
            assert f'<section id="{section}">' in html
        assert isinstance(entry["description"], str) and entry["description"] in html.replace("&#x27;", "'")
        assert entry["auc"] is None or 0.0 <= entry["auc"] <= 1.0


def test_page_holds_the_neurons_numbers(store, written):
    out, res = written
    nid = next(iter(res))
    site, index = nid.split(":")
    with ActivationStore.open(store) as st:
        full = np.concatenate([st[s][:] for s in st.sites], axis=1).astype(np.float64)
        ids = st.neuron_ids()
        tokens = st.tokens()
    col = full[:, ids.index(nid)]
    html = (out / res[nid]["dossier"]).read_text()
    stats = re.search(r"density \(&gt; 0\)</th></tr></thead><tbody><tr>(.*?)</tr>", html).group(1)
    assert re.findall(r">([-0-9.]+)<", stats) == [str(col.size), f"{col.mean():.4f}", f"{col.std():.4f}",
                                                  f"{col.min():.4f}", f"{col.max():.4f}", f"{np.mean(col > 0):.4f}"]
    r = np.corrcoef(full.T)[ids.index(nid)]
    r[ids.index(nid)] = 0.0
    best = np.argsort(-np.abs(r), kind="stable")[:10]
    corr = html.split('<section id="correlated">')[1]
    listed = re.findall(r"<tr><td>(?:<a [^>]*>)?([^<]+)(?:</a>)?</td><td class=\"num\">([-+0-9.]+)</td></tr>", corr)
    assert [n for n, _ in listed] == [ids[k] for k in best]
    assert [float(v) for _, v in listed] == pytest.approx([r[k] for k in best], abs=1e-4)
    top = int(np.argmax(col))  # the first top context is the row of the highest activation, outlined
    assert f"row {top}: {col[top]:.4g}" in html
    focus = re.search(r'<span class="hm[^"]*hm-focus[^"]*"[^>]*>([^<]*)</span>', html.split("Top activations")[1])
    assert focus.group(1) == tokens[top]


def test_class_boxes_share_one_scale():
    a, b = np.arange(101.0), np.arange(101.0) + 100  # percentiles are the values themselves
    html = class_boxes_html([("c<1>", [("A", a), ("<b>", b)])])
    assert "&lt;b&gt;" in html and "c&lt;1&gt;" in html and "<b>" not in html
    assert "distribution (5 &hellip; 195)" in html  # the scale: the lowest 5th to the highest 95th percentile
    x = lambda v: round((v - 5) / 190 * 240, 1)  # noqa: E731
    boxes = re.findall(r"left:([0-9.]+)px;width:([0-9.]+)px;top:1px", html)
    assert boxes == [(str(x(25)), str(round(x(75) - x(25), 1))), (str(x(125)), str(round(x(175) - x(125), 1)))]
    medians = re.findall(r"left:([0-9.]+)px;width:2px", html)
    assert medians == [str(x(50)), str(x(150))]
    assert class_boxes_html([]) == ""


def test_hostile_text_is_escaped(tmp_path):
    store = study_store(tmp_path / "h.h5", concept=XSS_CONCEPT, classes=(SCRIPT, '"quoted" &amp;'),
                        words=[SCRIPT, "it's", "&amp;", "<b>x</b>", "plain"])
    res = write_dossiers(store, _data(store), tmp_path / "rep", max_neurons=3)
    for entry in res.values():
        html = (tmp_path / "rep" / entry["dossier"]).read_text()
        body = html.split("<body>", 1)[1]
        assert "<script" not in html.lower() and "<img src=x" not in body and "<b>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "&lt;b&gt;x&lt;/b&gt;" in body
        assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in body  # the concept name


def test_two_stores_give_different_dossiers(tmp_path):
    pages = []
    for seed in (0, 1):
        store = study_store(tmp_path / f"s{seed}.h5", seed=seed)
        write_dossiers(store, _data(store), tmp_path / f"r{seed}", neurons=["layers.0:1"], figures=False)
        pages.append((tmp_path / f"r{seed}" / dossier_path("layers.0:1")).read_text())
    strip = [re.sub(r"s[01]\.h5|synthetic-[01]", "", p) for p in pages]
    assert strip[0] != strip[1]
    assert re.findall(r"row \d+: [-0-9.e]+", strip[0]) != re.findall(r"row \d+: [-0-9.e]+", strip[1])


def test_missing_analyses_name_their_command_and_present_ones_show(store, written, tmp_path):
    out, res = written
    html = (out / next(iter(res.values()))["dossier"]).read_text()
    for command in ("neuronlab describe STORE --neurons", "neuronlab redundancy STORE", "neuronlab attribute",
                    "neuronlab tcav", "model=SPEC"):
        assert command in html
    import shutil

    from neuronlab.concepts.compositional.result import explain_neurons

    path = tmp_path / "c.h5"
    shutil.copy(store, path)
    ids = np.array([f"layers.0:{i}" for i in range(4)], dtype=object)
    tcav = {"rows": [{"concept": "x<y", "site": "layers.0", "score": 0.8, "random_score": 0.5, "p_adjusted": 0.01,
                      "significant": True}, {"concept": "z", "site": "layers.1", "score": 0.1}]}
    with ActivationStore.open(path, mode="r+") as st:
        comp = explain_neurons(st, ["layers.0:1"], max_length=2, beam_size=2, quantile=0.9)
        comp.to_store(st, "comp")
        st.write_result("att", {"per_neuron": np.array([[1.0, 3.0, 0.0, 0.0]], dtype=np.float32), "neuron_ids": ids},
                        config={}, kind="attribution/layer_conductance")
        st.write_result("red", {"neuron_ids": ids, "thresholds": np.array([0.5]), "kept": np.ones((1, 4), np.uint8),
                                "labels": np.array([[0, 0, 1, 0]], dtype=np.int32)}, config={}, kind="redundancy")
        st.write_result("tc", {"report": np.array(json.dumps(tcav), dtype=object)}, config={}, kind="attribution/tcav")
    res = write_dossiers(path, _data(path), tmp_path / "rep", neurons=["layers.0:1"], figures=False)
    html = (tmp_path / "rep" / res["layers.0:1"]["dossier"]).read_text()
    formula = comp.neurons[0]["formula"]
    assert f"<td>comp</td><td>{formula}</td>" in html.replace("&#x27;", "'")
    assert '<td>att</td><td>layer_conductance</td><td class="num">0.7500</td><td class="num">1</td>' in html
    assert '<td>red</td><td class="num">0.500</td><td class="num">3</td><td>yes</td><td>layers.0:0, layers.0:3</td>' \
        in html
    assert '<td>tc</td><td>x&lt;y</td><td class="num">0.8000</td>' in html and "<td>z</td>" not in html
    for command in ("neuronlab describe STORE", "neuronlab redundancy STORE", "neuronlab attribute", "neuronlab tcav"):
        assert command not in html
    if formula:
        assert res["layers.0:1"]["description"].endswith(f"; formula: {formula}")


def test_neurons_section_lists_and_links_the_dossiers(store, tmp_path):
    from neuronlab.report import neurons as nmod
    from neuronlab.report.build import render_report

    data = _data(store)
    nmod._CACHE.clear()  # no dossiers written for this store in this process: the section takes the default set
    html = render_report(data, sections=["neurons"], svg=False).html
    for nid in default_neurons(data, 200):
        assert f'<a href="{dossier_path(nid)}">{nid}</a>' in html
    frag = neurons_section(data)
    assert "detection AUC" in "".join(frag.parts) and not frag.figures
    write_dossiers(store, data, tmp_path / "rep", neurons=["layers.0:1", "embeddings:2"], figures=False)
    listed = re.findall(r'<a href="(neurons/[^"]+)">', "".join(neurons_section(data).parts))
    assert listed == [dossier_path("layers.0:1"), dossier_path("embeddings:2")]  # the dossiers just written
    assert all((tmp_path / "rep" / p).is_file() for p in listed)


def test_neurons_section_without_rankings_says_what_to_run(tmp_path):
    store = study_store(tmp_path / "n.h5", rankers=(), probe=False)
    assert "neuronlab rank STORE" in "".join(neurons_section(_data(store)).parts)
    assert write_dossiers(store, _data(store), tmp_path / "rep") == {}


# ------------------------------------------------------------------ output effect
def _tiny_lm(family: str, directory: Path) -> Path:
    """A tiny random BERT masked LM or GPT-2 causal LM with its tokenizer, saved like a user's checkpoint."""
    import torch
    import transformers as tf
    from helpers.tiny_models import _bpe_tokenizer, _minilm_tokenizer

    torch.manual_seed(0)
    if family == "bert":
        tok = _minilm_tokenizer()
        model = tf.BertForMaskedLM(tf.BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                                                 num_attention_heads=2, intermediate_size=48,
                                                 max_position_embeddings=64))
    else:
        tok = _bpe_tokenizer("gpt2", directory)
        model = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_inner=48,
                                                 n_positions=64, bos_token_id=tok.bos_token_id,
                                                 eos_token_id=tok.eos_token_id))
    with torch.no_grad():  # a LayerNorm scale that is not all ones, so that leaving it out shows
        ln = model.cls.predictions.transform.LayerNorm if family == "bert" else model.transformer.ln_f
        ln.weight.uniform_(0.5, 1.5)
    model.save_pretrained(str(directory))
    tok.save_pretrained(str(directory))
    return directory


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_output_effect_equals_a_direct_computation(family, tmp_path):
    pytest.importorskip("torch")
    import torch

    from neuronlab.models import load_live
    from neuronlab.report.output_effect import output_effect

    path = _tiny_lm(family, tmp_path / family)
    live = load_live(str(path))
    m = live.model
    with torch.no_grad():
        if family == "bert":
            dense, ln = m.cls.predictions.transform.dense.weight, m.cls.predictions.transform.LayerNorm.weight
            unembed = m.cls.predictions.decoder.weight
            down = m.bert.encoder.layer[1].output.dense.weight[:, 7]

            def head(v):
                return unembed.double() @ (ln.double() * (dense.double() @ v))
        else:
            ln, unembed = m.transformer.ln_f.weight, m.lm_head.weight
            down = m.transformer.h[1].mlp.c_proj.weight[7, :]  # Conv1D: (in, out)

            def head(v):
                return unembed.double() @ (ln.double() * v)
        e5 = torch.zeros(32, dtype=torch.float64)
        e5[5] = 1.0
        expected = {"layers.1:5": head(e5), "embeddings:5": head(e5),
                    "layers.1.mlp:7": head(down.double() / down.double().norm())}
    got = output_effect(live, list(expected) + ["layers.1.attn:3"], k=10)
    tokens = live.tokenizer.convert_ids_to_tokens
    for nid, logits in expected.items():
        vals = logits.numpy()
        order = np.argsort(-vals, kind="stable")
        assert [t for t, _ in got[nid]["promoted"]] == [tokens(int(i)) for i in order[:10]]
        assert [v for _, v in got[nid]["promoted"]] == pytest.approx(vals[order[:10]], rel=1e-9)
        assert [v for _, v in got[nid]["suppressed"]] == pytest.approx(vals[order[::-1][:10]], rel=1e-9)
    assert "residual-stream" in got["layers.1.attn:3"]["note"]


def test_dossier_shows_output_effect_and_base_models_say_why_not(tmp_path):
    pytest.importorskip("torch")
    from helpers.tiny_models import build_tiny_model

    from neuronlab.testing import synthetic_store

    lm = _tiny_lm("bert", tmp_path / "lm")
    synthetic_store(tmp_path / "s.h5", [["a", "b", "c"], ["d", "e"]], sites={"layers.1": 32, "layers.1.mlp": 48})
    data = _data(tmp_path / "s.h5")
    res = write_dossiers(tmp_path / "s.h5", data, tmp_path / "rep", neurons=["layers.1:4", "layers.1.mlp:2"],
                         model=str(lm), figures=False)
    for entry in res.values():
        html = (tmp_path / "rep" / entry["dossier"]).read_text()
        assert "<th>promoted</th>" in html and "logit lens" in html
    base = build_tiny_model("bert", tmp_path / "base")  # no LM head: the page says what to pass
    res = write_dossiers(tmp_path / "s.h5", data, tmp_path / "rep2", neurons=["layers.1:4"], model=str(base),
                         figures=False)
    html = (tmp_path / "rep2" / res["layers.1:4"]["dossier"]).read_text()
    assert "masked-lm or causal-lm" in html and "<th>promoted</th>" not in html


# ------------------------------------------------------------------ in a real browser
def test_hostile_dossier_in_a_browser_runs_nothing_and_breaks_no_policy(tmp_path):
    """Headless Chromium: no console error (a CSP violation is one), the figure decoded, no script, words as text."""
    import shutil

    webdriver = pytest.importorskip("selenium.webdriver", reason="needs Selenium (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("needs the system Chromium and its driver: apt-get install chromium chromium-driver")
    words = [SCRIPT, '"quoted"', "&amp;", "<b>bold</b>", "plain"]
    store = study_store(tmp_path / "h.h5", seed=5, concept=XSS_CONCEPT, classes=(SCRIPT, "B"), words=words)
    res = write_dossiers(store, _data(store), tmp_path / "rep", max_neurons=2)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        for entry in res.values():
            driver.get("file://" + str(tmp_path / "rep" / entry["dossier"]))
            assert [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"] == []
            assert driver.execute_script("return document.scripts.length") == 0
            assert driver.execute_script("return document.querySelectorAll('main b').length") == 0
            images = driver.execute_script("return Array.from(document.images).map(i => i.naturalWidth)")
            assert len(images) == 1 and images[0] > 0
            spans = driver.execute_script("return Array.from(document.querySelectorAll('span.hm')).map("
                                          "s => [s.textContent, getComputedStyle(s).backgroundColor])")
            assert {t for t, _ in spans} <= set(words) and SCRIPT in {t for t, _ in spans}
            assert any(colour.startswith("rgba(214, 39, 40") for _, colour in spans)  # inline styles applied
    finally:
        driver.quit()
