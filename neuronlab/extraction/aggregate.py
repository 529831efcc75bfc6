"""Subword -> word aggregation and token -> sentence pooling, vectorised over a whole write chunk."""
from __future__ import annotations

import numpy as np

from .config import ExtractionConfig
from .tokenize import TokenizedCorpus

__all__ = ["aggregate_rows", "aggregate_tensors", "group_index", "rows_per_sentence"]


def _token_table(tc: TokenizedCorpus, s0: int, s1: int):
    """Chunk-relative token positions, their sentence (chunk-relative) and word ids."""
    a, b = int(tc.offsets[s0]), int(tc.offsets[s1])
    lengths = np.diff(tc.offsets[s0: s1 + 1])
    sent = np.repeat(np.arange(s1 - s0, dtype=np.int64), lengths)
    return np.arange(b - a, dtype=np.int64), sent, tc.word_ids[a:b].astype(np.int64), lengths


def _kept_tokens(wid: np.ndarray, special_tokens: bool) -> np.ndarray:
    """Mask of the tokens that become rows / take part in pooling."""
    return np.ones(wid.size, dtype=bool) if special_tokens else wid >= 0


def rows_per_sentence(tc: TokenizedCorpus, n_words: np.ndarray, cfg: ExtractionConfig) -> np.ndarray:
    """Stored rows of each sentence: words, kept tokens, or 1 (sentence granularity)."""
    if cfg.granularity == "word":
        return np.asarray(n_words, dtype=np.int64)
    if cfg.granularity == "sentence":
        return np.ones(len(tc), dtype=np.int64)
    _, sent, wid, _ = _token_table(tc, 0, len(tc))
    keep = _kept_tokens(wid, cfg.special_tokens)
    return np.bincount(sent[keep], minlength=len(tc)).astype(np.int64)


def group_index(tc: TokenizedCorpus, s0: int, s1: int, row_offsets: np.ndarray, cfg: ExtractionConfig):
    """Token positions (chunk-relative, in sentence order) and the output row each belongs to.

    Parameters
    ----------
    tc : TokenizedCorpus
    s0, s1 : int
        The chunk's sentences ``[s0, s1)``.
    row_offsets : ndarray
        The store's row offsets per sentence (``offsets[s0]`` is the chunk's first row).
    cfg : ExtractionConfig

    Returns
    -------
    positions : ndarray of int64
        Tokens that take part (position among the chunk's tokens).
    groups : ndarray of int64
        Output row of each position, relative to the chunk's first row (non-decreasing).
    n_groups : int
    """
    pos, sent, wid, lengths = _token_table(tc, s0, s1)
    rows0 = (row_offsets[s0:s1] - row_offsets[s0]).astype(np.int64)
    n = int(row_offsets[s1] - row_offsets[s0])
    if cfg.granularity == "word":
        keep = wid >= 0
        return pos[keep], rows0[sent[keep]] + wid[keep], n
    if cfg.granularity == "token":
        keep = _kept_tokens(wid, cfg.special_tokens)
        kpos, ksent = pos[keep], sent[keep]
        return kpos, rows0[ksent] + (np.arange(kpos.size) - np.searchsorted(ksent, ksent)), n
    # sentence granularity
    tok0 = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    if cfg.pooling == "cls":
        return tok0, np.arange(s1 - s0, dtype=np.int64), n
    if cfg.pooling == "last":
        return tok0 + lengths - 1, np.arange(s1 - s0, dtype=np.int64), n
    keep = _kept_tokens(wid, cfg.special_tokens)
    has = np.bincount(sent[keep], minlength=s1 - s0) > 0
    keep |= ~has[sent]  # a sentence with no content token pools over all of its tokens
    return pos[keep], sent[keep], n


