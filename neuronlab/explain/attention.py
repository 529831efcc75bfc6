"""Attention as explanation: raw attention, attention rollout and attention flow (Abnar & Zuidema 2020).

All three read the attention probabilities of every layer in one forward pass (the live-model sites
``layers.L.attn.probs``) and score each input token by how much the *output position* attends to it: the
first token ([CLS]) for sequence outputs, or the explained word for token-level targets.

- ``attention``: the probabilities of one layer (default the last), fused over heads (mean, max or min).
- ``rollout``: with the residual connection modelled as ``A' = r I + (1 - r) A`` (row-normalised, heads
  fused), the product ``A'_L ... A'_1``: how much of the top layer's output position is made of each input
  token when attention is propagated linearly through the layers.
- ``attention-flow``: the maximum flow from each input token to the output position in the layered graph
  whose edge capacities are the entries of ``A'_l``, computed with networkx (``maximum_flow_value``).

References
----------
S. Abnar, W. Zuidema. "Quantifying Attention Flow in Transformers". ACL 2020.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidParameterError, choices
from .base import Explainer

__all__ = ["attention_maps", "fuse_heads", "residual_attention", "rollout", "attention_flow",
           "RawAttentionExplainer", "RolloutExplainer", "AttentionFlowExplainer", "HEAD_FUSIONS"]

#: how the heads of a layer are combined
HEAD_FUSIONS = {"mean": lambda a: a.mean(axis=0), "max": lambda a: a.max(axis=0), "min": lambda a: a.min(axis=0)}


def attention_maps(live: Any, enc: Any, rows=None) -> np.ndarray:
    """Attention probabilities of every layer in one forward pass: array (n_rows, layers, heads, tokens, tokens)."""
    import torch

    sites = live.attention_sites
    if not sites:
        raise InvalidParameterError("the model exposes no attention probabilities (no layers.L.attn.probs site)")
    seen: dict = {}

    def recorder(name):
        def record(a):
            seen[name] = a.detach().float().cpu()
        return record

    with live.hooks({s: recorder(s) for s in sites}), torch.no_grad():
        live.forward(enc, rows)
    return torch.stack([seen[s] for s in sites], dim=1).numpy()


def fuse_heads(maps: np.ndarray, how: str = "mean") -> np.ndarray:
    """Combine the heads axis (second to last three) of ``maps`` (..., heads, T, T) by ``how``."""
    if how not in HEAD_FUSIONS:
        raise InvalidParameterError(f"head fusion {how!r} is unknown; choose one of {choices(HEAD_FUSIONS)}")
    return np.moveaxis(HEAD_FUSIONS[how](np.moveaxis(maps, -3, 0)), 0, -3) if maps.ndim > 3 else HEAD_FUSIONS[how](maps)


def residual_attention(layers: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """``r I + (1 - r) A`` per layer, rows renormalised to sum to 1; ``layers`` is (L, T, T) over real tokens."""
    if not 0.0 <= residual <= 1.0:
        raise InvalidParameterError(f"residual must lie in [0, 1]; got {residual}")
    t = layers.shape[-1]
    aug = residual * np.eye(t) + (1.0 - residual) * np.asarray(layers, dtype=np.float64)
    return aug / aug.sum(axis=-1, keepdims=True)


def rollout(layers: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout ``A'_L ... A'_1`` of heads-fused maps ``layers`` (L, T, T): row i = output token i's
    mixture of input tokens (each row sums to 1)."""
    aug = residual_attention(layers, residual)
    out = np.eye(aug.shape[-1])
    for a in aug:
        out = a @ out
    return out


def attention_flow(layers: np.ndarray, output: int, residual: float = 0.5) -> np.ndarray:
    """Maximum flow from each input token to token ``output`` of the top layer (Abnar & Zuidema 2020).

    Nodes are (layer, token) for layers 0..L; an edge (l - 1, j) -> (l, i) has capacity ``A'_l[i, j]``.
    """
    import networkx as nx

    aug = residual_attention(layers, residual)
    n_layers, t, _ = aug.shape
    g = nx.DiGraph()
    for layer in range(1, n_layers + 1):
        a = aug[layer - 1]
        for i in range(t):
            for j in range(t):
                if a[i, j] > 0:
                    g.add_edge((layer - 1, j), (layer, i), capacity=float(a[i, j]))
    sink = (n_layers, int(output))
    return np.array([nx.maximum_flow_value(g, (0, j), sink) if g.has_node((0, j)) else 0.0 for j in range(t)])


