"""The report's plots (matplotlib, no pyplot: each function returns a fresh ``Figure`` on an Agg canvas).

Every plot function takes results read from a store and returns a :class:`matplotlib.figure.Figure`;
:func:`to_png` and :func:`to_svg` render it. Text from the store (concept, class, result names) is
drawn with mathtext switched off, so that a ``$`` in a name is shown, not parsed. matplotlib is
imported when a plot is made, not when :mod:`neuronlab.report` is imported.

Examples
--------
>>> fig = agreement_plot("pos", ["ap", "iou"], [[1.0, 0.5], [0.5, 1.0]], k=10)
>>> to_png(fig)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""
from __future__ import annotations

import contextlib
import io
from typing import Any, Iterator, Sequence

import numpy as np

from .data import site_of

__all__ = ["probe_accuracy_plot", "layerwise_plot", "ablation_plot", "top_sites_plot", "agreement_plot",
           "top_k_overlap", "to_png", "to_svg", "top_k_for"]

#: matplotlib settings of every report figure: no mathtext, reproducible SVG ids, text kept as text in SVG
RC = {"text.parse_math": False, "svg.hashsalt": "neuronlab", "svg.fonttype": "none", "font.size": 9}
#: colours of the probe bars: accuracy, then the baselines
COLOURS = {"accuracy": "#1d4e89", "majority": "#9aa5b1", "control_task": "#e08a2c", "random_init": "#6bab5a"}


@contextlib.contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Any, *, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (no timestamp in the metadata)."""
    buf = io.BytesIO()
    with _style():
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def to_svg(fig: Any) -> bytes:
    """The figure as SVG bytes (no date in the metadata, reproducible element ids)."""
    buf = io.BytesIO()
    with _style():
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def probe_accuracy_plot(probes: Sequence[tuple[str, Any]]) -> Any:
    """Grouped bars: accuracy of each probe beside its majority, control-task and random-init baselines.

    Selectivity (accuracy minus control-task accuracy; Hewitt & Liang 2019) is written above each group.

    Parameters
    ----------
    probes : sequence of (label, ProbeResult)
        One group of bars per probe (a concept on a set of sites), in this order.

    Returns
    -------
    matplotlib.figure.Figure
    """
    keys = ["accuracy"] + [key for key in ("majority", "control_task", "random_init")
                           if any((res.baselines or {}).get(key) is not None for _, res in probes)]
    with _style():
        fig = _figure(max(4.5, 1.2 + 1.1 * len(probes)), 3.6)
        ax = fig.add_subplot()
        width = 0.8 / len(keys)
        x = np.arange(len(probes))
        for j, key in enumerate(keys):
            values = [(res.accuracy if key == "accuracy" else (res.baselines or {}).get(key)) for _, res in probes]
            heights = [np.nan if v is None else float(v) for v in values]
            ax.bar(x + (j - (len(keys) - 1) / 2) * width, heights, width, label=key.replace("_", "-"),
                   color=COLOURS[key])
        for i, (_, res) in enumerate(probes):
            if res.selectivity is not None:
                ax.annotate(f"sel {res.selectivity:+.2f}", (x[i], 1.02), ha="center", fontsize=8,
                            xycoords=("data", "data"))
        ax.set_xticks(x, [label for label, _ in probes], rotation=20 if len(probes) > 3 else 0, ha="right"
                      if len(probes) > 3 else "center")
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("test accuracy")
        ax.set_title("Probe accuracy and baselines")
        ax.legend(fontsize=7, ncol=len(keys), loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
        ax.grid(axis="y", alpha=0.3)
    return fig


def layerwise_plot(probes: Sequence[tuple[str, Any]]) -> Any:
    """Test accuracy of a probe trained on each site alone, per probe, in model order (Dalvi et al. 2019).

    The dotted lines of a probe's colour are its majority (lower) and control-task baselines (computed on all its
    sites, not per site).

    Parameters
    ----------
    probes : sequence of (label, ProbeResult)
        Probes with ``evaluation["layerwise"]`` (``neuronlab probe --evaluate layerwise``).
    """
    with _style():
        fig = _figure(max(4.5, 1.5 + 0.6 * max(len(r.evaluation["layerwise"]) for _, r in probes)), 3.4)
        ax = fig.add_subplot()
        for i, (label, res) in enumerate(probes):
            per_site = res.evaluation["layerwise"]
            colour = f"C{i % 10}"
            ax.plot(range(len(per_site)), list(per_site.values()), marker="o", color=colour, label=label)
            for key, style in (("majority", ":"), ("control_task", "--")):
                value = (res.baselines or {}).get(key)
                if value is not None:
                    ax.axhline(float(value), color=colour, linestyle=style, linewidth=0.8, alpha=0.7)
        sites = list(probes[0][1].evaluation["layerwise"])
        ax.set_xticks(range(len(sites)), sites, rotation=30 if len(sites) > 4 else 0,
                      ha="right" if len(sites) > 4 else "center")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("test accuracy (probe on one site)")
        ax.set_title("Accuracy per site (dotted: majority, dashed: control task)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return fig


def ablation_plot(label: str, ablation: dict) -> Any:
    """Accuracy of a trained probe as neurons are kept or zeroed in ranking order (Dalvi et al. 2019).

    One panel per mode (``keep``: only the first neurons of the order stay; ``zero``: they are zeroed), one line
    per order (``top``, ``bottom``, ``random`` neurons of the probe's ranking first).

    Parameters
    ----------
    label : str
        The probe (title).
    ablation : dict
        ``evaluation["ablation"]`` of a :class:`~neuronlab.concepts.results.ProbeResult`
        (``neuronlab probe --evaluate ablation``): ``full_accuracy`` and ``curves``.
    """
    curves = ablation["curves"]
    modes = list(dict.fromkeys(c["mode"] for c in curves))
    with _style():
        fig = _figure(3.2 * len(modes) + 0.8, 3.2)
        axes = fig.subplots(1, len(modes), sharey=True, squeeze=False)[0]
        for ax, mode in zip(axes, modes):
            for i, c in enumerate(c for c in curves if c["mode"] == mode):
                ax.plot(c["n_neurons"], c["accuracy"], marker=".", color=f"C{i}", label=c["order"])
            ax.axhline(float(ablation["full_accuracy"]), color="black", linestyle=":", linewidth=0.8,
                       label="all neurons")
            ax.set_xlabel("neurons kept" if mode == "keep" else "neurons zeroed")
            ax.set_title(f"{mode}")
            ax.set_ylim(0, 1.05)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("test accuracy")
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{label}: ablation in ranking order")
    return fig


def top_k_for(n_neurons: int, fraction: float = 0.05, minimum: int = 10) -> int:
    """How many top neurons a distribution counts: ``fraction`` of them, at least ``minimum``, at most all.

    >>> top_k_for(2688), top_k_for(14), top_k_for(100)
    (134, 10, 10)
    """
    return int(min(n_neurons, max(minimum, round(fraction * n_neurons))))


def top_sites_plot(rankings: Sequence[tuple[str, Sequence[str]]], sites: Sequence[str], k: int) -> Any:
    """Grouped bars: how many of each ranking's top ``k`` neurons lie in each site.

    Parameters
    ----------
    rankings : sequence of (label, ranking)
        ``ranking`` is best-first neuron ids ``site:index``.
    sites : sequence of str
        Sites in model order (the x axis).
    k : int
        Top neurons counted per ranking.
    """
    with _style():
        fig = _figure(max(4.5, 1.5 + 0.6 * len(sites)), 3.4)
        ax = fig.add_subplot()
        x = np.arange(len(sites))
        width = 0.8 / max(1, len(rankings))
        index = {s: i for i, s in enumerate(sites)}
        for j, (label, ranking) in enumerate(rankings):
            counts = np.zeros(len(sites))
            for nid in list(ranking)[:k]:
                i = index.get(site_of(nid))
                if i is not None:
                    counts[i] += 1
            ax.bar(x + (j - (len(rankings) - 1) / 2) * width, counts, width, label=label)
        ax.set_xticks(x, list(sites), rotation=30 if len(sites) > 4 else 0, ha="right" if len(sites) > 4 else "center")
        ax.set_ylabel(f"neurons among the top {k}")
        ax.set_title(f"Where the top {k} neurons lie")
        if rankings:
            ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    return fig


def top_k_overlap(rankings: Sequence[Sequence[str]], k: int) -> np.ndarray:
    """Jaccard overlap of the top-``k`` sets of every pair of rankings, shape (n_rankings, n_rankings).

    >>> top_k_overlap([["a", "b", "c"], ["b", "a", "d"], ["d", "e", "f"]], 2).tolist()
    [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    tops = [set(list(r)[:k]) for r in rankings]
    out = np.ones((len(tops), len(tops)))
    for i, a in enumerate(tops):
        for j, b in enumerate(tops):
            out[i, j] = len(a & b) / len(a | b) if a | b else 1.0
    return out


def agreement_plot(concept: str, methods: Sequence[str], overlap: Any, *, k: int) -> Any:
    """Heatmap of the top-``k`` Jaccard overlap between the rankings of one concept by several methods.

    Parameters
    ----------
    concept : str
    methods : sequence of str
        Row and column labels.
    overlap : array-like of shape (n_methods, n_methods)
        :func:`top_k_overlap` of their rankings.
    k : int
    """
    m = np.asarray(overlap, dtype=float)
    with _style():
        side = 2.2 + 0.55 * len(methods)
        fig = _figure(side + 1.0, side)
        ax = fig.add_subplot()
        im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(methods)), list(methods), rotation=30, ha="right")
        ax.set_yticks(range(len(methods)), list(methods))
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] < 0.6 else "black")
        ax.set_title(f"{concept}: top-{k} overlap (Jaccard)")
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig
