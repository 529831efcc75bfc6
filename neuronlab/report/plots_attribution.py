"""Plots of the model-side analyses: attribution heatmaps and shares, ablation and pruning curves, TCAV, bridge.

Each function takes values read from a stored result and returns a :class:`matplotlib.figure.Figure` made like
those of :mod:`neuronlab.report.plots` (no pyplot, mathtext off so that ``$`` in a token is text).

Examples
--------
>>> from neuronlab.report.plots import to_png
>>> fig = greedy_curve_plot("layers.0", ["layers.0:3", "layers.0:1"], [2.0, 1.5, 1.2])
>>> to_png(fig)[:4] == b"\\x89PNG"
True
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .plots import _figure, _style

__all__ = ["token_layer_heatmap", "top_units_plot", "greedy_curve_plot", "neuron_effects_plot",
           "head_pruning_plot", "tcav_plot", "bridge_plot", "attribution_shares"]


def attribution_shares(per_neuron: Any) -> np.ndarray:
    """Each unit's share of the absolute attribution of its site: ``sum_e |A[e, j]| / sum_e sum_j |A[e, j]|``.

    >>> attribution_shares([[1.0, -3.0], [0.0, 4.0]]).tolist()
    [0.125, 0.875]
    """
    a = np.abs(np.asarray(per_neuron, dtype=np.float64)).sum(axis=0)
    total = a.sum()
    return a / total if total > 0 else a


def token_layer_heatmap(tokens: Sequence[str], sites: Sequence[str], values: Any, *, title: str) -> Any:
    """Token x site heatmap of one example's attributions (each token's attribution summed over a site's units).

    Parameters
    ----------
    tokens : sequence of str
        The example's tokens (rows).
    sites : sequence of str
        The attributed sites in model order (columns).
    values : array-like of shape (n_tokens, n_sites)
    title : str
    """
    m = np.asarray(values, dtype=float)
    lim = float(np.nanmax(np.abs(m))) if np.isfinite(m).any() and np.nanmax(np.abs(m)) > 0 else 1.0
    with _style():
        fig = _figure(min(12.0, max(3.8, 2.2 + 0.7 * len(sites))), min(14.0, max(2.6, 1.2 + 0.22 * len(tokens))))
        ax = fig.add_subplot()
        im = ax.imshow(m, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_yticks(range(len(tokens)), [str(t) for t in tokens], fontsize=7)
        ax.set_xticks(range(len(sites)), list(sites), rotation=30 if len(sites) > 3 else 0,
                      ha="right" if len(sites) > 3 else "center", fontsize=7)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.8, label="attribution")
    return fig


def top_units_plot(site: str, unit_ids: Sequence[str], shares: Any, *, k: int = 15, what: str = "neurons") -> Any:
    """Horizontal bars: the ``k`` units (neurons, heads) of a site with the largest attribution share.

    Parameters
    ----------
    site : str
    unit_ids : sequence of str
    shares : array-like of shape (n_units,)
        :func:`attribution_shares` of the site.
    """
    s = np.asarray(shares, dtype=float)
    order = np.argsort(-s, kind="stable")[:k]
    with _style():
        fig = _figure(4.8, 1.2 + 0.2 * len(order))
        ax = fig.add_subplot()
        y = np.arange(len(order))[::-1]
        ax.barh(y, s[order], color="#1d4e89")
        ax.axvline(1.0 / max(1, len(s)), color="#9aa5b1", linestyle=":", linewidth=0.9, label="uniform share")
        ax.set_yticks(y, [str(unit_ids[j]) for j in order], fontsize=7)
        ax.set_xlabel("share of the site's |attribution|")
        ax.set_title(f"{site}: top {len(order)} {what}")
        ax.legend(fontsize=7)
    return fig


def greedy_curve_plot(site: str, neuron_ids: Sequence[str], curve: Sequence[float], *, target: str = "") -> Any:
    """Mean target after ablating the first ``i`` greedily chosen neurons together (Durrani et al. 2021).

    Parameters
    ----------
    site : str
    neuron_ids : sequence of str
        The chosen neurons in order (x tick labels).
    curve : sequence of float
        ``len(neuron_ids) + 1`` values; entry 0: nothing ablated.
    target : str
        What the y axis is (e.g. "logit of positive").
    """
    c = np.asarray(curve, dtype=float)
    with _style():
        fig = _figure(min(12.0, max(4.2, 1.6 + 0.35 * len(c))), 3.2)
        ax = fig.add_subplot()
        ax.plot(range(len(c)), c, marker="o", color="#c0392b")
        ticks = ["none"] + [f"+{n}" for n in neuron_ids][:len(c) - 1]
        ax.set_xticks(range(len(c)), ticks, rotation=45 if len(c) > 4 else 0, ha="right" if len(c) > 4 else "center",
                      fontsize=7)
        ax.set_ylabel(f"mean target{f' ({target})' if target else ''}")
        ax.set_title(f"{site}: greedy ablation")
        ax.grid(alpha=0.3)
    return fig


def neuron_effects_plot(site: str, neuron_ids: Sequence[str], effects: Any, *, k: int = 20) -> Any:
    """Bars: the ``k`` neurons whose ablation alone changes the mean target most (signed ``F - F(ablated)``)."""
    e = np.asarray(effects, dtype=float)
    order = np.argsort(-np.abs(e), kind="stable")[:k]
    with _style():
        fig = _figure(4.8, 1.2 + 0.2 * len(order))
        ax = fig.add_subplot()
        y = np.arange(len(order))[::-1]
        ax.barh(y, e[order], color=["#1d4e89" if v >= 0 else "#c0392b" for v in e[order]])
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_yticks(y, [str(neuron_ids[j]) for j in order], fontsize=7)
        ax.set_xlabel("mean target change F - F(ablated)")
        ax.set_title(f"{site}: ablation effect of single neurons")
    return fig


def head_pruning_plot(curves: dict, sites: Sequence[str], importance: Any) -> Any:
    """Accuracy as the ``k`` least important heads of every layer are pruned, per order; head importance heatmap.

    Parameters
    ----------
    curves : dict
        Order -> accuracy at ``k = 0..heads`` heads pruned per layer (Hao et al. 2021, fig. 3).
    sites : sequence of str
        Rows of ``importance``.
    importance : array-like of shape (n_layers, heads)
        Head importance by self-attention attribution.
    """
    imp = np.asarray(importance, dtype=float)
    with _style():
        fig = _figure(8.0, 3.4)
        ax, ax2 = fig.subplots(1, 2)
        for i, (order, acc) in enumerate(curves.items()):
            acc = np.asarray(acc, dtype=float)
            ax.plot(range(len(acc)), acc, marker=".", color=f"C{i}", label=f"by {order}")
        ax.set_xlabel("heads pruned per layer (least important first)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.05)
        ax.set_title("Head pruning")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        im = ax2.imshow(imp, aspect="auto", cmap="viridis", interpolation="nearest")
        ax2.set_yticks(range(len(sites)), [str(s) for s in sites], fontsize=7)
        ax2.set_xlabel("head")
        ax2.set_title("Head importance (attribution)")
        fig.colorbar(im, ax=ax2, shrink=0.8)
    return fig


def tcav_plot(concepts: Sequence[str], sites: Sequence[str], scores: Any, random_scores: Any,
              significant: Any, *, title: str = "TCAV") -> Any:
    """TCAV scores per concept and site: mean and spread over the runs, the random-CAV runs, significance marks.

    Parameters
    ----------
    concepts, sites : sequence of str
    scores, random_scores : array-like of shape (n_concepts, n_sites, n_runs)
        TCAV score of each concept-vs-random run and of each random-vs-random run (the null distribution).
    significant : array-like of bool, shape (n_concepts, n_sites)
        ``p_adjusted < alpha`` (marked ``*``; ``n.s.`` otherwise).
    title : str
    """
    s, r = np.asarray(scores, dtype=float), np.asarray(random_scores, dtype=float)
    sig = np.asarray(significant, dtype=bool)
    nc, ns = s.shape[0], s.shape[1]
    with _style():
        fig = _figure(min(14.0, max(4.5, 1.5 + 0.9 * nc * ns)), 3.6)
        ax = fig.add_subplot()
        width = 0.8 / ns
        x = np.arange(nc)
        rng = np.random.default_rng(0)
        for j in range(ns):
            pos = x + (j - (ns - 1) / 2) * width
            ax.bar(pos, s[:, j].mean(axis=-1), width * 0.9, yerr=s[:, j].std(axis=-1), color=f"C{j % 10}",
                   label=str(sites[j]), capsize=2)
            for i in range(nc):
                jitter = (rng.random(r.shape[-1]) - 0.5) * width * 0.5
                ax.scatter(pos[i] + jitter, r[i, j], s=6, color="#555555", zorder=3,
                           label="random CAVs" if i == 0 and j == 0 else None)
                top = max(float(s[i, j].mean() + s[i, j].std()), float(r[i, j].max()))
                ax.text(pos[i], min(1.02, top + 0.03), "*" if sig[i, j] else "n.s.", ha="center", fontsize=8)
        ax.axhline(0.5, color="#9aa5b1", linestyle=":", linewidth=0.8)
        ax.set_xticks(x, [str(c) for c in concepts], rotation=20 if nc > 3 else 0, ha="right" if nc > 3 else "center")
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("TCAV score")
        ax.set_title(title)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(4, ns + 1), frameon=False)
    return fig


def bridge_plot(share: float, random_shares: Any, *, effect: float | None = None, random_effects: Any = None,
                title: str = "") -> Any:
    """The concept neurons' attribution share (and ablation effect) against the same for random neuron sets.

    Parameters
    ----------
    share : float
        Share of the attribution carried by the concept's neurons.
    random_shares : array-like of shape (n_random,)
        The same for random sets of the same size per site.
    effect, random_effects : float and array-like, optional
        Target change when the concept's neurons / each random set are ablated (a second panel).
    """
    panels = 2 if effect is not None and random_effects is not None and len(np.atleast_1d(random_effects)) else 1
    with _style():
        fig = _figure(3.8 * panels + 0.4, 3.2)
        axes = fig.subplots(1, panels, squeeze=False)[0]
        items = [("attribution share", float(share), np.asarray(random_shares, dtype=float))]
        if panels == 2:
            items.append(("target change when ablated", float(effect), np.abs(np.asarray(random_effects, float))))
        for ax, (what, obs, rand) in zip(axes, items):
            ax.hist(rand, bins=min(20, max(5, len(rand) // 2)), color="#9aa5b1", label="random sets")
            ax.axvline(obs, color="#c0392b", linewidth=1.5, label="concept neurons")
            ax.set_xlabel(what)
            ax.set_ylabel("random sets")
            ax.legend(fontsize=7)
        fig.suptitle(title or "Concept neurons against random neurons")
    return fig
