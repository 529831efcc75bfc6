"""Neuron dossiers: one self-contained HTML page per neuron with everything known about it.

A dossier (``DIR/neurons/<site>-<index>.html``, :func:`~neuronlab.report.paths.dossier_path`) holds

1. the neuron's id, site and layer, a one-line description scored by its detection AUC on held-out sentences, and
   its rank and score in every ranking and probe of the store (AP, IoU, probe weight share, ...);
2. activation statistics (mean, std, density above 0), a histogram and the distribution per class of the concepts
   (box plots, the most frequent classes);
3. top contexts in quantile groups, as the sparse-autoencoder feature dashboards show them (sae_vis, McDougall
   2024; Neuronpedia, Lin 2023): the sentences of the highest rows, samples from the 90-100%, 70-90% and 50-70%
   intervals, the lowest rows; each an activation heatmap (:mod:`neuronlab.report.heatmap`) on one colour scale for
   the whole page;
4. the ten neurons most correlated with it over the rows (Pearson), linked to their dossiers;
5. its output effect, where a model with an output vocabulary is given (:mod:`neuronlab.report.output_effect`);
6. what later analyses stored about it: compositional formula, correlation cluster, attribution share, TCAV at its
   site (each missing one says which command produces it).

:func:`write_dossiers` writes them (the report builder calls it inside the report's directory); the computation is
in :mod:`neuronlab.report.neurons`. :func:`neurons_section` is the report's section listing the neurons with their
descriptions. Pages follow the report's Content-Security-Policy (:data:`~neuronlab.report.markup.CSP`): no script,
CSS and PNG figures inline.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from neuronlab import __version__
from neuronlab.sites import parse_neuron_id, parse_site

from .heatmap import ColourScale, legend_html, sentence_html
from .markup import CSP, CSS, definition_list, esc, figure_html, fmt, table
from .neurons import NeuronAnalysis, analyse_neurons, last_analysis
from .paths import EXPLORER_ANCHOR, dossier_path
from .sections import Fragment

__all__ = ["write_dossiers", "render_dossier", "neurons_section", "dossier_figure", "class_boxes_html",
           "N_CORRELATED"]

#: correlated neurons listed per dossier
N_CORRELATED = 10
#: classes per concept in the per-class box plots, and concepts plotted
_TOP_CLASSES, _MAX_CONCEPTS = 4, 3
_EXTRA_CSS = ".back{color:#c8d0dc}.hm-group{margin:.6rem 0 1rem}.auc{font-weight:bold}"


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def dossier_page(title: str, subtitle_html: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """A dossier document: the report's CSS and CSP, a link back to the report's explorer, ``sections`` as
    ``(id, title, inner html)`` (ids and inner html already safe)."""
    nav = "".join(f'<a href="#{esc(sid)}">{esc(t)}</a>' for sid, t, _ in sections)
    body = "".join(f'<section id="{esc(sid)}"><h2>{esc(t)}</h2>{inner}</section>' for sid, t, inner in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}{_EXTRA_CSS}</style></head><body>"
            f'<header><h1>{esc(title)}</h1><p>{subtitle_html}</p>'
            f'<p><a class="back" href="../index.html#{EXPLORER_ANCHOR}">&larr; back to the report</a></p></header>'
            f"<nav>{nav}</nav><main>{body}</main></body></html>\n")


# ------------------------------------------------------------------ figure
def _class_values(values: np.ndarray, y: np.ndarray, vocab: list) -> list[tuple[str, np.ndarray]]:
    counts = np.bincount(y[y >= 0], minlength=len(vocab))
    top = [int(c) for c in np.argsort(-counts, kind="stable")[:_TOP_CLASSES] if counts[c] > 0]
    return [(str(vocab[c]), values[y == c]) for c in top]


def dossier_figure(neuron: str, stats: dict) -> Any:
    """Histogram of a neuron's activations over every row, with the density threshold dashed.

    Fixed axes (no layout engine) and few ticks: a page's figure is most of its time, and a report writes hundreds.

    Parameters
    ----------
    neuron : str
    stats : dict
        :func:`~neuronlab.report.neurons.activation_stats` of the neuron's activations.
    """
    from .plots import _style

    with _style():
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(4.2, 2.4), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.15, 0.19, 0.8, 0.7))
        ax.stairs(stats["hist_counts"], np.asarray(stats["hist_edges"]), fill=True, color="#1d4e89", alpha=0.8)
        ax.axvline(stats["threshold"], color="#e08a2c", linestyle="--", linewidth=0.8)
        ax.set_title(f"{neuron}: density {stats['density']:.2f}", fontsize=8)
        ax.set_xlabel("activation")
        ax.set_ylabel("rows")
        _few_ticks(ax.xaxis, ax.yaxis)
    return fig


def class_boxes_html(per_concept: Sequence[tuple[str, list]], *, width_px: int = 240) -> str:
    """A table of the activation per class (rows, mean, std) with a box plot per class drawn in CSS on one scale.

    Box: quartiles; line: 5th to 95th percentile; dark tick: median. Labels are escaped.

    Parameters
    ----------
    per_concept : sequence of (concept, [(class, values)])
    width_px : int
        Width of the box column.
    """
    rows = [(c, k, np.asarray(v, dtype=np.float64)) for c, cls in per_concept for k, v in cls]
    if not rows:
        return ""
    q = np.array([np.percentile(v, [5, 25, 50, 75, 95]) for _, _, v in rows])
    lo, hi = float(q[:, 0].min()), float(q[:, 4].max())
    span = (hi - lo) or 1.0

    def x(value: float) -> float:
        return round((value - lo) / span * width_px, 1)

    body = []
    for (concept, cls, v), (p5, q1, med, q3, p95) in zip(rows, q):
        line, inner = max(round(x(p95) - x(p5), 1), 1), max(round(x(q3) - x(q1), 1), 1)
        box = (f'<div style="position:relative;width:{width_px}px;height:14px">'
               f'<span style="position:absolute;left:{x(p5)}px;width:{line}px;top:6px;height:2px;'
               'background:#777"></span>'
               f'<span style="position:absolute;left:{x(q1)}px;width:{inner}px;top:1px;height:12px;'
               'background:#9cc0e6;border:1px solid #1d4e89;box-sizing:border-box"></span>'
               f'<span style="position:absolute;left:{x(med)}px;width:2px;top:0;height:14px;background:#e08a2c">'
               "</span></div>")
        body.append(f"<tr><td>{esc(concept)}</td><td>{esc(cls)}</td><td class=\"num\">{v.size}</td>"
                    f'<td class="num">{v.mean():.4f}</td><td class="num">{v.std():.4f}</td>'
                    f'<td title="5%: {p5:.3g}, quartiles: {q1:.3g} / {med:.3g} / {q3:.3g}, 95%: {p95:.3g}">{box}</td>'
                    "</tr>")
    return ("<table><thead><tr><th>concept</th><th>class</th><th>rows</th><th>mean</th><th>std</th>"
            f"<th>distribution ({lo:.3g} &hellip; {hi:.3g})</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
            '<p class="ref">Box: quartiles; line: 5th to 95th percentile; orange: median; one scale for every '
            "class.</p>")


def _few_ticks(*axes: Any) -> None:
    """At most 5 ticks per axis: drawing ticks is most of a small figure's time."""
    from matplotlib.ticker import MaxNLocator

    for axis in axes:
        axis.set_major_locator(MaxNLocator(4))


