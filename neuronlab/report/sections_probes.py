"""Report section ``probe_subsets``: the minimal neuron subset of each probe and its retraining on the top neurons.

Completes the built-in ``probes`` section (accuracy, baselines, per-site accuracy, ablation curves) with the
minimal-subset curve (Durrani et al. 2020: the smallest top-``k`` of the probe's ranking whose retrained
accuracy is within ``delta`` of all neurons, ``k`` chosen on held-out training rows) and the accuracy of a probe
retrained on the top 10% of the ranking against as many random neurons (Dalvi et al. 2019).
"""
from __future__ import annotations

from .builtin import probe_label
from .data import ReportData
from .markup import esc, table
from .plots_concepts import minimal_subset_plot
from .sections import Figure, Fragment
from .sections_common import figure_name, label_of, missing

__all__ = ["probe_subsets_section"]


def probe_subsets_section(data: ReportData) -> Fragment:
    """Minimal-subset table and curve per probe (``--evaluate minimal``), retrain-on-top-10% table (``ablation``)."""
    probes = data.of_kind("probe")
    frag = Fragment()
    labels = [label_of(name, [probe_label(r) for _, r in probes], probe_label(res)) for name, res in probes]
    minimal = [(label, name, res.evaluation["minimal"]) for label, (name, res) in zip(labels, probes)
               if (res.evaluation or {}).get("minimal")]
    if not minimal:
        frag.add(missing("probes evaluated for their minimal neuron subset",
                         "neuronlab probe STORE --concept CONCEPT --evaluate minimal"))
    else:
        frag.add(table(["probe", "result", "k", "share of neurons", "test accuracy", "all neurons (test)",
                        "dev accuracy", "all neurons (dev)", "delta", "dev rows"],
                       [(label, name, int(m["k"]), float(m["fraction"]), float(m["accuracy"]),
                         float(m["oracle_accuracy"]), m.get("dev_accuracy"), m.get("dev_oracle_accuracy"),
                         m.get("delta"), m.get("n_dev")) for label, name, m in minimal]))
        frag.add('<p class="ref">k: the smallest number of the ranking&#x27;s top neurons whose probe, retrained on '
                 "the training rows outside a held-out dev part, is within delta of the all-neuron probe on the dev "
                 "rows (Durrani et al. 2020); test accuracies of the probes retrained on all training rows.</p>")
        for i, (label, _, m) in enumerate(minimal):
            frag.add(Figure(figure_name("minimal", i), minimal_subset_plot(label, m),
                            f"{label}: dev accuracy of the probe on the top k neurons; star: the chosen k and its "
                            "test accuracy."))
    retrained = [(label, name, res.evaluation["ablation"]["retrain_top10pct"])
                 for label, (name, res) in zip(labels, probes)
                 if ((res.evaluation or {}).get("ablation") or {}).get("retrain_top10pct")]
    if retrained:
        frag.add("<h3>Retrained on the top 10% of the ranking</h3>", table(
            ["probe", "result", "neurons", "top neurons", "random neurons"],
            [(label, name, r.get("k"), r.get("selected_accuracy"), r.get("random_accuracy"))
             for label, name, r in retrained]))
        frag.add('<p class="ref">' + esc("A fresh probe trained on the top 10% of the neurons of the ranking, and "
                                         "on as many random neurons (Dalvi et al. 2019).") + "</p>")
    return frag
