"""Layer integrated gradients: integrated gradients with a site's value as the input (Sundararajan et al., 2017)."""
from __future__ import annotations

import torch  # noqa: F401  (attribution holds the live model; torch is a hard dependency here)

from ..models.live import LiveModel
from ._path import base_config, baseline_encoded, np32, rows_per_pass
from .quadrature import get_rule
from .result import AttributionResult

__all__ = ["LayerIntegratedGradients"]


class LayerIntegratedGradients:
    """Integrated gradients of the target with respect to a site's value.

    With ``y`` the site's value for the input and ``y_b`` its value for the baseline input,

    .. math:: \\mathrm{IG}_j = (y_j - y_{b,j}) \\sum_i w_i \\, \\frac{\\partial F}{\\partial y_j}(y_b + t_i (y - y_b))

    over the rule's nodes ``t_i`` and weights ``w_i`` (summing to one), so that for a site every path
    crosses, ``sum_j IG_j = F(x) - F(b)`` up to the rule's error (the convergence delta). The blocks
    below the site are not recomputed for each step (:meth:`~neuronlab.models.live.LiveModel.run_from`).

    Parameters
    ----------
    live : LiveModel
    site : str
    rule : str, default "gausslegendre"
    steps : int, default 50
    memory_mb : float, default 1024
    batch_size : int, optional

    References
    ----------
    Sundararajan, Taly & Yan (2017). Axiomatic attribution for deep networks. ICML.

    Notes
    -----
    Equals Captum's ``LayerIntegratedGradients`` with the same rule, except ``trapezoid``: Captum's
    ``riemann_trapezoid`` weights sum to ``1 - 1/m``, so its values are ours times ``(m - 1) / m``.
    """

    name = "layer_integrated_gradients"

    def __init__(self, live: LiveModel, site: str, *, rule: str = "gausslegendre", steps: int = 50,
                 memory_mb: float = 1024, batch_size: int | None = None):
        self.live = live
        self.site = live.site(site)
        self.rule = rule
        self.steps = steps
        self.memory_mb = memory_mb
        self.batch_size = batch_size
        get_rule(rule, steps)

    def attribute(self, inputs, *, target, baselines="pad") -> AttributionResult:
        """IG of every neuron of the site at every token position.

        Parameters
        ----------
        inputs : list of str, list of list of str, or Encoded
        target : Target or int
        baselines : {"pad", "zero"} or tensor
            ``pad``: the site's value for the input with every word replaced by the padding token;
            ``zero``: a zero site value; a tensor: the site's baseline value itself.
        """
        live = self.live
        enc = live.encode(inputs)
        resolved = live.resolve_target(enc, target)
        rule = get_rule(self.rule, self.steps)
        y = live.activations(enc, self.site)
        if isinstance(baselines, str):
            from ._path import input_values

            if baselines == "pad":
                yb = live.activations(baseline_encoded(live, enc), self.site)
            else:
                _, yb = input_values(live, enc, self.site, baselines)
        else:
            yb = torch.as_tensor(baselines, dtype=y.dtype, device=y.device).expand_as(y).clone()
        rows = rows_per_pass(live, enc, memory_mb=self.memory_mb, batch_size=self.batch_size)
        nodes = torch.as_tensor(rule.nodes, dtype=y.dtype, device=y.device)
        w = torch.as_tensor(rule.weights, dtype=torch.float64)
        pairs = [(i, e) for e in range(enc.n_examples) for i in range(rule.steps)]
        acc = torch.zeros(y.shape, dtype=torch.float64, device=y.device)
        cache: dict = {}
        for c0 in range(0, len(pairs), rows):
            chunk = pairs[c0: c0 + rows]
            ni = torch.as_tensor([p[0] for p in chunk])
            ex = torch.as_tensor([p[1] for p in chunk])
            vals = (yb[ex] + nodes[ni].view(-1, 1, 1) * (y[ex] - yb[ex])).requires_grad_(True)
            f = live.run_from(enc, self.site, vals, None, ex, resolved=resolved, cache=cache, grad=True)
            (g,) = torch.autograd.grad(f.sum(), vals)
            acc.index_add_(0, ex.to(acc.device), g.double() * w[ni].view(-1, 1, 1).to(acc.device))
        attr = (y.double() - yb.double()) * acc
        attr = attr * enc.attention_mask.to(attr.device, attr.dtype)[:, :, None]
        all_rows = torch.arange(enc.n_examples)
        fx = live.run_from(enc, self.site, y, None, all_rows, resolved=resolved, cache=cache)
        fb = live.run_from(enc, self.site, yb, None, all_rows, resolved=resolved, cache=cache)
        fx, fb, a = np32(fx), np32(fb), np32(attr)
        cfg = base_config(self.name, live, self.site, target, rule=self.rule, steps=self.steps,
                          baselines=baselines if isinstance(baselines, str) else "tensor", rows_per_pass=rows)
        return AttributionResult(self.name, self.site, a, a.sum(axis=(1, 2)) - (fx - fb), fx, fb, enc.tokens,
                                 [list(w) for w in enc.word_ids], cfg)
