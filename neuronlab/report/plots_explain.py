"""Plots of the input-level results (issue 15) in the report: explainer ranking, attention tests, neuron statistics.

Each function takes values read from a stored result and returns a :class:`matplotlib.figure.Figure` made like
those of :mod:`neuronlab.report.plots` (no pyplot, mathtext off so that ``$`` in a method or site name is text).

- :func:`explainer_ranking_plot`: comprehensiveness against sufficiency, one point per explainer (ERASER,
  DeYoung et al. 2020; the upper left is best), with the random-order baselines, as ferret (Attanasio et al.
  2023) compares explainers; and one bar panel per metric with its direction.
- :func:`head_correlation_plot`: layer x head heatmap of the mean Kendall tau between attention and an
  importance measure (Jain & Wallace 2019, section 4.1); the last column is the heads' mean.
- :func:`tvd_attention_plot`: median output change (TVD) under permuted or uniform attention against the largest
  attention weight (Jain & Wallace 2019, figure 5).
- :func:`std_histogram_plot`: per site, the histogram of the neurons' standard deviations.

Examples
--------
>>> from neuronlab.report.plots import to_png
>>> fig = head_correlation_plot("gradient", [0, 1], [[0.1, -0.2, 0.0], [0.5, None, 0.3]])
>>> to_png(fig)[:4] == b"\\x89PNG"
True
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .plots import _figure, _style

__all__ = ["explainer_ranking_plot", "head_correlation_plot", "tvd_attention_plot", "std_histogram_plot",
           "as_float_matrix"]


def as_float_matrix(values: Any) -> np.ndarray:
    """Nested lists with ``None`` (JSON's NaN) as a float array with NaN.

    >>> as_float_matrix([[1, None], [0.5, 2]]).tolist()
    [[1.0, nan], [0.5, 2.0]]
    """
    return np.asarray([[np.nan if v is None else float(v) for v in row] for row in values], dtype=np.float64)


def _value(row: Mapping[str, Any], column: str) -> float:
    v = row.get(column)
    return np.nan if v is None else float(v)


def explainer_ranking_plot(rows: Sequence[Mapping[str, Any]], panels: Sequence[tuple[str, str, str]]) -> Any:
    """Explainers compared: comprehensiveness vs sufficiency (where both were computed) and a bar panel per metric.

    Parameters
    ----------
    rows : sequence of dict
        :attr:`~neuronlab.explain.compare.ExplainerComparison.rows` (``method``, ``source`` and the metric columns).
    panels : sequence of (column, label, better)
        The metric columns to draw, with their label and ``"higher"`` or ``"lower"``.
    """
    names = [str(r["method"]) for r in rows]
    cols = [c for c, _, _ in panels]
    scatter = "comprehensiveness" in cols and "sufficiency" in cols
    n = len(panels) + int(scatter)
    ncol = min(3, n)
    nrow = -(-n // ncol)
    colours = ["#1d4e89" if r.get("source", "neuronlab") == "neuronlab" else "#e08a2c" for r in rows]
    with _style():
        fig = _figure(3.8 * ncol, nrow * (1.0 + max(1.6, 0.32 * len(names))))
        p = 1
        if scatter:
            ax = fig.add_subplot(nrow, ncol, p)
            p += 1
            x = [_value(r, "comprehensiveness") for r in rows]
            y = [_value(r, "sufficiency") for r in rows]
            ax.scatter(x, y, c=colours, zorder=3)
            for xi, yi, name in zip(x, y, names):
                if np.isfinite(xi) and np.isfinite(yi):
                    ax.annotate(name, (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
            rx = [_value(r, "random_comprehensiveness") for r in rows]
            ry = [_value(r, "random_sufficiency") for r in rows]
            if np.isfinite(rx).any() and np.isfinite(ry).any():
                ax.scatter(rx, ry, marker="x", color="#9aa5b1", label="random order", zorder=2)
                ax.legend(fontsize=7)
            ax.set_xlabel("comprehensiveness (higher is better)")
            ax.set_ylabel("sufficiency (lower is better)")
            ax.set_title("faithfulness (upper left: best)", fontsize=9)
            ax.grid(alpha=0.3)
        for col, label, better in panels:
            ax = fig.add_subplot(nrow, ncol, p)
            p += 1
            vals = [_value(r, col) for r in rows]
            y = np.arange(len(names))
            ax.barh(y, np.nan_to_num(vals), color=colours)
            for yi, v in zip(y, vals):
                if not np.isfinite(v):
                    ax.text(0, yi, " n/a", va="center", fontsize=7)
            rand = [_value(r, "random_" + col) for r in rows]
            if np.isfinite(rand).any():
                ax.scatter(rand, y, marker="|", color="k", s=80, label="random order", zorder=3)
                ax.legend(fontsize=7, loc="lower right")
            ax.set_yticks(y, names, fontsize=7)
            ax.invert_yaxis()
            ax.set_title(f"{label} ({better} is better)", fontsize=9)
    return fig


def head_correlation_plot(method: str, layers: Sequence[int], values: Any) -> Any:
    """Layer x head heatmap of the mean Kendall tau between attention and ``method``'s importance.

    Parameters
    ----------
    method : str
        The importance measure (``gradient``, ``leave-one-out``, ...).
    layers : sequence of int
        The layers analysed (rows).
    values : array-like of shape (n_layers, n_heads + 1)
        Mean tau per layer and head; the last column is the heads' mean (``None``/NaN: undefined, drawn blank).
    """
    m = as_float_matrix(values)
    n_heads = m.shape[1] - 1
    with _style():
        fig = _figure(min(12.0, max(4.6, 1.8 + 0.45 * m.shape[1])), min(10.0, max(2.2, 1.0 + 0.35 * m.shape[0])))
        ax = fig.add_subplot()
        im = ax.imshow(np.ma.masked_invalid(m), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                       interpolation="nearest")
        if m.size <= 400:
            for (i, j), v in np.ndenumerate(m):
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if abs(v) > 0.6 else "black")
        ax.set_xticks(range(n_heads + 1), [str(h) for h in range(n_heads)] + ["mean"], fontsize=7)
        ax.set_yticks(range(len(layers)), [f"layer {int(layer)}" for layer in layers], fontsize=7)
        ax.set_xlabel("head")
        ax.set_title(f"Kendall tau: attention vs {method}", fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8, label="mean Kendall tau")
    return fig


def tvd_attention_plot(analysis: str, settings: Sequence[str], median_tvd: Any, max_attention: Any,
                       layers: Sequence[int]) -> Any:
    """Median output change (TVD) per example against its largest attention weight, one colour per setting.

    Parameters
    ----------
    analysis : str
        ``permuted`` or ``uniform``.
    settings : sequence of str
        The intervened layer(s) of each setting (``layer 3``, ``layers 0,1``).
    median_tvd : array-like of shape (n_examples, n_settings)
    max_attention : array-like of shape (n_examples, n_layers)
        The output position's largest attention weight per layer (heads averaged); a joint setting uses the
        largest over its layers.
    layers : sequence of int
        The layers of ``max_attention``'s columns (``config["layers"]``).
    """
    tv = np.asarray(median_tvd, dtype=np.float64).reshape(-1, len(settings))
    att = np.asarray(max_attention, dtype=np.float64).reshape(tv.shape[0], -1)
    with _style():
        fig = _figure(4.8, 3.4)
        ax = fig.add_subplot()
        for s, name in enumerate(settings):
            wanted = [int(x) for x in name.split(" ", 1)[-1].split(",") if x.strip().lstrip("-").isdigit()]
            cols = [list(layers).index(w) for w in wanted if w in list(layers)] or list(range(att.shape[1]))
            ax.scatter(att[:, cols].max(axis=1), tv[:, s], s=14, label=name, color=f"C{s % 10}")
        ax.set_xlabel("largest attention weight of the output position")
        ax.set_ylabel("median TVD of the output")
        ax.set_title(f"{analysis} attention: output change", fontsize=9)
        ax.grid(alpha=0.3)
        if settings:
            ax.legend(fontsize=7)
    return fig


def std_histogram_plot(stds: Mapping[str, Any], *, bins: int = 30) -> Any:
    """Per site, the histogram of its neurons' standard deviations (one panel per site, shared bins).

    Parameters
    ----------
    stds : mapping of str to array-like
        Site -> the standard deviation of each of its neurons.
    bins : int, default=30
    """
    sites = list(stds)
    every = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in stds.values()]) if sites else np.zeros(0)
    every = every[np.isfinite(every)]
    hi = float(every.max()) if every.size else 1.0
    edges = np.linspace(0.0, hi if hi > 0 else 1.0, bins + 1)
    ncol = min(3, max(1, len(sites)))
    nrow = max(1, -(-len(sites) // ncol))
    with _style():
        fig = _figure(3.4 * ncol, 2.3 * nrow)
        for p, site in enumerate(sites):
            ax = fig.add_subplot(nrow, ncol, p + 1)
            v = np.asarray(stds[site], dtype=np.float64).ravel()
            ax.hist(v[np.isfinite(v)], bins=edges, color="#1d4e89")
            ax.set_title(f"{site} ({v.size} neurons)", fontsize=8)
            ax.set_xlabel("std", fontsize=7)
            ax.tick_params(labelsize=7)
    return fig
