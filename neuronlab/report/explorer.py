"""The report's interactive explorer: one JSON blob of every ranking, and the script that browses it offline.

The explorer (element ``#explorer`` of ``index.html``, :data:`~neuronlab.report.paths.EXPLORER_ANCHOR`) lets a
reader search neurons by id or by concept, pick a concept and a method to page through the ranked neurons (rank,
score, site, best class), filter by site, open a neuron's dossier (its page under ``neurons/`` when
:func:`neuronlab.report.dossier.write_dossiers` wrote one, otherwise an inline summary of its ranks per concept and
method), and compare two neurons side by side. It is plain JavaScript (``assets/explorer.js``: no framework, no
network, no ``eval``) allowed by the page's Content-Security-Policy through its SHA-256 hash only.

The data travel in one ``<script type="application/json" id="explorer-data">`` element (never executed), in a
compact columnar form sized for 10k neurons: neuron ``n`` is the ``n``-th column of the store (sites in model
order, ``widths`` columns each), so a ranking is a list of integers and the ids ``site:index`` are rebuilt by the
script. Store text (concept, class, method and result names) reaches the page only through ``textContent``.

Format (``version`` 1)::

    {"version": 1, "n_neurons": int, "sites": [str], "widths": [int], "concepts": [str],
     "rankings": [{"concept": int, "method": str, "result": str, "score_name": str,
                   "order": [int],              # neurons best first
                   "scores": [float | null],    # aligned with order
                   "classes": [str] | null, "cls": [int] | null}],   # best class per neuron, aligned with order
     "dossiers": {"neuron": [int], "href": [str], "description": [str], "auc": [float | null]},
     "stats": {"rows": int, "mean": [float], "std": [float], "min": [float], "max": [float]} | null}

A neuron is opened from a link with :func:`explorer_link` (``index.html#explorer/layers.3.mlp:12``).

References
----------
Dalvi, Sajjad, Durrani et al. (2019), "NeuroX: A Toolkit for Analyzing Individual Neurons in Neural Networks",
AAAI (demo): ranked neurons per concept and their visualisation; the neuron pages of Neuronpedia (Lin 2023) and
the feature dashboards of sae_vis (McDougall 2024) for browsing many units offline from one data file.

Examples
--------
>>> blob_json({"w": "</script><!-- & >"})
'{"w":"\\\\u003c/script\\\\u003e\\\\u003c!-- \\\\u0026 \\\\u003e"}'
>>> explorer_script().count("eval(")
0
"""
from __future__ import annotations

import json
import math
import re
from importlib import resources
from typing import Any, Mapping

import numpy as np

from .data import ReportData
from .markup import script_hash

__all__ = ["explorer_blob", "blob_json", "explorer_script", "explorer_html", "script_hash", "neuron_stats",
           "explorer_link", "DATA_ID", "BLOB_VERSION", "STATS_ROWS"]

#: id of the JSON data element
DATA_ID = "explorer-data"
#: version of the blob's format (the script refuses another)
BLOB_VERSION = 1
#: what a dossier link may look like (the names of :func:`~neuronlab.report.paths.dossier_path`)
DOSSIER_HREF = re.compile(r"^neurons/[A-Za-z0-9._-]+\.html$")
#: what the score column means per method (default: the ranker's score)
SCORE_NAMES = {"probe": "max |coef|", "linear": "rank", "ap": "AP", "iou": "IoU"}
_SIGNIFICANT = 4
#: rows read for the activation statistics of every neuron (the first ones of the store)
STATS_ROWS = 50_000
_STATS_CHUNK_VALUES = 4_000_000


def _num(value: Any) -> float | None:
    """A float rounded to 4 significant digits (None if not finite), to keep the blob small."""
    x = float(value)
    return float(f"{x:.{_SIGNIFICANT}g}") if math.isfinite(x) else None


def _columns(data: ReportData) -> tuple[list[str], list[int], dict[str, int]]:
    widths = [int(data.summary["sites"][s][1]) for s in data.sites]
    offsets = dict(zip(data.sites, np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int).tolist()))
    return list(data.sites), widths, offsets


def _position(nid: str, offsets: Mapping[str, int], widths: Mapping[str, int]) -> int | None:
    site, _, idx = str(nid).rpartition(":")
    if site not in offsets or not idx.isdigit() or int(idx) >= widths[site]:
        return None
    return offsets[site] + int(idx)