class _AttentionExplainer(Explainer):
    """Shared: one forward pass per batch of examples, maps restricted to each example's real tokens."""

    def __init__(self, live: Any, *, target: Any = "predicted", batch_size: int = 32, head_fusion: str = "mean",
                 residual: float = 0.5) -> None:
        super().__init__(live, target=target, batch_size=batch_size)
        if head_fusion not in HEAD_FUSIONS:
            raise InvalidParameterError(f"head_fusion {head_fusion!r} is unknown; choose one of {choices(HEAD_FUSIONS)}")
        if not 0.0 <= float(residual) <= 1.0:
            raise InvalidParameterError(f"residual must lie in [0, 1]; got {residual}")
        self.head_fusion = head_fusion
        self.residual = float(residual)

    def params(self) -> dict:
        return {**super().params(), "head_fusion": self.head_fusion, "residual": self.residual}

    def _output_token(self, resolved: Any, i: int) -> int:
        return 0 if resolved.pos is None else int(resolved.pos[i])

    def _scores(self, enc: Any, resolved: Any, progress: Any):
        out = []
        for b in range(0, enc.n_examples, self.batch_size):
            rows = list(range(b, min(enc.n_examples, b + self.batch_size)))
            maps = attention_maps(self.live, enc, rows)
            self.forward_passes += len(rows)
            for k, i in enumerate(rows):
                n = enc.lengths[i]
                real = np.flatnonzero(enc.attention_mask[i].numpy().astype(bool))[:n]
                layers = fuse_heads(maps[k][:, :, real][:, :, :, real], self.head_fusion)
                out.append(self._explain_one(layers, self._output_token(resolved, i)))
                if progress is not None:
                    progress.update(1)
        return out, None

    def _explain_one(self, layers: np.ndarray, output: int) -> np.ndarray:
        raise NotImplementedError


class RawAttentionExplainer(_AttentionExplainer):
    """The attention of the output position over the input tokens at one layer, heads fused.

    Parameters
    ----------
    layer : int, default=-1
        Layer index (negative counts from the top).
    head_fusion : {"mean", "max", "min"}
    """

    name = "attention"

    def __init__(self, live: Any, *, target: Any = "predicted", batch_size: int = 32, head_fusion: str = "mean",
                 layer: int = -1) -> None:
        super().__init__(live, target=target, batch_size=batch_size, head_fusion=head_fusion)
        n = len(live.attention_sites)
        if not -n <= int(layer) < n:
            raise InvalidParameterError(f"layer {layer} is out of range: the model has {n} layers")
        self.layer = int(layer)

    def params(self) -> dict:
        out = super().params()
        out.pop("residual")
        return {**out, "layer": self.layer}

    def _explain_one(self, layers: np.ndarray, output: int) -> np.ndarray:
        return np.asarray(layers[self.layer][output], dtype=np.float64)


class RolloutExplainer(_AttentionExplainer):
    """Attention rollout (Abnar & Zuidema 2020): row ``output`` of ``A'_L ... A'_1``.

    Parameters
    ----------
    residual : float, default=0.5
        Weight of the identity (the residual connection) in ``A' = r I + (1 - r) A``.
    head_fusion : {"mean", "max", "min"}
    """

    name = "rollout"

    def _explain_one(self, layers: np.ndarray, output: int) -> np.ndarray:
        return rollout(layers, self.residual)[output]


class AttentionFlowExplainer(_AttentionExplainer):
    """Attention flow (Abnar & Zuidema 2020): maximum flow from each input token to the output position.

    Cost grows with tokens^3 x layers per example (a max-flow per token); meant for sentences of tens of
    tokens, as in the paper.
    """

    name = "attention-flow"

    def _explain_one(self, layers: np.ndarray, output: int) -> np.ndarray:
        return attention_flow(layers, output, self.residual)
