"""Layer gradient x activation: the first-order (Taylor) contribution of each neuron (Shrikumar et al., 2016)."""
from __future__ import annotations

import torch

from ..models.live import LiveModel
from ._path import base_config, np32
from .result import AttributionResult

__all__ = ["LayerGradientXActivation"]


class LayerGradientXActivation:
    """``y_j * dF/dy_j`` for every neuron and token position of a site, from one forward/backward pass.

    It is the first-order Taylor term of ``F(y) - F(0)``; the convergence delta reported is
    ``sum_j y_j dF/dy_j - (F(y) - F(y = 0))``, with ``F(y = 0)`` the target when the whole site is zeroed.

    Parameters
    ----------
    live : LiveModel
    site : str

    References
    ----------
    Shrikumar, Greenside, Shcherbina & Kundaje (2016). Not just a black box: learning important features
    through propagating activation differences. arXiv:1605.01713. (Captum's ``LayerGradientXActivation``.)
    """

    name = "layer_gradient_x_activation"

    def __init__(self, live: LiveModel, site: str):
        self.live = live
        self.site = live.site(site)

    def attribute(self, inputs, *, target) -> AttributionResult:
        """Gradient x activation of every neuron of the site at every token position."""
        live = self.live
        enc = live.encode(inputs)
        resolved = live.resolve_target(enc, target)
        rows = torch.arange(enc.n_examples)
        with torch.enable_grad(), live.differentiate(self.site, cut=True) as probe:
            f = live.target(enc, None, rows, resolved=resolved)
            (g,) = torch.autograd.grad(f.sum(), probe.value)
        y = probe.value.detach()
        attr = (y.double() * g.double()) * enc.attention_mask.to(y.device, torch.float64)[:, :, None]
        f0 = live.run_from(enc, self.site, torch.zeros_like(y), None, rows, resolved=resolved)
        fx, fb, a = np32(f), np32(f0), np32(attr)
        cfg = base_config(self.name, live, self.site, target, baselines="zero site value")
        return AttributionResult(self.name, self.site, a, a.sum(axis=(1, 2)) - (fx - fb), fx, fb, enc.tokens,
                                 [list(w) for w in enc.word_ids], cfg)
