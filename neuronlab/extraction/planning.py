"""Planning an extraction: rows per sentence, write chunks within the memory budget, batches within a chunk.

Everything here depends only on the corpus and the configuration, never on timing or on where a run
stopped, so a resumed run computes exactly the chunks and batches an uninterrupted run would have.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..corpus.base import Corpus
from .aggregate import rows_per_sentence
from .config import ExtractionConfig
from .tokenize import Sequence, TokenizedCorpus, make_sequences, tokenize_sentences

__all__ = ["Plan", "plan_extraction", "short_tail", "make_batches", "chunk_sequences", "window_overlap"]


@dataclass
class Plan:
    """What an extraction computes.

    Attributes
    ----------
    tokens : TokenizedCorpus
    offsets : ndarray of int64, shape (n_sentences + 1,)
        Rows of sentence i in the store: ``offsets[i]:offsets[i + 1]``.
    chunks : list of (start, stop)
        Write chunks: consecutive sentence ranges, in order, covering the corpus.
    """

    tokens: TokenizedCorpus
    offsets: np.ndarray
    chunks: list[tuple[int, int]]


def plan_extraction(tokenizer, corpus: Corpus, config: ExtractionConfig, widths: dict[str, int]) -> Plan:
    """Tokenise the corpus and cut it into write chunks whose float32 buffers fit ``config.memory_mb``."""
    tokens = tokenize_sentences(tokenizer, corpus.sentences)
    n_words = np.fromiter((len(s) for s in corpus.sentences), dtype=np.int64, count=len(corpus))
    offsets = np.zeros(len(corpus) + 1, dtype=np.int64)
    np.cumsum(rows_per_sentence(tokens, n_words, config), out=offsets[1:])
    # chunking: the float32 token buffers of up to three chunks are alive at once (one computed, one
    # waiting for the writer, one being written); together they stay within memory_mb
    width = sum(widths.values())
    budget_tokens = max(1, (config.memory_mb << 20) // max(1, 4 * width * 3))
    lengths = tokens.lengths
    chunks, start, acc = [], 0, 0
    for i, n in enumerate(lengths.tolist()):
        if acc and acc + n > budget_tokens:
            chunks.append((start, i))
            start, acc = i, 0
        acc += n
    if start < len(tokens):
        chunks.append((start, len(tokens)))
    return Plan(tokens, offsets, short_tail(chunks, lengths, budget_tokens // 4))


def short_tail(chunks: list[tuple[int, int]], lengths: np.ndarray, tail_tokens: int) -> list[tuple[int, int]]:
    """Split a final chunk of more than ``tail_tokens`` tokens so that its last part holds about that many.

    The last chunk's aggregation and write cannot overlap any computation, so it is kept short; the
    split depends only on the corpus and the configuration (resume computes the same chunks).
    """
    if not chunks or tail_tokens < 1:
        return chunks
    s0, s1 = chunks[-1]
    if int(lengths[s0:s1].sum()) <= tail_tokens:
        return chunks
    acc, cut = 0, s1
    while cut > s0 + 1 and acc + int(lengths[cut - 1]) <= tail_tokens:
        cut -= 1
        acc += int(lengths[cut])
    if cut == s1 or cut == s0:
        return chunks
    return chunks[:-1] + [(s0, cut), (cut, s1)]


def make_batches(seqs: list[Sequence], max_seqs: int | None, max_tokens: int | None, *,
                 packed: bool) -> list[list[int]]:
    """Indices into ``seqs`` of each batch: longest first, bounded by sequences and tokens.

    ``packed`` engines (native) pay for the tokens of each sequence; padded engines pay for the longest
    (first) sequence of the batch on every row.
    """
    order = sorted(range(len(seqs)), key=lambda j: (-len(seqs[j].ids), j))
    batches, cur, cur_tokens = [], [], 0
    for j in order:
        n = len(seqs[j].ids)
        new_tokens = cur_tokens + n if packed else (len(cur) + 1) * (len(seqs[cur[0]].ids) if cur else n)
        if cur and ((max_seqs is not None and len(cur) >= max_seqs)
                    or (max_tokens is not None and new_tokens > max_tokens)):
            batches.append(cur)
            cur, new_tokens = [], n
        cur.append(j)
        cur_tokens = new_tokens
    if cur:
        batches.append(cur)
    return batches


def chunk_sequences(tokens: TokenizedCorpus, s0: int, s1: int, max_length: int, overlap: int) -> list[Sequence]:
    """The model inputs of sentences ``[s0, s1)`` (whole sentences, or windows of long ones)."""
    seqs: list[Sequence] = []
    for i in range(s0, s1):
        seqs.extend(make_sequences(i - s0, tokens[i], max_length, overlap))
    return seqs


def window_overlap(tokenizer, max_length: int, requested: int | None) -> int:
    """The overlap of consecutive windows that will be used, checked against the window size.

    A window holds ``max_length`` minus the model's special tokens; at most all but one of them can be
    shared. ``requested=None`` gives a quarter of ``max_length`` (clamped to that limit), a larger
    request is refused, so that the store records exactly what was used.

    Raises
    ------
    InvalidParameterError
        If ``requested`` is beyond the limit.
    """
    from ..errors import InvalidParameterError

    probe = tokenize_sentences(tokenizer, [["a"]])
    specials = int(probe.n_prefix[0] + probe.n_suffix[0])
    limit = max(0, max_length - specials - 1)
    if requested is None:
        return min(max_length // 4, limit)
    if requested > limit:
        raise InvalidParameterError(
            f"window_overlap {requested} is too large: a window of max_length {max_length} holds "
            f"{max_length - specials} tokens besides the model's {specials} special tokens, so windows can share at "
            f"most {limit}; use window_overlap={limit} or less")
    return requested