# ------------------------------------------------------------------ sections of a dossier
def _header(a: NeuronAnalysis, j: int) -> str:
    nid = a.neurons[j]
    site, index = parse_neuron_id(nid)
    p = parse_site(site)
    d = a.descriptions[j]
    parts = [definition_list([
        ("neuron", nid), ("site", site), ("layer", "embeddings" if p["embeddings"] else p["layer"]),
        ("sub-layer", p["sub"] or ("embedding output" if p["embeddings"] else "block output (residual stream)")),
        ("index", index), ("description", d.text),
        ("detection AUC", d.auc if d.auc is None else round(d.auc, 4)),
        ("held-out rows (predicate true)", f"{d.n_heldout} ({d.n_positive})")])]
    parts.append('<p class="ref">Description: per concept, the class with the largest standardised mean difference '
                 "(|d| &ge; 0.8) on 80% of the sentences; detection AUC: how well the description (the conjunction "
                 "of its classes) ranks the activations of the other 20% (0.5 = chance, 1 = perfect).</p>")
    ranks = a.ranks.get(nid, [])
    if ranks:
        parts.append("<h3>Ranks and scores</h3>" + table(
            ["concept", "method", "result", "rank", "of", "score", "class"],
            [(r["concept"], r["method"], r["result"], r["rank"], r["of"], r["score"], r["detail"]) for r in ranks],
            digits=4))
    else:
        parts.append(_note("No ranking or probe of the store ranks this neuron: `neuronlab rank STORE --concept C "
                           "--method ap` or `neuronlab probe STORE --concept C`."))
    return "".join(parts)


