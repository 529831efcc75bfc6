"""The attention-probability sites ``layers.L.attn.probs``: read or replace a layer's attention matrices, scoped.

The probabilities ``A = softmax(Q K^T * scale + mask)`` of shape (batch, heads, query, key) are not the input or
output of any module (transformers computes them inside an attention *function*), so a module hook cannot
reach them. Instead, while a :class:`ProbsHooks` is entered, the model runs with the attention implementation
:data:`IMPLEMENTATION`: the eager computation (registered once in transformers' ``AttentionInterface``, with
the eager mask), which hands ``A`` to the site's function before the dropout and ``A V``. A forward pre-hook on
block L marks layer L as pending; the first attention call inside that block (its self-attention: every supported
family calls it first) consumes the mark. The previous implementation is restored and the hooks removed in
``finally``. A model whose attention does not route through ``AttentionInterface`` is refused at the first
forward pass (the block ends with its mark unconsumed) instead of silently doing nothing.

Examples
--------
>>> with SiteHooks(model, adapter, {"layers.1.attn.probs": lambda a: a * 0}):   # doctest: +SKIP
...     out = model(**batch)          # layer 1 attends to nothing
"""
from __future__ import annotations

import threading
from typing import Callable, Mapping

from ..errors import UnknownSiteError
from ..sites import ATTN_PROBS
from .adapters import Adapter

__all__ = ["IMPLEMENTATION", "ProbsHooks", "probs_sites", "eager_probs_attention"]

#: the name the probability-exposing eager attention is registered under in transformers
IMPLEMENTATION = "neuronlab_probs"

_local = threading.local()
_registered = False


def _sessions() -> list:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def probs_sites(model, adapter: Adapter) -> dict[str, tuple]:
    """``site name -> (stack, blocks path, layer)`` of every attention-probability site, in model order."""
    from .capture import get_module

    out: dict[str, tuple] = {}
    base = model.base_model
    for stack, spec in adapter.stacks.items():
        prefix = f"{stack}." if stack else ""
        for L in range(len(get_module(base, spec.layers))):
            out[f"{prefix}layers.{L}.{ATTN_PROBS}"] = (stack, spec.layers, L)
    return out


def eager_probs_attention(module, query, key, value, attention_mask, scaling=None, dropout: float = 0.0, **kwargs):
    """Eager scaled dot-product attention whose probabilities pass through the active :class:`ProbsHooks`.

    ``query`` (batch, heads, q, d); ``key``/``value`` (batch, kv_heads, k, d), repeated for grouped-query
    attention; ``attention_mask`` additive (eager convention). Returns ``(output (batch, q, heads, d), probs)``.
    """
    import torch

    for unsupported in ("softcap", "s_aux"):
        if kwargs.get(unsupported) is not None:
            raise UnknownSiteError(f"attn.probs sites do not support this model's attention ({unsupported!r}: logit "
                                   "soft-capping or attention sinks)")
    n_rep = query.shape[1] // key.shape[1]
    if n_rep > 1:
        key, value = key.repeat_interleave(n_rep, dim=1), value.repeat_interleave(n_rep, dim=1)
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if kwargs.get("position_bias") is not None:  # T5's relative position bias
        scores = scores + kwargs["position_bias"]
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, : key.shape[-2]]
    probs = torch.nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    for session in list(_sessions()):  # nested scopes apply outer first, like nested module hooks
        new = session.consume(probs)
        if new is not None:
            probs = new
    weights = torch.nn.functional.dropout(probs, p=dropout, training=module.training)
    out = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return out, probs


def _register() -> None:
    """Register :func:`eager_probs_attention` (and the eager mask) under :data:`IMPLEMENTATION`, once."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(IMPLEMENTATION, eager_probs_attention)
    AttentionMaskInterface.register(IMPLEMENTATION, eager_mask)
    _registered = True


class ProbsHooks:
    """Scoped functions on attention-probability sites (used by :class:`~neuronlab.models.capture.SiteHooks`).

    Parameters
    ----------
    model : transformers.PreTrainedModel
    adapter : Adapter
    fns : mapping of str to callable
        ``"layers.L.attn.probs" -> fn(probs)``; ``fn`` returns None (leave) or a tensor of the same shape
        (batch, heads, query, key) that the layer uses instead.
    """

    def __init__(self, model, adapter: Adapter, fns: Mapping[str, Callable]):
        self.model = model
        self.adapter = adapter
        sites = probs_sites(model, adapter)
        self.fns = dict(fns)
        self._where = {s: sites[s] for s in self.fns}
        self._pending: str | None = None
        self._handles: list = []
        self._old: str | None = None
        self._switched = False
        self._pushed = False

    def consume(self, probs):
        """Called by the attention function: apply the pending site's function (once per block)."""
        site, self._pending = self._pending, None
        if site is None:
            return None
        return self.fns[site](probs)

    def _pre(self, site: str):
        def hook(module, args):
            self._pending = site

        return hook

    def _post(self, site: str):
        def hook(module, args, output):
            if self._pending == site:
                self._pending = None
                raise UnknownSiteError(
                    f"site {site!r}: this model's attention ({type(module).__name__}) does not go through "
                    "transformers' AttentionInterface, so its probabilities cannot be hooked")

        return hook

    def __enter__(self) -> "ProbsHooks":
        from .capture import get_module

        _register()
        try:
            base = self.model.base_model
            for site, (_stack, layers, L) in self._where.items():
                block = get_module(base, layers)[L]
                self._handles.append(block.register_forward_pre_hook(self._pre(site)))
                self._handles.append(block.register_forward_hook(self._post(site)))
            self._old = getattr(self.model.config, "_attn_implementation", None)
            if self._old != IMPLEMENTATION:
                self.model.set_attn_implementation(IMPLEMENTATION)
                self._switched = True
            _sessions().append(self)
            self._pushed = True
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        if self._pushed:
            stack = _sessions()
            if self in stack:
                stack.remove(self)
            self._pushed = False
        if self._switched:
            self.model.set_attn_implementation(self._old or "eager")
            self._switched = False
        self._pending = None

    def __exit__(self, *exc) -> None:
        self.remove()
