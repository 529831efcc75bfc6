"""Value zeroing: context mixing per layer measured on the whole encoder block (Mohebbi et al. 2023).

For layer ``l`` and token ``j``, the value vector of ``j`` is set to zero in every head of layer ``l`` (its
key and query are kept, so the attention weights do not change), the layer is recomputed from the
*original* output of the layer below, and token ``i``'s dependence on ``j`` is the cosine distance between
the original and the altered output of layer ``l`` at ``i``::

    C_l[i, j] = cos_dist(x_l(i), x_l(i | v_j = 0)),     C_l <- C_l / sum_j C_l[i, j]   (rows sum to 1)

The rolled-out map is the paper's ``compute_joint_attention(C, res=False)``: ``R_0 = C_0``,
``R_l = C_l R_{l-1}``; its row at the output position ([CLS], or the explained word of a token-level
target) scores the input tokens.

Implementation. Zeroing value vector ``j`` changes the attention output ``sum_k A[i, k] v_k`` exactly as
zeroing column ``j`` of every head's attention probabilities does (without renormalising), so the method runs
through the live site ``layers.L.attn.probs`` (:mod:`neuronlab.models.attention_probs`) and works for every
architecture whose attention goes through transformers' ``AttentionInterface``. One forward row per zeroed
token: the rows of a batch are (example, token) pairs, each with its own zeroed column, ``batch_size`` rows
per pass. On single-stack encoders the blocks below ``l`` are skipped (replaced by identities, their output
taken from the original pass, as :meth:`LiveModel.run_from` does), checked once per layer against a full pass;
the forward pass stops after block ``l``.

References
----------
H. Mohebbi, W. Zuidema, G. Chrupała, A. Alishahi. "Quantifying Context Mixing in Transformers". EACL 2023.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidParameterError
from .base import Explainer

__all__ = ["cosine_distance_rows", "normalize_rows", "mixing_rollout", "value_zeroing_maps", "ValueZeroing"]

log = logging.getLogger(__name__)


def cosine_distance_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine distance ``1 - a_i . b_i / (|a_i| |b_i|)``, clipped to [0, 2] (sklearn's convention).

    >>> cosine_distance_rows(np.array([[1., 0.], [3., 4.]]), np.array([[0., 2.], [3., 4.]]))
    array([1., 0.])
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    denom = np.where((na > 0) & (nb > 0), na * nb, 1.0)
    return np.clip(1.0 - (a * b).sum(-1) / denom, 0.0, 2.0)


def normalize_rows(maps: np.ndarray) -> np.ndarray:
    """Divide each row (last axis) by its sum; rows that sum to 0 stay 0."""
    maps = np.asarray(maps, dtype=np.float64)
    s = maps.sum(-1, keepdims=True)
    return np.divide(maps, s, out=np.zeros_like(maps), where=s > 0)


def mixing_rollout(maps: np.ndarray) -> np.ndarray:
    """Rollout of per-layer context-mixing maps (L, T, T) without residual: ``R_l = C_l R_{l-1}``, ``R_0 = C_0``.

    Returns the maps of every layer (L, T, T); the last one mixes the input tokens into the top layer.

    >>> c = np.array([[[1., 0.], [.5, .5]], [[0., 1.], [1., 0.]]])
    >>> mixing_rollout(c)[-1]
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    maps = np.asarray(maps, dtype=np.float64)
    out = np.empty_like(maps)
    out[0] = maps[0]
    for layer in range(1, len(maps)):
        out[layer] = maps[layer] @ out[layer - 1]
    return out


def _block_sites(live: Any) -> list[str]:
    """``layers.L`` of the (single) stack, in order; refuses models without attention-probability sites."""
    probs = live.attention_sites
    if not probs:
        raise InvalidParameterError("value zeroing needs attention-probability sites (layers.L.attn.probs); "
                                    "this model exposes none")
    if any(not s.startswith("layers.") for s in probs):
        raise InvalidParameterError("value zeroing supports single-stack models (encoders, decoders); this model "
                                    "has encoder and decoder stacks")
    return [s[: -len(".attn.probs")] for s in probs]


