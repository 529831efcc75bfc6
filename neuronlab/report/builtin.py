"""The built-in report sections: provenance, probe results, neuron rankings.

Each function takes a :class:`~neuronlab.report.data.ReportData` and returns a
:class:`~neuronlab.report.sections.Fragment`; they are registered in
:data:`~neuronlab.report.sections.SECTIONS`. Every string from the store is escaped with
:func:`~neuronlab.report.markup.esc` (or the table helpers, which escape their cells).
"""
from __future__ import annotations

import json
from collections import defaultdict

from neuronlab import __version__

from .data import ReportData, site_of
from .markup import definition_list, esc, json_block, table
from .plots import (ablation_plot, agreement_plot, layerwise_plot, probe_accuracy_plot, top_k_for, top_k_overlap,
                    top_sites_plot)
from .sections import Figure, Fragment

__all__ = ["provenance_section", "probes_section", "rankings_section", "probe_label"]

#: model provenance keys shown first (the rest follow in stored order)
_MODEL_KEYS = ("name", "hub_id", "path", "family", "class", "revision", "weights_sha256", "random_init")


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def provenance_section(data: ReportData) -> Fragment:
    """Model and weight hash, corpus, extraction configuration, neuronlab versions, analysis configurations."""
    s = data.summary
    frag = Fragment()
    model = dict(data.model)
    ordered = [(k, model.pop(k)) for k in _MODEL_KEYS if k in model] + sorted(model.items())
    frag.add("<h3>Model</h3>", definition_list((k, v if v is None or isinstance(v, (str, int, float)) else _compact(v))
                                              for k, v in ordered))
    corpus = data.config.get("corpus") or data.config.get("corpus_path")
    frag.add("<h3>Corpus and store</h3>", definition_list([
        ("store", data.path), ("corpus", corpus if corpus is not None else "(not recorded)"),
        ("granularity", s["granularity"]), ("sentences", s["n_sentences"]), ("rows", s["n_rows"]),
        ("neurons", s["n_neurons"]), ("dtype", s["dtype"]), ("created", s.get("created", "")),
        ("store written by neuronlab", s["neuronlab_version"]), ("report written by neuronlab", __version__),
        ("schema version", s["schema_version"]),
    ]))
    frag.add("<h3>Sites</h3>", table(["site", "neurons"], [(site, shape[1]) for site, shape in s["sites"].items()]))
    if s["labels"]:
        frag.add("<h3>Concepts</h3>", table(
            ["concept", "level", "classes", "labelled", "vocabulary (first 50)"],
            [(n, lab["level"], lab["n_classes"], lab["n_labelled"], ", ".join(map(str, lab["vocabulary"])))
             for n, lab in s["labels"].items()]))
    if data.example_sentences:
        items = "".join(f"<li>{esc(t)}</li>" for t in data.example_sentences)
        frag.add(f"<h3>First sentences of the corpus</h3><ol>{items}</ol>")
    frag.add("<h3>Extraction configuration</h3>", json_block(data.config))
    if data.result_configs:
        frag.add("<h3>Analyses</h3>", table(["result", "kind", "configuration"],
                                            [(n, rc["kind"], _compact(rc["config"]))
                                             for n, rc in data.result_configs.items()]))
    if data.unreadable:
        frag.add("<h3>Results that could not be read</h3>",
                 table(["result", "problem"], sorted(data.unreadable.items())))
    return frag


def _compact(config) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def probe_label(res) -> str:
    """``concept`` or ``concept @ sites`` when the probe used a subset of the sites."""
    sites = (res.config or {}).get("sites")
    if not sites:
        return str(res.concept)
    return f"{res.concept} @ {','.join(sites) if isinstance(sites, (list, tuple)) else sites}"


