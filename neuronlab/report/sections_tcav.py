"""Report section ``tcav``: TCAV scores per concept and site with their significance (Kim et al. 2018).

From ``attribution/tcav`` results (:class:`~neuronlab.attribution.tcav.TCAVResult`, ``neuronlab tcav``): the
mean TCAV score over the concept-vs-random CAV runs beside the random-vs-random runs (the null distribution),
the two-sided t-test p-value, its correction over the (concept, site) pairs and the CAVs' held-out accuracy.
"""
from __future__ import annotations

import numpy as np

from .data import ReportData
from .markup import esc, table
from .plots_attribution import tcav_plot
from .sections import Figure, Fragment
from .sections_common import figure_name, missing

__all__ = ["tcav_section"]


def _class(res) -> str:
    cfg = res.config or {}
    name = cfg.get("class_name") or (cfg.get("cli") or {}).get("class_name")
    index = (res.target or {}).get("index")
    return f"{name} (class {index})" if name is not None else f"class {index}"


def tcav_section(data: ReportData) -> Fragment:
    """Per TCAV result: a table of the scores and tests per (concept, site) and the bar chart with random CAVs."""
    results = data.of_kind("attribution/tcav")
    frag = Fragment()
    if not results:
        return frag.add(missing("TCAV results", "neuronlab tcav MODEL --corpus FILE --site SITE --target CLASS "
                                                "--concept LABEL:CLASS --store STORE"))
    for i, (name, res) in enumerate(results):
        alpha = (res.config or {}).get("alpha", 0.05)
        correction = (res.config or {}).get("correction", "bonferroni")
        frag.add(f"<h3>{esc(name)}: {esc(_class(res))}</h3>")
        frag.add(table(["concept", "site", "TCAV score", "std", "random score", "random std", "p", "p adjusted",
                        "significant", "CAV accuracy", "random CAV accuracy"],
                       [(r["concept"], r["site"], r.get("score"), r.get("score_std"), r.get("random_score"),
                         r.get("random_score_std"), r.get("p_value"), r.get("p_adjusted"),
                         "yes" if r.get("significant") else "no", r.get("cav_accuracy"),
                         r.get("random_cav_accuracy")) for r in res.rows]))
        frag.add(f'<p class="ref">Significant: p adjusted ({esc(correction)}) &lt; {esc(alpha)} in a two-sided t-test '
                 "of the concept's runs against the random-vs-random runs.</p>")
        if res.scores is not None and res.random_scores is not None:
            sig = np.zeros((len(res.concepts), len(res.sites)), dtype=bool)
            for r in res.rows:
                if r["concept"] in res.concepts and r["site"] in res.sites:
                    sig[res.concepts.index(r["concept"]), res.sites.index(r["site"])] = bool(r.get("significant"))
            frag.add(Figure(figure_name("tcav", i), tcav_plot(res.concepts, res.sites, res.scores, res.random_scores,
                                                              sig, title=f"TCAV for {_class(res)}"),
                            f"{name}: mean TCAV score (bars, with the spread over runs) per concept and site; grey "
                            "dots: random-vs-random runs; * significant, n.s. not."))
    return frag
