"""Report section ``unsupervised``: UMAP maps, NMF components and latent concepts (``neuronlab discover``).

From ``umap`` (:class:`~neuronlab.concepts.unsupervised.results.UMAPResult`; McInnes et al. 2018), ``nmf``
(:class:`~neuronlab.concepts.unsupervised.results.NMFResult`; the neuron factors of Ecco, Alammar 2021) and
``latent_concepts`` results (:class:`~neuronlab.concepts.unsupervised.results.LatentConceptsResult`; Dalvi et al.
2022).
"""
from __future__ import annotations

from .data import ReportData
from .markup import esc, table
from .plots_concepts import latent_clusters_plot, loadings_plot, scatter_map_plot
from .sections import Figure, Fragment
from .sections_common import figure_name, missing

__all__ = ["unsupervised_section"]

#: tokens of a component or words of a cluster shown in a table cell
SHOWN = 5


def _umap(frag: Fragment, results: list) -> None:
    frag.add("<h3>UMAP</h3>")
    for i, (name, res) in enumerate(results):
        coloured = f", coloured by {res.concept}" if res.concept else ""
        frag.add(Figure(figure_name("umap", i), scatter_map_plot(
            res.coordinates, res.labels, title=f"{res.site}: UMAP of {res.n_points} {res.of}{coloured}"),
            f"{name}: UMAP of the {res.of} of {res.site}{coloured}"
            + (" (a neuron's class: the one with its highest mean activation)." if res.of == "neurons" and res.concept
               else ".")))
    frag.add(table(["result", "site", "of", "points", "concept", "classes"],
                   [(n, r.site, r.of, int(r.n_points), r.concept, ", ".join(map(str, r.classes[:20])))
                    for n, r in results]))


def _nmf(frag: Fragment, results: list) -> None:
    frag.add("<h3>NMF components</h3>")
    for i, (name, res) in enumerate(results):
        frag.add(f"<p>{esc(name)}: {int(res.n_components)} components of {esc(res.site)} ({int(res.n_neurons)} "
                 f"neurons, {int(res.n_rows)} rows), relative reconstruction error {float(res.relative_err):.3f}.</p>")
        rows = []
        for c in res.components:
            classes = c.get("top_token_classes")
            rows.append((int(c["component"]), float(c["mass_share"]), int(c["n_neurons_in_group"]),
                         ", ".join(map(str, c["top_neurons"][:SHOWN])),
                         " | ".join(str(t["context"]) for t in c["top_tokens"][:SHOWN]),
                         ", ".join(f"{k}: {v}" for k, v in classes.items()) if classes else None))
        frag.add(table(["component", "mass share", "neurons in group", "top neurons", "top tokens (in context)",
                        "classes of the top tokens"], rows))
        if res.loadings is not None:
            frag.add(Figure(figure_name("nmf", i), loadings_plot(res.loadings, res.neuron_ids,
                                                                 title=f"{res.site}: NMF loadings"),
                            f"{name}: loading of each neuron on each component (the neurons that load most)."))


def _latent(frag: Fragment, results: list) -> None:
    frag.add("<h3>Latent concepts</h3>")
    for i, (name, res) in enumerate(results):
        ev = res.evaluation
        frag.add(f"<p>{esc(name)}: {int(res.n_clusters)} clusters of {int(res.n_clustered)} tokens of "
                 f"{esc(res.site)}.</p>")
        if ev:
            clf = ev.get("classifier") or {}
            frag.add(table(["concept", "B-cubed P", "B-cubed R", "B-cubed F1", "mean NPMI", "aligned (90%)",
                            "cluster-id accuracy", "majority"],
                           [(res.concept, ev["bcubed"]["precision"], ev["bcubed"]["recall"], ev["bcubed"]["f1"],
                             ev.get("npmi_majority_mean"), ev.get("aligned_fraction"), clf.get("accuracy"),
                             clf.get("majority_baseline"))]))
        frag.add(table(["cluster", "tokens", "word types", "top words", "majority", "purity", "NPMI"],
                       [(int(c["cluster"]), int(c["size"]), c.get("n_types"),
                         ", ".join(f"{w} ({n})" for w, n in c["top_words"][:SHOWN]), c.get("majority"),
                         c.get("purity"), c.get("npmi")) for c in res.clusters]))
        frag.add(Figure(figure_name("latent", i), latent_clusters_plot(res.clusters,
                                                                       title=f"{res.site}: latent concepts"),
                        f"{name}: tokens per latent concept" + (", coloured by purity." if ev else ".")))


def unsupervised_section(data: ReportData) -> Fragment:
    """UMAP of neurons or tokens coloured by concept, NMF components, latent concepts with their top words."""
    frag = Fragment()
    umap, nmf, latent = data.of_kind("umap"), data.of_kind("nmf"), data.of_kind("latent_concepts")
    if not (umap or nmf or latent):
        return frag.add(missing("unsupervised results (umap, nmf, latent_concepts)",
                                "neuronlab discover STORE --method umap --site SITE --concept CONCEPT"))
    if umap:
        _umap(frag, umap)
    if nmf:
        _nmf(frag, nmf)
    if latent:
        _latent(frag, latent)
    return frag