def _best_classes(res: Any) -> list | None:
    """The class each neuron of ``res.ranking`` is best at, where the result says (aligned with the ranking)."""
    for attr in ("average_precision", "weight_mass"):
        details = getattr(res, attr, None) or {}
        if details.get("class") is not None:
            return list(details["class"])
    scores = getattr(res, "class_scores", None)
    if scores is not None and res.neuron_ids is not None and len(res.classes) == np.shape(scores)[0]:
        col = {nid: j for j, nid in enumerate(res.neuron_ids)}
        best = np.asarray(scores).argmax(axis=0)
        return [res.classes[int(best[col[nid]])] if nid in col else None for nid in res.ranking]
    return None


def _ranking_entries(data: ReportData) -> list[tuple[str, str, str, list, list, list | None]]:
    """(concept, method, result name, ranking, scores, classes) of every ranking and probe, in store order."""
    out = []
    for name, res in data.of_kind("ranking"):
        out.append((str(res.concept), str(res.method), name, list(res.ranking), list(res.scores),
                    _best_classes(res)))
    for name, res in data.of_kind("probe"):
        scores, classes = [None] * len(res.ranking), None
        if res.coef is not None and res.neuron_ids is not None:
            coef = np.asarray(res.coef, dtype=float).reshape(-1, len(res.neuron_ids))
            col = {nid: j for j, nid in enumerate(res.neuron_ids)}
            scores = [np.abs(coef[:, col[n]]).max() if n in col else None for n in res.ranking]
            if len(res.classes) == coef.shape[0] and coef.shape[0] > 1:  # the class its activation raises most
                classes = [str(res.classes[int(coef[:, col[n]].argmax())]) if n in col else None
                           for n in res.ranking]
        out.append((str(res.concept), "probe", name, list(res.ranking), scores, classes))
    return out


