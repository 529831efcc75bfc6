"""Layer-wise relevance propagation for transformers with the conservation rules of Ali et al. (2022).

Ali et al. show that gradient x input on a transformer loses relevance in two places, the attention heads
and LayerNorm, and restore conservation by treating, in the backward pass only, the attention
probabilities (AH-rule) and LayerNorm's normalisation factor (LN-rule) as constants; relevance is then
gradient x input of the network with those factors detached, which is how the paper implements it. Here:

- AH-rule: every attention-probability site ``layers.L.attn.probs`` returns ``probs.detach()`` (scoped
  hooks of :class:`~neuronlab.models.live.LiveModel`): relevance flows through the values only;
- LN-rule: every ``torch.nn.LayerNorm`` runs, for the call, ``(x - mean(x)) / std(x).detach() * w + b``
  (the forward replaced on the instance and restored in ``finally``);
- activation rule (LRP's identity rule for elementwise activations, on by default): each activation
  ``y = act(a)`` passes ``a * (act(a) / a).detach()``, so relevance goes through a GELU or tanh unchanged.

The forward values are unchanged. With the three rules the network is, locally, linear in its word
embeddings, its position and segment embeddings and every bias (Euler's theorem applies): the target
logit equals the relevance of the word embeddings (these token scores, summed) plus the relevance of
the position/segment embeddings plus that of the biases, ``sum_b b * d f / d b``. What the scores conserve
is therefore ``f(x) - (relevance absorbed by the biases and the position/segment embeddings)``; a test
checks the full balance to 1e-4 on minilm.

References
----------
Ali, Schnake, Eberle, Montavon, Mueller & Wolf (2022), "XAI for transformers: better explanations through
conservative propagation", ICML.
"""
from __future__ import annotations

import contextlib
from typing import Any

from .deeplift import elementwise_activations
from .gradients import EmbeddingExplainer

__all__ = ["LRP", "conservative_rules"]


def _ln_rule(module):
    """LayerNorm with its standard deviation detached (the LN-rule)."""

    def forward(x):
        import torch

        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)
        y = (x - mean) / torch.sqrt(var + module.eps).detach()
        if module.weight is not None:
            y = y * module.weight
        if module.bias is not None:
            y = y + module.bias
        return y

    return forward


def _gate(module, inputs, y):
    """Activation identity rule: ``a * (act(a) / a).detach()`` (values unchanged)."""
    import torch

    a = inputs[0]
    zero = a == 0
    ratio = torch.where(zero, torch.zeros_like(y), y / torch.where(zero, torch.ones_like(a), a))
    return a * ratio.detach()


@contextlib.contextmanager
def conservative_rules(live: Any, *, ah: bool = True, ln: bool = True, activations: bool = True):
    """Scoped: the model runs with the AH-, LN- and activation rules of Ali et al. (2022) in its backward.

    Examples
    --------
    >>> with conservative_rules(live):                      # doctest: +SKIP
    ...     logits = live.forward(enc, inputs_embeds=x)     # d logits / d x: the LRP relevance / x
    """
    import torch

    patched, handles = [], []
    stack = contextlib.ExitStack()
    try:
        if ah:
            stack.enter_context(live.hooks({s: (lambda p: p.detach()) for s in live.attention_sites}))
        if ln:
            for m in live.model.modules():
                if isinstance(m, torch.nn.LayerNorm):
                    m.forward = _ln_rule(m)
                    patched.append(m)
        if activations:
            handles = [m.register_forward_hook(_gate) for m in elementwise_activations(live.model)]
        yield
    finally:
        for h in handles:
            h.remove()
        for m in patched:
            del m.forward
        stack.close()


class LRP(EmbeddingExplainer):
    """Conservative LRP (Ali et al. 2022): gradient x input with attention and LayerNorm factors detached.

    Parameters
    ----------
    ah, ln, activations : bool, default=True
        Apply the AH-rule, the LN-rule and the activation identity rule (all off: gradient x input).
    reduction : default="sum"
        ``sum`` keeps conservation.

    References
    ----------
    Ali, Schnake, Eberle, Montavon, Mueller & Wolf (2022), "XAI for transformers: better explanations
    through conservative propagation", ICML.
    """

    name = "lrp"
    family = "propagation"

    def __init__(self, live: Any, *, ah: bool = True, ln: bool = True, activations: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(live, **kwargs)
        self.ah, self.ln, self.activations = bool(ah), bool(ln), bool(activations)

    def params(self) -> dict:
        return {**super().params(), "ah": self.ah, "ln": self.ln, "activations": self.activations}

    def _attribute(self, enc, resolved):
        import torch

        x = self.live.embed(enc)
        with conservative_rules(self.live, ah=self.ah, ln=self.ln, activations=self.activations):
            g = self.gradient(enc, resolved, torch.arange(enc.n_examples), x)
        return x * g, None
