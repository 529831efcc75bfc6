"""The propagation rules of contextual decomposition (CD) for the layers of a transformer.

A value ``x`` of the network is carried as two parts, ``x = beta + gamma``: ``beta`` is the contribution of
the chosen phrase (the *relevant* part), ``gamma`` that of everything else (its context, the special tokens,
and whatever the rules assign to it). Every rule maps the parts of a layer's input to parts of its output
whose sum is the layer's output exactly, so the decomposition of the logits sums to the logits (up to
floating-point rounding):

================ ==========================================================================================
layer            rule (``b``, ``g``: the parts of the input; ``prop(u, v) = |u| / (|u| + |v|)``, 1/2 at 0/0)
================ ==========================================================================================
linear ``Wx+c``  ``Wb + prop(Wb, Wg) c`` and ``Wg + prop(Wg, Wb) c`` (the bias split in proportion, CD-T)
activation f     Shapley linearisation of CD over the two parts (Murdoch et al. 2018; Singh et al. 2019):
                 ``b' = 1/2 [(f(b + g) - f(g)) + (f(b) - f(0))]``,
                 ``g' = 1/2 [(f(b + g) - f(b)) + (f(g) - f(0))]``; ``f(0)`` (0 for GELU, ReLU, tanh) split
                 in proportion. ``activation="cdt"``: the CD-T code's rule ``g' = f(g)``, ``b' = f(b+g) - f(g)``
LayerNorm        each part centred by its own mean (centring is linear), divided by the standard deviation of
                 the *sum*, scaled by the weight; the bias split in proportion to ``|b|, |g|`` (CD-T)
attention        the probabilities ``softmax(q k^T / sqrt(d) + mask)`` computed from the sum ``b + g`` and
                 applied to the decomposed values (CD-T): ``P (V b)`` and ``P (V g)``, value bias in proportion
residual         parts added: ``(b1 + b2, g1 + g2)``
================ ==========================================================================================

Only the activations (and the proportional bias shares) are a linearisation; linear maps, residual sums,
centring and the attention-weighted sums of values are decomposed exactly, given the probabilities and the
LayerNorm scale of the full input.

``sign_fix`` (off by default) is the CD-T code's ``normalize_rel_irrel``: where the two parts have opposite
signs, the part with the larger magnitude gets the sum and the other 0 (sums unchanged).

References
----------
Murdoch, Liu & Yu (2018), "Beyond word importance: contextual decomposition to extract interactions from
LSTMs", ICLR. Singh, Murdoch & Yu (2019), "Hierarchical interpretations for neural network predictions",
ICLR. Hsu, Li, Murdoch, ..., Yu (2024), "Efficient automated circuit discovery in transformers using
contextual decomposition" (CD-T).
"""
from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "ACTIVATION_RULES",
    "attention_probs",
    "prop_activation",
    "prop_attention_values",
    "prop_layer_norm",
    "prop_linear",
    "proportion",
    "sign_fix",
]


def proportion(u, v):
    """``|u| / (|u| + |v|)`` elementwise, 1/2 where both are 0 (so that the two shares always sum to 1).

    >>> import torch
    >>> proportion(torch.tensor([1., -3., 0.]), torch.tensor([3., 1., 0.])).tolist()
    [0.25, 0.75, 0.5]
    """
    import torch

    au, av = u.abs(), v.abs()
    tot = au + av
    zero = tot == 0
    return torch.where(zero, torch.full_like(tot, 0.5), au / torch.where(zero, torch.ones_like(tot), tot))


def _split(bias, b, g):
    """Add ``bias`` to the two parts in proportion to their magnitudes."""
    w = proportion(b, g)
    return b + w * bias, g + (1 - w) * bias


def prop_linear(b, g, weight, bias=None):
    """CD of ``x @ weight.T + bias``: the linear map on each part, the bias split in proportion.

    >>> import torch
    >>> W, c = torch.tensor([[1., 1.]]), torch.tensor([4.])
    >>> [t.tolist() for t in prop_linear(torch.tensor([[1., 0.]]), torch.tensor([[0., 3.]]), W, c)]
    [[[2.0]], [[6.0]]]
    """
    wb = b @ weight.T.to(b.dtype)
    wg = g @ weight.T.to(g.dtype)
    if bias is None:
        return wb, wg
    return _split(bias.to(b.dtype), wb, wg)