def _activations(a: NeuronAnalysis, j: int, values: np.ndarray, stats: dict, *, figure: bool) -> str:
    nid = a.neurons[j]
    out = [table(["rows", "mean", "std", "min", "max", f"density (> {stats['threshold']:g})"],
                 [(stats["n"], stats["mean"], stats["std"], stats["min"], stats["max"], stats["density"])], digits=4)]
    described = [p["concept"] for p in a.descriptions[j].parts]
    concepts = list(dict.fromkeys(described + list(a.labels)))[:_MAX_CONCEPTS]
    per_concept = [(c, _class_values(values, a.labels[c][0], a.labels[c][1])) for c in concepts]
    per_concept = [(c, v) for c, v in per_concept if v]
    if figure:
        from .plots import to_png

        out.append(figure_html(to_png(dossier_figure(nid, stats), dpi=80), alt=f"activations of {nid}",
                               caption="Histogram of the activations over every row (dashed: the density "
                                       "threshold)."))
    if per_concept:
        out.append("<h3>Activation per class</h3>" + class_boxes_html(per_concept))
    return "".join(out)


def _contexts(a: NeuronAnalysis, j: int, values: np.ndarray, seed: int) -> str:
    from .neurons import context_groups

    groups = context_groups(values, a.row_sentence, seed=seed)
    shown = []
    for g in groups:
        for r in g.rows:
            s = int(a.row_sentence[r])
            r0, r1 = int(a.offsets[s]), int(a.offsets[s + 1])
            shown.append((g.name, r, a.tokens[r0:r1], values[r0:r1], r - r0))
    scale = ColourScale.for_values([v for *_, v, _ in shown])
    out = [legend_html(scale)]
    for g in groups:
        label = {"top": "Top activations", "bottom": "Lowest activations"}.get(
            g.name, f"Interval {g.name} (sampled from the rows ranked {g.name} by activation)")
        sents = [f'<div style="display:flex;gap:1em;align-items:baseline">'
                 f'{sentence_html(words, vals, scale, focus=focus)}<span class="note">row {r}: {vals[focus]:.4g}</span>'
                 "</div>"
                 for name, r, words, vals, focus in shown if name == g.name]
        out.append(f'<div class="hm-group"><h3>{esc(label)}</h3>'
                   + ("".join(sents) if sents else _note("no rows in this interval")) + "</div>")
    out.append('<p class="ref">Each line is a sentence, each word coloured by the activation on it (red positive, '
               "blue negative, one scale for the page); the outlined word is the row chosen, the underlined one the "
               "sentence's maximum. Hover a word for its value.</p>")
    return "".join(out)


def _correlated(a: NeuronAnalysis, j: int, has_dossier: set) -> str:
    corr = a.stream.corr
    if corr is None:
        return _note("Correlations were not computed.")
    r = corr[j].copy()
    ids = a.stream.neuron_ids
    self_col = ids.index(a.neurons[j])
    r[self_col] = 0.0
    order = np.argsort(-np.abs(r), kind="stable")[:N_CORRELATED]
    rows = []
    for k in order:
        nid = ids[k]
        cell = (f'<a href="{esc(Path(dossier_path(nid)).name)}">{esc(nid)}</a>' if nid in has_dossier else esc(nid))
        rows.append(f'<tr><td>{cell}</td><td class="num">{r[k]:+.4f}</td></tr>')
    return ("<table><thead><tr><th>neuron</th><th>Pearson r</th></tr></thead><tbody>" + "".join(rows)
            + '</tbody></table><p class="ref">Pearson correlation over every row of the store, against every '
            "neuron of every site; linked where the neuron has a dossier.</p>")


