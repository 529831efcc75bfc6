"""Report section ``redundancy``: correlation clusters, dendrogram, removable share, CCFS and task redundancy.

From ``redundancy`` results (:class:`~neuronlab.concepts.redundancy.results.RedundancyResult`, ``neuronlab
redundancy``; Dalvi et al. 2020). The result stores each neuron's cluster at every threshold, not the
correlation matrix (``8 n^2`` bytes), so the heatmap and the dendrogram are recomputed from the store's
activations for the neurons of the largest clusters (at most :data:`MAX_SHOWN`, whole clusters first): ``|r|``
over the same rows and the study's linkage on ``1 - |r|``. Below the cut, average (and single, complete,
weighted) linkage merges a cluster's neurons from their own distances only, so the tree of the shown clusters is
the study's. When the activations cannot be read (a store holding results only), the section says so and shows
the tables.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .data import ReportData
from .markup import esc, table
from .plots_concepts import correlation_heatmap, dendrogram_plot, removable_plot
from .sections import Figure, Fragment
from .sections_common import figure_name, missing, note

__all__ = ["redundancy_section", "cluster_sample", "MAX_SHOWN"]

log = logging.getLogger(__name__)

#: neurons shown in the heatmap and the dendrogram
MAX_SHOWN = 120


def cluster_sample(labels: Any, max_neurons: int = MAX_SHOWN) -> np.ndarray:
    """Column indices of the largest clusters, whole clusters first, ordered by cluster (at most ``max_neurons``).

    Clusters are taken by decreasing size (ties: the cluster of the first neuron first); a cluster that does not
    fit is cut.

    >>> cluster_sample([0, 1, 0, 2, 1, 0], 4).tolist()
    [0, 2, 5, 1]
    """
    labels = np.asarray(labels)
    values, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = sorted(range(len(values)), key=lambda i: (-counts[i], first[i]))
    out: list[int] = []
    for i in order:
        members = np.flatnonzero(labels == values[i])
        out.extend(members[:max_neurons - len(out)].tolist())
        if len(out) >= max_neurons:
            break
    return np.asarray(out, dtype=np.int64)


def _correlations(path: str, ids: list[str], n_rows: int) -> np.ndarray | None:
    """``|r|`` of the neurons ``ids`` over the first ``n_rows`` rows of the store (None when they cannot be read)."""
    from neuronlab.concepts.corpus_methods.columns import read_neurons
    from neuronlab.errors import NeuronlabError
    from neuronlab.store import ActivationStore

    try:
        with ActivationStore.open(path) as st:
            X, _ = read_neurons(st, ids)
    except (NeuronlabError, OSError, KeyError, ValueError) as exc:
        log.warning("redundancy section: activations not read (%s)", exc)
        return None
    X = X[:n_rows].astype(np.float64)
    X = X[np.isfinite(X).all(axis=1)]
    if X.shape[0] < 2:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.corrcoef(X, rowvar=False)
    r = np.nan_to_num(np.atleast_2d(r), nan=0.0)
    np.fill_diagonal(r, 1.0)
    return np.abs(r)


def _linkage(corr: np.ndarray, method: str) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    d = np.clip(1.0 - corr, 0.0, None)
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    return linkage(squareform(d, checks=False), method=method if method in ("average", "complete", "single",
                                                                              "weighted") else "average")


def _one(frag: Fragment, i: int, name: str, res: Any, path: str) -> None:
    thresholds = [float(t) for t in res.thresholds]
    frag.add(f"<h3>{esc(name)}</h3>")
    frag.add(table(["threshold", "clusters", "removable share", "kept per site"],
                   [(float(g["threshold"]), int(g["n_clusters"]), float(g["removable_fraction"]),
                     ", ".join(f"{s}: {n}" for s, n in g["kept_per_site"].items())) for g in res.general]))
    frag.add(f"<p>{int(res.n_neurons)} neurons of {esc(', '.join(map(str, res.sites)))} over {int(res.n_rows)} rows; "
             f"{len(res.constant_neurons)} constant neuron(s).</p>")
    if res.general:
        frag.add(Figure(figure_name("removable", i), removable_plot(
            [g["threshold"] for g in res.general], [g["removable_fraction"] for g in res.general],
            kept_per_site=[g["kept_per_site"] for g in res.general]),
            f"{name}: share of neurons removable at each clustering threshold and the neurons kept per site."))
    if res.labels is not None and len(res.neuron_ids) > 1:
        labels = np.asarray(res.labels)
        mid = len(thresholds) // 2
        cols = cluster_sample(labels[mid])
        ids = [res.neuron_ids[j] for j in cols]
        corr = _correlations(path, ids, int(res.n_rows)) if len(ids) > 1 else None
        if corr is None:
            frag.add(note("Correlation heatmap and dendrogram: the activations of these neurons could not be read "
                          "from the store."))
        else:
            frag.add(Figure(figure_name("correlation", i), correlation_heatmap(
                corr, ids, labels[mid][cols], threshold=thresholds[mid]),
                f"{name}: |r| of the neurons of the {len(set(labels[mid][cols].tolist()))} largest clusters at "
                f"threshold {thresholds[mid]:g}, ordered by cluster (recomputed from the store's activations)."))
            frag.add(Figure(figure_name("dendrogram", i), dendrogram_plot(
                _linkage(corr, str(res.config.get("linkage", "average"))), ids, thresholds),
                f"{name}: {res.config.get('linkage', 'average')} linkage of the same neurons on 1 - |r|; dashed: "
                "the study's thresholds."))
    if res.ccfs:
        c = res.ccfs
        frag.add(f"<h4>CCFS for {esc(res.concept)}</h4>", table(
            ["step", "neurons", "detail"],
            [("all", c.get("n_neurons"), ""),
             ("LayerSelector", c.get("n_after_layers"), ", ".join(map(str, c.get("selected_layers", [])))),
             ("correlation clustering", c.get("n_after_clustering"), f"threshold {c.get('threshold')}"),
             ("selection (minimal top-k)", c.get("n_kept"), ", ".join(map(str, c.get("kept_neurons", [])[:20])))]))
        frag.add(table(["kept share", "accuracy", "oracle accuracy", "dev accuracy", "dev oracle", "delta"],
                       [(c.get("kept_fraction"), c.get("accuracy"), c.get("oracle_accuracy"), c.get("dev_accuracy"),
                         c.get("dev_oracle_accuracy"), c.get("delta"))]))
        if c.get("layer_dev_accuracies"):
            frag.add(table(["site", "dev accuracy (LayerSelector)"],
                           [(s, float(a)) for s, a in c["layer_dev_accuracies"].items()]))
    if res.task:
        t = res.task
        frag.add(f"<h4>Task-specific redundancy for {esc(res.concept)}</h4>", table(
            ["neurons kept", "removable share", "accuracy", "oracle accuracy", "delta"],
            [(t.get("n_kept"), t.get("removable_fraction"), t.get("accuracy"), t.get("oracle_accuracy"),
              t.get("delta"))]))


def redundancy_section(data: ReportData) -> Fragment:
    """General redundancy at each threshold, the correlation clusters, and CCFS / task redundancy for a concept."""
    results = data.of_kind("redundancy")
    frag = Fragment()
    if not results:
        return frag.add(missing("redundancy results", "neuronlab redundancy STORE --threshold 0.3 0.5 --concept "
                                                      "CONCEPT"))
    for i, (name, res) in enumerate(results):
        _one(frag, i, name, res, data.path)
    return frag