def probes_section(data: ReportData) -> Fragment:
    """Accuracy of every stored probe beside its majority, control-task and random-init baselines, and selectivity."""
    probes = data.of_kind("probe")
    frag = Fragment()
    if not probes:
        return frag.add(_note("No probe results in this store. Train one with `neuronlab probe STORE --concept "
                              "CONCEPT` (the result is written into the store), then build the report again."))
    rows = []
    for name, res in probes:
        b = res.baselines or {}
        rows.append((name, probe_label(res), len(res.classes), res.n_train, res.n_test, res.accuracy,
                     b.get("majority"), b.get("control_task"), b.get("random_init"), res.selectivity))
    frag.add(table(["result", "probe", "classes", "train rows", "test rows", "accuracy", "majority",
                    "control task", "random init", "selectivity"], rows))
    frag.add('<p class="ref">Selectivity = accuracy &minus; control-task accuracy (Hewitt &amp; Liang 2019); '
             "random init: the same probe on a randomly initialised model's activations; &ndash; = not computed.</p>")
    labels = [f"{probe_label(res)} ({name})" if sum(probe_label(r) == probe_label(res) for _, r in probes) > 1
              else probe_label(res) for name, res in probes]
    frag.add(Figure("probe_accuracy", probe_accuracy_plot(list(zip(labels, [r for _, r in probes]))),
                    "Test accuracy of each probe and its baselines; sel = selectivity."))
    layerwise = [(label, res) for label, (_, res) in zip(labels, probes) if (res.evaluation or {}).get("layerwise")]
    if layerwise:
        frag.add("<h3>Accuracy per site</h3>", table(
            ["probe"] + data.sites,
            [[label] + [res.evaluation["layerwise"].get(s) for s in data.sites] for label, res in layerwise]))
        frag.add(Figure("layerwise", layerwise_plot(layerwise),
                        "A probe trained on each site alone; lines of a probe's colour: its majority (dotted) and "
                        "control-task (dashed) baselines."))
    else:
        frag.add(_note("Accuracy per site: train the probe with `--evaluate layerwise` to see it."))
    ablated = [(label, res) for label, (_, res) in zip(labels, probes) if (res.evaluation or {}).get("ablation")]
    for i, (label, res) in enumerate(ablated):
        if i == 0:
            frag.add("<h3>Ablation</h3>")
        frag.add(Figure(f"ablation_{i}", ablation_plot(label, res.evaluation["ablation"]),
                        f"{label}: test accuracy with only the first neurons of each order kept (keep) or zeroed "
                        "(zero); top = the probe's best neurons first."))
    if not ablated:
        frag.add(_note("Ablation curves: train the probe with `--evaluate ablation` to see them."))
    return frag


def _rankings_by_concept(data: ReportData) -> dict[str, list[tuple[str, str, list]]]:
    """concept -> [(method label, result name, ranking)] from ranking results and probes (method ``probe``)."""
    out: dict[str, list] = defaultdict(list)
    for name, res in data.of_kind("ranking"):
        out[str(res.concept)].append((str(res.method), name, list(res.ranking)))
    for name, res in data.of_kind("probe"):
        out[str(res.concept)].append(("probe", name, list(res.ranking)))
    for concept, items in out.items():  # a label per ranking: the method, with the result name if repeated
        counts = defaultdict(int)
        for method, _, _ in items:
            counts[method] += 1
        out[concept] = [(m if counts[m] == 1 else f"{m} ({n})", n, r) for m, n, r in items]
    return dict(out)


def rankings_section(data: ReportData) -> Fragment:
    """Top neurons per site for every ranking, and the agreement between rankers of the same concept."""
    by_concept = _rankings_by_concept(data)
    frag = Fragment()
    if not by_concept:
        return frag.add(_note("No rankings in this store. Rank neurons with `neuronlab rank STORE --concept CONCEPT "
                              "--method ap` (or train a probe), then build the report again."))
    n_neurons = int(data.summary["n_neurons"])
    k = top_k_for(n_neurons)
    frag.add(f"<p>Counts of the top {k} neurons of each ranking ({k} of {n_neurons}: 5%, at least 10) per site.</p>")
    for ci, (concept, items) in enumerate(sorted(by_concept.items())):
        frag.add(f"<h3>Concept {esc(concept)}</h3>")
        rows = []
        for label, name, ranking in items:
            counts = defaultdict(int)
            for nid in ranking[:k]:
                counts[site_of(nid)] += 1
            best = ", ".join(ranking[:5])
            rows.append((label, name, best, ", ".join(f"{s}: {counts[s]}" for s in data.sites if counts[s])))
        frag.add(table(["method", "result", "top 5 neurons", f"top {k} per site"], rows))
        frag.add(Figure(f"top_sites_{ci}", top_sites_plot([(label, r) for label, _, r in items], data.sites, k),
                        f"{concept}: where the top {k} neurons of each ranking lie."))
        if len(items) > 1:
            methods = [label for label, _, _ in items]
            overlap = top_k_overlap([r for _, _, r in items], k)
            frag.add(Figure(f"agreement_{ci}", agreement_plot(concept, methods, overlap, k=k),
                            f"{concept}: overlap of the top {k} neurons between methods (Jaccard; 1 = same set)."))
        else:
            frag.add(_note(f"Only one ranking of {concept}: rank it with a second method to see their agreement."))
    return frag
