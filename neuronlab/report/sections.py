"""The section registry of the study report: each analysis contributes one section.

A section is a function ``render(data: ReportData) -> Fragment`` registered in :data:`SECTIONS` with a
:class:`SectionEntry` (its title and its place in the page). A :class:`Fragment` is an ordered list of
parts: HTML strings (already escaped by the section, see :mod:`neuronlab.report.markup`) and
:class:`Figure` objects (a matplotlib figure with a name and a caption), which the builder writes as PNG
and SVG under ``DIR/figures`` and inlines as PNG. A later analysis (redundancy, attribution, TCAV, ...)
adds its section with one ``SECTIONS.register(...)`` call and no change to the builder.

Examples
--------
>>> from neuronlab.report.sections import SECTIONS, SectionEntry, Fragment
>>> [e.name for e in sorted(SECTIONS.values(), key=lambda e: e.order)][:3]
['provenance', 'probes', 'rankings']
>>> def render_counts(data):
...     return Fragment(["<p>", str(len(data.result_names)), " results</p>"])
>>> _ = SECTIONS.register(SectionEntry("counts", render_counts, "Result count", order=900))
>>> SECTIONS["counts"].title
'Result count'
>>> _ = SECTIONS.unregister("counts")
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Union

from neuronlab.registry import Entry, Registry

__all__ = ["Figure", "Fragment", "SectionEntry", "SECTIONS", "ordered_sections"]


@dataclass
class Figure:
    """A figure of a section.

    Parameters
    ----------
    name : str
        File stem under ``DIR/figures`` (``[a-z0-9_-]`` only; never taken from the store's text).
    figure : matplotlib.figure.Figure
        The figure (made with :mod:`neuronlab.report.plots`).
    caption : str
        Plain text (escaped by the builder).
    """

    name: str
    figure: Any
    caption: str = ""


#: a part of a fragment: escaped HTML or a figure
Part = Union[str, Figure]


@dataclass
class Fragment:
    """What a section renders: HTML parts (escaped by the section) and figures, in page order."""

    parts: list = field(default_factory=list)

    def add(self, *parts: Part) -> "Fragment":
        self.parts.extend(parts)
        return self

    @property
    def figures(self) -> list[Figure]:
        return [p for p in self.parts if isinstance(p, Figure)]


@dataclass(frozen=True)
class SectionEntry(Entry):
    """A report section: ``target`` is ``render(data: ReportData) -> Fragment``.

    Parameters
    ----------
    name : str
        Section id (the HTML ``id`` of the section; ``[a-z0-9_-]``).
    target : callable or str
        The render function or its import path ``"module:name"``.
    description : str
        The section's title in the report.
    order : int
        Place in the page (ascending); built-in sections use 100, 200, 300.
    """

    order: int = 500

    @property
    def title(self) -> str:
        return self.description

    def render(self, data: Any) -> Fragment:
        fn: Callable[[Any], Fragment] = self.load()
        return fn(data)


#: section name -> :class:`SectionEntry`
SECTIONS: Registry[SectionEntry] = Registry(
    "report section", how_to_add="register a SectionEntry in neuronlab.report.sections.SECTIONS")

SECTIONS.register(SectionEntry("provenance", "neuronlab.report.builtin:provenance_section",
                               "Provenance", order=100))
SECTIONS.register(SectionEntry("probes", "neuronlab.report.builtin:probes_section",
                               "Probe results", reference="Dalvi et al. 2019; Hewitt & Liang 2019", order=200))
SECTIONS.register(SectionEntry("rankings", "neuronlab.report.builtin:rankings_section",
                               "Neuron rankings", reference="Antverg & Belinkov 2022; Dalvi et al. 2019", order=300))


def ordered_sections(names: list[str] | None = None) -> list[SectionEntry]:
    """The registered sections in page order (only ``names`` if given; unknown names are refused)."""
    entries = [SECTIONS[n] for n in names] if names is not None else list(SECTIONS.values())
    return sorted(entries, key=lambda e: (e.order, e.name))

# ------------------------------------------------------------------ sections of the analyses (issue 14)
SECTIONS.register(SectionEntry("probe_subsets", "neuronlab.report.sections_probes:probe_subsets_section",
                               "Minimal neuron subsets", reference="Durrani et al. 2020; Dalvi et al. 2019", order=310))
SECTIONS.register(SectionEntry("redundancy", "neuronlab.report.sections_redundancy:redundancy_section",
                               "Redundancy", reference="Dalvi et al. 2020", order=400))
SECTIONS.register(SectionEntry("unsupervised", "neuronlab.report.sections_unsupervised:unsupervised_section",
                               "Unsupervised discovery", reference="McInnes et al. 2018; Alammar 2021; Dalvi et al. "
                               "2022", order=450))
SECTIONS.register(SectionEntry("compositional", "neuronlab.report.sections_explanations:compositional_section",
                               "Neuron explanations", reference="Mu & Andreas 2020; Na et al. 2019; Poerner et al. "
                               "2018", order=500))
SECTIONS.register(SectionEntry("contexts", "neuronlab.report.sections_explanations:contexts_section",
                               "Top contexts", order=510))
SECTIONS.register(SectionEntry("crossmodel", "neuronlab.report.sections_crossmodel:crossmodel_section",
                               "Across models", reference="Bau et al. 2019; Raghu et al. 2017; Kornblith et al. 2019",
                               order=550))
SECTIONS.register(SectionEntry("attribution", "neuronlab.report.sections_attribution:attribution_section",
                               "Attribution and ablation", reference="Dhamdhere et al. 2018; Sundararajan et al. "
                               "2017; Dalvi et al. 2019; Hao et al. 2021", order=600))
SECTIONS.register(SectionEntry("bridge", "neuronlab.report.sections_attribution:bridge_section",
                               "Concept neurons and the prediction", reference="Durrani, Sajjad & Dalvi 2021",
                               order=650))
SECTIONS.register(SectionEntry("tcav", "neuronlab.report.sections_tcav:tcav_section", "TCAV",
                               reference="Kim et al. 2018", order=700))

# neuron dossiers (issue 14): the neurons with their one-line descriptions, linked to their dossiers
SECTIONS.register(SectionEntry("neurons", "neuronlab.report.dossier:neurons_section", "Neurons",
                               reference="sae_vis (McDougall 2024); Neuronpedia (Lin 2023); Bills et al. 2023",
                               order=350))
SECTIONS.register(SectionEntry("explanations", "neuronlab.report.sections_explain:explanations_section",
                               "Input-level explanations", reference="Simonyan et al. 2014; Sundararajan et al. 2017; "
                               "Ribeiro et al. 2016; Lundberg & Lee 2017", order=750))

# input-level results (issue 15 in the issue 14 report): sections_explain_eval.py, sections_explain_more.py
SECTIONS.register(SectionEntry("explainer_ranking", "neuronlab.report.sections_explain_eval:explainer_ranking_section",
                               "Explainer ranking", reference="DeYoung et al. 2020; Attanasio et al. 2023", order=760))
SECTIONS.register(SectionEntry("generation_explanations", "neuronlab.report.sections_explain_more:generation_section",
                               "Generation explanations", reference="Sarti et al. 2023", order=770))
SECTIONS.register(SectionEntry("attention_tests", "neuronlab.report.sections_explain_eval:attention_tests_section",
                               "Is attention explanation?", reference="Jain & Wallace 2019; Wiegreffe & Pinter 2019",
                               order=780))
SECTIONS.register(SectionEntry("cd_trees", "neuronlab.report.sections_explain_more:cd_trees_section",
                               "Agglomerative contextual decomposition", reference="Singh, Murdoch & Yu 2019",
                               order=790))
SECTIONS.register(SectionEntry("neuron_stats", "neuronlab.report.sections_explain_more:neuron_stats_section",
                               "Neuron statistics", order=800))
