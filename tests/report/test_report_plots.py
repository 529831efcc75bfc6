"""Every plot of the report renders a valid, non-empty PNG and SVG whose content depends on the data."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from report_stores import study_store

from neuronlab.report import plots
from neuronlab.report.build import render_report
from neuronlab.report.data import ReportData
from neuronlab.store import ActivationStore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def two_stores(tmp_path_factory):
    d = tmp_path_factory.mktemp("plots")
    return study_store(d / "a.h5", seed=0), study_store(d / "b.h5", seed=1)


@pytest.fixture(scope="module")
def rendered(two_stores):
    """name -> (pixels of store a, pixels of store b), every plot function checked once per store."""
    fa, fb = (_figures(_data(p)) for p in two_stores)
    return {name: (_check_image(fa[name]), _check_image(fb[name])) for name in fa}


def _data(path) -> ReportData:
    with ActivationStore.open(path) as st:
        return ReportData(st)


def _pixels(png: bytes) -> np.ndarray:
    import matplotlib.image

    assert png[:8] == PNG_MAGIC
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def _check_image(fig) -> np.ndarray:
    png = plots.to_png(fig)
    px = _pixels(png)
    assert px.ndim == 3 and px.shape[0] > 100 and px.shape[1] > 100
    assert np.unique(px.reshape(-1, px.shape[2]), axis=0).shape[0] > 10  # not a blank canvas
    root = ET.fromstring(plots.to_svg(fig))
    assert root.tag.endswith("svg") and len(list(root.iter())) > 20
    return px


def _figures(data: ReportData) -> dict:
    """Every plot function, called on this store's results the way the sections call it."""
    probes = data.of_kind("probe")
    rankings = data.of_kind("ranking")
    k = plots.top_k_for(int(data.summary["n_neurons"]))
    ranks = [r.ranking for _, r in rankings]
    return {
        "probe_accuracy_plot": plots.probe_accuracy_plot([(r.concept, r) for _, r in probes]),
        "layerwise_plot": plots.layerwise_plot([(r.concept, r) for _, r in probes]),
        "ablation_plot": plots.ablation_plot("pos", probes[0][1].evaluation["ablation"]),
        "top_sites_plot": plots.top_sites_plot([(r.method, r.ranking) for _, r in rankings], data.sites, k),
        "agreement_plot": plots.agreement_plot("pos", [r.method for _, r in rankings],
                                               plots.top_k_overlap(ranks, k), k=k),
    }


def test_every_plot_function_is_covered():
    public = {n for n in plots.__all__ if n.endswith("_plot")}
    assert public == {"probe_accuracy_plot", "layerwise_plot", "ablation_plot", "top_sites_plot",
                      "agreement_plot"}, "add the new plot to _figures"


@pytest.mark.parametrize("name", ["probe_accuracy_plot", "layerwise_plot", "ablation_plot", "top_sites_plot",
                                  "agreement_plot"])
def test_plot_renders_and_depends_on_the_data(rendered, name):
    pa, pb = rendered[name]
    assert pa.shape != pb.shape or not np.array_equal(pa, pb), f"{name}: two different stores gave the same image"


def test_plots_are_reproducible(two_stores, rendered):
    again = _figures(_data(two_stores[0]))
    for name, fig in again.items():
        assert np.array_equal(_pixels(plots.to_png(fig)), rendered[name][0]), name


def test_section_figures_differ_between_stores(two_stores):
    ra, rb = (render_report(_data(p)) for p in two_stores)
    assert set(ra.figures) == set(rb.figures) == {"probes-probe_accuracy", "probes-layerwise", "probes-ablation_0",
                                                  "rankings-top_sites_0", "rankings-agreement_0"}
    for stem in ra.figures:
        assert ra.figures[stem][0] != rb.figures[stem][0], stem
        assert ra.figures[stem][1] != rb.figures[stem][1], stem


def test_dollar_signs_in_names_are_text_not_mathtext():
    # with mathtext on, an odd number of '$' raises a parse error when the figure is drawn
    fig = plots.agreement_plot("cost in $ and $x", ["a$", "b"], [[1.0, 0.25], [0.25, 1.0]], k=3)
    _check_image(fig)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["1.00", "0.25", "0.25", "1.00"]


def test_top_k_overlap_equals_sklearn_jaccard():
    from sklearn.metrics import jaccard_score

    rng = np.random.default_rng(0)
    ids = [f"s:{i}" for i in range(30)]
    rankings = [list(rng.permutation(ids)) for _ in range(4)]
    got = plots.top_k_overlap(rankings, 7)
    for i, ri in enumerate(rankings):
        for j, rj in enumerate(rankings):
            a = np.isin(ids, ri[:7])
            b = np.isin(ids, rj[:7])
            assert got[i, j] == pytest.approx(jaccard_score(a, b))


def test_top_sites_plot_counts_the_top_k_per_site():
    fig = plots.top_sites_plot([("m", ["x:0", "y:1", "x:2", "y:0", "y:3"])], ["x", "y", "z"], 3)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [2, 1, 0]


def test_layerwise_plot_draws_each_sites_accuracy(two_stores):
    probes = _data(two_stores[0]).of_kind("probe")
    fig = plots.layerwise_plot([("pos", probes[0][1])])
    line = fig.axes[0].lines[0]
    assert list(line.get_ydata()) == list(probes[0][1].evaluation["layerwise"].values())


def test_ablation_plot_draws_every_curve(two_stores):
    ablation = _data(two_stores[1]).of_kind("probe")[0][1].evaluation["ablation"]
    fig = plots.ablation_plot("pos", ablation)
    drawn = [(ax.get_title(), line.get_label(), list(line.get_xdata()), list(line.get_ydata()))
             for ax in fig.axes for line in ax.lines if line.get_label() != "all neurons"]
    assert drawn == [(c["mode"], c["order"], c["n_neurons"], c["accuracy"]) for c in ablation["curves"]]