class _Stop(Exception):
    """Raised after block l's output is read: nothing above it is needed."""


def _layer_runner(live: Any, enc: Any, layer: int, original: list, counter: list):
    """A function ``run(rows, zero_cols) -> output of block ``layer`` (n_rows, T, H)``, with column ``zero_cols[r]``
    of every head's attention probabilities zeroed for row r (-1: nothing zeroed)."""
    import torch

    site, probs = f"layers.{layer}", f"layers.{layer}.attn.probs"
    below = original[layer - 1] if layer > 0 else None

    def run(rows: Sequence[int], cols: Sequence[int], skip: bool):
        seen: dict = {}
        cols_t = torch.as_tensor(list(cols), dtype=torch.long)

        def zero(a):
            keep = torch.ones(a.shape[0], a.shape[-1], dtype=a.dtype, device=a.device)
            r = torch.nonzero(cols_t >= 0).flatten()
            keep[r.to(a.device), cols_t[r].to(a.device)] = 0
            return a * keep[:, None, None, :]

        def record(h):
            seen["h"] = h.detach()
            raise _Stop

        fns = {probs: zero, site: record}
        ctx: Any = contextlib.nullcontext()
        if skip:
            rows_t = torch.as_tensor(list(rows), dtype=torch.long)
            prev = below[rows_t].to(live.device)
            fns[f"layers.{layer - 1}"] = lambda h: prev
            ctx = live._identity_blocks(layer)
        with ctx, live.hooks(fns), torch.no_grad():
            try:
                live.forward(enc, list(rows))
            except _Stop:
                pass
        counter[0] += len(rows)
        return seen["h"].float().cpu()

    return run


def value_zeroing_maps(live: Any, enc: Any, examples: Sequence[int] | None = None, *, batch_size: int = 32,
                       normalize: bool = True, counter: list | None = None, progress: Any = None) -> list[np.ndarray]:
    """Value-zeroing context-mixing maps of every layer, per example.

    Parameters
    ----------
    live : LiveModel
    enc : Encoded
    examples : sequence of int, optional
        Examples of ``enc`` (default all).
    batch_size : int, default=32
        Forward rows per pass (each row zeroes one token of one example at one layer).
    normalize : bool, default=True
        Divide each row by its sum (the paper's context-mixing map); False keeps the raw cosine distances.
    counter : list of one int, optional
        Incremented by the number of forward rows run.

    Returns
    -------
    list of numpy.ndarray of shape (n_layers, n_tokens_i, n_tokens_i)
        ``maps[e][l, i, j]``: dependence of token i's output of layer l on token j (real tokens only).
    """
    import torch

    sites = _block_sites(live)
    counter = [0] if counter is None else counter
    examples = list(range(enc.n_examples)) if examples is None else [int(e) for e in examples]
    if int(batch_size) < 1:
        raise InvalidParameterError(f"batch_size must be >= 1; got {batch_size}")
    with torch.no_grad(), live.read(sites) as cap:
        live.forward(enc)
        original = [cap.outputs[s].detach().float().cpu() for s in sites]
    counter[0] += enc.n_examples
    mask = enc.attention_mask.numpy().astype(bool)
    real = {e: np.flatnonzero(mask[e]) for e in examples}
    requests = [(e, int(j)) for e in examples for j in real[e]]
    n_layers = len(sites)
    out = {e: np.zeros((n_layers, len(real[e]), len(real[e]))) for e in examples}
    for layer in range(n_layers):
        run = _layer_runner(live, enc, layer, original, counter)
        skip = _can_skip(live, enc, layer, run, original)
        for b in range(0, len(requests), int(batch_size)):
            chunk = requests[b:b + int(batch_size)]
            rows, cols = [e for e, _ in chunk], [j for _, j in chunk]
            altered = run(rows, cols, skip).numpy()
            for k, (e, j) in enumerate(chunk):
                r = real[e]
                d = cosine_distance_rows(altered[k, r], original[layer][e, r].numpy())
                out[e][layer, :, int(np.searchsorted(r, j))] = d
    maps = [out[e] for e in examples]
    return [normalize_rows(m) for m in maps] if normalize else maps