def _shapley(b, g, fn):
    f0 = fn(b.new_zeros(()))
    fb, fg, fbg = fn(b), fn(g), fn(b + g)
    rb = 0.5 * ((fbg - fg) + (fb - f0))
    rg = 0.5 * ((fbg - fb) + (fg - f0))
    if bool((f0 != 0).any()):
        return _split(f0.expand_as(rb), rb, rg)
    return rb, rg


def _cdt(b, g, fn):
    fg = fn(g)
    return fn(b + g) - fg, fg


#: how an elementwise activation is decomposed: ``shapley`` (Murdoch 2018 / Singh 2019), ``cdt`` (CD-T code)
ACTIVATION_RULES: dict[str, Callable] = {"shapley": _shapley, "cdt": _cdt}


def prop_activation(b, g, fn: Callable, rule: str = "shapley"):
    """CD of an elementwise activation ``fn`` by the rule :data:`ACTIVATION_RULES` ``rule``.

    >>> import torch
    >>> [t.tolist() for t in prop_activation(torch.tensor([1.]), torch.tensor([-2.]), torch.relu)]  # relu(-1) = 0
    [[0.5], [-0.5]]
    >>> [t.tolist() for t in prop_activation(torch.tensor([2.]), torch.tensor([1.]), torch.relu)]
    [[2.0], [1.0]]
    """
    return ACTIVATION_RULES[rule](b, g, fn)


def prop_layer_norm(b, g, weight, bias, eps: float):
    """CD of LayerNorm over the last axis: each part centred by its own mean, scaled by the sum's deviation.

    The bias is split in proportion to the magnitudes of the parts of the input (CD-T's rule).
    """
    import torch

    tot = b + g
    std = torch.sqrt(tot.var(-1, keepdim=True, unbiased=False) + eps)
    w = weight.to(b.dtype)
    nb = (b - b.mean(-1, keepdim=True)) / std * w
    ng = (g - g.mean(-1, keepdim=True)) / std * w
    if bias is None:
        return nb, ng
    share = proportion(b, g)
    bias = bias.to(b.dtype)
    return nb + share * bias, ng + (1 - share) * bias


def attention_probs(x, query, key, n_heads: int, mask):
    """Softmax attention probabilities (rows, heads, T, T) of the full input ``x`` (rows, T, H).

    ``mask`` (rows, T) is 1 for tokens that may be attended to; masked keys get probability 0.
    """
    import math

    import torch

    rows, T, _ = x.shape
    q = (x @ query.weight.T.to(x.dtype) + query.bias.to(x.dtype)).view(rows, T, n_heads, -1).transpose(1, 2)
    k = (x @ key.weight.T.to(x.dtype) + key.bias.to(x.dtype)).view(rows, T, n_heads, -1).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~mask.bool()[:, None, None, :].to(scores.device), float("-inf"))
    return torch.softmax(scores, dim=-1)


def prop_attention_values(b, g, probs, value):
    """CD of the attention-weighted sum of values: ``P (V b)`` and ``P (V g)``, the value bias in proportion."""
    rows, T, _ = b.shape
    heads = probs.shape[1]

    def context(v):
        v = v.view(rows, T, heads, -1).transpose(1, 2)
        return (probs @ v).transpose(1, 2).reshape(rows, T, -1)

    vb, vg = prop_linear(b, g, value.weight, value.bias)
    return context(vb), context(vg)


def sign_fix(b, g):
    """CD-T's ``normalize_rel_irrel``: where ``b`` and ``g`` have opposite signs the larger one takes the sum.

    >>> import torch
    >>> [t.tolist() for t in sign_fix(torch.tensor([3., -1., 2.]), torch.tensor([-1., 4., 1.]))]
    [[2.0, 0.0, 2.0], [0.0, 3.0, 1.0]]
    """
    import torch

    tot = b + g
    opposite = (b * g) < 0
    to_b = opposite & (b.abs() >= g.abs())
    to_g = opposite & ~to_b
    zero = torch.zeros_like(tot)
    nb = torch.where(to_b, tot, torch.where(to_g, zero, b))
    ng = torch.where(to_g, tot, torch.where(to_b, zero, g))
    return nb, ng