def _effect(effect: dict | None, model: str | None) -> str:
    if effect is None:
        return _note("Output effect: pass a model with an output vocabulary (`write_dossiers(..., model=SPEC)`, a "
                     "masked-lm or causal-lm checkpoint loadable by neuronlab.models.load_live, the model the store "
                     "was extracted from) to see the tokens this neuron promotes and suppresses.")
    if "note" in effect:
        return _note(f"Output effect: {effect['note']}.")
    rows = [(i + 1, p[0], p[1], s[0], s[1]) for i, (p, s) in enumerate(zip(effect["promoted"], effect["suppressed"]))]
    return (f"<p>Model: {esc(model)}</p>" + table(["#", "promoted", "value", "suppressed", "value"], rows, digits=4)
            + '<p class="ref">The neuron\'s direction (its unit vector in the residual stream, or its FFN output '
              "column for an mlp neuron) through the linear part of the output head (dense layer and norm scale "
              "where the head has them, then the unembedding): the logit lens of one direction, an approximation "
              "that ranks tokens (nostalgebraist 2020; Geva et al. 2022).</p>")


def _other(a: NeuronAnalysis, j: int) -> str:
    nid = a.neurons[j]
    site = parse_neuron_id(nid)[0]
    out = []
    forms = a.formulas.get(nid, [])
    out.append("<h3>Compositional formula</h3>" + (table(
        ["result", "formula", "IoU", "coverage", "precision", "best atom", "atom IoU"],
        [(f["result"], f["formula"] or "(never fires)", f["iou"], f["coverage"], f["precision"],
          f.get("atomic_formula"), f.get("atomic_iou")) for f in forms]) if forms else _note(
        f"None stored: `neuronlab describe STORE --neurons {nid} --method compositional` (Mu & Andreas 2020).")))
    red = a.redundancy.get(nid, [])
    out.append("<h3>Correlation cluster</h3>" + (table(
        ["result", "threshold", "cluster size", "kept (representative)", "other members (first 12)"],
        [(c["result"], c["threshold"], c["size"], "yes" if c["kept"] else "no", ", ".join(c["members"]))
         for c in red]) if red else _note("None stored: `neuronlab redundancy STORE` (Dalvi et al. 2020).")))
    att = a.attribution.get(nid, [])
    out.append("<h3>Attribution share</h3>" + (table(
        ["result", "method", "share of the site's |attribution|", "rank", "of"],
        [(t["result"], t["method"], t["share"], t["rank"], t["of"]) for t in att], digits=4) if att else _note(
        f"None stored: `neuronlab attribute --model M --site {site} --store STORE ...` writes per-neuron "
        "attributions into the store.")))
    tc = a.tcav.get(site, [])
    out.append(f"<h3>TCAV at {esc(site)}</h3>" + (table(
        ["result", "concept", "TCAV score", "random", "p (adjusted)", "significant"],
        [(t["result"], t.get("concept"), t.get("score"), t.get("random_score"), t.get("p_adjusted"),
          "yes" if t.get("significant") else "no") for t in tc], digits=4) if tc else _note(
        f"None stored: `neuronlab tcav --site {site} --store STORE ...` (Kim et al. 2018; a CAV is a direction of "
        "the whole site, not of this neuron).")))
    return "".join(out)


def render_dossier(a: NeuronAnalysis, neuron: str, *, store_label: str = "", effect: dict | None = None,
                   model: str | None = None, has_dossier: set | None = None, figure: bool = True,
                   seed: int = 0) -> str:
    """The HTML page of one neuron of ``a`` (see the module docstring for what it holds)."""
    from .neurons import activation_stats

    j = a.neurons.index(neuron)
    values = a.stream.columns[:, j].astype(np.float64)
    stats = activation_stats(values)
    d = a.descriptions[j]
    subtitle = (f"{esc(d.text)} &middot; detection AUC <span class=\"auc\">{fmt(d.auc)}</span>"
                f" &middot; {esc(store_label)} &middot; neuronlab {esc(__version__)}")
    sections = [("neuron", "Neuron", _header(a, j)),
                ("activations", "Activations", _activations(a, j, values, stats, figure=figure)),
                ("contexts", "Top contexts", _contexts(a, j, values, seed)),
                ("correlated", "Most correlated neurons", _correlated(a, j, has_dossier or set())),
                ("output", "Output effect", _effect(effect, model)),
                ("analyses", "Other analyses", _other(a, j))]
    return dossier_page(f"neuron {neuron}", subtitle, sections)