def aggregate_rows(buffers: dict, positions: np.ndarray, groups: np.ndarray, n: int, cfg: ExtractionConfig, *,
                   out_dtype, buffer_rows: int | None = None) -> dict[str, np.ndarray]:
    """Turn the chunk's token activations into stored rows, per site, as numpy arrays on the host.

    Parameters
    ----------
    buffers : dict of str to torch.Tensor
        ``site -> (n_chunk_tokens, width)`` float32 activations of the chunk's tokens.
    positions, groups, n
        From :func:`group_index` (positions already mapped to buffer rows).
    cfg : ExtractionConfig
    out_dtype : numpy dtype
    buffer_rows : int, optional
        Rows of each buffer. When given, mean and max reduce the buffer in place of a gathered copy:
        every buffer row gets a group, rows that take no part a spare one that is dropped (one pass over
        the activations instead of two).

    Returns
    -------
    dict of str to ndarray of shape (n, width)

    See Also
    --------
    aggregate_tensors : the same on the buffers' device, cast there (the GPU path).
    """
    rows = aggregate_tensors(buffers, positions, groups, n, cfg, buffer_rows=buffer_rows)
    return {site: r.numpy().astype(out_dtype, copy=False) for site, r in rows.items()}


def aggregate_tensors(buffers: dict, positions: np.ndarray, groups: np.ndarray, n: int, cfg: ExtractionConfig, *,
                      out_dtype=None, buffer_rows: int | None = None) -> dict:
    """:func:`aggregate_rows` on the buffers' device: torch tensors, optionally cast to ``out_dtype`` there.

    The reduction is float32 whatever the buffers' device; with ``out_dtype`` (a torch dtype) the rows
    are cast on the device, so that only the storage type's bytes cross to the host. On the CPU the
    result equals :func:`aggregate_rows` bit for bit (float32 -> float16 rounds to nearest even in both).
    """
    import torch

    mode = cfg.aggregation if cfg.granularity == "word" else "first"
    if cfg.granularity == "sentence" and cfg.pooling in ("mean", "max"):
        mode = cfg.pooling
    dev = next(iter(buffers.values())).device if buffers else torch.device("cpu")

    def to_dev(a: np.ndarray):
        t = torch.from_numpy(a)
        return t if dev.type == "cpu" else t.to(dev, non_blocking=True)

    pos_t, grp_t = to_dev(positions), to_dev(groups)
    if mode in ("first", "last"):
        boundary = np.flatnonzero(np.diff(groups)) + 1
        firsts = np.concatenate([[0], boundary]) if groups.size else np.zeros(0, np.int64)
        lasts = np.concatenate([boundary - 1, [groups.size - 1]]) if groups.size else np.zeros(0, np.int64)
        sel = to_dev(np.ascontiguousarray(positions[firsts if mode == "first" else lasts]))
    else:
        counts = torch.from_numpy(np.bincount(groups, minlength=n)[:n]).clamp_min(1).to(torch.float32)
        counts = counts if dev.type == "cpu" else counts.to(dev, non_blocking=True)
        whole = buffer_rows is not None
        if whole:  # group of every buffer row; n = the spare row of rows that take no part
            full = np.full(buffer_rows, n, dtype=np.int64)
            full[positions] = groups
            grp_t = to_dev(full)
    out: dict = {}
    for site, buf in buffers.items():
        if mode in ("first", "last"):
            rows = buf.index_select(0, sel)
        else:
            src = buf if whole else buf.index_select(0, pos_t)
            m = n + 1 if whole else n
            if mode == "mean":
                rows = torch.zeros((m, buf.shape[1]), dtype=torch.float32, device=dev).index_add_(0, grp_t, src)[:n]
                rows /= counts[:, None]
            else:  # max
                rows = torch.full((m, buf.shape[1]), -torch.inf, dtype=torch.float32, device=dev)
                idx = grp_t[:, None].expand(-1, buf.shape[1])
                rows = rows.scatter_reduce_(0, idx, src, reduce="amax", include_self=True)[:n]
        out[site] = rows if out_dtype is None else rows.to(out_dtype)
    return out
