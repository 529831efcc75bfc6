"""Self-attention attribution: integrated gradients over a layer's attention probabilities (Hao et al., 2021)."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InvalidParameterError
from ..models.live import LiveModel
from ..sites import ATTN_PROBS, is_attention_probs, parse_site
from ._path import base_config, np32, rows_per_pass
from .quadrature import get_rule
from .result import AttributionResult

__all__ = ["SelfAttentionAttribution", "probs_site"]


def probs_site(live: LiveModel, site: str) -> str:
    """``layers.L.attn.probs`` for any site of layer L (``layers.L``, ``layers.L.attn``, ... or the probs site)."""
    if not isinstance(site, str):
        raise InvalidParameterError(f"site: expected a site name, got {site!r}")
    if not is_attention_probs(site):
        p = parse_site(site)
        if p["embeddings"]:
            raise InvalidParameterError(f"site {site!r} has no attention; give a layer (layers.L or layers.L.attn.probs)")
        site = f"{p['stack'] + '.' if p['stack'] else ''}layers.{p['layer']}.{ATTN_PROBS}"
    return live.site(site)


class SelfAttentionAttribution:
    """Attribution of the target to every entry of every head's attention matrix at one layer.

    With ``A`` the layer's attention probabilities (heads x query x key) for the input and ``F(αA)`` the target
    when the layer uses ``αA`` instead (every other layer unchanged),

    .. math:: \\mathrm{Attr}_h(A) = A_h \\odot \\int_0^1 \\frac{\\partial F(\\alpha A)}{\\partial A_h} d\\alpha
              \\approx A_h \\odot \\sum_i w_i \\frac{\\partial F(t_i A)}{\\partial A_h}

    over the rule's nodes ``t_i`` and weights ``w_i`` (summing to one). It is integrated gradients with the
    zero attention matrix as the baseline, so ``sum Attr = F(A) - F(0)`` up to the rule's error (the
    convergence delta). ``Attr_h[i, j]`` is how much the interaction "query token i reads key token j" in
    head h contributes to the target. The blocks below the layer are not recomputed for each step
    (:meth:`~neuronlab.models.live.LiveModel.run_from` from block L-1's cached output); the probabilities are
    replaced through the ``layers.L.attn.probs`` site's scoped hooks (eager attention for the call).

    Parameters
    ----------
    live : LiveModel
    site : str
        ``layers.L.attn.probs`` (or any site of layer L: ``layers.L``, ``layers.L.attn``, ...).
    rule : str, default "gausslegendre"
        Quadrature rule (:data:`~neuronlab.attribution.quadrature.RULES`); the paper uses a Riemann sum
        (``riemann_right``) with 20 steps.
    steps : int, default 50
    memory_mb : float, default 1024
        Memory bound of one forward/backward pass (sets the rows (example x step) per pass).
    batch_size : int, optional
        Rows per pass (overrides ``memory_mb``).

    See Also
    --------
    neuronlab.attribution.head_importance : the paper's head importance, per layer.
    neuronlab.attribution.attention_tree : the attribution graph and tree between tokens.

    References
    ----------
    Hao, Dong, Wei & Xu (2021). Self-Attention Attribution: Interpreting Information Interactions Inside
    Transformer. AAAI. arXiv:2004.11207.

    Examples
    --------
    >>> res = SelfAttentionAttribution(live, "layers.3", steps=20).attribute(["a fine film"], target=1)  # doctest: +SKIP
    >>> res.attributions.shape          # (examples, heads, query tokens, key tokens)      # doctest: +SKIP
    (1, 12, 5, 5)
    >>> res.head_importance()           # max over each head's matrix                     # doctest: +SKIP
    """

    name = "self_attention_attribution"

    def __init__(self, live: LiveModel, site: str, *, rule: str = "gausslegendre", steps: int = 50,
                 memory_mb: float = 1024, batch_size: int | None = None):
        self.live = live
        self.site = probs_site(live, site)
        self.rule = rule
        self.steps = steps
        self.memory_mb = memory_mb
        self.batch_size = batch_size
        get_rule(rule, steps)

    def _below(self) -> str | None:
        """The block output the layer is run from (None for layer 0: full passes)."""
        p = parse_site(self.site)
        if p["stack"] is not None or p["layer"] == 0:
            return None
        return f"layers.{p['layer'] - 1}"

    def _target(self, enc, resolved, rows, probs, cache, below, y_below, grad: bool):
        """The target for ``rows`` of ``enc`` with the layer's probabilities replaced by ``probs``."""
        live = self.live
        with live.hooks({self.site: lambda v: probs}):
            if below is not None:
                return live.run_from(enc, below, y_below[rows], None, rows, resolved=resolved, cache=cache, grad=grad)
            with torch.enable_grad() if grad else torch.no_grad():
                return live.target(enc, None, rows, resolved=resolved)

    def attribute(self, inputs, *, target) -> AttributionResult:
        """Attribution of every (head, query, key) entry of the layer's attention, per example.

        Parameters
        ----------
        inputs : list of str, list of list of str, or Encoded
        target : Target or int

        Returns
        -------
        AttributionResult
            ``attributions`` of shape (n_examples, heads, n_tokens, n_tokens), zero at padding;
            ``delta = sum(attributions) - (F(A) - F(0))``; ``f_baseline`` is ``F(0)`` (the layer attending to
            nothing); ``extras['probs']`` holds the attention probabilities ``A`` that are explained.
        """
        live = self.live
        enc = live.encode(inputs)
        resolved = live.resolve_target(enc, target)
        rule = get_rule(self.rule, self.steps)
        A = live.attention(enc, self.site)
        below = self._below()
        cache: dict = {}
        y_below = live.activations(enc, below) if below is not None else None
        all_rows = torch.arange(enc.n_examples)
        if below is not None:  # the first run_from call checks the block-skipping shortcut (outside the probs hook)
            live.run_from(enc, below, y_below, None, all_rows, resolved=resolved, cache=cache)
        fx = self._target(enc, resolved, all_rows, A, cache, below, y_below, grad=False)
        f0 = self._target(enc, resolved, all_rows, torch.zeros_like(A), cache, below, y_below, grad=False)
        rows = rows_per_pass(live, enc, memory_mb=self.memory_mb, batch_size=self.batch_size)
        nodes = torch.as_tensor(rule.nodes, dtype=A.dtype, device=A.device)
        w = torch.as_tensor(rule.weights, dtype=torch.float64)
        pairs = [(i, e) for e in range(enc.n_examples) for i in range(rule.steps)]
        acc = torch.zeros(A.shape, dtype=torch.float64, device=A.device)
        for c0 in range(0, len(pairs), rows):
            chunk = pairs[c0: c0 + rows]
            ni = torch.as_tensor([p[0] for p in chunk])
            ex = torch.as_tensor([p[1] for p in chunk])
            vals = (nodes[ni].view(-1, 1, 1, 1) * A[ex]).requires_grad_(True)
            f = self._target(enc, resolved, ex, vals, cache, below, y_below, grad=True)
            (g,) = torch.autograd.grad(f.sum(), vals)
            acc.index_add_(0, ex.to(acc.device), g.double() * w[ni].view(-1, 1, 1, 1).to(acc.device))
        mask = enc.attention_mask.to(A.device, torch.float64)
        attr = A.double() * acc * mask[:, None, :, None] * mask[:, None, None, :]
        fx, f0, a = np32(fx), np32(f0), np32(attr)
        cfg = base_config(self.name, live, self.site, target, rule=self.rule, steps=self.steps, baselines="zero",
                          rows_per_pass=rows)
        res = AttributionResult(self.name, self.site, a, a.sum(axis=(1, 2, 3)) - (fx - f0), fx, f0, enc.tokens,
                                [list(x) for x in enc.word_ids], cfg)
        res.extras["probs"] = np.asarray(np32(A * mask[:, None, :, None].to(A.dtype)), dtype=np.float64)
        return res