def write_dossiers(store_path: str | os.PathLike, data: Any, out_dir: str | os.PathLike, *,
                   neurons: Sequence[str] | None = None, max_neurons: int = 200, model: str | None = None,
                   progress: bool = False, chunk_rows: int = 8192, figures: bool = True,
                   seed: int = 0) -> dict[str, dict]:
    """Write one dossier page per neuron under ``out_dir / dossier_path(neuron)``.

    Parameters
    ----------
    store_path : path-like
        A complete activation store.
    data : ReportData
        The store's results, read once (:class:`~neuronlab.report.data.ReportData`).
    out_dir : path-like
        The report directory (dossiers go to ``out_dir/neurons/``; they link back to ``../index.html#explorer``).
    neurons : sequence of str, optional
        Neuron ids ``site:index``. Default: the union of the top neurons of every ranking and probe in the store,
        round-robin over them so that every concept is represented, at most ``max_neurons``.
    max_neurons : int, default=200
    model : str, optional
        A model with an output vocabulary (masked-lm or causal-lm head; alias, directory or hub id for
        :func:`neuronlab.models.load_live`) for the output effect of residual-stream and mlp neurons.
    progress : bool
        Progress bars (rows, then pages).
    chunk_rows : int, default=8192
        Rows per read of the one pass over the store.
    figures : bool, default=True
        The activation figure of each page (matplotlib; most of the time per page).

    Returns
    -------
    dict
        Neuron -> ``{"dossier": relative path, "description": str, "auc": float or None}``.
    """
    a = analyse_neurons(store_path, data, neurons=neurons, max_neurons=max_neurons, chunk_rows=chunk_rows,
                        progress=progress, seed=seed)
    effects: dict = {}
    if model is not None and a.neurons:
        from neuronlab.models import load_live

        from .output_effect import output_effect

        effects = output_effect(load_live(model), a.neurons)
    out = Path(out_dir)
    (out / "neurons").mkdir(parents=True, exist_ok=True)
    has = set(a.neurons)
    label = f"{Path(store_path).name} · {data.model.get('name', '?')}"
    items: Any = a.neurons
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="dossiers", unit="page")
    result = {}
    for nid in items:
        html = render_dossier(a, nid, store_label=label, effect=effects.get(nid) if model else None, model=model,
                              has_dossier=has, figure=figures, seed=seed)
        rel = dossier_path(nid)
        (out / rel).write_text(html, encoding="utf-8")
        d = a.descriptions[a.neurons.index(nid)]
        result[nid] = {"dossier": rel, "description": d.text, "auc": d.auc}
    return result


def neurons_section(data: Any) -> Fragment:
    """The report's section listing the dossier neurons with their descriptions, detection AUC and links."""
    frag = Fragment()
    start = time.perf_counter()
    a = last_analysis(data.path) or analyse_neurons(data.path, data)  # the neurons of the dossiers just written
    if not a.neurons:
        return frag.add(_note("No neurons to describe: rank neurons (`neuronlab rank STORE --concept C --method ap`) "
                              "or train a probe (`neuronlab probe STORE --concept C`), then build the report again."))
    rows = []
    for nid, d in zip(a.neurons, a.descriptions):
        rows.append(f'<tr><td><a href="{esc(dossier_path(nid))}">{esc(nid)}</a></td><td>{esc(d.text)}</td>'
                    f'<td class="num">{fmt(d.auc)}</td><td class="num">{d.n_heldout}</td></tr>')
    frag.add(f"<p>{len(a.neurons)} neurons: the top neurons of every ranking and probe of the store, taken in turn. "
             "Each links to its dossier (under <code>neurons/</code>, written with the report's dossiers): "
             "statistics, top contexts as heatmaps, correlated neurons, output effect and what every analysis says "
             "about it.</p>",
             "<table><thead><tr><th>neuron</th><th>description</th><th>detection AUC</th><th>held-out rows</th>"
             f"</tr></thead><tbody>{''.join(rows)}</tbody></table>",
             '<p class="ref">Description: the class with the largest standardised mean difference per concept on 80% '
             "of the sentences; detection AUC: how well it ranks the activations on the other 20% (0.5 = chance). "
             f"Computed in {time.perf_counter() - start:.1f} s.</p>")
    return frag
