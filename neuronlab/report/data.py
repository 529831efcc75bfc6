"""What the report reads from a store: its summary and its /results as typed objects, loaded once.

Sections never open the store themselves; they read a :class:`ReportData`, which maps a result's stored
``kind`` to its :class:`~neuronlab.results.Result` class through :data:`RESULT_CLASSES` (an analysis that
adds a result kind adds its class here, by import path, so that listing the kinds imports nothing heavy).
Results that cannot be read (damaged, or written by an older neuronlab without a JSON report) are
listed in :attr:`ReportData.unreadable` instead of failing the whole report.
"""
from __future__ import annotations

import importlib
from typing import Any

from neuronlab.errors import NeuronlabError

__all__ = ["ReportData", "RESULT_CLASSES", "site_of"]

#: stored result kind -> import path of its Result class
RESULT_CLASSES: dict[str, str] = {
    "probe": "neuronlab.concepts.results:ProbeResult",
    "ranking": "neuronlab.concepts.results:RankingResult",
    "compositional": "neuronlab.concepts.compositional.result:CompositionalResult",
    "contexts": "neuronlab.concepts.corpus_methods.result:ContextsResult",
    "explanation": "neuronlab.explain.base:Explanation",
    "redundancy": "neuronlab.concepts.redundancy.results:RedundancyResult",
    "nmf": "neuronlab.concepts.unsupervised.results:NMFResult",
    "umap": "neuronlab.concepts.unsupervised.results:UMAPResult",
    "latent_concepts": "neuronlab.concepts.unsupervised.results:LatentConceptsResult",
    "crossmodel": "neuronlab.concepts.multimodel.results:CrossModelResult",
    "alignment": "neuronlab.models.generation:AlignmentResult",
    "generation": "neuronlab.models.generation:GenerationResult",
    "attribution/tcav": "neuronlab.attribution.tcav:TCAVResult",
    "bridge": "neuronlab.attribution.bridge:BridgeResult",
    "attribution/head_pruning": "neuronlab.report.sections_stored:StoredHeadPruning",
    "ablation/greedy": "neuronlab.report.sections_stored:StoredAblation",
    "ablation/neurons": "neuronlab.report.sections_stored:StoredAblation",
    **{kind: "neuronlab.report.sections_stored:StoredAttribution"
       for kind in ("attribution/layer_conductance", "attribution/neuron_conductance",
                    "attribution/layer_integrated_gradients", "attribution/layer_gradient_x_activation",
                    "attribution/self_attention_attribution")},
    "explain_compare": "neuronlab.explain.compare:ExplainerComparison",
    "generation_explanation": "neuronlab.explain.gen_result:GenerationExplanation",
    "attention_correlation": "neuronlab.explain.attention_tests:AttentionCorrelation",
    "attention_intervention": "neuronlab.explain.attention_tests:AttentionIntervention",
    "attention_adversarial": "neuronlab.explain.attention_tests:AttentionAdversarial",
    "cd_tree": "neuronlab.explain.cd_agglomerative:CDTree",
    "neuron_stats": "neuronlab.scale.stats_result:NeuronStatsResult",
}


def site_of(neuron_id: str) -> str:
    """The site of a global neuron id ``site:index``.

    >>> site_of("layers.3.mlp:1021")
    'layers.3.mlp'
    """
    return str(neuron_id).rpartition(":")[0]


def _load(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class ReportData:
    """A store's summary, texts and results, read once for every section.

    Parameters
    ----------
    store : ActivationStore
        An open store (read for the duration of the constructor only).
    n_example_sentences : int, default=5
        Sentences of the corpus kept as examples for the provenance.

    Attributes
    ----------
    path : str
        The store's file path.
    summary : dict
        :meth:`ActivationStore.summary` (what ``neuronlab info`` shows).
    model, config : dict
        Model provenance and extraction configuration.
    sites : list of str
        Site names in model order.
    example_sentences : list of str
    results : dict
        Result kind -> list of ``(name, Result)`` in store order.
    result_configs : dict
        Result name -> ``{"kind", "config"}`` for every readable stored result (also of unknown kinds).
    unreadable : dict
        Result name -> why it could not be read.
    """

    def __init__(self, store: Any, *, n_example_sentences: int = 5) -> None:
        self.path = str(store.path)
        self.summary = store.summary()
        self.model = store.model
        self.config = store.config
        self.sites = list(store.sites)
        self.example_sentences = [str(t) for t in store.texts()[:n_example_sentences]]
        self.results: dict[str, list] = {}
        self.result_configs: dict[str, dict] = {}
        self.unreadable: dict[str, str] = dict(self.summary.get("damaged_results", {}))
        for name in store.result_names():
            try:
                raw = store.read_result(name)
            except NeuronlabError as exc:
                self.unreadable[name] = str(exc)
                continue
            kind = str(raw["kind"])
            self.result_configs[name] = {"kind": kind, "config": raw.get("config", {})}
            cls_path = RESULT_CLASSES.get(kind)
            if cls_path is None:
                continue
            try:
                obj = _load(cls_path).from_store(store, name)
            except (NeuronlabError, TypeError, ValueError, KeyError) as exc:  # KeyError: an array is missing
                self.unreadable[name] = str(exc)
                continue
            self.results.setdefault(kind, []).append((name, obj))

    @property
    def result_names(self) -> list[str]:
        return list(self.result_configs)

    def of_kind(self, kind: str) -> list:
        """``(name, Result)`` pairs of one kind (empty if none)."""
        return list(self.results.get(kind, []))
