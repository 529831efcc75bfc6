"""Report section ``crossmodel``: neurons, directions and layers compared across models (``neuronlab crossmodel``).

From ``crossmodel`` results (:class:`~neuronlab.concepts.multimodel.results.CrossModelResult`): MaxCorr, MinCorr
and LinReg rank the first model's neurons (Bau et al. 2019) and list their counterparts; SVCCA (Raghu et al.
2017) gives the canonical correlations between models; linear CKA (Kornblith et al. 2019) a site x site
similarity over every model, drawn as a heatmap.
"""
from __future__ import annotations

from .data import ReportData
from .markup import esc, table
from .plots_concepts import similarity_plot
from .sections import Figure, Fragment
from .sections_common import figure_name, missing

__all__ = ["crossmodel_section"]


def _matches(item: dict) -> str:
    m = item.get("matches") or item.get("errors") or {}
    parts = []
    for model, v in m.items():
        if isinstance(v, dict):
            parts.append(f"{model}: {v.get('neuron', '')} (r={float(v['r']):.3f})" if "r" in v
                         else f"{model}: {v}")
        else:
            parts.append(f"{model}: {float(v):.3f}" if isinstance(v, (int, float)) else f"{model}: {v}")
    return "; ".join(parts)


def crossmodel_section(data: ReportData) -> Fragment:
    """Top neurons with their counterparts, SVCCA pairs, and the CKA / SVCCA similarity heatmaps."""
    results = data.of_kind("crossmodel")
    frag = Fragment()
    if not results:
        return frag.add(missing("cross-model results", "neuronlab crossmodel STORE OTHER_STORE --method maxcorr"))
    fig = 0
    for name, res in results:
        frag.add(f"<h3>{esc(name)}: {esc(res.method)} over {esc(', '.join(map(str, res.models)))}</h3>")
        frag.add(f"<p>{int(res.n_rows)} rows; sites {esc(', '.join(map(str, res.sites)))}.</p>")
        if res.top:
            frag.add(table(["neuron", "score", "counterparts"],
                           [(t.get("neuron"), t.get("score"), _matches(t)) for t in res.top]))
        if res.pairs:
            frag.add(table(["models", "SVCCA similarity", "dimensions kept", "top canonical correlations"],
                           [(" vs ".join(map(str, p.get("models", []))) or p.get("pair"), p.get("similarity"),
                             str(p.get("kept")),
                             ", ".join(f"{float(c):.3f}" for c in (p.get("correlations") or [])[:5]))
                            for p in res.pairs]))
        if res.similarity is not None:
            labels = list(res.blocks) if res.blocks else list(res.models)
            what = "linear CKA between sites" if res.method == "cka" else f"{res.method} similarity between models"
            frag.add(Figure(figure_name("similarity", fig), similarity_plot(res.similarity, labels,
                                                                            title=f"{name}: {what}"),
                            f"{name}: {what}."))
            fig += 1
    return frag
