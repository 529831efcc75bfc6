"""Report sections ``explainer_ranking`` and ``attention_tests``: how far input-level explanations can be trusted.

``explainer_ranking`` reads ``explain_compare`` results (:class:`~neuronlab.explain.compare.ExplainerComparison`,
``neuronlab explain-compare ... --store STORE``): the explainers of a model on a set of inputs as ferret shows them
(Attanasio et al. 2023): a table explainer x metric in the comparison's order (best first), each metric's direction
(higher or lower is better) in its header, the best value of each column marked, the random-order baselines of the
faithfulness metrics (ERASER, DeYoung et al. 2020), the run time and the forward rows; and a figure
(comprehensiveness against sufficiency, and a bar panel per metric).

``attention_tests`` reads the three results of ``neuronlab explain-attention --store STORE``
(:mod:`neuronlab.explain.attention_tests`; Jain & Wallace 2019, Wiegreffe & Pinter 2019):
``attention_correlation`` (per importance measure, the layer x head heatmap of the mean Kendall tau between the
attention of the output position and the words' importance, and a table per layer), ``attention_intervention``
(permuted or uniform attention: per setting the mean median TVD of the output and the share of draws that flip
the prediction; the TVD against the largest attention weight) and ``attention_adversarial`` (the largest JSD from
the original attention with the output within epsilon TVD, per example).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .data import ReportData
from .markup import esc, fmt, table
from .plots_explain import as_float_matrix, explainer_ranking_plot, head_correlation_plot, tvd_attention_plot
from .sections import Figure, Fragment
from .sections_common import compact, figure_name, missing, note

__all__ = ["explainer_ranking_section", "attention_tests_section", "ranking_columns", "best_rows", "MAX_EXAMPLES"]

#: examples listed per adversarial-attention result
MAX_EXAMPLES = 20


def ranking_columns(metrics: list[str]) -> list[tuple[str, str, str | None]]:
    """The table's metric columns: ``(column, label, better)`` with ``better`` ``"higher"``, ``"lower"`` or None
    (a random baseline: not ranked).

    A metric unknown to this neuronlab (written by a newer one) keeps its name as column and gets no direction.

    >>> ranking_columns(["comprehensiveness", "sensitivity"])[1:]
    [('random_comprehensiveness', 'random comprehensiveness', None), ('sensitivity', 'sensitivity-max', 'lower')]
    """
    from neuronlab.explain.compare import _FAITHFUL, METRICS

    out: list[tuple[str, str, str | None]] = []
    for m in metrics:
        spec = METRICS.get(m)
        if spec is None:
            out.append((m, m, None))
            continue
        for c in spec.columns:
            out.append((c, c.replace("_", " ") if c != spec.columns[0] else spec.label, spec.better))
        if m in _FAITHFUL:
            out.append(("random_" + m, "random " + spec.label, None))
    return out


def best_rows(values: list[Any], better: str | None) -> set[int]:
    """Indices of the best finite value(s) of a column in its direction (empty without a direction or a value).

    >>> sorted(best_rows([0.2, None, 0.5, 0.5], "higher")), sorted(best_rows([0.2, float("nan")], "lower"))
    ([2, 3], [0])
    """
    v = np.asarray([np.nan if x is None else float(x) for x in values], dtype=np.float64)
    if better not in ("higher", "lower") or not np.isfinite(v).any():
        return set()
    target = np.nanmax(v) if better == "higher" else np.nanmin(v)
    return {int(i) for i in np.flatnonzero(v == target)}


def _cell(value: Any, best: bool, random: Any = None) -> str:
    rand = "" if random is None else f'<br><small class="random">random {float(random):.3f}</small>'
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return f'<td class="num">n/a{rand}</td>'
    text = fmt(value if isinstance(value, int) and not isinstance(value, bool) else float(value), 3)
    if best:
        return f'<td class="num best" title="best"><strong>{text}</strong>&nbsp;&#9733;{rand}</td>'
    return f'<td class="num">{text}{rand}</td>'


def ranking_table(rows: list[dict], columns: list[tuple[str, str, str | None]]) -> str:
    """The explainer x metric table (escaped); the best value of each ranked column bold and starred.

    A random-order baseline (``random_<column>``, better ``None`` in ``columns``) is shown small under its metric's
    value, not as a column of its own.
    """
    names = {c for c, _, _ in columns}
    cols = [(c, label, better) for c, label, better in columns
            if not (better is None and c.startswith("random_") and c[len("random_"):] in names)]
    cols += [("seconds", "explanation s", "lower"), ("metric_seconds", "metrics s", None),
             ("forward_passes", "forward rows", "lower")]
    head = "".join(f"<th>{esc(label)}" + (f"<br><small>{esc(better)} is better</small>" if better else "") + "</th>"
                   for _, label, better in cols)
    best = {c: best_rows([r.get(c) for r in rows], better) for c, _, better in cols}
    body = []
    for i, r in enumerate(rows):
        cells = "".join(_cell(r.get(c), i in best[c], r.get("random_" + c) if "random_" + c in names else None)
                        for c, _, _ in cols)
        body.append(f"<tr><td>{esc(r.get('method', ''))}</td><td>{esc(r.get('source', ''))}</td>{cells}</tr>")
    return (f'<div style="overflow-x:auto"><table><thead><tr><th>explainer</th><th>source</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


#: what a comparison removes, by its ``config["level"]`` (words: classifier inputs; generation: the source tokens of
#: each generated step; neurons: the ablated neurons of a site)
_UNITS = {"words": "words removed", "generation": "source tokens of each step removed",
          "neurons": "neurons ablated"}


def explainer_ranking_section(data: ReportData) -> Fragment:
    """Per comparison: the explainer x metric table with the best marked, its configuration and the figure."""
    results = data.of_kind("explain_compare")
    frag = Fragment()
    if not results:
        return frag.add(missing("explainer comparisons", "neuronlab explain-compare MODEL --corpus FILE --methods "
                                                         "NAME,NAME --store STORE"))
    for i, (name, res) in enumerate(results):
        cfg = dict(res.config or {})
        columns = ranking_columns(res.metrics)
        units = _UNITS.get(str(cfg.get("level", "words")), _UNITS["words"])
        frag.add(f"<h3>{esc(name)}: {len(res.rows)} explainers</h3>")
        frag.add(ranking_table(list(res.rows), columns))
        frag.add('<p class="ref">Rows in the comparison\'s order (comprehensiveness minus sufficiency, best first, '
                 "when both were computed). &#9733;: the best value of its column. Small: the same metric with the "
                 f"{units} in a random order (a faithful explainer beats it). Forward rows: model rows "
                 "the explanation evaluated. Metrics: ERASER (DeYoung et al. 2020), AOPC (Samek et al. 2017), "
                 "infidelity and sensitivity (Yeh et al. 2019), fragility (Ghorbani et al. 2019), sanity checks "
                 "(Adebayo et al. 2018).</p>")
        shown = {k: v for k, v in cfg.items() if k not in ("metrics",)}
        if shown:
            frag.add(table(["setting", "value"], [(k, compact(v)) for k, v in sorted(shown.items())]))
        panels = [(c, label, better) for c, label, better in columns if better is not None]
        if res.rows and panels:
            both = {"comprehensiveness", "sufficiency"} <= {c for c, _, _ in panels}
            lead = "comprehensiveness against sufficiency (upper left is best; x: random order) and " if both else ""
            frag.add(Figure(figure_name("ranking", i), explainer_ranking_plot(list(res.rows), panels),
                            f"{name}: {lead}each metric per explainer (blue: neuronlab, orange: external; ticks: "
                            "random order)."))
    return frag


# ------------------------------------------------------------------ attention tests
def _correlation(frag: Fragment, name: str, res: Any, i: int) -> None:
    frag.add(f"<h3>{esc(name)}: attention vs importance ({int(res.n_examples)} inputs, {int(res.n_heads)} heads)</h3>")
    layers = list(res.layers)
    rows = []
    for m in res.methods:
        tau = as_float_matrix(res.kendall_mean.get(m, []))
        rho = as_float_matrix(res.spearman_mean.get(m, [])) if res.spearman_mean.get(m) else None
        for li, layer in enumerate(layers):
            if li >= tau.shape[0]:
                break
            heads = tau[li, :-1]
            best = int(np.nanargmax(heads)) if np.isfinite(heads).any() else None
            rows.append((m, int(layer), _num(tau[li, -1]), None if rho is None else _num(rho[li, -1]),
                         None if best is None else f"head {best}", None if best is None else _num(heads[best])))
    frag.add(table(["importance", "layer", "Kendall tau (heads' mean)", "Spearman rho (heads' mean)", "best head",
                    "its tau"], rows))
    for k, m in enumerate(res.methods):
        if res.kendall_mean.get(m):
            frag.add(Figure(figure_name(f"correlation_{i}", k), head_correlation_plot(m, layers, res.kendall_mean[m]),
                            f"{name}: mean Kendall tau per layer and head between the attention of the output position "
                            f"and the absolute {m} importance of the words (last column: heads averaged)."))
    frag.add('<p class="ref">Jain &amp; Wallace (2019), section 4.1: a tau near 1 means attention ranks the words as '
             "the importance measure does.</p>")


def _num(v: Any) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def _intervention(frag: Fragment, name: str, res: Any, i: int) -> None:
    frag.add(f"<h3>{esc(name)}: {esc(res.analysis)} attention ({int(res.n_examples)} inputs)</h3>")
    frag.add(table(["intervened", "mean median TVD", "flipped share"],
                   [(s, _num(res.mean_median_tvd[k]) if k < len(res.mean_median_tvd) else None,
                     _num(res.flipped[k]) if k < len(res.flipped) else None) for k, s in enumerate(res.settings)]))
    cfg = res.config or {}
    if res.median_tvd and res.max_attention is not None and len(res.settings):
        frag.add(Figure(figure_name(f"intervention_{i}", 0),
                        tvd_attention_plot(res.analysis, list(res.settings), res.median_tvd, res.max_attention,
                                           list(cfg.get("layers") or range(np.asarray(res.max_attention).shape[-1]))),
                        f"{name}: median output change (TVD) of each input against its largest attention weight."))
    frag.add('<p class="ref">Total variation distance between the output distributions with the original and the '
             f"{esc(res.analysis)} attention (Jain &amp; Wallace 2019, 4.2.1; uniform: Wiegreffe &amp; Pinter 2019); "
             "flipped: share of draws that change the predicted class.</p>")


def _adversarial(frag: Fragment, name: str, res: Any) -> None:
    cfg = res.config or {}
    frag.add(f"<h3>{esc(name)}: adversarial attention at layer {int(res.layer)}</h3>")
    frag.add(table(["inputs", "epsilon (TVD)", "mean JSD", "max JSD"],
                   [(int(res.n_examples), cfg.get("epsilon"), _num(res.mean_jsd),
                     _num(np.max(res.jsd)) if len(res.jsd) else None)]))
    n = min(MAX_EXAMPLES, len(res.jsd))

    def at(seq, k):
        return seq[k] if seq is not None and k < len(seq) else None

    frag.add(table(["input", "JSD", "TVD", "largest attention", "most attended position",
                    "adversarially most attended"],
                   [(k, _num(at(res.jsd, k)), _num(at(res.tvd, k)), _num(at(res.max_attention, k)),
                     at(res.top_token, k), at(res.adversarial_top_token, k)) for k in range(n)]))
    if len(res.jsd) > n:
        frag.add(note(f"The first {n} of {len(res.jsd)} inputs; all of them are in the result {name!r}."))
    frag.add('<p class="ref">Jain &amp; Wallace (2019), 4.2.2: the largest Jensen-Shannon divergence from the original '
             "attention (heads averaged) found with the output within epsilon TVD; a large JSD means other attention "
             "gives the same prediction.</p>")


def attention_tests_section(data: ReportData) -> Fragment:
    """Correlation of attention with importance, permuted/uniform attention and adversarial attention."""
    corr = data.of_kind("attention_correlation")
    inter = data.of_kind("attention_intervention")
    adv = data.of_kind("attention_adversarial")
    frag = Fragment()
    if not (corr or inter or adv):
        return frag.add(missing("attention tests", "neuronlab explain-attention MODEL --corpus FILE --store STORE"))
    for i, (name, res) in enumerate(corr):
        _correlation(frag, name, res, i)
    for i, (name, res) in enumerate(inter):
        _intervention(frag, name, res, i)
    for name, res in adv:
        _adversarial(frag, name, res)
    return frag
