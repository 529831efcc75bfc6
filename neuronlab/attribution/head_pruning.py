"""Head importance from self-attention attribution, and pruning heads by it (Hao et al., 2021, sec. 4.1).

The importance of head h of layer l is the maximum of its attribution matrix, averaged over examples,
``I_h = E_x[max_{i,j} Attr_h(A)_{ij}]`` (eq. 3 of the paper); the attention baseline it is compared with is the
maximum attention weight, ``E_x[max_{i,j} A_{h,ij}]``. Pruning removes the k least important heads *in every
layer* (k = 0 .. heads) and records the accuracy, for the attribution order, the attention order and a random
order (the paper's fig. 3). A pruned head's attention probabilities are set to zero through the
``layers.L.attn.probs`` sites, so its context vector is zero, as with transformers' ``head_mask``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import InvalidParameterError, choices
from ..models.live import LiveModel
from ..models.targets import Target
from ._path import base_config
from .self_attention import SelfAttentionAttribution

__all__ = ["HeadImportance", "head_importance", "prune_heads", "HeadPruning", "HeadPruningResult", "ORDERS",
           "pruned_heads"]

#: how heads are ordered for pruning (least important first)
ORDERS = ("attribution", "attention", "random")


@dataclass
class HeadImportance:
    """Per-layer head importances.

    Attributes
    ----------
    sites : list of str
        ``layers.L.attn.probs`` of each row.
    attribution : ndarray of shape (n_layers, heads)
        ``E_x[max Attr_h(A)]`` (Hao et al. 2021, eq. 3).
    attention : ndarray of shape (n_layers, heads)
        ``E_x[max A_h]``, the attention-weight baseline.
    max_relative_delta : float
        The largest convergence delta of the attributions behind the importances.
    """

    sites: list
    attribution: np.ndarray
    attention: np.ndarray
    max_relative_delta: float = 0.0

    def ranking(self, by: str = "attribution") -> list[str]:
        """Head ids ``layers.L.attn.probs:h``, most important first (stable for ties)."""
        scores = self._scores(by)
        order = np.argsort(-scores.reshape(-1), kind="stable")
        H = scores.shape[1]
        return [f"{self.sites[k // H]}:{k % H}" for k in order]

    def _scores(self, by: str) -> np.ndarray:
        if by not in ("attribution", "attention"):
            raise InvalidParameterError(f"by {by!r} is unknown; choose attribution or attention")
        return getattr(self, by)


def _layers(live: LiveModel, layers) -> list[str]:
    from .self_attention import probs_site

    if layers is None:
        return [s for s in live.attention_sites if not s.startswith(("encoder.", "decoder."))] or live.attention_sites
    if isinstance(layers, (str, int)):
        layers = [layers]
    return [probs_site(live, f"layers.{x}" if isinstance(x, (int, np.integer)) else x) for x in layers]


def head_importance(live: LiveModel, inputs, *, target, layers=None, rule: str = "riemann_right", steps: int = 20,
                    memory_mb: float = 1024, batch_size: int | None = None, chunk: int = 8,
                    progress: bool = False) -> HeadImportance:
    """Head importance by self-attention attribution (and by attention weight) for every layer.

    Parameters
    ----------
    live : LiveModel
    inputs : list of str or list of list of str
    target : Target or int
        One class for all inputs, or a :class:`Target` with one class per input.
    layers : sequence of int or site names, optional
        Default: every layer.
    rule, steps : the quadrature (default: the paper's Riemann sum with 20 steps)
    chunk : int
        Inputs per attribution call.

    Returns
    -------
    HeadImportance
    """
    from tqdm.auto import tqdm

    sites = _layers(live, layers)
    n = len(list(inputs))
    if n == 0:
        raise InvalidParameterError("inputs: no sentences given")
    t = target if isinstance(target, Target) else Target("logit", int(target))
    attr_sum, attn_sum, worst = None, None, 0.0
    with tqdm(total=len(sites) * n, disable=not progress, unit="sent", desc="head importance", leave=False) as bar:
        for li, site in enumerate(sites):
            method = SelfAttentionAttribution(live, site, rule=rule, steps=steps, memory_mb=memory_mb,
                                              batch_size=batch_size)
            for c0 in range(0, n, chunk):
                c1 = min(c0 + chunk, n)
                tc = t if isinstance(t.index, int) else Target(t.kind, tuple(t.index[c0:c1]), t.position, t.output)
                res = method.attribute(list(inputs[c0:c1]), target=tc)
                imp, att = res.head_importance(), res.extras["probs"].max(axis=(2, 3))
                if attr_sum is None:
                    attr_sum = np.zeros((len(sites), imp.shape[1]))
                    attn_sum = np.zeros((len(sites), imp.shape[1]))
                attr_sum[li] += imp.sum(axis=0)
                attn_sum[li] += att.sum(axis=0)
                worst = max(worst, float(np.max(res.relative_delta())))
                bar.update(c1 - c0)
    return HeadImportance(sites, attr_sum / n, attn_sum / n, worst)


def pruned_heads(scores: np.ndarray, k: int) -> np.ndarray:
    """Bool mask (n_layers, heads): the ``k`` lowest-scoring heads of every layer (stable order)."""
    scores = np.asarray(scores, dtype=np.float64)
    mask = np.zeros(scores.shape, dtype=bool)
    if k:
        order = np.argsort(scores, axis=1, kind="stable")[:, :k]
        np.put_along_axis(mask, order, True, axis=1)
    return mask


def _accuracy(live: LiveModel, enc_chunks, labels, sites, mask) -> float:
    """Accuracy with the heads of ``mask`` (n_layers, heads) zeroed in their layers."""
    fns = {}
    for li, site in enumerate(sites):
        if mask[li].any():
            keep = torch.as_tensor(~mask[li], dtype=torch.float32)
            fns[site] = (lambda k: lambda v: v * k.to(v.device, v.dtype)[None, :, None, None])(keep)
    correct = 0
    with torch.no_grad(), live.hooks(fns):
        for enc, lab in zip(enc_chunks, labels):
            pred = live.forward(enc).logits.argmax(-1).cpu()
            correct += int((pred == torch.as_tensor(lab)).sum())
    return correct / sum(len(x) for x in labels)


def prune_heads(live: LiveModel, inputs, labels, importance: HeadImportance, *, orders=ORDERS, random_state: int = 0,
                chunk: int = 32, progress: bool = False) -> dict[str, np.ndarray]:
    """Accuracy when the k least important heads of every layer are pruned, for k = 0 .. heads, per order.

    Returns
    -------
    dict
        ``order -> ndarray of shape (heads + 1,)`` (accuracy at k pruned heads per layer).
    """
    from tqdm.auto import tqdm

    for o in orders:
        if o not in ORDERS:
            raise InvalidParameterError(f"order {o!r} is unknown; choose from {choices(ORDERS)}")
    inputs = list(inputs)
    labels = [int(v) for v in labels]
    if len(labels) != len(inputs):
        raise InvalidParameterError(f"labels: expected {len(inputs)} (one per input), got {len(labels)}")
    encs = [live.encode(inputs[c: c + chunk]) for c in range(0, len(inputs), chunk)]
    labs = [labels[c: c + chunk] for c in range(0, len(inputs), chunk)]
    n_cls = int(getattr(live.model.config, "num_labels", 0) or 0)
    bad = [v for v in labels if not 0 <= v < n_cls]
    if bad:
        raise InvalidParameterError(f"label {bad[0]} is out of range: the model has {n_cls} classes (0..{n_cls - 1})")
    H = importance.attribution.shape[1]
    rng = np.random.default_rng(random_state)
    scores = {"attribution": importance.attribution, "attention": importance.attention,
              "random": rng.random(importance.attribution.shape)}
    curves = {}
    with tqdm(total=len(orders) * (H + 1), disable=not progress, unit="k", desc="pruning", leave=False) as bar:
        for o in orders:
            accs = []
            for k in range(H + 1):
                accs.append(_accuracy(live, encs, labs, importance.sites, pruned_heads(scores[o], k)))
                bar.update(1)
            curves[o] = np.asarray(accs)
    return curves


@dataclass
class HeadPruningResult:
    """Head importances and the pruning curves (accuracy vs heads pruned per layer) for each order."""

    importance: HeadImportance
    curves: dict
    config: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"sites": self.importance.sites, "attribution_importance": self.importance.attribution.tolist(),
                "attention_importance": self.importance.attention.tolist(),
                "max_relative_delta": self.importance.max_relative_delta,
                "ranking": self.importance.ranking("attribution"),
                "curves": {k: v.tolist() for k, v in self.curves.items()}, "config": self.config}

    def to_store(self, store, name: str) -> str:
        """Write under ``/results/<name>`` (kind ``attribution/head_pruning``)."""
        arrays = {"attribution_importance": self.importance.attribution, "attention_importance":
                  self.importance.attention, "sites": np.array(self.importance.sites, dtype=object),
                  **{f"curve_{k}": v for k, v in self.curves.items()}}
        return store.write_result(name, arrays, config=dict(self.config, max_relative_delta=
                                                            self.importance.max_relative_delta),
                                  kind="attribution/head_pruning")


class HeadPruning:
    """Head importance by self-attention attribution and the accuracy curve of pruning heads by it.

    Parameters
    ----------
    live : LiveModel
    layers : sequence of int or site names, optional
        Default: every layer.
    rule : str, default "riemann_right"
    steps : int, default 20
        The paper's Riemann sum with 20 steps.
    orders : tuple of str
        Among :data:`ORDERS`: ``attribution``, ``attention`` (max attention weight), ``random``.
    random_state : int
    memory_mb, batch_size : the attribution passes' memory bound / rows per pass

    References
    ----------
    Hao, Dong, Wei & Xu (2021). Self-Attention Attribution: Interpreting Information Interactions Inside
    Transformer. AAAI (sec. 4.1, fig. 3).
    """

    name = "head_pruning"

    def __init__(self, live: LiveModel, *, layers=None, rule: str = "riemann_right", steps: int = 20,
                 orders=ORDERS, random_state: int = 0, memory_mb: float = 1024, batch_size: int | None = None):
        self.live = live
        self.layers = layers
        self.rule = rule
        self.steps = steps
        self.orders = tuple(orders)
        self.random_state = random_state
        self.memory_mb = memory_mb
        self.batch_size = batch_size

    def attribute(self, inputs, *, labels, target=None, progress: bool = False) -> HeadPruningResult:
        """Importances from ``inputs`` (target: default each input's gold-class probability, as in the paper)
        and the pruning curves on the same labelled inputs."""
        inputs = list(inputs)
        labels = [int(v) for v in labels]
        if target is None:
            target = Target("probability", tuple(labels))
        imp = head_importance(self.live, inputs, target=target, layers=self.layers, rule=self.rule, steps=self.steps,
                              memory_mb=self.memory_mb, batch_size=self.batch_size, progress=progress)
        curves = prune_heads(self.live, inputs, labels, imp, orders=self.orders, random_state=self.random_state,
                             progress=progress)
        cfg = base_config(self.name, self.live, ",".join(imp.sites), target, rule=self.rule, steps=self.steps,
                          orders=list(self.orders), random_state=self.random_state, n_examples=len(inputs))
        return HeadPruningResult(imp, curves, cfg)
