"""Report sections ``attribution`` (attributions, ablations, head pruning) and ``bridge`` (concept vs causation).

``attribution`` reads ``attribution/<method>`` results (:class:`~neuronlab.report.sections_stored.StoredAttribution`;
conductance, Dhamdhere et al. 2018; integrated gradients, Sundararajan et al. 2017; self-attention attribution,
Hao et al. 2021), ``ablation/greedy`` and ``ablation/neurons`` (``neuronlab ablate``; Dalvi et al. 2019) and
``attribution/head_pruning``. It shows a token x site heatmap per example for every method with results at
several sites on the same inputs, the units with the largest share of each site's attribution, greedy
ablation curves, single-neuron ablation effects and head pruning curves. ``bridge`` reads ``bridge`` results
(:class:`~neuronlab.attribution.bridge.BridgeResult`; Durrani, Sajjad & Dalvi 2021): the concept neurons'
attribution share and ablation effect against random neuron sets.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from .data import ReportData
from .markup import esc, table
from .plots_attribution import (attribution_shares, bridge_plot, greedy_curve_plot, head_pruning_plot,
                                neuron_effects_plot, token_layer_heatmap, top_units_plot)
from .sections import Figure, Fragment
from .sections_common import compact, figure_name, missing
from .sections_stored import ATTRIBUTION_KINDS

__all__ = ["attribution_section", "bridge_section", "N_EXAMPLES"]

#: examples shown as token x site heatmaps per method
N_EXAMPLES = 2


def _target(config: dict) -> str:
    t = config.get("target")
    if isinstance(t, dict):
        return ", ".join(f"{k}={v}" for k, v in t.items() if v is not None)
    return "" if t is None else str(t)


def _site_order(data: ReportData, sites) -> list[str]:
    index = {s: i for i, s in enumerate(data.sites)}
    return sorted(dict.fromkeys(sites), key=lambda s: (index.get(s, len(index)), s))


def _heatmaps(frag: Fragment, data: ReportData, attributions: list) -> None:
    """Token x site heatmaps: results of one method and target on the same inputs, one column per site."""
    groups: dict = defaultdict(list)
    for name, res in attributions:
        key = (res.method, compact(res.config.get("target")), compact(res.config.get("neuron")),
               compact(res.tokens[:N_EXAMPLES]))
        groups[key].append((name, res))
    n = 0
    for (method, _, _, _), items in groups.items():
        by_site = {res.site: res for _, res in items}
        sites = _site_order(data, by_site)
        first = items[0][1]
        for e in range(min(N_EXAMPLES, len(first.tokens))):
            tokens = first.tokens[e]
            m = np.column_stack([by_site[s].per_token[e, :len(tokens)] for s in sites])
            frag.add(Figure(figure_name("tokens", n), token_layer_heatmap(
                tokens, sites, m, title=f"{method}: example {e + 1}"),
                f"{method} ({_target(first.config) or 'target not recorded'}): attribution of each token of example "
                f"{e + 1} summed over each site's units ({', '.join(n for n, _ in items)})."))
            n += 1


def _attributions(frag: Fragment, data: ReportData, attributions: list) -> None:
    frag.add("<h3>Attributions</h3>", table(
        ["result", "method", "site", "examples", "target", "max relative delta"],
        [(name, res.method, res.site, len(res.tokens), _target(res.config),
          float(res.relative_delta.max()) if res.relative_delta.size else None) for name, res in attributions]))
    _heatmaps(frag, data, attributions)
    units = [(name, res) for name, res in attributions if res.per_neuron is not None and res.neuron_ids]
    for i, (name, res) in enumerate(units):
        heads = res.method == "self_attention_attribution"
        shares = attribution_shares(res.per_neuron)
        frag.add(Figure(figure_name("top_units", i), top_units_plot(res.site, res.neuron_ids, shares,
                                                                    what="heads" if heads else "neurons"),
                        f"{name}: the {'heads' if heads else 'neurons'} of {res.site} with the largest share of its "
                        f"absolute {res.method} summed over tokens and examples."))


def _ablations(frag: Fragment, ablations: list) -> None:
    frag.add("<h3>Ablation</h3>")
    rows = []
    for name, res in ablations:
        ds = res.config.get("dataset") or {}
        acc = (f"{100 * ds['before']['accuracy']:.2f} % -> {100 * ds['after']['accuracy']:.2f} %"
               if ds.get("before") and ds.get("after") else None)
        rows.append((name, res.mode, res.config.get("site", ""), len(res.neuron_ids), _target(res.config), acc))
    frag.add(table(["result", "mode", "site", "neurons", "target", "accuracy before -> after"], rows))
    for i, (name, res) in enumerate(ablations):
        site = str(res.config.get("site", ""))
        if res.mode == "greedy" and res.curve is not None:
            frag.add(Figure(figure_name("greedy", i), greedy_curve_plot(site, res.neuron_ids, res.curve,
                                                                        target=_target(res.config)),
                            f"{name}: mean target as the greedily chosen neurons are ablated together."))
        elif res.per_neuron_effect is not None:
            frag.add(Figure(figure_name("ablation", i), neuron_effects_plot(site, res.neuron_ids,
                                                                            res.per_neuron_effect),
                            f"{name}: the neurons whose ablation alone changes the mean target most."))


def _head_pruning(frag: Fragment, results: list) -> None:
    frag.add("<h3>Head pruning</h3>")
    for i, (name, res) in enumerate(results):
        frag.add(table(["order", "accuracy, no head pruned", "half the heads pruned", "all heads pruned"],
                       [(o, float(c[0]), float(c[len(c) // 2]), float(c[-1])) for o, c in res.curves.items()]))
        frag.add(Figure(figure_name("head_pruning", i), head_pruning_plot(res.curves, res.sites, res.attribution),
                        f"{name}: accuracy as the least important heads of every layer are pruned, by attribution, "
                        "attention weight and at random; right: head importance by attribution (Hao et al. 2021)."))


def attribution_section(data: ReportData) -> Fragment:
    """Token x site heatmaps, top units by attribution share, ablation curves and effects, head pruning."""
    attributions = [item for kind in ATTRIBUTION_KINDS for item in data.of_kind(kind)]
    ablations = data.of_kind("ablation/greedy") + data.of_kind("ablation/neurons")
    pruning = data.of_kind("attribution/head_pruning")
    frag = Fragment()
    if not (attributions or ablations or pruning):
        return frag.add(missing("attribution, ablation or head pruning results",
                                "neuronlab attribute --model MODEL --site SITE --corpus FILE --store STORE (or "
                                "neuronlab ablate ... --store STORE)"))
    if attributions:
        _attributions(frag, data, attributions)
    if ablations:
        _ablations(frag, ablations)
    if pruning:
        _head_pruning(frag, pruning)
    return frag


def bridge_section(data: ReportData) -> Fragment:
    """The concept neurons' attribution share and ablation effect against random neuron sets."""
    results = data.of_kind("bridge")
    frag = Fragment()
    if not results:
        return frag.add(missing("concept bridge results",
                                "neuronlab bridge MODEL --corpus FILE --store STORE --ranking RESULT --top-k 20"))
    rows = []
    for name, res in results:
        ab = res.ablation or {}
        rows.append((name, res.concept, len(res.neurons), ", ".join(f"{s}: {n}" for s, n in res.site_counts.items()),
                     res.method, float(res.share), float(res.random_share_mean), float(res.share_p_value),
                     ab.get("target_effect"), ab.get("random_target_effect_mean"), ab.get("target_p_value"),
                     ab.get("accuracy_drop")))
    frag.add(table(["result", "concept", "neurons", "per site", "attribution", "share", "random share",
                    "p", "target effect", "random effect", "p (effect)", "accuracy drop"], rows))
    for i, (name, res) in enumerate(results):
        frag.add(f"<p>{esc(name)}: {esc(res.describe())}.</p>")
        ab = res.ablation or {}
        frag.add(Figure(figure_name("bridge", i), bridge_plot(
            res.share, res.random_shares, effect=ab.get("target_effect"), random_effects=res.random_target_effects,
            title=f"{res.concept or 'given'} neurons against {res.n_random} random sets"),
            f"{name}: the concept neurons (red) against random neuron sets of the same size per site."))
    return frag
