"""Report sections ``generation_explanations``, ``cd_trees`` and ``neuron_stats`` (issue 15 results, issue 14 report).

``generation_explanations`` reads ``generation_explanation`` results
(:class:`~neuronlab.explain.gen_result.GenerationExplanation`, ``neuronlab explain-generate ... --store STORE``):
for the first :data:`MAX_SENTENCES` sentences of each, the [generated step x (source + decoder prefix + previous
target tokens)] score matrix as a heatmap table, one colour scale per result (red positive, blue negative, opacity
``|score| / max``); a target token not produced yet at a step (NaN) is a blank cell, as in inseq. Each row ends
with the step target ``f_t(x)`` and, for integrated gradients, ``f_t(x')`` and the row's sum (completeness).

``cd_trees`` reads ``cd_tree`` results (:class:`~neuronlab.explain.cd_agglomerative.CDTree`): the agglomerative
contextual decomposition hierarchy (Singh, Murdoch & Yu 2019) as nested rows, the whole sentence on top and the
words at the bottom; each phrase is coloured by its CD score (one scale per tree) and the phrase joined at a level
is outlined, with the interaction of its two parts.

``neuron_stats`` reads ``neuron_stats`` results (:class:`~neuronlab.scale.stats_result.NeuronStatsResult`,
``neuronlab stats STORE``): per site the neurons, the dead (constant) ones (count and ids), the mean and median
standard deviation, and a histogram of the standard deviations per site.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .data import ReportData, site_of
from .heatmap import ColourScale, legend_html
from .markup import esc, table
from .plots_explain import std_histogram_plot
from .sections import Figure, Fragment
from .sections_common import compact, figure_name, missing, note

__all__ = ["generation_section", "cd_trees_section", "neuron_stats_section", "generation_table", "cd_tree_html",
           "stats_by_site", "MAX_SENTENCES", "MAX_LEVELS", "MAX_DEAD"]

#: sentences shown per generation result
MAX_SENTENCES = 5
#: levels of an ACD tree shown (the top ones: the whole sentence down)
MAX_LEVELS = 60
#: dead neuron ids listed per site
MAX_DEAD = 50


def _legend(scale: ColourScale, label: str, scope: str) -> str:
    """:func:`legend_html` with the scope of its scale said (one result or one tree, not the whole page)."""
    return legend_html(scale, label=label).replace("one scale for every sentence on this page", scope)


def _cell(value: float, scale: ColourScale, *, digits: int = 3) -> str:
    if not np.isfinite(value):
        return '<td class="gen-blank"></td>'
    white = ";color:#fff" if scale.alpha(value) > 0.6 else ""
    return (f'<td class="num" style="background:{scale.colour(value)}{white}" title="{value:.6g}">'
            f"{value:+.{digits}f}</td>")


def generation_table(res: Any, i: int, scale: ColourScale) -> str:
    """Sentence ``i`` of a :class:`GenerationExplanation` as an escaped HTML heatmap table.

    Rows: the generated tokens (steps); columns: source tokens, decoder prefix, target tokens, then ``f_t(x)`` (and
    ``f_t(x')`` with the row's sum where the method has a reference). NaN cells (not produced yet) are blank.
    """
    mat = np.asarray(res.scores[i], dtype=np.float64)
    src, pre, tgt = list(res.source_tokens[i]), list(res.prefix_tokens[i]), list(res.target_tokens[i])
    ref = res.reference_values[i] if res.reference_values is not None and i < len(res.reference_values) else None
    groups = [("source", len(src)), ("prefix", len(pre)), ("previous target", len(tgt))]
    group_head = "".join(f'<th colspan="{n}">{g}</th>' for g, n in groups if n)
    tail = ["f_t(x)"] + (["f_t(x')", "sum"] if ref is not None else [])
    head = "".join(f"<th>{esc(c)}</th>" for c in src + pre + tgt)
    rows = []
    for t in range(mat.shape[0]):
        tok = tgt[t] if t < len(tgt) else str(t)
        cells = "".join(_cell(float(v), scale) for v in mat[t])
        step = res.step_values[i][t] if i < len(res.step_values) and t < len(res.step_values[i]) else None
        extra = [step] + ([ref[t] if t < len(ref) else None, float(np.nansum(mat[t]))] if ref is not None else [])
        extra_html = "".join('<td class="num">&ndash;</td>' if v is None else f'<td class="num">{float(v):+.3f}</td>'
                             for v in extra)
        rows.append(f"<tr><th>{esc(tok)}</th>{cells}{extra_html}</tr>")
    return (f'<table class="gen-matrix"><thead><tr><th rowspan="2">step</th>{group_head}'
            f'<th rowspan="2" colspan="{len(tail)}">{" / ".join(esc(x) for x in tail)}</th></tr>'
            f"<tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def generation_section(data: ReportData) -> Fragment:
    """Per generation explanation: its configuration and the first sentences' step x token heatmap tables."""
    results = data.of_kind("generation_explanation")
    frag = Fragment()
    if not results:
        return frag.add(missing("generation explanations", "neuronlab explain-generate MODEL --text PROMPT --method "
                                                           "NAME --store STORE"))
    for name, res in results:
        n_all = len(res.scores or [])
        frag.add(f"<h3>{esc(name)}: {esc(res.method)} / {esc(res.step_target)}</h3>")
        frag.add(table(["method", "step target", "contrast", "sentences", "forward rows", "seconds", "parameters"],
                       [(res.method, res.step_target, ", ".join(map(str, res.contrast)) if res.contrast else None,
                         n_all, int(res.forward_passes), float(res.seconds),
                         ", ".join(f"{k}={compact(v)}" for k, v in sorted((res.config or {}).items())))]))
        n = min(MAX_SENTENCES, n_all)
        scale = ColourScale.for_values([np.asarray(res.scores[i], dtype=np.float64) for i in range(n)])
        frag.add(_legend(scale, "score", f"one scale for the sentences of {esc(name)}"))
        for i in range(n):
            src = res.sources[i] if i < len(res.sources) else ""
            frag.add(f'<p class="gen-source">Input {i}: {esc(src)}</p>', generation_table(res, i, scale))
        if n_all > n:
            frag.add(note(f"The first {n} of {n_all} sentences; all of them are in the result {name!r} (read them with "
                          "neuronlab.explain.gen_result.GenerationExplanation.from_store)."))
    frag.add('<p class="ref">Row t: the scores of every token for the prediction of the t-th generated token; blank: '
             "not produced yet at that step (as inseq shows it; Sarti et al. 2023).</p>")
    return frag


# ------------------------------------------------------------------ ACD trees
def _phrase(words: list, start: int, stop: int, value: float, scale: ColourScale, joined: bool) -> str:
    style = [f"background:{scale.colour(value)}", "padding:0 .3em", "margin:0 .1em", "border-radius:3px",
             "display:inline-block"]
    if scale.alpha(value) > 0.6:
        style.append("color:#fff")
    if joined:
        style.append("outline:2px solid #1d2430")
    text = " ".join(str(w) for w in words[start:stop])
    return (f'<span class="cd-phrase{" cd-joined" if joined else ""}" style="{";".join(style)}" '
            f'title="{esc(f"CD score {value:.4g}")}" data-value="{value:.6g}">{esc(text)} '
            f"<small>{value:+.3g}</small></span>")


def cd_tree_html(tree: Any) -> str:
    """The levels of a :class:`CDTree` as nested rows (escaped): the whole sentence first, the words last."""
    levels = list(tree.levels)
    scale = ColourScale.for_values([[v for _, _, v in level] for level in levels])
    shown = list(range(len(levels) - 1, -1, -1))[:MAX_LEVELS]
    rows = []
    for k in shown:
        made = tree.joins[k - 1] if 0 < k <= len(tree.joins) else None
        span = (made["left"][0], made["right"][1]) if made is not None else None
        phrases = "".join(_phrase(tree.words, int(s), int(e), float(v), scale, span == (int(s), int(e)))
                          for s, e, v in levels[k])
        inter = f'{float(made["interaction"]):+.4g}' if made is not None else "&ndash;"
        rows.append(f'<tr><td class="num">{k}</td><td>{phrases}</td><td class="num">{inter}</td></tr>')
    more = ""
    if len(levels) > len(shown):
        more = note(f"The top {len(shown)} of {len(levels)} levels.")
    return (_legend(scale, "CD score", "one scale for this tree") +
            '<table class="cd-tree"><thead><tr><th>level</th><th>phrases (outlined: joined at this level)</th>'
            f"<th>interaction</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{more}")


def cd_trees_section(data: ReportData) -> Fragment:
    """Per ACD tree: the sentence, f(x), the target, and the hierarchy as nested coloured rows."""
    results = data.of_kind("cd_tree")
    frag = Fragment()
    if not results:
        return frag.add(note("No agglomerative CD trees in this store. In Python: "
                             "agglomerate(EXPLAINERS['cd'](live), SENTENCE).to_store(store, NAME) "
                             "(neuronlab.explain.cd_agglomerative), then build the report again."))
    for name, tree in results:
        target = tree.target or {}
        idx = target.get("index")
        idx = idx[0] if isinstance(idx, (list, tuple)) and len(idx) == 1 else idx
        frag.add(f"<h3>{esc(name)}: {esc(' '.join(str(w) for w in tree.words))}</h3>")
        priority = (tree.config or {}).get("priority", "")
        frag.add(f"<p>f(x) = {float(tree.target_value):.4g} ({esc(target.get('kind', 'logit'))} of class "
                 f"{esc(idx)}); {len(tree.levels)} levels; priority {esc(priority)}.</p>")
        frag.add(cd_tree_html(tree))
    frag.add('<p class="ref">Agglomerative contextual decomposition (Singh, Murdoch &amp; Yu 2019): at each level the '
             "two adjacent phrases whose interaction CD(A u B) - CD(A) - CD(B) ranks first are joined.</p>")
    return frag


# ------------------------------------------------------------------ neuron statistics
def stats_by_site(res: Any) -> dict[str, dict]:
    """Per site (in the result's neuron order): ``neurons``, ``dead`` (ids) and ``std`` (array).

    >>> from types import SimpleNamespace as N
    >>> r = N(neurons=["a:0", "a:1", "b:0"], std=[1.0, 0.0, 2.0], dead_neurons=["a:1"])
    >>> {s: (v["neurons"], v["dead"]) for s, v in stats_by_site(r).items()}
    {'a': (2, ['a:1']), 'b': (1, [])}
    """
    dead = set(map(str, res.dead_neurons or []))
    out: dict[str, dict] = {}
    for nid, sd in zip(res.neurons, res.std):
        d = out.setdefault(site_of(str(nid)), {"neurons": 0, "dead": [], "std": []})
        d["neurons"] += 1
        d["std"].append(np.nan if sd is None else float(sd))
        if str(nid) in dead:
            d["dead"].append(str(nid))
    for d in out.values():
        d["std"] = np.asarray(d["std"], dtype=np.float64)
    return out


def neuron_stats_section(data: ReportData) -> Fragment:
    """Per stats result: dead neurons per site (count and ids) and the histogram of the standard deviations."""
    results = data.of_kind("neuron_stats")
    frag = Fragment()
    if not results:
        return frag.add(missing("neuron statistics", "neuronlab stats STORE"))
    for i, (name, res) in enumerate(results):
        sites = stats_by_site(res)
        levels = ", ".join(sorted(map(str, res.quantiles or {}), key=float))
        frag.add(f"<h3>{esc(name)}: {int(res.n_neurons)} neurons over {int(res.n_rows)} rows</h3>")
        frag.add(f"<p>{len(res.dead_neurons or [])} dead (constant) neurons; exact quantiles stored at "
                 f"{esc(levels or 'none')}.</p>")
        rows = []
        for site, d in sites.items():
            sd = d["std"][np.isfinite(d["std"])]
            listed = ", ".join(d["dead"][:MAX_DEAD]) + (f" ... (+{len(d['dead']) - MAX_DEAD})"
                                                       if len(d["dead"]) > MAX_DEAD else "")
            rows.append((site, d["neurons"], len(d["dead"]), float(sd.mean()) if sd.size else None,
                         float(np.median(sd)) if sd.size else None, listed or None))
        frag.add(table(["site", "neurons", "dead", "mean std", "median std", "dead neurons"], rows))
        if sites:
            frag.add(Figure(figure_name("std", i), std_histogram_plot({s: d["std"] for s, d in sites.items()}),
                            f"{name}: standard deviation of each neuron's activation, per site (dead neurons at 0)."))
    return frag
