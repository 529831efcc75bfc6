"""Every plot of the analysis sections: a valid, non-blank PNG (and SVG) whose content depends on the stored result."""
from __future__ import annotations

import io

import numpy as np
import pytest

from report_sections_stores import cached_analyses_store

from neuronlab.report import plots_attribution, plots_concepts
from neuronlab.report.data import ReportData
from neuronlab.report.plots import to_png, to_svg
from neuronlab.report.sections_redundancy import _correlations, _linkage, cluster_sample
from neuronlab.store import ActivationStore


def _one(data, kind, name=None):
    items = data.of_kind(kind)
    return next(res for n, res in items if name is None or n == name)


def _redundancy(data):
    res = _one(data, "redundancy")
    cols = cluster_sample(np.asarray(res.labels)[1])
    ids = [res.neuron_ids[j] for j in cols]
    return res, ids, _correlations(data.path, ids, res.n_rows), np.asarray(res.labels)[1][cols]


def _tokens(data):
    by_site = {r.site: r for n, r in data.of_kind("attribution/layer_conductance")}
    sites = sorted(by_site)
    tokens = by_site[sites[0]].tokens[0]
    return plots_attribution.token_layer_heatmap(
        tokens, sites, np.column_stack([by_site[s].per_token[0, :len(tokens)] for s in sites]), title="t")


def _tcav(data):
    res = _one(data, "attribution/tcav")
    sig = np.array([[r["significant"] for r in res.rows[i * 2:(i + 1) * 2]] for i in range(2)])
    return plots_attribution.tcav_plot(res.concepts, res.sites, res.scores, res.random_scores, sig)


def _bridge(data):
    res = _one(data, "bridge")
    return plots_attribution.bridge_plot(res.share, res.random_shares, effect=res.ablation["target_effect"],
                                         random_effects=res.random_target_effects)


def _minimal(data):
    return plots_concepts.minimal_subset_plot("pos", _one(data, "probe").evaluation["minimal"])


def _correlation(data):
    _, ids, corr, clusters = _redundancy(data)
    return plots_concepts.correlation_heatmap(corr, ids, clusters, threshold=0.3)


def _dendrogram(data):
    res, ids, corr, _ = _redundancy(data)
    return plots_concepts.dendrogram_plot(_linkage(corr, "average"), ids, res.thresholds)


def _removable(data):
    general = _one(data, "redundancy").general
    return plots_concepts.removable_plot([g["threshold"] for g in general], [g["removable_fraction"] for g in general],
                                         kept_per_site=[g["kept_per_site"] for g in general])


def _umap(data):
    res = _one(data, "umap", "umap_tokens")
    return plots_concepts.scatter_map_plot(res.coordinates, res.labels, title="umap")


def _nmf(data):
    res = _one(data, "nmf")
    return plots_concepts.loadings_plot(res.loadings, res.neuron_ids)


def _cka(data):
    res = _one(data, "crossmodel", "crossmodel_cka")
    return plots_concepts.similarity_plot(res.similarity, res.blocks, title="cka")


def _top_units(data):
    res = _one(data, "attribution/layer_conductance")
    return plots_attribution.top_units_plot(res.site, res.neuron_ids, plots_attribution.attribution_shares(
        res.per_neuron))


def _greedy(data):
    res = _one(data, "ablation/greedy")
    return plots_attribution.greedy_curve_plot("layers.0", res.neuron_ids, res.curve)


def _effects(data):
    res = _one(data, "ablation/neurons")
    return plots_attribution.neuron_effects_plot("layers.0", res.neuron_ids, res.per_neuron_effect)


def _pruning(data):
    res = _one(data, "attribution/head_pruning")
    return plots_attribution.head_pruning_plot(res.curves, res.sites, res.attribution)


#: plot function name -> how to draw it from a store's ReportData
PLOTS = {
    "minimal_subset_plot": _minimal, "correlation_heatmap": _correlation, "dendrogram_plot": _dendrogram,
    "removable_plot": _removable, "scatter_map_plot": _umap, "loadings_plot": _nmf,
    "latent_clusters_plot": lambda d: plots_concepts.latent_clusters_plot(_one(d, "latent_concepts").clusters),
    "similarity_plot": _cka, "token_layer_heatmap": _tokens, "top_units_plot": _top_units,
    "greedy_curve_plot": _greedy, "neuron_effects_plot": _effects, "head_pruning_plot": _pruning,
    "tcav_plot": _tcav, "bridge_plot": _bridge,
}


@pytest.fixture(scope="module")
def datas(tmp_path_factory):
    out = []
    for seed in (0, 1):
        with ActivationStore.open(cached_analyses_store(tmp_path_factory, seed)) as st:
            out.append(ReportData(st))
    return out


def test_every_plot_function_is_tested():
    names = {n for n in plots_concepts.__all__ + plots_attribution.__all__ if n.endswith(("_plot", "_heatmap"))}
    assert names == set(PLOTS)


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_plot_is_a_valid_image_that_depends_on_the_data(name, datas):
    figs = [PLOTS[name](d) for d in datas]
    pngs = [to_png(f, dpi=60) for f in figs]
    for png in pngs:
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
        px = _pixels(png)
        assert px.shape[0] > 100 and px.shape[1] > 100 and px.std() > 10  # not a blank canvas
    a, b = _pixels(pngs[0]), _pixels(pngs[1])
    assert a.shape != b.shape or not np.array_equal(a, b)  # the pixels differ, not only the bytes
    svg = to_svg(figs[0])
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg


def test_text_from_the_store_is_drawn_as_text_not_mathtext(datas):
    """A concept named like mathtext and a `<script>` concept: drawn as given (SVG keeps text as text)."""
    res = _one(datas[0], "attribution/tcav")
    fig = plots_attribution.tcav_plot(["$x^2$", res.concepts[1]], res.sites, res.scores, res.random_scores,
                                      np.zeros((2, 2), bool))
    svg = to_svg(fig).decode("utf-8")
    assert "$x^2$" in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


def test_attribution_shares_and_categorical_colours():
    assert plots_attribution.attribution_shares([[1.0, -1.0, 2.0], [-1.0, 3.0, 0.0]]).tolist() == [0.25, 0.5, 0.25]
    assert plots_attribution.attribution_shares(np.zeros((2, 3))).tolist() == [0.0, 0.0, 0.0]
    colours, legend = plots_concepts.categorical_colours(["b", "a", "b", "", "c"], max_classes=2)
    assert list(legend) == ["b", "a", "other"]
    assert colours == [legend["b"], legend["a"], legend["b"], legend["other"], legend["other"]]
