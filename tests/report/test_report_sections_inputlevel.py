"""Report sections of the input-level results (issue 15 in the issue 14 report): explainer ranking, generation
explanations, attention tests, ACD trees and neuron statistics.

Two kinds of stores: one whose results were written by the real analyses (``compare_explainers``,
``attention_correlations``, ``uniform_attention``, ``adversarial_attention``, ``agglomerate`` on a tiny random BERT,
``neuronlab stats``) and the whole report built from it; and stores whose Result objects are constructed here with
known values (and ``<script>`` in their strings), to check the exact numbers, the marks and the escaping, and that
the output follows the data.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from neuronlab.explain.attention_tests import AttentionAdversarial, AttentionCorrelation, AttentionIntervention
from neuronlab.explain.cd_agglomerative import CDTree
from neuronlab.explain.compare import ExplainerComparison
from neuronlab.explain.gen_result import GenerationExplanation
from neuronlab.report import SECTIONS, build_report
from neuronlab.report.build import render_report
from neuronlab.report.data import ReportData
from neuronlab.report.plots import to_png
from neuronlab.report.plots_explain import explainer_ranking_plot, head_correlation_plot, std_histogram_plot
from neuronlab.report.sections_explain_eval import ranking_columns
from neuronlab.scale.stats_result import NeuronStatsResult
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
NEW = {"explainer_ranking": "neuronlab explain-compare", "generation_explanations": "neuronlab explain-generate",
       "attention_tests": "neuronlab explain-attention", "cd_trees": "agglomerate(", "neuron_stats": "neuronlab stats"}


def _data(path) -> ReportData:
    with ActivationStore.open(path) as st:
        return ReportData(st)


def _section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}">')
    return html[start:html.index("</section>", start)]


def _render(path, name: str) -> str:
    return _section(render_report(_data(path), sections=[name], svg=False, explorer=False).html, name)


# ------------------------------------------------------------------ results with known values
def _comparison(suff_b: float = 0.30) -> ExplainerComparison:
    rows = [{"method": "gradient", "source": "neuronlab", "comprehensiveness": 0.40, "random_comprehensiveness": 0.05,
             "sufficiency": 0.10, "random_sufficiency": 0.35, "aopc": 0.20, "random_aopc": 0.01, "insertion": 0.70,
             "random_insertion": 0.5, "sanity_spearman": None, "seconds": 0.5, "metric_seconds": 0.1,
             "forward_passes": 4},
            {"method": SCRIPT, "source": "external", "comprehensiveness": 0.55, "random_comprehensiveness": 0.02,
             "sufficiency": suff_b, "random_sufficiency": 0.33, "aopc": None, "random_aopc": 0.0, "insertion": 0.60,
             "random_insertion": 0.5, "sanity_spearman": None, "seconds": 2.0, "metric_seconds": 0.2,
             "forward_passes": 40}]
    return ExplainerComparison(rows=rows, config={"metrics": ["comprehensiveness", "sufficiency", "aopc",
                                                              "insertion"], "mode": SCRIPT, "seed": 0})


def _generation(scale: float = 1.0) -> GenerationExplanation:
    nan = np.nan
    m = scale * np.array([[0.5, -0.25, 0.125, nan, nan], [1.0, 0.0, -2.0, 0.75, nan]])
    return GenerationExplanation(
        method="integrated_gradients", step_target="probability", config={"steps": 8, "model": SCRIPT},
        sources=[f"say {SCRIPT}"], source_tokens=[["say", SCRIPT]], prefix_tokens=[["<pad>"]],
        target_tokens=[["yes", "&amp;"]], source_word_ids=[[0, 1]], target_word_ids=[[0, 1]],
        step_values=[[0.9, 0.4]], reference_values=[[0.1, 0.2]], seconds=0.25, forward_passes=18, scores=[m])


def _attention(tau: float = 0.25) -> list:
    corr = AttentionCorrelation(config={"layers": [0, 1]}, methods=["gradient", SCRIPT], layers=[0, 1], n_heads=2,
                                n_examples=3, kendall_mean={"gradient": [[tau, -0.5, 0.1], [0.2, None, 0.4]],
                                                            SCRIPT: [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]},
                                spearman_mean={"gradient": [[0.3, -0.6, 0.15], [0.2, 0.1, 0.45]],
                                               SCRIPT: [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]},
                                kendall=np.zeros((3, 2, 2, 3)), spearman=np.zeros((3, 2, 2, 3)))
    inter = AttentionIntervention(config={"layers": [0, 1]}, analysis="permuted",
                                  settings=["layer 0", "layer 1", "layers 0,1"], n_examples=2,
                                  mean_median_tvd=[0.125, 0.0625, 0.375], flipped=[0.0, 0.5, 1.0],
                                  median_tvd=[[0.1, 0.05, 0.3], [0.15, 0.075, 0.45]], tvd=np.zeros((2, 3, 4)),
                                  max_attention=np.array([[0.5, 0.9], [0.3, 0.2]]))
    adv = AttentionAdversarial(config={"epsilon": 0.01}, layer=1, n_examples=2, jsd=[0.4, 0.2], tvd=[0.005, 0.0],
                               max_attention=[0.9, 0.3], top_token=[3, 1], adversarial_top_token=[0, 2], mean_jsd=0.3)
    return [corr, inter, adv]


def _tree(words=("not", "a", SCRIPT)) -> CDTree:
    return CDTree(words=list(words), target={"kind": "logit", "index": [1]}, target_value=1.5,
                  levels=[[[0, 1, -1.0], [1, 2, 0.25], [2, 3, 0.5]], [[0, 1, -1.0], [1, 3, 2.0]], [[0, 3, -3.0]]],
                  joins=[{"left": [1, 2], "right": [2, 3], "score": 2.0, "interaction": 1.25, "priority": 1.25},
                         {"left": [0, 1], "right": [1, 3], "score": -3.0, "interaction": -4.0, "priority": -4.0}],
                  config={"priority": "interaction"})


def _stats(std_b: float = 2.0) -> NeuronStatsResult:
    return NeuronStatsResult(store="s.h5", n_rows=10, n_neurons=4, config={"sites": None},
                             dead_neurons=["layers.0:1", f"{SCRIPT}:0"],
                             neurons=["layers.0:0", "layers.0:1", "layers.1:0", f"{SCRIPT}:0"],
                             mean=[0.0, 1.0, 0.5, 3.0], std=[1.0, 0.0, std_b, 0.0], quantiles={"0.5": [0, 1, 0.5, 3]})


def _known_store(path, *, results=True, **kw):
    synthetic_store(path, [["a", "b"], ["c"]])
    if results:
        with ActivationStore.open(path, mode="r+") as st:
            _comparison(kw.get("suff_b", 0.30)).to_store(st, "cmp")
            _generation(kw.get("scale", 1.0)).to_store(st, "gen")
            for res, name in zip(_attention(kw.get("tau", 0.25)), ("att_corr", "att_perm", "att_adv")):
                res.to_store(st, name)
            _tree(kw.get("words", ("not", "a", SCRIPT))).to_store(st, "acd")
            _stats(kw.get("std_b", 2.0)).to_store(st, "stats")
    return path


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    return _known_store(tmp_path_factory.mktemp("known") / "known.h5")


@pytest.fixture(scope="module")
def empty(tmp_path_factory):
    return _known_store(tmp_path_factory.mktemp("empty") / "empty.h5", results=False)


def test_every_new_result_kind_is_read(known):
    data = _data(known)
    assert data.unreadable == {}
    assert {k for k in data.results} == {"explain_compare", "generation_explanation", "attention_correlation",
                                         "attention_intervention", "attention_adversarial", "cd_tree", "neuron_stats"}


@pytest.mark.parametrize("name", sorted(NEW))
def test_a_section_without_its_results_says_what_produces_them(name, empty):
    frag = SECTIONS[name].render(_data(empty))
    text = "".join(p for p in frag.parts if isinstance(p, str))
    assert not frag.figures and text.count("<p") == 1
    assert NEW[name] in text and "then build the report again" in text


@pytest.mark.parametrize("name", sorted(NEW))
def test_store_strings_are_escaped(name, known):
    html = _render(known, name)
    assert "<script>" not in html and ESCAPED in html


def test_explainer_ranking_table_marks_the_best_per_column_with_its_direction(known):
    html = _render(known, "explainer_ranking")
    html, config = html[:html.index("</table>")], html[html.index("</table>"):]
    heads = re.findall(r"<th>(.*?)</th>", html)
    assert "comprehensiveness<br><small>higher is better</small>" in heads
    assert "sufficiency<br><small>lower is better</small>" in heads
    assert "forward rows<br><small>lower is better</small>" in heads and not any("random" in h for h in heads)
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td>(.*?)</tr>", html)
    assert [r[0] for r in rows] == ["gradient", ESCAPED] and [r[1] for r in rows] == ["neuronlab", "external"]
    best = {r[0]: re.findall(r'class="num best" title="best"><strong>([^<]*)</strong>', r[2]) for r in rows}
    # gradient: lowest sufficiency, best AOPC (the other has none), best insertion, fastest, fewest rows
    assert best["gradient"] == ["0.100", "0.200", "0.700", "0.500", "4"]
    assert best[ESCAPED] == ["0.550"]                        # the highest comprehensiveness
    # the random-order baselines under their metric's value
    assert re.findall(r'random ([0-9.]+)</small>', rows[0][2]) == ["0.050", "0.350", "0.010", "0.500"]
    assert "n/a" in rows[1][2] and f"<tr><td>mode</td><td>&quot;{ESCAPED}&quot;</td></tr>" in config
    frag = SECTIONS["explainer_ranking"].render(_data(known))
    assert [f.name for f in frag.figures] == ["ranking_0"]


def test_explainer_ranking_follows_the_data(tmp_path):
    html = _render(_known_store(tmp_path / "b.h5", suff_b=0.05), "explainer_ranking")
    html = html[:html.index("</table>")]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td>(.*?)</tr>", html)
    best = {r[0]: re.findall(r'<strong>([^<]*)</strong>', r[2]) for r in rows}
    assert best[ESCAPED] == ["0.550", "0.050"]               # now also the lowest sufficiency


def test_explainer_ranking_of_robustness_metrics(tmp_path):
    path = tmp_path / "robust.h5"
    synthetic_store(path, [["a"]])
    rows = [{"method": m, "source": "neuronlab", "sensitivity": s, "fragility_topk": f, "fragility_spearman": 0.5,
             "future_metric": 3.0 + k, "seconds": 1.0, "metric_seconds": 0.0, "forward_passes": 2}
            for k, (m, s, f) in enumerate([("lime", 0.2, 0.9), ("gradient", 0.1, 0.4)])]
    res = ExplainerComparison(rows=rows, config={"metrics": ["sensitivity", "fragility"]})
    with ActivationStore.open(path, mode="r+") as st:
        res.to_store(st, "robust")
    html = _render(path, "explainer_ranking")
    table = html[:html.index("</table>")]
    heads = re.findall(r"<th>(.*?)</th>", table)
    assert heads[2:6] == ["sensitivity-max<br><small>lower is better</small>",
                          "fragility top-k kept<br><small>higher is better</small>",
                          "fragility spearman<br><small>higher is better</small>",
                          "explanation s<br><small>lower is better</small>"]
    best = dict(re.findall(r"<tr><td>(\w+)</td>.*?<strong>([^<]*)</strong>", table))
    assert best == {"lime": "0.900", "gradient": "0.100"}   # each row's first starred cell
    assert "random" not in table and "future_metric" not in table
    # a metric unknown to this version (a newer neuronlab's) is shown under its name, unranked
    assert ranking_columns(["future_metric"]) == [("future_metric", "future_metric", None)]
    frag = SECTIONS["explainer_ranking"].render(_data(path))
    assert len(frag.figures) == 1 and "against sufficiency" not in frag.figures[0].caption


def test_generation_matrix_with_blank_cells_and_step_values(known):
    html = _render(known, "generation_explanations")
    table = html[html.index('<table class="gen-matrix">'):]
    body = re.findall(r"<tr><th>(.*?)</th>(.*?)</tr>", table[table.index("<tbody>"):])
    assert [b[0] for b in body] == ["yes", "&amp;amp;"]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", b[1]) for b in body]
    # source (say, <script>), prefix (<pad>), targets (yes, &amp;); then f_t(x), f_t(x'), row sum
    assert cells[0] == ["+0.500", "-0.250", "+0.125", "", "", "+0.900", "+0.100", "+0.375"]
    assert cells[1] == ["+1.000", "+0.000", "-2.000", "+0.750", "", "+0.400", "+0.200", "-0.250"]
    assert table.count('class="gen-blank"') == 3
    assert "&lt;pad&gt;" in table and f"say {ESCAPED}" in html
    # one colour scale: |-2| is the full colour
    assert "rgba(31,119,180,1.000)" in table and "rgba(214,39,40,0.250)" in table
    assert "integrated_gradients" in html and "probability" in html and ">18<" in html


def test_generation_follows_the_data(tmp_path):
    html = _render(_known_store(tmp_path / "g.h5", scale=2.0), "generation_explanations")
    assert "+1.000" in html and "-4.000" in html and "-2.000" not in html


def test_attention_tests_tables_and_figures(known):
    html = _render(known, "attention_tests")
    assert "<tr><td>gradient</td><td class=\"num\">0</td><td class=\"num\">0.100</td><td class=\"num\">0.150</td>" \
           "<td>head 0</td><td class=\"num\">0.250</td></tr>" in html
    assert "<tr><td>gradient</td><td class=\"num\">1</td><td class=\"num\">0.400</td><td class=\"num\">0.450</td>" \
           "<td>head 0</td><td class=\"num\">0.200</td></tr>" in html
    assert f"<tr><td>{ESCAPED}</td>" in html
    assert ("<tr><td>layers 0,1</td><td class=\"num\">0.375</td><td class=\"num\">1.000</td></tr>" in html)
    assert "permuted attention" in html
    assert "<tr><td class=\"num\">0</td><td class=\"num\">0.400</td><td class=\"num\">0.005</td>" \
           "<td class=\"num\">0.900</td><td class=\"num\">3</td><td class=\"num\">0</td></tr>" in html
    assert "adversarial attention at layer 1" in html and '<td class="num">0.300</td>' in html
    frag = SECTIONS["attention_tests"].render(_data(known))
    assert [f.name for f in frag.figures] == ["correlation_0_0", "correlation_0_1", "intervention_0_0"]


def test_attention_tests_follow_the_data(tmp_path, known):
    other = tmp_path / "t.h5"
    _known_store(other, tau=0.75)
    html = _render(other, "attention_tests")
    assert "<td>head 0</td><td class=\"num\">0.750</td>" in html and "0.250" not in html
    a = SECTIONS["attention_tests"].render(_data(known)).figures[0].figure
    b = SECTIONS["attention_tests"].render(_data(other)).figures[0].figure
    assert to_png(a) != to_png(b)


def test_cd_tree_nested_rows(known):
    html = _render(known, "cd_trees")
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>(.*?)</td><td class="num">(.*?)</td></tr>', html)
    assert [r[0] for r in rows] == ["2", "1", "0"] and [r[2] for r in rows] == ["-4", "+1.25", "&ndash;"]
    phrases = [re.findall(r'data-value="([^"]+)">([^<]*) <small>', r[1]) for r in rows]
    assert phrases[0] == [("-3", f"not a {ESCAPED}")]
    assert phrases[1] == [("-1", "not"), ("2", f"a {ESCAPED}")]
    assert phrases[2] == [("-1", "not"), ("0.25", "a"), ("0.5", ESCAPED)]
    joined = [re.findall(r'class="cd-phrase cd-joined"[^>]*>([^<]*) <small>', r[1]) for r in rows]
    assert joined == [[f"not a {ESCAPED}"], [f"a {ESCAPED}"], []]
    # one scale per tree: |-3| is the full blue
    assert "rgba(31,119,180,1.000)" in rows[0][1] and "f(x) = 1.5 (logit of class 1)" in html


def test_cd_tree_follows_the_data(tmp_path):
    html = _render(_known_store(tmp_path / "c.h5", words=("very", "good", "film")), "cd_trees")
    assert "very good film" in html and "not a" not in html


def test_neuron_stats_dead_neurons_per_site_and_histogram(known):
    html = _render(known, "neuron_stats")
    assert "2 dead (constant) neurons" in html and "4 neurons over 10 rows" in html
    assert "<tr><td>layers.0</td><td class=\"num\">2</td><td class=\"num\">1</td><td class=\"num\">0.500</td>" \
           "<td class=\"num\">0.500</td><td>layers.0:1</td></tr>" in html
    assert "<tr><td>layers.1</td><td class=\"num\">1</td><td class=\"num\">0</td><td class=\"num\">2.000</td>" \
           "<td class=\"num\">2.000</td><td>&ndash;</td></tr>" in html
    assert f"<tr><td>{ESCAPED}</td><td class=\"num\">1</td><td class=\"num\">1</td>" in html
    assert [f.name for f in SECTIONS["neuron_stats"].render(_data(known)).figures] == ["std_0"]


def test_neuron_stats_follow_the_data(tmp_path, known):
    other = _known_store(tmp_path / "s.h5", std_b=5.0)
    assert "<td class=\"num\">5.000</td>" in _render(other, "neuron_stats")
    a = SECTIONS["neuron_stats"].render(_data(known)).figures[0].figure
    b = SECTIONS["neuron_stats"].render(_data(other)).figures[0].figure
    assert to_png(a) != to_png(b)


def test_plots_depend_on_their_data():
    cols = [c for c in ranking_columns(["comprehensiveness", "sufficiency"]) if c[2]]
    a = _comparison().rows
    b = _comparison(suff_b=0.9).rows
    assert to_png(explainer_ranking_plot(a, cols)) != to_png(explainer_ranking_plot(b, cols))
    heat = [to_png(head_correlation_plot("g", [0], [[v, 0.2]])) for v in (0.1, 0.9)]
    assert heat[0] != heat[1]
    assert to_png(std_histogram_plot({"a": [1.0, 2.0]})) != to_png(std_histogram_plot({"a": [1.0, 1.0]}))


# ------------------------------------------------------------------ results written by the real analyses
@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A store with the results of the real analyses on a tiny random BERT (a tiny GPT-2 for the generation) and
    ``neuronlab stats`` (a dead neuron)."""
    pytest.importorskip("torch")
    import transformers
    from helpers.live_models import tiny_bert
    from helpers.tiny_models import build_tiny_model

    from neuronlab.cli.main import main
    from neuronlab.explain import EXPLAINERS
    from neuronlab.explain.attention_tests import adversarial_attention, attention_correlations, uniform_attention
    from neuronlab.explain.cd_agglomerative import agglomerate
    from neuronlab.explain.compare import compare_explainers
    from neuronlab.explain.generation import explain_generation
    from neuronlab.models.live import LiveModel

    path = tmp_path_factory.mktemp("analysed") / "store.h5"
    data = {"layers.0": np.arange(15, dtype=np.float32).reshape(5, 3)}
    data["layers.0"][:, 1] = 7.0                                           # a dead neuron
    synthetic_store(path, [["the", "film"], ["nobody", "liked", "it"]], data=data)
    live = tiny_bert()
    texts = ["the film was good", "nobody liked it"]
    results = {"cmp": compare_explainers(live, [t.split() for t in texts], ["gradient", "leave-one-out"]),
               "corr": attention_correlations(live, texts, methods=("gradient",)),
               "uniform": uniform_attention(live, texts),
               "adv": adversarial_attention(live, texts, steps=3),
               "acd": agglomerate(EXPLAINERS["cd"](live), "nobody liked it")}
    gpt2_dir = build_tiny_model("gpt2", tmp_path_factory.mktemp("gpt2"))
    gpt2 = LiveModel(transformers.GPT2LMHeadModel.from_pretrained(str(gpt2_dir)).eval(),
                     transformers.AutoTokenizer.from_pretrained(str(gpt2_dir)))
    results["gen"] = explain_generation(gpt2, ["A cat sat", "The fox"], method="integrated_gradients",
                                        targets=[" on the mat", " ran"], steps=4)
    with ActivationStore.open(path, mode="r+") as st:
        for name, res in results.items():
            res.to_store(st, name)
    assert main(["stats", str(path)]) == 0
    return path, results