def neuron_stats(store: Any, *, max_rows: int = STATS_ROWS) -> dict:
    """Mean, standard deviation, minimum and maximum of every neuron (store column) over the first rows.

    Parameters
    ----------
    store : ActivationStore
    max_rows : int, default=STATS_ROWS
        Rows read (in chunks; float64 sums), so that the report of a large store stays quick.

    Returns
    -------
    dict
        ``rows`` (how many were read) and ``mean``, ``std`` (population), ``min``, ``max``: lists in column order,
        rounded to 4 significant digits (None where not finite).
    """
    n = min(int(store.n_valid_rows), int(max_rows))
    parts: dict[str, list] = {"sum": [], "squares": [], "min": [], "max": []}
    for site in store.sites:
        array = store[site]
        width = int(array.shape[1])
        acc = {"sum": np.zeros(width), "squares": np.zeros(width), "min": np.full(width, np.inf),
               "max": np.full(width, -np.inf)}
        step = max(1, _STATS_CHUNK_VALUES // max(1, width))  # about 32 MB of float64 per block
        for start in range(0, n, step):
            block = np.asarray(array[start:min(n, start + step)], dtype=np.float64)
            acc["sum"] += block.sum(axis=0)
            acc["squares"] += np.square(block).sum(axis=0)
            acc["min"] = np.minimum(acc["min"], block.min(axis=0))
            acc["max"] = np.maximum(acc["max"], block.max(axis=0))
        for key, value in acc.items():
            parts[key].append(value)
    total, squares, low, high = (np.concatenate(parts[k]) if parts[k] else np.zeros(0)
                                 for k in ("sum", "squares", "min", "max"))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        std = np.sqrt(np.maximum(squares / n - mean ** 2, 0.0))
    return {"rows": n, **{key: [_num(v) for v in arr] for key, arr in
                          (("mean", mean), ("std", std), ("min", low), ("max", high))}}


def explorer_link(neuron_id: str, page: str = "index.html") -> str:
    """A link that opens the explorer on a neuron (its ranks, its dossier link): ``page#explorer/<id>``.

    >>> explorer_link("layers.3.mlp:12", "../index.html")
    '../index.html#explorer/layers.3.mlp:12'
    """
    from .paths import EXPLORER_ANCHOR

    return f"{page}#{EXPLORER_ANCHOR}/{neuron_id}"


def explorer_blob(data: ReportData, dossiers: Mapping[str, Mapping[str, Any]] | None = None, *,
                  stats: Mapping[str, Any] | None = None) -> dict:
    """The explorer's data: every ranking (and probe) of ``data`` in columnar form, and the dossier links.

    Parameters
    ----------
    data : ReportData
    dossiers : mapping, optional
        What :func:`neuronlab.report.dossier.write_dossiers` returned: neuron id -> ``{"dossier": relative
        path, "description": str, "auc": float or None}``. Ids not in the store and paths that are not
        ``neurons/<name>.html`` are left out.
    stats : mapping, optional
        :func:`neuron_stats` of the store (shown with each neuron; None: not shown).

    Returns
    -------
    dict
        The blob (format in the module docstring); neurons of a ranking that are not columns of the store are
        left out of it.
    """
    sites, widths, offsets = _columns(data)
    width_of = dict(zip(sites, widths))
    concepts: list[str] = []
    rankings = []
    counts: dict[tuple[str, str], int] = {}
    entries = _ranking_entries(data)
    for concept, method, *_ in entries:
        counts[(concept, method)] = counts.get((concept, method), 0) + 1
    for concept, method, name, ranking, scores, classes in entries:
        if concept not in concepts:
            concepts.append(concept)
        order, kept_scores, kept_classes = [], [], []
        for i, nid in enumerate(ranking):
            pos = _position(nid, offsets, width_of)
            if pos is None:
                continue
            order.append(pos)
            kept_scores.append(None if i >= len(scores) or scores[i] is None else _num(scores[i]))
            kept_classes.append(None if classes is None or i >= len(classes) else classes[i])
        class_names = sorted({str(c) for c in kept_classes if c is not None})
        index = {c: j for j, c in enumerate(class_names)}
        rankings.append({
            "concept": concepts.index(concept),
            "method": method if counts[(concept, method)] == 1 else f"{method} ({name})",
            "result": name,
            "score_name": SCORE_NAMES.get(method, "score"),
            "order": order,
            "scores": kept_scores,
            "classes": class_names or None,
            "cls": [-1 if c is None else index[str(c)] for c in kept_classes] if class_names else None,
        })
    links: dict[str, list] = {"neuron": [], "href": [], "description": [], "auc": []}
    for nid, info in sorted((dossiers or {}).items(),
                            key=lambda kv: _position(kv[0], offsets, width_of) or 0):
        pos = _position(nid, offsets, width_of)
        href = str((info or {}).get("dossier", ""))
        if pos is None or not DOSSIER_HREF.match(href):
            continue
        auc = info.get("auc")
        links["neuron"].append(pos)
        links["href"].append(href)
        links["description"].append(str(info.get("description") or ""))
        links["auc"].append(None if auc is None else _num(auc))
    return {"version": BLOB_VERSION, "n_neurons": int(sum(widths)), "sites": sites, "widths": widths,
            "concepts": concepts, "rankings": rankings, "dossiers": links,
            "stats": dict(stats) if stats is not None else None}


def blob_json(blob: Mapping[str, Any]) -> str:
    """``blob`` as compact JSON that is safe inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e`` and ``\\u0026`` (so neither ``</script>`` nor
    ``<!--`` can end or change the element) and U+2028/U+2029 are escaped; ``JSON.parse`` reads back the same text.
    """
    text = json.dumps(blob, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return text


def explorer_script() -> str:
    """The explorer's JavaScript (the package data file ``neuronlab/report/assets/explorer.js``)."""
    return resources.files("neuronlab.report").joinpath("assets", "explorer.js").read_text(encoding="utf-8")


#: the explorer's controls; the script fills them (no store text here: it is set with textContent)
_SKELETON = """<p class="note" id="explorer-status">The explorer needs JavaScript; every table below works without it.</p>
<div class="ex-controls">
<label>Search <input id="ex-search" type="search" autocomplete="off" placeholder="neuron id (layers.3.mlp:12), concept or class"></label>
<label>Concept <select id="ex-concept"></select></label>
<label>Method <select id="ex-method"></select></label>
<label>Class <select id="ex-class"></select></label>
<label>Site <select id="ex-site"></select></label>
</div>
<div id="ex-matches"></div>
<div class="ex-pane" id="ex-dossier" hidden></div>
<div class="ex-pane" id="ex-compare" hidden></div>
<div class="ex-pane"><h3 id="ex-title">Ranked neurons</h3>
<table id="ex-table"><thead><tr><th>rank</th><th>neuron</th><th>site</th><th id="ex-score-head">score</th>
<th>best class</th><th></th></tr></thead><tbody></tbody></table>
<p class="ex-pager"><button type="button" id="ex-prev">&larr; previous</button> <span id="ex-range"></span>
<button type="button" id="ex-next">next &rarr;</button></p></div>"""

#: extra CSS of the explorer (appended to the page's style)
EXPLORER_CSS = """
.ex-controls{display:flex;flex-wrap:wrap;gap:.6rem 1.2rem;margin:.5rem 0}.ex-controls input{width:22rem}
.ex-pane{margin-top:.8rem}.ex-pager button,#ex-table button,#ex-matches button{margin:0 .2rem}
#ex-table td{white-space:nowrap}.ex-chip{display:inline-block;margin:.15rem}.ex-desc{font-style:italic}
"""


def explorer_html(blob: Mapping[str, Any]) -> str:
    """The inner HTML of the explorer section: its controls and the JSON data element (not executed)."""
    return (f'{_SKELETON}\n<script type="application/json" id="{DATA_ID}">{blob_json(blob)}</script>')
