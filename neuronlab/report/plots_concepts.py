"""Plots of the concept analyses beyond probes and rankings: minimal subset, redundancy, unsupervised, cross-model.

Each function takes values read from a stored result and returns a :class:`matplotlib.figure.Figure` made
like those of :mod:`neuronlab.report.plots` (no pyplot, mathtext off, reproducible SVG); matplotlib is
imported when a plot is made.

Examples
--------
>>> from neuronlab.report.plots import to_png
>>> fig = removable_plot([0.1, 0.3], [0.2, 0.5], kept_per_site=[{"l0": 3, "l1": 5}, {"l0": 2, "l1": 3}])
>>> to_png(fig)[:4] == b"\\x89PNG"
True
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .plots import _figure, _style

__all__ = ["minimal_subset_plot", "correlation_heatmap", "dendrogram_plot", "removable_plot", "scatter_map_plot",
           "loadings_plot", "latent_clusters_plot", "similarity_plot", "categorical_colours"]

#: colours of categorical classes (the rest are drawn grey as "other")
PALETTE = ("#1d4e89", "#e08a2c", "#6bab5a", "#c0392b", "#8e6bb8", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f")


def categorical_colours(labels: Sequence[str], *, max_classes: int = 9) -> tuple[list[str], dict[str, str]]:
    """A colour per label: the ``max_classes`` most frequent classes get their own, the others and ``""`` grey.

    >>> categorical_colours(["a", "b", "a", ""], max_classes=1)[1]
    {'a': '#1d4e89', 'other': '#cccccc'}
    """
    values, counts = np.unique(np.asarray([str(v) for v in labels], dtype=object), return_counts=True)
    ranked = [str(v) for v, _ in sorted(zip(values, counts), key=lambda vc: (-vc[1], str(vc[0]))) if v != ""]
    legend = {v: PALETTE[i] for i, v in enumerate(ranked[:max_classes])}
    if len(legend) < len(ranked) or "" in values:
        legend["other"] = "#cccccc"
    return [legend.get(str(v), "#cccccc") for v in labels], legend


def minimal_subset_plot(label: str, minimal: dict) -> Any:
    """Dev accuracy of the probe retrained on the top ``k`` neurons, for every ``k`` tried (Durrani et al. 2020).

    The dev oracle (all neurons) and the tolerance ``oracle - delta`` are horizontal lines; the chosen ``k`` is
    marked, with its test accuracy and the test oracle.

    Parameters
    ----------
    label : str
        The probe (title).
    minimal : dict
        ``evaluation["minimal"]`` of a :class:`~neuronlab.concepts.results.ProbeResult` (``neuronlab probe
        --evaluate minimal``): ``tried_on_dev`` ``[[k, dev accuracy], ...]``, ``k``, ``dev_oracle_accuracy``,
        ``delta``, ``accuracy``, ``oracle_accuracy``.
    """
    tried = np.asarray(minimal.get("tried_on_dev") or [[minimal["k"], minimal.get("dev_accuracy", np.nan)]],
                       dtype=float)
    with _style():
        fig = _figure(5.2, 3.4)
        ax = fig.add_subplot()
        ax.plot(tried[:, 0], tried[:, 1], marker="o", color="#1d4e89", label="dev accuracy, top k")
        oracle = float(minimal.get("dev_oracle_accuracy", np.nan))
        ax.axhline(oracle, color="black", linestyle=":", linewidth=0.9, label="dev, all neurons")
        ax.axhline(oracle - float(minimal.get("delta", 0.01)), color="#9aa5b1", linestyle="--", linewidth=0.8,
                   label=f"tolerance (-{float(minimal.get('delta', 0.01)):g})")
        k = int(minimal["k"])
        ax.axvline(k, color="#c0392b", linewidth=1.0)
        ax.plot([k], [float(minimal["accuracy"])], marker="*", markersize=12, color="#c0392b", linestyle="none",
                label=f"chosen k={k}: test {float(minimal['accuracy']):.3f} (all: "
                      f"{float(minimal['oracle_accuracy']):.3f})")
        if tried[:, 0].max() / max(1.0, tried[:, 0].min()) > 20:
            ax.set_xscale("log")
        ax.set_xlabel("top neurons kept (k)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{label}: minimal neuron subset")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
    return fig


def correlation_heatmap(corr: Any, labels: Sequence[str], clusters: Sequence[int], *, threshold: float) -> Any:
    """``|r|`` between neurons ordered by their correlation cluster, with the cluster boundaries drawn.

    Parameters
    ----------
    corr : array-like of shape (n, n)
        Absolute Pearson correlations of the shown neurons, in the order of ``labels``.
    labels : sequence of str
        Neuron ids (tick labels when there are few).
    clusters : sequence of int
        Cluster of each neuron at ``threshold`` (neurons of one cluster are adjacent).
    threshold : float
        The clustering distance ``1 - |r|`` the clusters were cut at (title).
    """
    m = np.abs(np.asarray(corr, dtype=float))
    clusters = np.asarray(clusters)
    with _style():
        fig = _figure(5.6, 4.8)
        ax = fig.add_subplot()
        im = ax.imshow(m, vmin=0, vmax=1, cmap="magma_r", interpolation="nearest")
        edges = np.flatnonzero(clusters[1:] != clusters[:-1]) + 0.5
        for e in edges:
            ax.axhline(e, color="#1d4e89", linewidth=0.4)
            ax.axvline(e, color="#1d4e89", linewidth=0.4)
        if len(labels) <= 40:
            ax.set_xticks(range(len(labels)), list(labels), rotation=90, fontsize=6)
            ax.set_yticks(range(len(labels)), list(labels), fontsize=6)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(f"|r| of {len(labels)} neurons ordered by cluster (threshold {threshold:g})")
        fig.colorbar(im, ax=ax, shrink=0.8, label="|r|")
    return fig


def dendrogram_plot(linkage: Any, labels: Sequence[str], thresholds: Sequence[float]) -> Any:
    """The clustering tree (``scipy.cluster.hierarchy.dendrogram``) with the study's thresholds as lines.

    Parameters
    ----------
    linkage : ndarray of shape (n - 1, 4)
        A SciPy linkage matrix on the distance ``1 - |r|``.
    labels : sequence of str
        Leaf labels (neuron ids).
    thresholds : sequence of float
        Cut distances of the study.
    """
    from scipy.cluster.hierarchy import dendrogram

    n = len(labels)
    with _style():
        fig = _figure(max(5.0, min(12.0, 1.5 + 0.12 * n)), 3.6)
        ax = fig.add_subplot()
        many = n > 60
        dendrogram(np.asarray(linkage, dtype=float), ax=ax, labels=None if many else list(labels),
                   no_labels=many, leaf_rotation=90, leaf_font_size=6, color_threshold=0,
                   above_threshold_color="#1d4e89")
        for i, t in enumerate(thresholds):
            ax.axhline(float(t), color=PALETTE[(i + 1) % len(PALETTE)], linestyle="--", linewidth=0.8,
                       label=f"threshold {float(t):g}")
        ax.set_ylabel("distance 1 - |r|")
        ax.set_title(f"Correlation clustering of {n} neurons")
        if len(thresholds):
            ax.legend(fontsize=7)
    return fig


def removable_plot(thresholds: Sequence[float], removable: Sequence[float], *,
                   kept_per_site: Sequence[dict] | None = None) -> Any:
    """Share of neurons that general redundancy can remove at each threshold, and the kept neurons per site.

    Parameters
    ----------
    thresholds, removable : sequence of float
        ``general[i]["threshold"]`` and ``general[i]["removable_fraction"]`` of a redundancy result.
    kept_per_site : sequence of dict, optional
        ``general[i]["kept_per_site"]``: a second panel of stacked bars.
    """
    with _style():
        panels = 2 if kept_per_site else 1
        fig = _figure(3.6 * panels + 0.6, 3.2)
        axes = fig.subplots(1, panels, squeeze=False)[0]
        ax = axes[0]
        ax.plot(list(map(float, thresholds)), list(map(float, removable)), marker="o", color="#1d4e89")
        ax.set_xlabel("clustering threshold (1 - |r|)")
        ax.set_ylabel("removable share of neurons")
        ax.set_ylim(0, 1.0)
        ax.set_title("General redundancy")
        ax.grid(alpha=0.3)
        if kept_per_site:
            sites = list(dict.fromkeys(s for d in kept_per_site for s in d))
            bottom = np.zeros(len(kept_per_site))
            x = np.arange(len(kept_per_site))
            for i, site in enumerate(sites):
                h = np.array([float(d.get(site, 0)) for d in kept_per_site])
                axes[1].bar(x, h, bottom=bottom, color=f"C{i % 10}", label=site)
                bottom += h
            axes[1].set_xticks(x, [f"{float(t):g}" for t in thresholds])
            axes[1].set_xlabel("threshold")
            axes[1].set_ylabel("neurons kept")
            axes[1].set_title("Kept per site")
            axes[1].legend(fontsize=6)
    return fig


def scatter_map_plot(coordinates: Any, labels: Sequence[str], *, title: str, max_classes: int = 9) -> Any:
    """A 2-D map (UMAP) of points coloured by their concept class (the frequent classes; the rest grey).

    Parameters
    ----------
    coordinates : array-like of shape (n_points, >= 2)
    labels : sequence of str
        Class of each point (``""``: none).
    title : str
    """
    xy = np.asarray(coordinates, dtype=float)
    colours, legend = categorical_colours(labels, max_classes=max_classes)
    with _style():
        fig = _figure(5.2, 4.2)
        ax = fig.add_subplot()
        size = 14 if len(xy) < 500 else 4
        ax.scatter(xy[:, 0], xy[:, 1] if xy.shape[1] > 1 else np.zeros(len(xy)), c=colours, s=size,
                   linewidths=0)
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], marker="o", linestyle="none", color=c, label=k) for k, c in legend.items()]
        if handles:
            ax.legend(handles=handles, fontsize=7, loc="best", markerscale=0.8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title)
    return fig


def loadings_plot(loadings: Any, neuron_ids: Sequence[str], *, max_neurons: int = 40, title: str = "") -> Any:
    """Heatmap of NMF components x neurons (the neurons that load most on some component, at most ``max_neurons``).

    Parameters
    ----------
    loadings : array-like of shape (n_components, n_neurons)
    neuron_ids : sequence of str
        Column ids.
    """
    w = np.asarray(loadings, dtype=float)
    order = np.argsort(-w.max(axis=0), kind="stable")[:max_neurons]
    order = order[np.lexsort((-w[:, order].max(axis=0), w[:, order].argmax(axis=0)))]  # grouped by component
    with _style():
        fig = _figure(max(4.5, 1.5 + 0.16 * len(order)), 1.4 + 0.3 * w.shape[0])
        ax = fig.add_subplot()
        im = ax.imshow(w[:, order], aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_xticks(range(len(order)), [str(neuron_ids[j]) for j in order], rotation=90, fontsize=6)
        ax.set_yticks(range(w.shape[0]), [f"component {k}" for k in range(w.shape[0])])
        ax.set_title(title or "NMF loadings")
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def latent_clusters_plot(clusters: Sequence[dict], *, title: str = "") -> Any:
    """Size of each latent concept (cluster), coloured by its purity where the result has a gold concept.

    Parameters
    ----------
    clusters : sequence of dict
        ``clusters`` of a :class:`~neuronlab.concepts.unsupervised.results.LatentConceptsResult`: ``cluster``,
        ``size`` and, with a concept, ``majority`` and ``purity``.
    """
    sizes = [int(c["size"]) for c in clusters]
    purity = [c.get("purity") for c in clusters]
    with _style():
        fig = _figure(min(12.0, max(4.5, 1.5 + 0.25 * len(clusters))), 3.2)
        ax = fig.add_subplot()
        from matplotlib import colormaps

        cmap = colormaps["viridis"]
        colours = ["#1d4e89" if p is None else cmap(float(p)) for p in purity]
        x = np.arange(len(clusters))
        ax.bar(x, sizes, color=colours)
        if len(clusters) <= 30:
            ax.set_xticks(x, [str(c["cluster"]) + (f"\n{c['majority']}" if c.get("majority") is not None else "")
                              for c in clusters], fontsize=6)
        ax.set_xlabel("latent concept (majority class)")
        ax.set_ylabel("tokens")
        if any(p is not None for p in purity):
            from matplotlib.cm import ScalarMappable
            from matplotlib.colors import Normalize

            fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), ax=ax, shrink=0.8, label="purity")
        ax.set_title(title or "Latent concepts")
    return fig


def similarity_plot(matrix: Any, labels: Sequence[str], *, title: str, vmin: float = 0.0, vmax: float = 1.0) -> Any:
    """A labelled heatmap of a square similarity matrix (CKA between layers, SVCCA between models).

    Parameters
    ----------
    matrix : array-like of shape (n, n)
    labels : sequence of str
        Row and column labels.
    title : str
    """
    m = np.asarray(matrix, dtype=float)
    with _style():
        side = min(11.0, 2.4 + 0.42 * len(labels))
        fig = _figure(side + 1.2, side)
        ax = fig.add_subplot()
        im = ax.imshow(m, vmin=vmin, vmax=vmax, cmap="viridis")
        ax.set_xticks(range(len(labels)), list(labels), rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(labels)), list(labels), fontsize=7)
        if len(labels) <= 14:
            for i in range(m.shape[0]):
                for j in range(m.shape[1]):
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if m[i, j] < 0.6 * vmax else "black")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig
