"""The attribution graph and tree between tokens from self-attention attribution (Hao et al., 2021, sec. 4.3).

For one example, the interaction of query token ``i`` with key token ``j`` at layer ``l`` is the attribution
summed over the layer's heads, ``S^l_{ij} = sum_h Attr_h(A^l)_{ij}``. Following the paper, each layer is
normalised by its largest entry (self-interactions ``i = j`` and the first token's row, [CLS], left out of the
maximum, as in the authors' code) and the edges are the interactions above a threshold ``tau`` (0.4 in the
paper): ``j -> i`` at layer ``l`` means that token i drew information from token j there.

The tree is built top-down from a root token (default, as in the paper: the token whose positive interactions
with the others, summed over layers, are largest, [CLS] excluded). A token joins the tree once, through its
strongest edge from a token already in the tree at a higher layer: information read at layer ``l`` comes from
the key token's state below ``l``, so a token that joins at layer ``l`` can only gain children at layers below
``l``. Each token therefore has one parent and the layer where it joined; tokens never reached are left out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidParameterError

__all__ = ["layer_interactions", "attribution_graph", "attribution_tree", "AttributionTree"]


def layer_interactions(results, example: int = 0) -> np.ndarray:
    """Head-summed attributions ``S`` of shape (n_layers, n_tokens, n_tokens) of one example.

    Parameters
    ----------
    results : sequence of AttributionResult
        Self-attention attributions of the layers, bottom to top (one per layer, same inputs).
    example : int
    """
    results = list(results)
    if not results or any(r.attributions.ndim != 4 for r in results):
        raise InvalidParameterError("results: give one self-attention attribution result per layer")
    n = int(results[0].attributions.shape[0])
    if not 0 <= example < n:
        raise InvalidParameterError(f"example {example} is out of range (0..{n - 1})")
    T = len(results[0].tokens[example])
    return np.stack([r.attributions[example].sum(axis=0)[:T, :T] for r in results])


def _normalised(S: np.ndarray) -> np.ndarray:
    out = np.zeros_like(S, dtype=np.float64)
    T = S.shape[-1]
    off = ~np.eye(T, dtype=bool)
    off[0, :] = False  # the [CLS] row (query position 0) is left out of the maximum, as in the authors' code
    for l in range(S.shape[0]):
        m = S[l][off].max() if off.any() else 0.0
        if m > 0:
            out[l] = S[l] / m
    return out


def attribution_graph(S, *, threshold: float = 0.4) -> list[tuple[int, int, int, float]]:
    """Edges ``(layer, i, j, weight)``: at ``layer`` query token ``i`` reads key token ``j`` with normalised
    attribution ``weight > threshold`` (``i != j``), strongest first within each layer.

    Parameters
    ----------
    S : array-like of shape (n_layers, n_tokens, n_tokens)
        From :func:`layer_interactions`.
    threshold : float
        In (0, 1]; the paper uses 0.4.
    """
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 3 or S.shape[1] != S.shape[2]:
        raise InvalidParameterError(f"S: expected shape (n_layers, n_tokens, n_tokens), got {S.shape}")
    if not 0 < threshold <= 1:
        raise InvalidParameterError(f"threshold must be in (0, 1], got {threshold!r}")
    N = _normalised(S)
    edges = []
    for l in range(S.shape[0]):
        ii, jj = np.nonzero((N[l] > threshold) & ~np.eye(S.shape[1], dtype=bool))
        layer = sorted(((int(l), int(i), int(j), float(N[l, i, j])) for i, j in zip(ii, jj)), key=lambda e: -e[3])
        edges += layer
    return edges


@dataclass
class AttributionTree:
    """The tree of information flow to a root token.

    Attributes
    ----------
    root : int
        Token position of the root.
    parent : dict
        ``token -> (parent token, layer)`` for every token in the tree but the root.
    edges : list of (layer, i, j, weight)
        The tree's edges (``j -> i`` at ``layer``), top-down in the order they were added.
    tokens : list of str
    """

    root: int
    parent: dict
    edges: list
    tokens: list = field(default_factory=list)

    @property
    def nodes(self) -> list[int]:
        return [self.root] + sorted(self.parent)

    def to_dict(self) -> dict:
        return {"root": self.root, "tokens": self.tokens,
                "edges": [{"layer": l, "from": j, "to": i, "weight": w} for l, i, j, w in self.edges]}

    def describe(self) -> str:
        """One line per edge, indented by depth (root first)."""
        name = (lambda k: f"{self.tokens[k]}({k})") if self.tokens else str
        children: dict = {}
        for l, i, j, w in self.edges:
            children.setdefault(i, []).append((l, j, w))
        lines = [name(self.root)]

        def walk(node, depth):
            for l, j, w in children.get(node, []):
                lines.append("  " * depth + f"<- {name(j)} at layer {l} ({w:.2f})")
                walk(j, depth + 1)

        walk(self.root, 1)
        return "\n".join(lines)


def attribution_tree(S, tokens=None, *, threshold: float = 0.4, root: int | None = None) -> AttributionTree:
    """The attribution tree of one example (Hao et al. 2021, sec. 4.3), see the module docstring.

    Parameters
    ----------
    S : array-like of shape (n_layers, n_tokens, n_tokens)
        From :func:`layer_interactions`.
    tokens : list of str, optional
    threshold : float
    root : int, optional
        Token position of the root; default the token with the largest positive interactions over all layers.

    Examples
    --------
    >>> S = np.zeros((2, 3, 3)); S[1, 1, 2] = 1.0; S[0, 2, 0] = 0.5
    >>> t = attribution_tree(S, ["[CLS]", "a", "b"])
    >>> t.root, t.parent
    (1, {2: (1, 1), 0: (2, 0)})
    """
    S = np.asarray(S, dtype=np.float64)
    edges = attribution_graph(S, threshold=threshold)
    T = S.shape[1]
    if root is None:
        total = S.sum(axis=0)
        total = total / max(float(np.abs(total).max()), 1e-300)
        total = total * (1 - np.eye(T)) * (total > 0)
        total[0] = 0.0
        root = int(np.argmax(total.sum(axis=1)))
    if not 0 <= root < T:
        raise InvalidParameterError(f"root {root} is out of range (0..{T - 1})")
    joined = {root: S.shape[0]}  # token -> layer it joined at (the root is above every layer)
    parent: dict = {}
    kept = []
    for l in range(S.shape[0] - 1, -1, -1):
        new = {}
        for (_, i, j, w) in (e for e in edges if e[0] == l):
            if i in joined and joined[i] > l and j not in joined and j not in new:
                new[j] = (i, l)
                kept.append((l, i, j, w))
        for j, (i, lay) in new.items():
            joined[j] = lay
            parent[j] = (i, lay)
    return AttributionTree(root, parent, kept, list(tokens) if tokens is not None else [])
