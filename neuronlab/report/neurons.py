"""What the neuron dossiers compute (no HTML here; :mod:`neuronlab.report.dossier` renders it).

- :func:`default_neurons`: the neurons that get a dossier (round-robin over the store's rankings and probes);
- :func:`stream_neurons`: **one** pass over the store's rows in chunks for all chosen neurons together: their
  activation columns (kept, ``n_rows x n_chosen``) and their Pearson correlation with every neuron of the store
  (accumulated chunk by chunk; the store's activations are never all in memory);
- :func:`activation_stats`, :func:`context_groups`: statistics and the top contexts in quantile groups, as the
  sparse-autoencoder feature dashboards show them (sae_vis, McDougall 2024; Neuronpedia, Lin 2023);
- :func:`~neuronlab.report.descriptions.describe_neurons` (in :mod:`neuronlab.report.descriptions`, re-exported
  here): a one-line description of each neuron from its best concept classes, scored by its **detection AUC** on
  held-out sentences;
- :func:`neuron_ranks`, :func:`attribution_shares`, :func:`redundancy_clusters`, :func:`tcav_rows`,
  :func:`formulas`: what the store's results say about each neuron;
- the tokens a neuron promotes and suppresses through the unembedding are in :mod:`neuronlab.report.output_effect`
  (it holds the live model).

Examples
--------
>>> activation_stats(np.array([-1.0, 0.0, 1.0, 2.0]), bins=2)["density"]
0.5
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from neuronlab.errors import InvalidParameterError
from neuronlab.sites import parse_neuron_id

from .descriptions import Description, describe_neurons, detection_auc, heldout_sentences

__all__ = ["default_neurons", "StreamResult", "stream_neurons", "activation_stats", "ContextGroup", "context_groups",
           "Description", "describe_neurons", "detection_auc", "heldout_sentences", "row_labels", "neuron_ranks",
           "attribution_shares", "redundancy_clusters", "tcav_rows", "formulas",
           "NeuronAnalysis", "analyse_neurons", "last_analysis", "DEFAULT_INTERVALS", "BLOCK_BYTES"]

#: largest block of rows x all neurons read at once by :func:`stream_neurons` (float32 bytes)
BLOCK_BYTES = 128 << 20
#: quantile intervals of the sampled contexts (between the top and the bottom contexts)
DEFAULT_INTERVALS = ((0.9, 1.0), (0.7, 0.9), (0.5, 0.7))


# ------------------------------------------------------------------ which neurons
def _rankings(data: Any) -> list[list[str]]:
    """Every ranking of the report's data (ranking results, then probes' weight rankings), in store order."""
    out = [list(res.ranking) for _, res in data.of_kind("ranking")]
    out += [list(res.ranking) for _, res in data.of_kind("probe")]
    return [r for r in out if r]


def default_neurons(data: Any, max_neurons: int = 200) -> list[str]:
    """The union of the top neurons of every ranking and probe, round-robin so that every concept is represented.

    Takes the first neuron of each ranking, then the second of each, ... until ``max_neurons`` distinct neurons.
    Without rankings, the neurons of the compositional results (if any).

    >>> class D:
    ...     def of_kind(self, kind):
    ...         return [("r", type("R", (), {"ranking": ["a:1", "a:2", "a:3"]})()),
    ...                 ("s", type("R", (), {"ranking": ["a:2", "a:9"]})())] if kind == "ranking" else []
    >>> default_neurons(D(), 3)
    ['a:1', 'a:2', 'a:9']
    """
    if max_neurons < 1:
        raise InvalidParameterError(f"max_neurons must be >= 1, got {max_neurons}")
    rankings = _rankings(data)
    if not rankings:
        rankings = [[n["neuron"] for n in res.neurons] for _, res in data.of_kind("compositional")]
    chosen: dict[str, None] = {}
    for depth in range(max((len(r) for r in rankings), default=0)):
        for r in rankings:
            if depth < len(r):
                chosen.setdefault(str(r[depth]), None)
                if len(chosen) >= max_neurons:
                    return list(chosen)
    return list(chosen)


# ------------------------------------------------------------------ one pass over the rows
@dataclass
class StreamResult:
    """What :func:`stream_neurons` read.

    Attributes
    ----------
    neurons : list of str
        The chosen neurons, in the order asked.
    columns : ndarray of shape (n_rows, n_chosen), float32
        Their activations on every row.
    neuron_ids : list of str
        Every neuron of the store (the columns of ``corr``), in site order.
    corr : ndarray of shape (n_chosen, n_neurons) or None
        Pearson correlation over the rows (0 where a neuron is constant).
    """

    neurons: list
    columns: np.ndarray
    neuron_ids: list
    corr: np.ndarray | None = None


def stream_neurons(store: Any, neurons: Sequence[str], *, chunk_rows: int = 8192, correlate: bool = True,
                   progress: bool = False) -> StreamResult:
    """Read the chosen neurons' columns and correlate them with every neuron, in one pass over row chunks.

    Pearson's r is accumulated from shifted sums (the first chunk's means are subtracted, which leaves r unchanged
    and avoids cancellation): ``r = cov(a, b) / (sd(a) sd(b))`` over all rows.

    Parameters
    ----------
    store : ActivationStore
    neurons : sequence of str
        ``site:index`` ids of the store.
    chunk_rows : int, default=8192
        Rows read per step, fewer where a block of ``chunk_rows x n_neurons`` float32 would exceed
        :data:`BLOCK_BYTES` (memory: the block, ``n_chosen x n_neurons`` sums and the chosen columns).
    correlate : bool, default=True
        Also correlate with every neuron (reads every site; otherwise only the chosen neurons' sites).
    progress : bool
        A tqdm bar over the chunks.
    """
    if chunk_rows < 1:
        raise InvalidParameterError(f"chunk_rows must be >= 1, got {chunk_rows}")
    sites = list(store.sites)
    widths = {s: store[s].shape[1] for s in sites}
    for nid in neurons:
        site, index = parse_neuron_id(nid)
        if site not in widths or not 0 <= index < widths[site]:
            raise InvalidParameterError(f"neuron {nid!r} is not in the store: its sites are {sites} with widths "
                                        f"{[widths[s] for s in sites]}")
    read_sites = sites if correlate else [s for s in sites if any(parse_neuron_id(n)[0] == s for n in neurons)]
    base, pos = {}, 0
    for s in read_sites:
        base[s], pos = pos, pos + widths[s]
    idx = np.array([base[parse_neuron_id(n)[0]] + parse_neuron_id(n)[1] for n in neurons], dtype=np.int64)
    n_rows, n_all = store.n_rows, pos
    columns = np.empty((n_rows, len(neurons)), dtype=np.float32)
    shift = None
    sxy = np.zeros((len(neurons), n_all)) if correlate else None
    sx, sxx = np.zeros(n_all), np.zeros(n_all)
    chunk_rows = max(1, min(chunk_rows, BLOCK_BYTES // max(1, 4 * n_all)))  # a block stays under BLOCK_BYTES
    steps: Iterable[int] = range(0, n_rows, chunk_rows)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="dossier rows", unit="chunk", total=-(-n_rows // chunk_rows))
    arrays = [store[s] for s in read_sites]
    if not arrays:  # no neuron chosen and nothing to correlate
        return StreamResult([], columns, [], None)
    for r0 in steps:
        r1 = min(n_rows, r0 + chunk_rows)
        block = np.concatenate([np.asarray(a[r0:r1], dtype=np.float32) for a in arrays], axis=1)
        columns[r0:r1] = block[:, idx]
        if not correlate:
            continue
        if shift is None:
            shift = block.astype(np.float64).mean(axis=0).astype(np.float32)
        block -= shift
        sxy += block[:, idx].T @ block
        sx += block.sum(axis=0, dtype=np.float64)
        sxx += np.einsum("ij,ij->j", block, block, dtype=np.float64)
    corr = None
    if correlate and n_rows:
        mean = sx / n_rows
        var = np.maximum(sxx / n_rows - mean ** 2, 0.0)
        cov = sxy / n_rows - np.outer(mean[idx], mean)
        denom = np.sqrt(np.outer(var[idx], var))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.where(denom > 1e-12 * np.maximum(1.0, np.outer(var[idx], var)), cov / denom, 0.0)
        corr = np.clip(corr, -1.0, 1.0)
    ids = [f"{s}:{i}" for s in read_sites for i in range(widths[s])]
    return StreamResult(list(neurons), columns, ids, corr)


# ------------------------------------------------------------------ statistics and contexts
def activation_stats(values: np.ndarray, *, threshold: float = 0.0, bins: int = 40) -> dict:
    """Mean, std (population), min, max, density (share of rows with activation > ``threshold``) and a histogram.

    >>> s = activation_stats(np.array([-1.0, 0.0, 1.0, 2.0]), bins=2)
    >>> s["mean"], s["density"], s["hist_counts"]
    (0.5, 0.5, [2, 2])
    """
    v = np.asarray(values, dtype=np.float64)
    counts, edges = np.histogram(v, bins=bins) if v.size else (np.zeros(bins, int), np.linspace(0, 1, bins + 1))
    return {"n": int(v.size), "mean": float(v.mean()) if v.size else None, "std": float(v.std()) if v.size else None,
            "min": float(v.min()) if v.size else None, "max": float(v.max()) if v.size else None,
            "threshold": float(threshold), "density": float((v > threshold).mean()) if v.size else None,
            "hist_counts": counts.tolist(), "hist_edges": edges.tolist()}


@dataclass
class ContextGroup:
    """Rows shown together in a dossier: ``name`` (``top``, ``90-100%``, ..., ``bottom``), the quantile interval
    ``[lo, hi)`` of the activation ranks they were drawn from (None for top and bottom) and the rows, highest
    activation first."""

    name: str
    lo: float | None
    hi: float | None
    rows: list = field(default_factory=list)


def _distinct_sentences(order: np.ndarray, row_sentence: np.ndarray, k: int, seen: set) -> list[int]:
    out = []
    for r in order:
        s = int(row_sentence[r])
        if s in seen:
            continue
        seen.add(s)
        out.append(int(r))
        if len(out) == k:
            break
    return out


def context_groups(values: np.ndarray, row_sentence: np.ndarray, *, n_top: int = 5, n_sample: int = 3,
                   n_bottom: int = 3, intervals: Sequence[tuple[float, float]] = DEFAULT_INTERVALS,
                   seed: int = 0) -> list[ContextGroup]:
    """Top rows, rows sampled from quantile intervals, bottom rows (one row per sentence within a group).

    The interval ``(lo, hi)`` holds the rows whose rank in ascending activation order lies in
    ``[floor(lo n), floor(hi n))``; ``n_sample`` of them are drawn with ``numpy.random.default_rng(seed)``,
    preferring sentences not shown yet. Top and bottom take the highest and lowest rows of distinct sentences.

    Parameters
    ----------
    values : ndarray of shape (n_rows,)
    row_sentence : ndarray of shape (n_rows,)
        Sentence of each row.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    asc = np.argsort(v, kind="stable")
    seen: set = set()
    groups = [ContextGroup("top", None, None, _distinct_sentences(asc[::-1], row_sentence, n_top, seen))]
    rng = np.random.default_rng(seed)
    for lo, hi in intervals:
        pool = asc[int(np.floor(lo * n)):int(np.floor(hi * n))]
        fresh = np.array([r for r in pool if int(row_sentence[r]) not in seen], dtype=np.int64)
        pick_from = fresh if fresh.size >= min(n_sample, pool.size) else pool
        picked = rng.choice(pick_from, size=min(n_sample, pick_from.size), replace=False) if pick_from.size else []
        rows = sorted((int(r) for r in picked), key=lambda r: -v[r])
        seen.update(int(row_sentence[r]) for r in rows)
        groups.append(ContextGroup(f"{round(lo * 100)}-{round(hi * 100)}%", float(lo), float(hi), rows))
    groups.append(ContextGroup("bottom", None, None, _distinct_sentences(asc, row_sentence, n_bottom, seen)))
    return groups


# ------------------------------------------------------------------ descriptions
def row_labels(store: Any) -> dict[str, tuple[np.ndarray, list]]:
    """Every concept of the store as one class index per row (sentence-level labels repeated over their rows)."""
    out = {}
    row_sentence = None
    for name in store.label_names():
        lab = store.label(name)
        values = lab.values
        if lab.level == "sentence" and store.granularity != "sentence":
            row_sentence = store.row_sentence() if row_sentence is None else row_sentence
            values = values[row_sentence]
        out[name] = (np.asarray(values, dtype=np.int64), list(lab.vocabulary))
    return out


# ------------------------------------------------------------------ what the results say
def neuron_ranks(data: Any, neurons: Sequence[str]) -> dict[str, list[dict]]:
    """Per neuron, one entry per ranking and probe: ``result``, ``concept``, ``method``, ``rank`` (1-based, of
    ``of``), ``score`` (the ranking's score: AP, IoU, ...; for a probe the neuron's share of the weight mass
    ``sum_c |w_cj| / sum |w|``, in percent) and ``detail`` (the class it scores best for, where stored)."""
    want = set(neurons)
    out: dict[str, list] = {n: [] for n in neurons}
    for name, res in data.of_kind("ranking"):
        extra = res.average_precision or res.weight_mass or {}
        cls_list = extra.get("class") if isinstance(extra, dict) else None
        for pos, nid in enumerate(res.ranking):
            if nid in want:
                detail = str(cls_list[pos]) if cls_list is not None and pos < len(cls_list) else ""
                out[nid].append({"result": name, "concept": str(res.concept), "method": str(res.method),
                                 "rank": pos + 1, "of": len(res.ranking), "score": float(res.scores[pos]),
                                 "detail": detail})
    for name, res in data.of_kind("probe"):
        coef = np.abs(np.atleast_2d(np.asarray(res.coef, dtype=np.float64)))
        total = coef.sum() or 1.0
        col = {n: j for j, n in enumerate(res.neuron_ids or [])}
        rank = {n: i for i, n in enumerate(res.ranking)}
        for nid in neurons:
            if nid in rank:
                j = col.get(nid)
                share = float(coef[:, j].sum() / total) if j is not None else None
                classes = list(res.classes) if coef.shape[0] == len(res.classes) else []
                detail = str(classes[int(coef[:, j].argmax())]) if j is not None and classes else ""
                out[nid].append({"result": name, "concept": str(res.concept), "method": "probe (weight share, %)",
                                 "rank": rank[nid] + 1, "of": len(res.ranking),
                                 "score": None if share is None else 100.0 * share, "detail": detail})
    return out


def _results_of(store: Any, prefix: str) -> list[tuple[str, dict]]:
    out = []
    for name in store.result_names():
        try:
            raw = store.read_result(name)
        except Exception:  # noqa: BLE001 - a damaged result is listed by the provenance section
            continue
        if str(raw.get("kind", "")).startswith(prefix):
            out.append((name, raw))
    return out


def attribution_shares(store: Any, neurons: Sequence[str]) -> dict[str, list[dict]]:
    """Per neuron, one entry per stored layer-attribution result of its site: ``share`` of the total absolute
    attribution of the site's neurons (summed over examples) and the neuron's ``rank`` by it."""
    out: dict[str, list] = {n: [] for n in neurons}
    for name, raw in _results_of(store, "attribution/"):
        if "per_neuron" not in raw or "neuron_ids" not in raw:
            continue
        a = np.abs(np.asarray(raw["per_neuron"], dtype=np.float64)).sum(axis=0)
        ids = [str(x) for x in raw["neuron_ids"]]
        order = {ids[j]: r for r, j in enumerate(np.argsort(-a, kind="stable"))}
        total = a.sum() or 1.0
        col = {n: j for j, n in enumerate(ids)}
        for nid in neurons:
            if nid in col:
                out[nid].append({"result": name, "method": str(raw["kind"]).split("/", 1)[1],
                                 "share": float(a[col[nid]] / total), "rank": order[nid] + 1, "of": len(ids)})
    return out


def redundancy_clusters(store: Any, neurons: Sequence[str], *, max_members: int = 12) -> dict[str, list[dict]]:
    """Per neuron and stored redundancy result and threshold: its correlation cluster (``members``, the first
    ``max_members`` other neurons), the cluster ``size`` and whether it is the cluster's representative (``kept``)."""
    out: dict[str, list] = {n: [] for n in neurons}
    for name, raw in _results_of(store, "redundancy"):
        ids = [str(x) for x in raw.get("neuron_ids", [])]
        col = {n: j for j, n in enumerate(ids)}
        labels, kept = np.atleast_2d(raw.get("labels")), np.atleast_2d(raw.get("kept"))
        for ti, t in enumerate(np.atleast_1d(raw.get("thresholds", []))):
            for nid in neurons:
                j = col.get(nid)
                if j is None:
                    continue
                same = np.flatnonzero(labels[ti] == labels[ti, j])
                members = [ids[m] for m in same if m != j]
                out[nid].append({"result": name, "threshold": float(t), "size": int(same.size),
                                 "members": members[:max_members], "kept": bool(kept[ti, j])})
    return out


def tcav_rows(store: Any, site: str) -> list[dict]:
    """The TCAV rows (concept, score, significance) of the stored TCAV results at ``site``."""
    out = []
    for name, raw in _results_of(store, "attribution/tcav"):
        report = json.loads(raw["report"]) if "report" in raw else {}
        for r in report.get("rows", []):
            if r.get("site") == site:
                out.append(dict(r, result=name))
    return out


def formulas(data: Any, neurons: Sequence[str]) -> dict[str, list[dict]]:
    """Per neuron, its compositional explanations (``formula``, ``iou``, ``coverage``, ``precision``, result)."""
    out: dict[str, list] = {n: [] for n in neurons}
    for name, res in data.of_kind("compositional"):
        for n in res.neurons:
            if n["neuron"] in out:
                out[n["neuron"]].append(dict(n, result=name))
    return out


# ------------------------------------------------------------------ everything for a set of neurons
@dataclass
class NeuronAnalysis:
    """Everything the dossiers and the report's neuron section show, computed in one pass over the store's rows.

    Attributes
    ----------
    neurons : list of str
    stream : StreamResult
        Columns and correlations.
    tokens : list of str
        The word of every row.
    offsets : ndarray
        Rows of sentence i are ``offsets[i]:offsets[i+1]``.
    row_sentence : ndarray
    labels : dict
        :func:`row_labels`.
    descriptions : list of Description
        One per neuron.
    ranks, formulas, attribution, redundancy : dict
        Neuron -> entries (:func:`neuron_ranks`, :func:`formulas`, :func:`attribution_shares`,
        :func:`redundancy_clusters`).
    tcav : dict
        Site -> :func:`tcav_rows`.
    """

    neurons: list
    stream: StreamResult
    tokens: list
    offsets: np.ndarray
    row_sentence: np.ndarray
    labels: dict
    descriptions: list
    ranks: dict
    formulas: dict
    attribution: dict
    redundancy: dict
    tcav: dict

    def column(self, neuron: str) -> np.ndarray:
        return self.stream.columns[:, self.neurons.index(neuron)]


_CACHE: dict = {}


def _store_key(store_path: Any) -> tuple:
    import os

    st = os.stat(store_path)
    return (os.path.realpath(store_path), st.st_size, st.st_mtime_ns)


def last_analysis(store_path: Any) -> NeuronAnalysis | None:
    """The analysis :func:`analyse_neurons` made last if it is of this store (unchanged since), else None: the
    report's neuron section lists the neurons the dossiers were written for."""
    key = _store_key(store_path)
    return next((a for k, a in _CACHE.items() if k[:3] == key), None)


def analyse_neurons(store_path: Any, data: Any, *, neurons: Sequence[str] | None = None, max_neurons: int = 200,
                    chunk_rows: int = 8192, progress: bool = False, seed: int = 0) -> NeuronAnalysis:
    """:class:`NeuronAnalysis` of ``neurons`` (default :func:`default_neurons`) of a store.

    The last analysis is kept (keyed by the store file's path, size and modification time and the arguments), so
    that the report's neuron section and :func:`~neuronlab.report.dossier.write_dossiers` in the same build share
    one pass over the rows.
    """
    from neuronlab.store import ActivationStore

    chosen = list(dict.fromkeys(neurons)) if neurons is not None else default_neurons(data, max_neurons)
    key = _store_key(store_path) + (tuple(chosen), int(chunk_rows), int(seed))
    if key in _CACHE:
        return _CACHE[key]
    with ActivationStore.open(store_path) as store:
        stream = stream_neurons(store, chosen, chunk_rows=chunk_rows, progress=progress)
        labels = row_labels(store)
        row_sentence = store.row_sentence()
        forms = formulas(data, chosen)
        best = {j: max(forms[n], key=lambda f: f.get("iou") or 0.0) for j, n in enumerate(chosen) if forms[n]}
        best_formula = {j: f["formula"] for j, f in best.items() if f.get("formula")}
        out = NeuronAnalysis(
            neurons=chosen, stream=stream, tokens=store.tokens(), offsets=store.offsets, row_sentence=row_sentence,
            labels=labels, descriptions=describe_neurons(stream.columns, labels, row_sentence, formulas=best_formula,
                                                         seed=seed),
            ranks=neuron_ranks(data, chosen), formulas=forms, attribution=attribution_shares(store, chosen),
            redundancy=redundancy_clusters(store, chosen),
            tcav={s: tcav_rows(store, s) for s in dict.fromkeys(parse_neuron_id(n)[0] for n in chosen)})
    _CACHE.clear()
    _CACHE[key] = out
    return out