def test_the_whole_report_builds_with_the_analyses_results(analysed, tmp_path):
    path, results = analysed
    out = tmp_path / "report"
    info = build_report(path, out, dossiers=0)
    html = (out / "index.html").read_text()
    for name in NEW:
        sec = _section(html, name)
        assert "then build the report again" not in sec and "In Python" not in sec
    figs = {p.name for p in (out / "figures").iterdir()}
    for stem in ("explainer_ranking-ranking_0", "attention_tests-correlation_0_0",
                 "attention_tests-intervention_0_0", "neuron_stats-std_0"):
        assert f"{stem}.png" in figs and f"{stem}.svg" in figs
    assert info["sections"]
    # the numbers shown are the analyses'
    cmp_sec = _section(html, "explainer_ranking")
    for r in results["cmp"].rows:
        assert f"<tr><td>{r['method']}</td><td>neuronlab</td>" in cmp_sec
        assert f">{r['forward_passes']}<" in cmp_sec
    acd = _section(html, "cd_trees")
    assert acd.count('<tr><td class="num">') == len(results["acd"].levels)
    assert "nobody liked it" in acd
    gen, res = _section(html, "generation_explanations"), results["gen"]
    assert gen.count('<table class="gen-matrix">') == 2
    assert gen.count('class="gen-blank"') == sum(int(np.isnan(m).sum()) for m in res.scores)
    assert f'<td class="num">{res.step_values[1][0]:+.3f}</td>' in gen
    stats = _section(html, "neuron_stats")
    assert "1 dead (constant) neurons" in stats and "layers.0:1" in stats
    att = _section(html, "attention_tests")
    tau = results["corr"].kendall_mean["gradient"][0][-1]
    assert f'<td class="num">{tau:.3f}</td>' in att


# ------------------------------------------------------------------ in a browser
def test_the_sections_in_a_browser(known, tmp_path):
    """Headless Chromium: no console error, every figure decoded, the store's text shown and never run."""
    import shutil

    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the test extra)")
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("needs the system Chromium and its driver: apt-get install chromium chromium-driver")
    out = tmp_path / "report"
    build_report(known, out, sections=sorted(NEW), dossiers=0, explorer=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,3000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        driver.get("file://" + str(out / "index.html"))
        assert driver.execute_script("return document.readyState") == "complete"
        errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "WARNING")]
        assert errors == []
        images = driver.execute_script("return [...document.images].map(i => i.complete && i.naturalWidth > 0)")
        assert len(images) == 5 and all(images)
        assert driver.execute_script("return document.scripts.length") == 0
        texts = driver.execute_script("return [...document.querySelectorAll('section')].map(s => s.innerText)")
        assert len(texts) == len(NEW) and all(SCRIPT in t for t in texts)
        driver.save_screenshot(str(tmp_path / "inputlevel.png"))
    finally:
        driver.quit()
