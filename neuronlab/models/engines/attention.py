"""Self-attention over packed (unpadded) sequences: one call per run of equal lengths, or per padded bucket.

The native engine keeps a batch's sequences packed row after row. Attention needs them as
``(b, heads, T, head_dim)`` blocks. Two layouts:

- **runs** (the CPU default): each run of equally long consecutive sequences is a view of the packed
  rows, attended without a mask and without a copy. Exact, but one attention call per distinct length:
  cheap on a CPU, where each call does real work, and a flood of tiny kernel launches on a GPU;
- **buckets** (the GPU default): consecutive runs are merged while the padded size stays within
  ``waste`` times their tokens; a merged bucket is scattered into a zero-padded block, attended with a
  key-padding mask and gathered back. A length-sorted batch needs a handful of calls per layer.

Both compute softmax(q k^T * scale) v over each sequence's own tokens; they differ only in the order of
floating-point operations (tests compare them on the CPU).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["AttentionPlan", "plan_attention", "attend", "equal_length_runs"]


def equal_length_runs(lengths: Sequence[int]) -> list[tuple[int, int, int]]:
    """``(first row, number of sequences, length)`` of each run of equally long consecutive sequences."""
    runs: list[tuple[int, int, int]] = []
    row = 0
    i = 0
    while i < len(lengths):
        j = i
        while j < len(lengths) and lengths[j] == lengths[i]:
            j += 1
        runs.append((row, j - i, lengths[i]))
        row += (j - i) * lengths[i]
        i = j
    return runs


@dataclass
class _Bucket:
    start: int  # first packed row
    rows: int  # packed rows
    b: int  # sequences
    T: int  # padded length
    index: object = None  # packed row -> row of the (b * T) padded block (device tensor), None for a run
    mask: object = None  # (b, 1, 1, T) bool: key is a real token


@dataclass
class AttentionPlan:
    """How one batch's attention is laid out (made once per batch, used by every layer)."""

    buckets: list


def plan_attention(lengths: Sequence[int], device, *, buckets: bool, waste: float = 2.0) -> AttentionPlan:
    """The attention layout of a batch of sequences of ``lengths`` (packed in that order).

    Parameters
    ----------
    lengths : sequence of int
    device : torch device of the activations
    buckets : bool
        Merge runs into padded buckets (see the module docstring); False: one call per run.
    waste : float
        A bucket's padded rows stay within ``waste`` times its real rows.

    Examples
    --------
    >>> [(b.start, b.rows, b.b, b.T) for b in plan_attention([3, 3, 2, 1], "cpu", buckets=False).buckets]
    [(0, 6, 2, 3), (6, 2, 1, 2), (8, 1, 1, 1)]
    >>> [(b.start, b.rows, b.b, b.T) for b in plan_attention([3, 3, 2, 1], "cpu", buckets=True).buckets]
    [(0, 9, 4, 3)]
    """
    import torch

    runs = equal_length_runs(lengths)
    if not buckets:
        return AttentionPlan([_Bucket(s, b * T, b, T) for s, b, T in runs])
    merged: list[list[tuple[int, int, int]]] = []
    for run in runs:
        if merged:
            cur = merged[-1]
            n_seq = sum(b for _, b, _ in cur) + run[1]
            real = sum(b * T for _, b, T in cur) + run[1] * run[2]
            if n_seq * max(max(T for _, _, T in cur), run[2]) <= waste * real:
                cur.append(run)
                continue
        merged.append([run])
    out = []
    for group in merged:
        start = group[0][0]
        rows = sum(b * T for _, b, T in group)
        if len(group) == 1:
            out.append(_Bucket(start, rows, group[0][1], group[0][2]))
            continue
        lens = np.concatenate([np.full(b, T, dtype=np.int64) for _, b, T in group])
        T = int(lens.max())
        seq = np.repeat(np.arange(lens.size, dtype=np.int64), lens)
        first = np.repeat(np.cumsum(lens) - lens, lens)
        index = seq * T + (np.arange(rows, dtype=np.int64) - first)
        mask = torch.arange(T)[None, :] < torch.from_numpy(lens)[:, None]
        out.append(_Bucket(start, rows, int(lens.size), T, torch.from_numpy(index).to(device, non_blocking=True),
                           mask[:, None, None, :].to(device, non_blocking=True)))
    return AttentionPlan(out)


def attend(qkv, ctx, plan: AttentionPlan, n_heads: int, scale: float) -> None:
    """Write the attention context of packed ``qkv`` (rows, 3 * hidden: q | k | v) into ``ctx`` (rows, hidden)."""
    import torch.nn.functional as F

    d = ctx.shape[1]
    H, dh = n_heads, d // n_heads
    for bk in plan.buckets:
        blk = qkv[bk.start: bk.start + bk.rows]
        if bk.index is None:  # a run: a view, no mask
            blk = blk.view(bk.b, bk.T, 3, H, dh)
            q, k, v = (blk[:, :, i].transpose(1, 2) for i in range(3))
            o = F.scaled_dot_product_attention(q, k, v, scale=scale)
            ctx[bk.start: bk.start + bk.rows].view(bk.b, bk.T, H, dh).copy_(o.transpose(1, 2))
            continue
        padded = blk.new_zeros((bk.b * bk.T, 3 * d)).index_copy_(0, bk.index, blk).view(bk.b, bk.T, 3, H, dh)
        q, k, v = (padded[:, :, i].transpose(1, 2) for i in range(3))
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=bk.mask, scale=scale)
        ctx[bk.start: bk.start + bk.rows] = o.transpose(1, 2).reshape(bk.b * bk.T, d).index_select(0, bk.index)
