"""The attribution and TCAV sections from results of the real methods on a tiny random BERT (not hand-made arrays)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from helpers.live_models import tiny_bert
from report_sections_stores import base_store

torch = pytest.importorskip("torch")

SENTS = [["the", "film", "was", "good"], ["a", "nice", "cast"], ["dull", "plot"]]
POSITIVE = ["a good film", "great acting", "wonderful", "nice cast", "lovely story", "superb"]
RANDOM = [f"word{i} thing{i} and stuff" for i in range(16)]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    from neuronlab.attribution import TCAV, LayerGradientXActivation
    from neuronlab.models.targets import Target
    from neuronlab.store import ActivationStore

    live = tiny_bert()
    results = {s: LayerGradientXActivation(live, s).attribute(SENTS, target=1) for s in ("layers.0", "layers.1")}
    tcav = TCAV(live, ["layers.0", "layers.1"], n_runs=2, random_state=0).attribute(
        SENTS, target=Target("logit", 1), concepts={"positive": POSITIVE}, random=RANDOM)
    path = base_store(tmp_path_factory.mktemp("live") / "live.h5")
    with ActivationStore.open(path, mode="r+") as st:
        for site, res in results.items():
            res.to_store(st, f"gxa_{site}")
        tcav.to_store(st, "tcav")
    return path, results, tcav


def _data(path):
    from neuronlab.report.data import ReportData
    from neuronlab.store import ActivationStore

    with ActivationStore.open(path) as st:
        return ReportData(st)


def test_attribution_section_from_real_attributions(stored, monkeypatch):
    """The token x site heatmap gets each token's attribution summed over the site's neurons, as the method gave it."""
    from neuronlab.report import sections_attribution

    path, results, _ = stored
    seen = []
    real = sections_attribution.token_layer_heatmap

    def spy(tokens, sites, values, *, title):
        seen.append((list(tokens), list(sites), np.asarray(values)))
        return real(tokens, sites, values, title=title)

    monkeypatch.setattr(sections_attribution, "token_layer_heatmap", spy)
    frag = sections_attribution.attribution_section(_data(path))
    assert len(seen) == sections_attribution.N_EXAMPLES and len(frag.figures) == 2 + 2  # heatmaps, top neurons
    for e, (tokens, sites, values) in enumerate(seen):
        assert sites == ["layers.0", "layers.1"] and tokens == results["layers.0"].tokens[e]
        expected = np.column_stack([results[s].per_token()[e, :len(tokens)] for s in sites])
        np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-7)
    html = "".join(p for p in frag.parts if isinstance(p, str))
    row = re.search(r"<tr><td>gxa_layers.0</td>.*?</tr>", html).group(0)
    assert "layer_gradient_x_activation" in row
    assert f"{results['layers.0'].relative_delta().max():.3f}" in row


def test_tcav_section_from_a_real_tcav_run(stored):
    from neuronlab.report.sections_tcav import tcav_section

    path, _, tcav = stored
    frag = tcav_section(_data(path))
    html = "".join(p for p in frag.parts if isinstance(p, str))
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    for r in tcav.rows:
        i = cells.index(r["site"], cells.index("positive"))
        assert cells[i + 1:i + 3] == [f"{r['score']:.3f}", f"{r['score_std']:.3f}"]
        assert cells[i + 5:i + 8] == [f"{r['p_value']:.3f}", f"{r['p_adjusted']:.3f}",
                                      "yes" if r["significant"] else "no"]
    assert len(frag.figures) == 1 and "bonferroni" in html