def _can_skip(live: Any, enc: Any, layer: int, run: Any, original: list) -> bool:
    """Whether blocks 0..layer-1 may be skipped (single-stack encoders), checked against the full pass once."""
    import torch

    if layer == 0 or getattr(live.adapter, "kind", None) != "encoder" or None not in live.adapter.stacks:
        return False
    try:
        live._learn_block_type(enc)
        rows = list(range(min(2, enc.n_examples)))
        fast = run(rows, [-1] * len(rows), True)
        ok = bool(torch.allclose(fast, original[layer][rows], rtol=1e-4, atol=1e-5))
    except Exception as exc:  # noqa: BLE001 - any failure of the shortcut means: run full passes
        log.info("value zeroing: skipping blocks below layer %d failed (%s); using full passes", layer, exc)
        return False
    if not ok:
        log.info("value zeroing: skipping blocks below layer %d does not reproduce the full pass", layer)
    return ok


class ValueZeroing(Explainer):
    """Value zeroing (Mohebbi et al. 2023): the output position's row of the rolled-out context-mixing map.

    Parameters
    ----------
    live : LiveModel
    target : default="predicted"
        Only its position matters: [CLS] (the first token; a decoder's last token) for sequence targets, the
        explained word for token-level ones.
    batch_size : int, default=32
        Forward rows per pass (one row per zeroed token and layer).
    rollout : bool, default=True
        Score by the rolled-out map (the paper's "Value Zeroing + rollout"); False: by the map of ``layer``.
    layer : int, default=-1
        Layer whose (not rolled-out) map scores the tokens when ``rollout`` is False.

    Notes
    -----
    Cost: ``n_layers x n_tokens`` forward rows per example, each running one block (the blocks below are
    skipped where the model allows it). The scores of each example sum to 1.

    The rollout has no identity term (the authors' ``compute_joint_attention(res=False)``), and a token depends
    little on its *own* value vector (its embedding reaches its output through the residual connection, which
    value zeroing leaves alone). So when the output position reads mostly one position ``p`` at the top layer,
    the rolled-out row is close to ``p``'s own mixing row below, which gives ``p``'s token a small share: on the
    planted "nobody" classifier every layer's map puts "nobody" first and the rollout puts it last (numbers in
    docs/explain.md, "Value zeroing"). Use ``rollout=False`` for one layer's view.

    References
    ----------
    H. Mohebbi, W. Zuidema, G. Chrupała, A. Alishahi. "Quantifying Context Mixing in Transformers". EACL 2023.
    """

    name = "value_zeroing"

    def __init__(self, live: Any, *, target: Any = "predicted", batch_size: int = 32, rollout: bool = True,
                 layer: int = -1) -> None:
        super().__init__(live, target=target, batch_size=batch_size)
        n = len(_block_sites(live))
        if not -n <= int(layer) < n:
            raise InvalidParameterError(f"layer {layer} is out of range: the model has {n} layers")
        self.rollout = bool(rollout)
        self.layer = int(layer)

    def params(self) -> dict:
        return {**super().params(), "rollout": self.rollout, "layer": self.layer}

    def _scores(self, enc: Any, resolved: Any, progress: Any):
        counter = [0]
        maps = value_zeroing_maps(self.live, enc, batch_size=self.batch_size, counter=counter)
        self.forward_passes += counter[0]
        mask = enc.attention_mask.numpy().astype(bool)
        out = []
        from .attention_tests import output_positions

        first = output_positions(self.live, enc)
        for i, m in enumerate(maps):
            pos = int(first[i]) if resolved.pos is None else int(resolved.pos[i])
            out_row = int(np.searchsorted(np.flatnonzero(mask[i]), pos))
            mixed = mixing_rollout(m)[-1] if self.rollout else m[self.layer]
            out.append(mixed[out_row])
            if progress is not None:
                progress.update(1)
        return out, None
