"""Subword -> word aggregation and token -> sentence pooling, vectorised over a whole write chunk."""
from __future__ import annotations

import numpy as np

from .config import ExtractionConfig
from .tokenize import TokenizedSentence

__all__ = ["aggregate_rows", "group_index"]


def group_index(toks: list[TokenizedSentence], tok_off: np.ndarray, cfg: ExtractionConfig):
    """Token positions (in the chunk buffer) and the output row each belongs to.

    Returns
    -------
    positions : ndarray of int64
        Buffer rows that take part.
    groups : ndarray of int64
        Output row of each position (non-decreasing).
    n_groups : int
    """
    pos, grp = [], []
    base = 0
    for i, ts in enumerate(toks):
        start = int(tok_off[i])
        if cfg.granularity == "word":
            content = np.flatnonzero(ts.word_ids >= 0)
            pos.append(start + content)
            grp.append(base + ts.word_ids[content])
            base += int(ts.word_ids.max()) + 1 if content.size else 0
        elif cfg.granularity == "token":
            keep = np.arange(ts.n_tokens) if cfg.special_tokens else np.flatnonzero(ts.word_ids >= 0)
            pos.append(start + keep)
            grp.append(base + np.arange(keep.size))
            base += keep.size
        else:  # sentence
            if cfg.pooling == "cls":
                keep = np.array([0])
            elif cfg.pooling == "last":
                keep = np.array([ts.n_tokens - 1])
            else:
                keep = np.arange(ts.n_tokens) if cfg.special_tokens else np.flatnonzero(ts.word_ids >= 0)
                if keep.size == 0:
                    keep = np.arange(ts.n_tokens)
            pos.append(start + keep)
            grp.append(np.full(keep.size, base))
            base += 1
    return np.concatenate(pos).astype(np.int64), np.concatenate(grp).astype(np.int64), base


def aggregate_rows(buffers: dict, toks, tok_off, cfg: ExtractionConfig, *, out_dtype) -> dict[str, np.ndarray]:
    """Turn the chunk's token activations into stored rows, per site.

    Parameters
    ----------
    buffers : dict of str to torch.Tensor
        ``site -> (n_chunk_tokens, width)`` float32 activations of every token of the chunk.
    toks : list of TokenizedSentence
        The chunk's sentences.
    tok_off : ndarray
        Start of each sentence in the buffers.
    cfg : ExtractionConfig
    out_dtype : numpy dtype

    Returns
    -------
    dict of str to ndarray of shape (n_rows, width)
    """
    import torch

    pos, grp, n = group_index(toks, tok_off, cfg)
    mode = cfg.aggregation if cfg.granularity == "word" else ("mean" if cfg.granularity == "sentence" else "first")
    if cfg.granularity == "sentence" and cfg.pooling in ("mean", "max"):
        mode = cfg.pooling
    elif cfg.granularity == "sentence":
        mode = "first"  # one selected token per sentence
    pos_t, grp_t = torch.from_numpy(pos), torch.from_numpy(grp)
    if mode in ("first", "last"):
        boundary = np.flatnonzero(np.diff(grp)) + 1
        firsts = np.concatenate([[0], boundary]) if grp.size else np.zeros(0, np.int64)
        lasts = np.concatenate([boundary - 1, [grp.size - 1]]) if grp.size else np.zeros(0, np.int64)
        sel = torch.from_numpy(pos[firsts if mode == "first" else lasts])
    out: dict[str, np.ndarray] = {}
    for site, buf in buffers.items():
        if mode in ("first", "last"):
            rows = buf.index_select(0, sel)
        elif mode == "mean":
            rows = torch.zeros((n, buf.shape[1]), dtype=torch.float32)
            rows.index_add_(0, grp_t, buf.index_select(0, pos_t))
            counts = torch.bincount(grp_t, minlength=n).clamp_min(1).to(torch.float32)
            rows /= counts[:, None]
        else:  # max
            rows = torch.full((n, buf.shape[1]), -torch.inf, dtype=torch.float32)
            idx = grp_t[:, None].expand(-1, buf.shape[1])
            rows.scatter_reduce_(0, idx, buf.index_select(0, pos_t), reduce="amax", include_self=True)
        out[site] = rows.numpy().astype(out_dtype, copy=False)
    return out
