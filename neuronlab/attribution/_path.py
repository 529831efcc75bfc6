"""Shared machinery of the path methods: baselines, batching under a memory bound, values and gradients along a path."""
from __future__ import annotations

import contextlib

import numpy as np

from ..errors import InvalidParameterError, choices
from ..models.live import Encoded, LiveModel
from ..models.targets import as_target

__all__ = ["BASELINES", "baseline_encoded", "input_values", "rows_per_pass", "path_values", "base_config", "np32"]

#: how the baseline input is built: ``pad`` keeps the special tokens and puts the padding token at every
#: word position (as in Captum's BERT tutorial); ``zero`` is the zero vector at the input site
BASELINES = ("pad", "zero")


def baseline_encoded(live: LiveModel, enc: Encoded) -> Encoded:
    """``enc`` with every word token replaced by the tokenizer's padding token (special tokens kept)."""
    import torch

    pad = live.tokenizer.pad_token_id
    pad = 0 if pad is None else int(pad)
    content = enc.content_mask()
    ids = torch.where(content, torch.full_like(enc.input_ids, pad), enc.input_ids)
    return Encoded(ids, enc.attention_mask, enc.word_ids, enc.tokens, enc.words)


def input_values(live: LiveModel, enc: Encoded, input_site: str, baselines):
    """``(x, b)``: the input site's value for the inputs and for the baseline, each (n, tokens, width)."""
    import torch

    x = live.activations(enc, input_site)
    if isinstance(baselines, str):
        if baselines not in BASELINES:
            raise InvalidParameterError(f"baselines {baselines!r} is unknown; choose one of {choices(BASELINES)} "
                                        "or give a tensor")
        b = torch.zeros_like(x) if baselines == "zero" else live.activations(baseline_encoded(live, enc), input_site)
    else:
        b = torch.as_tensor(baselines, dtype=x.dtype, device=x.device)
        try:
            b = b.expand_as(x).clone()
        except RuntimeError:
            raise InvalidParameterError(f"baselines: shape {tuple(b.shape)} does not broadcast to the input "
                                        f"site's shape {tuple(x.shape)}") from None
    return x, b


def rows_per_pass(live: LiveModel, enc: Encoded, *, memory_mb: float | None, batch_size: int | None) -> int:
    """Rows (example x interpolation point) per forward/backward pass.

    ``batch_size`` wins when given; otherwise the rows whose activations and gradients fit ``memory_mb``,
    estimated per row as ``tokens * layers * (14 * hidden + 3 * ffn + 3 * heads * tokens) * 4`` bytes
    (the tensors autograd keeps per block, in float32).
    """
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidParameterError(f"batch_size must be a positive int, got {batch_size!r}")
        return batch_size
    if memory_mb is None or memory_mb <= 0:
        raise InvalidParameterError(f"memory_mb must be positive, got {memory_mb!r}")
    cfg = live.model.config
    H = int(getattr(cfg, "hidden_size", 768))
    ffn = int(getattr(cfg, "intermediate_size", 4 * H) or 4 * H)
    heads = int(getattr(cfg, "num_attention_heads", 12))
    layers = int(getattr(cfg, "num_hidden_layers", 12))
    T = int(enc.input_ids.shape[1])
    per_row = T * layers * (14 * H + 3 * ffn + 3 * heads * T) * 4
    return max(1, int(memory_mb * 2**20 // per_row))


@contextlib.contextmanager
def eager_attention(live: LiveModel):
    """Scoped: the model's attention in plain PyTorch ops (fused SDPA kernels have no forward-mode AD)."""
    model = live.model
    old = getattr(model.config, "_attn_implementation", None)
    switch = old not in (None, "eager") and hasattr(model, "set_attn_implementation")
    if switch:
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if switch:
            model.set_attn_implementation(old)


def path_values(live: LiveModel, enc: Encoded, resolved, *, input_site: str, site: str, x, b, alphas, grad: bool,
                rows_per: int, examples, tangent: bool = False):
    """Site values (and target gradients) along the straight path from ``b`` to ``x`` at the input site.

    With ``tangent=True`` the derivative of the site value along the path, ``dy/da``, is computed too,
    exactly, by forward-mode differentiation (the input carries ``x - b`` as its tangent).

    Returns
    -------
    y : tensor (n_alphas, n_group, tokens, width)
    g : tensor of the same shape (d target / d site value), or None when ``grad`` is False
    f : tensor (n_alphas, n_group): the target
    dy : tensor of the shape of ``y`` (only with ``tangent=True``)
    """
    import torch.autograd.forward_ad as fwAD

    if tangent:
        with fwAD.dual_level(), eager_attention(live):
            return _path_values(live, enc, resolved, input_site, site, x, b, alphas, grad, rows_per, examples, True)
    return _path_values(live, enc, resolved, input_site, site, x, b, alphas, grad, rows_per, examples, False)[:3]


def _path_values(live, enc, resolved, input_site, site, x, b, alphas, grad, rows_per, examples, tangent):
    import torch
    import torch.autograd.forward_ad as fwAD

    examples = list(examples)
    n_g = len(examples)
    pairs = [(a, e) for a in range(len(alphas)) for e in range(n_g)]
    alphas_t = torch.as_tensor(np.asarray(alphas), dtype=x.dtype, device=x.device)
    ex_t = torch.as_tensor(examples, dtype=torch.long)
    ys, gs, fs, ts = [], [], [], []
    for c0 in range(0, len(pairs), rows_per):
        chunk = pairs[c0: c0 + rows_per]
        a_idx = torch.as_tensor([p[0] for p in chunk])
        e_loc = torch.as_tensor([p[1] for p in chunk])
        rows = ex_t[e_loc]
        xr, br = x[rows], b[rows]
        interp = br + alphas_t[a_idx].view(-1, 1, 1) * (xr - br)
        if tangent:
            interp = fwAD.make_dual(interp, xr - br)
        seen = {}

        def split(v):  # the site's tangent (dy/da) and its primal value, which goes on as a plain tensor
            if grad:  # the blocks below ran without recording a graph; record from the site on
                torch.set_grad_enabled(True)
            if not tangent:
                return v
            primal, tan = fwAD.unpack_dual(v)
            seen["t"] = tan.detach() if tan is not None else torch.zeros_like(primal)
            return primal

        # no graph below the site (the gradient is only wanted from the site up); no_grad's exit restores the mode
        with torch.no_grad(), live.replace(input_site, lambda v: interp), \
                live.differentiate(site, cut=True, transform=split) as probe:
            f = live.target(enc, None, rows, resolved=resolved)
            y = probe.value
            if grad:
                (g,) = torch.autograd.grad(f.sum(), y)
                gs.append(g.detach())
        ys.append(y.detach())
        fs.append(f.detach())
        if tangent:
            ts.append(seen["t"])
    shape = (len(alphas), n_g)
    y = torch.cat(ys).view(*shape, *ys[0].shape[1:])
    g = torch.cat(gs).view(*shape, *gs[0].shape[1:]) if grad else None
    dy = torch.cat(ts).view(*shape, *ts[0].shape[1:]) if tangent else None
    return y, g, torch.cat(fs).view(*shape), dy


def base_config(method: str, live: LiveModel, site: str, target, **extra) -> dict:
    """The configuration every result carries."""
    t = as_target(target)
    return {"method": method, "site": site, "target": t.to_dict(),
            "model": {k: live.info.get(k) for k in ("name", "path", "model_type", "class", "weights_sha256")},
            **extra}


def np32(t) -> np.ndarray:
    return t.detach().double().cpu().numpy()
