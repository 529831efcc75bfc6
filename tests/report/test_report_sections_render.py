"""The analysis sections: their numbers from a store that has the results, the command when it has none, escaping of
the store's text, and the whole report with every result kind."""
from __future__ import annotations

import re

import numpy as np
import pytest

from report_sections_stores import SCRIPT, base_store, cached_analyses_store

from neuronlab.report import SECTIONS, build_report
from neuronlab.report.build import render_report
from neuronlab.report.data import RESULT_CLASSES, ReportData
from neuronlab.store import ActivationStore

#: the sections added for the analyses, and the command each names when its store has no result
MINE = {"probe_subsets": "neuronlab probe STORE --concept CONCEPT --evaluate minimal",
        "redundancy": "neuronlab redundancy STORE", "unsupervised": "neuronlab discover STORE --method umap",
        "compositional": "neuronlab describe STORE --method compositional",
        "contexts": "neuronlab describe STORE --method contexts", "crossmodel": "neuronlab crossmodel STORE",
        "attribution": "neuronlab attribute --model MODEL", "bridge": "neuronlab bridge MODEL",
        "tcav": "neuronlab tcav MODEL"}
XSS_CONCEPT = '<img src=x onerror="alert(2)"> &amp; \'q\''


def _data(path) -> ReportData:
    with ActivationStore.open(path) as st:
        return ReportData(st)


def _section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}">')
    return html[start:html.index("</section>", start)]


def _cells(html: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", html)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return cached_analyses_store(tmp_path_factory, 0)


@pytest.fixture(scope="module")
def data(store):
    return _data(store)


@pytest.fixture(scope="module")
def built(store, tmp_path_factory):
    """The whole report (every section, PNG and SVG) of the store with every result kind."""
    out = tmp_path_factory.mktemp("built") / "report"
    return build_report(store, out), (out / "index.html").read_text()


@pytest.fixture(scope="module")
def html(built):
    return built[1]


def test_every_result_kind_is_read(data):
    stored = {rc["kind"] for rc in data.result_configs.values()}
    assert data.unreadable == {} and len(stored) == 17
    assert set(data.results) == stored and stored <= set(RESULT_CLASSES)


def test_sections_are_registered_in_page_order():
    order = [SECTIONS[n].order for n in ("provenance", "probes", "rankings", "probe_subsets", "redundancy")]
    assert order == sorted(order) and set(MINE) <= set(SECTIONS)


@pytest.mark.parametrize("name", sorted(MINE))
def test_a_section_without_its_results_names_the_command(name, tmp_path):
    path = base_store(tmp_path / "empty.h5")
    frag = SECTIONS[name].render(_data(path))
    text = "".join(p for p in frag.parts if isinstance(p, str))
    assert not frag.figures
    assert text.count("<p") == 1 and "then build the report again" in text
    assert MINE[name] in text


def test_minimal_subset_numbers(data, html):
    m = data.of_kind("probe")[0][1].evaluation["minimal"]
    row = _cells(_section(html, "probe_subsets"))[:10]
    assert row == ["pos", "probe", str(m["k"]), f"{m['fraction']:.3f}", f"{m['accuracy']:.3f}",
                   f"{m['oracle_accuracy']:.3f}", f"{m['dev_accuracy']:.3f}", f"{m['dev_oracle_accuracy']:.3f}",
                   f"{m['delta']:.3f}", str(m["n_dev"])]
    assert _section(html, "probe_subsets").count("<figure>") == 1


def test_redundancy_tables_and_figures(data, html):
    res = data.of_kind("redundancy")[0][1]
    sec = _section(html, "redundancy")
    cells = _cells(sec)
    for g in res.general:
        i = cells.index(f"{g['threshold']:.3f}")
        assert cells[i + 1:i + 3] == [str(g["n_clusters"]), f"{g['removable_fraction']:.3f}"]
    assert [g["n_clusters"] for g in res.general] == [14, 13, 13]  # 16 neurons: 2 copies join at 0.1, r=0.86 at 0.3
    assert "CCFS for pos" in sec and "Task-specific redundancy for pos" in sec
    assert sec.count("<figure>") == 3  # removable share, correlation heatmap, dendrogram


def test_redundancy_heatmap_is_the_correlation_and_the_tree_reproduces_the_stored_clusters(data):
    """|r| read back equals numpy's corrcoef; the recomputed tree cut at each threshold gives the stored clusters."""
    from scipy.cluster.hierarchy import fcluster

    from neuronlab.report.sections_redundancy import _correlations, _linkage, cluster_sample

    res = data.of_kind("redundancy")[0][1]
    ids = list(res.neuron_ids)
    corr = _correlations(data.path, ids, res.n_rows)
    with ActivationStore.open(data.path) as st:
        X = np.column_stack([np.asarray(st[s]) for s in st.sites]).astype(np.float64)
    np.testing.assert_allclose(corr, np.abs(np.corrcoef(X, rowvar=False)), atol=1e-10)
    Z = _linkage(corr, "average")
    for t, stored in zip(res.thresholds, np.asarray(res.labels)):
        ours = fcluster(Z, t, criterion="distance")
        pairs = {(a, b) for a in range(len(ids)) for b in range(len(ids)) if ours[a] == ours[b]}
        assert pairs == {(a, b) for a in range(len(ids)) for b in range(len(ids)) if stored[a] == stored[b]}
    cols = cluster_sample(np.asarray(res.labels)[1], 3)
    assert len(cols) == 3 and len(set(np.asarray(res.labels)[1][cols[:2]].tolist())) == 1  # the largest cluster first


def test_unsupervised_tables(data, html):
    sec = _section(html, "unsupervised")
    nmf = data.of_kind("nmf")[0][1]
    latent = data.of_kind("latent_concepts")[0][1]
    cells = _cells(sec)
    c0 = nmf.components[0]
    i = cells.index(f"{c0['mass_share']:.3f}")
    assert cells[i + 1] == str(c0["n_neurons_in_group"]) and cells[i + 2].startswith(c0["top_neurons"][0])
    ev = latent.evaluation
    assert f"{ev['bcubed']['f1']:.3f}" in cells and f"{ev['classifier']['accuracy']:.3f}" in cells
    top = latent.clusters[0]["top_words"][0]
    assert f"{top[0]} ({top[1]})" in sec
    assert sec.count("<figure>") == 4  # two UMAP maps, NMF loadings, latent clusters


def test_model_sections(data, html):
    sec = _section(html, "attribution")
    # token heatmaps (2 methods x 2 examples), top units (3 results), ablations (2), head pruning (1)
    assert sec.count("<figure>") == 2 * 2 + 3 + 2 + 1
    greedy = data.of_kind("ablation/greedy")[0][1]
    assert greedy.neuron_ids == ["layers.0:0", "layers.0:3", "layers.0:1", "layers.0:2"]
    tcav = data.of_kind("attribution/tcav")[0][1]
    cells = _cells(_section(html, "tcav"))
    r = tcav.rows[0]
    i = cells.index(f"{r['score']:.3f}")
    assert cells[i - 2:i] == ["pos", "layers.0"] and cells[i + 4] == f"{r['p_value']:.3f}"
    bridge = data.of_kind("bridge")[0][1]
    bsec = _section(html, "bridge")
    assert f"{bridge.share:.3f}" in _cells(bsec) and "random neurons of the same size" in bsec
    cm = _section(html, "crossmodel")
    assert "linear CKA between sites" in cm and cm.count("<figure>") == 1
    maxcorr = next(r for _, r in data.of_kind("crossmodel") if r.method == "maxcorr")
    assert maxcorr.top[0]["neuron"] in _cells(cm)


def test_explanation_sections(data, html):
    comp = data.of_kind("compositional")[0][1]
    sec = _section(html, "compositional")
    n = comp.neurons[0]
    assert [n["neuron"], n["formula"], f"{n['iou']:.3f}"] == _cells(sec)[:3]
    assert "concept alignment of layers.0:0" in sec and "n-grams generated for layers.0:0" in sec
    ctx = data.of_kind("contexts")[0][1]
    csec = _section(html, "contexts")
    first = ctx.neurons[0]["contexts"][0]
    assert _cells(csec)[:2] == [f"{first['activation']:.3f}", first["context"]]


def test_attribution_reader_matches_the_result_it_read(tmp_path):
    from neuronlab.attribution.head_pruning import HeadImportance, HeadPruningResult
    from neuronlab.attribution.result import AttributionResult
    from neuronlab.report.sections_stored import StoredAttribution, StoredHeadPruning

    path = base_store(tmp_path / "s.h5")
    rng = np.random.default_rng(0)
    attr = rng.normal(size=(2, 4, 3))
    attr[1, 3] = 0.0  # padding of the shorter example
    res = AttributionResult("layer_integrated_gradients", "layers.0", attr, np.array([0.1, -0.2]),
                            np.array([1.0, 2.0]), np.array([0.5, 0.0]), [["a", "b", "c", "d"], ["e", "f", "g"]],
                            [[0, 1, 2, 3], [0, 1, 2, -1]], config={"target": {"kind": "logit", "index": 0}})
    imp = HeadImportance(["layers.0.attn.probs"], np.array([[0.3, 0.1]]), np.array([[0.2, 0.4]]))
    with ActivationStore.open(path, mode="r+") as st:
        res.to_store(st, "ig")
        HeadPruningResult(imp, {"attribution": np.array([0.9, 0.8, 0.5])}).to_store(st, "hp")
        back = StoredAttribution.from_store(st, "ig")
        hp = StoredHeadPruning.from_store(st, "hp")
    assert back.method == "layer_integrated_gradients" and back.site == "layers.0"
    assert back.tokens == res.tokens
    np.testing.assert_allclose(back.per_token[0], res.per_token()[0])
    np.testing.assert_allclose(back.per_token[1, :3], res.per_token()[1, :3])
    assert np.isnan(back.per_token[1, 3])
    np.testing.assert_allclose(back.per_neuron, res.per_neuron(), rtol=1e-6)
    np.testing.assert_allclose(back.relative_delta, res.relative_delta())
    assert back.neuron_ids == ["layers.0:0", "layers.0:1", "layers.0:2"]
    assert hp.curves["attribution"].tolist() == [0.9, 0.8, 0.5] and hp.attention.tolist() == [[0.2, 0.4]]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Concept, class names, words and result names that hold markup, quotes and entities."""
    return cached_analyses_store(tmp_path_factory, 3, concept=XSS_CONCEPT, classes=(SCRIPT, '"B" & <c>', "C&amp;"),
                                 words=[SCRIPT, '"quoted"', "&amp;", "it's", "<b>bold</b>", "plain", "x", "y", "z"],
                                 prefix="<b>&amp;\"r\"")


def test_text_from_the_store_is_escaped(hostile):
    import re

    from neuronlab.report.explorer import explorer_script

    html = render_report(_data(hostile), sections=list(MINE), svg=False).html
    body = html[html.index("<main>"):]
    # the explorer's own two script elements (its code, its JSON data) are the only scripts allowed
    body = body.replace(f"<script>{explorer_script()}</script>", "")
    body = re.sub(r'<script type="application/json" id="explorer-data">[^<]*</script>', "", body)
    assert "<script" not in body and "<img" not in body.replace("<img src=\"data:image/png;base64,", "")
    assert "<b>" not in body and 'onerror="' not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # shown as text
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp;amp; &#x27;q&#x27;" in body
    assert "&lt;b&gt;&amp;amp;&quot;r&quot;redundancy" in body


def test_the_whole_report_builds_with_every_result_kind(built):
    out, html = built
    assert out["sections"] == [e.name for e in sorted(SECTIONS.values(), key=lambda e: (e.order, e.name))]
    figures = {p.rsplit("/", 1)[1] for p in out["figures"]}
    for stem in ("probe_subsets-minimal_0", "redundancy-dendrogram_0", "unsupervised-umap_0", "attribution-tokens_0",
                 "attribution-head_pruning_0", "bridge-bridge_0", "tcav-tcav_0", "crossmodel-similarity_0"):
        assert f"{stem}.png" in figures and f"{stem}.svg" in figures
    assert "Results that could not be read" not in html
    for name in MINE:
        assert "then build the report again" not in _section(html, name)


def test_long_neuron_lists_are_cut_with_a_note(data, monkeypatch):
    from neuronlab.report import sections_explanations

    monkeypatch.setitem(sections_explanations.MAX_NEURONS, "contexts", 1)
    frag = sections_explanations.contexts_section(data)
    html = "".join(p for p in frag.parts if isinstance(p, str))
    first, second = (n["neuron"] for n in data.of_kind("contexts")[0][1].neurons)
    assert f"<h4>{first}</h4>" in html and f"<h4>{second}</h4>" not in html
    assert "The first 1 of 2 neurons; all of them are in the result &#x27;contexts&#x27; of the store." in html
