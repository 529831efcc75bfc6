"""Planning an extraction: rows per sentence, write chunks within the memory budget, batches within a chunk.

Everything here depends only on the corpus and the configuration, never on timing or on where a run
stopped, so a resumed run computes exactly the chunks and batches an uninterrupted run would have.
The plan is made in one streamed pass over the corpus (:func:`plan_extraction`) and keeps a few numbers
per sentence (token and row counts), never the sentences or their tokens in memory: the tokens go to a
:class:`~.token_cache.TokenCache` on disk, from which the extraction pass reads them chunk by chunk (without
one, the extraction pass tokenises each chunk again).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..corpus.base import Corpus
from ..errors import InvalidParameterError
from .aggregate import rows_per_sentence
from .config import ExtractionConfig
from .token_cache import TokenCache
from .tokenize import Sequence, TokenizedCorpus, make_sequences, tokenize_sentences

__all__ = ["Plan", "plan_extraction", "cut_chunks", "label_vocabularies", "short_tail", "make_batches",
           "chunk_sequences", "window_overlap", "PLAN_BLOCK"]


#: sentences per block of the planning pass (and of the corpus blocks the extraction pass reads)
PLAN_BLOCK = 1024


@dataclass
class Plan:
    """What an extraction computes; everything in it is a few numbers per sentence, never the sentences.

    Attributes
    ----------
    lengths : ndarray of int64, shape (n_sentences,)
        Subword tokens of each sentence, special tokens included.
    offsets : ndarray of int64, shape (n_sentences + 1,)
        Rows of sentence i in the store: ``offsets[i]:offsets[i + 1]``.
    chunks : list of (start, stop)
        Write chunks: consecutive sentence ranges, in order, covering the corpus.
    word_labels, sentence_labels : dict of str to list of str
        The corpus's word- and sentence-level concepts, each with its vocabulary (sorted class names).
    replaced_words : int
        Words that produced no subword and are extracted as the unknown token.
    source : str
        The corpus's provenance.
    """

    lengths: np.ndarray
    offsets: np.ndarray
    chunks: list[tuple[int, int]]
    word_labels: dict[str, list[str]] = field(default_factory=dict)
    sentence_labels: dict[str, list[str]] = field(default_factory=dict)
    replaced_words: int = 0
    source: str = ""

    @property
    def n_sentences(self) -> int:
        return len(self.lengths)

    def sub(self, s0: int, s1: int, chunks: list[tuple[int, int]]) -> "Plan":
        """The plan of sentences ``[s0, s1)`` with ``chunks`` (whole-corpus ranges) shifted to start at 0."""
        return Plan(self.lengths[s0:s1], self.offsets[s0: s1 + 1] - self.offsets[s0],
                    [(a - s0, b - s0) for a, b in chunks], dict(self.word_labels), dict(self.sentence_labels),
                    self.replaced_words, self.source)


class _Vocabularies:
    """Concepts in the order they first appear and the class names seen for each (None excluded)."""

    def __init__(self):
        self.word: dict[str, set] = {}
        self.sentence: dict[str, set] = {}

    def add(self, block: Corpus) -> None:
        for name, per_sent in block.sentence_labels.items():
            self.sentence.setdefault(name, set()).update(str(v) for v in per_sent if v is not None)
        for name, per_word in block.word_labels.items():
            seen = self.word.setdefault(name, set())
            for values in per_word:
                seen.update(str(v) for v in values if v is not None)

    def result(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        return ({k: sorted(v) for k, v in self.word.items()}, {k: sorted(v) for k, v in self.sentence.items()})


def label_vocabularies(corpus, start: int = 0, stop: int | None = None, *,
                       concepts: tuple[dict, dict] | None = None) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """``(word, sentence)`` concept vocabularies of sentences ``[start, stop)`` (one pass over them).

    ``concepts``: the concepts to report (a shard's store has the whole corpus's concepts, with the
    classes present in its sentences); default: those the sentences have.
    """
    vocab = _Vocabularies()
    for block in corpus.blocks(PLAN_BLOCK, start=start, stop=stop):
        vocab.add(block)
    word, sent = vocab.result()
    if concepts is not None:
        word = {k: word.get(k, []) for k in concepts[0]}
        sent = {k: sent.get(k, []) for k in concepts[1]}
    return word, sent


def plan_extraction(tokenizer, corpus, config: ExtractionConfig, widths: dict[str, int], *,
                    cache: TokenCache | None = None) -> Plan:
    """One pass over the corpus: tokenise it block by block, keeping only the counts per sentence (and,
    with ``cache``, the tokens on disk), and cut it into write chunks whose float32 buffers fit
    ``config.memory_mb``.

    Parameters
    ----------
    tokenizer : WordTokenizer or transformers tokenizer
    corpus : Corpus or CorpusStream
        Anything with ``blocks(size)`` (an in-memory corpus or a file read as a stream).
    config : ExtractionConfig
    widths : dict of str to int
        Neurons per site.
    cache : TokenCache, optional
        Receives every block's tokens and texts; finished (closed for writing) when the pass ends.

    Raises
    ------
    InvalidParameterError
        An empty corpus, or a sentence without words (named by its index).
    """
    lengths, rows, n = [], [], 0
    replaced = 0
    vocab = _Vocabularies()
    for block in corpus.blocks(PLAN_BLOCK):
        empty = next((i for i, s in enumerate(block.sentences) if len(s) == 0), None)
        if empty is not None:
            raise InvalidParameterError(f"sentence {n + empty} of the corpus has no words; remove it or give it "
                                        "words")
        tokens = tokenize_sentences(tokenizer, block.sentences)
        n_words = np.fromiter((len(s) for s in block.sentences), dtype=np.int64, count=len(block))
        lengths.append(tokens.lengths)
        rows.append(rows_per_sentence(tokens, n_words, config))
        replaced += tokens.replaced_words
        vocab.add(block)
        if cache is not None:
            cache.append(tokens, block.texts())
        n += len(block)
    if cache is not None:
        cache.finish()
    if n == 0:
        raise InvalidParameterError("the corpus is empty: nothing to extract")
    lengths = np.concatenate(lengths).astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.concatenate(rows), out=offsets[1:])
    word, sent = vocab.result()
    return Plan(lengths, offsets, cut_chunks(lengths, config, widths), word, sent, replaced,
                getattr(corpus, "source", ""))


def cut_chunks(lengths: np.ndarray, config: ExtractionConfig, widths: dict[str, int]) -> list[tuple[int, int]]:
    """Write chunks: consecutive sentences whose float32 token buffers fit ``config.memory_mb``.

    The float32 token buffers of up to three chunks are alive at once (one computed, one waiting for the
    writer, one being written); together they stay within memory_mb.
    """
    width = sum(widths.values())
    budget_tokens = max(1, (config.memory_mb << 20) // max(1, 4 * width * 3))
    chunks, start, acc = [], 0, 0
    for i, n in enumerate(lengths.tolist()):
        if acc and acc + n > budget_tokens:
            chunks.append((start, i))
            start, acc = i, 0
        acc += n
    if start < len(lengths):
        chunks.append((start, len(lengths)))
    return short_tail(chunks, lengths, budget_tokens // 4)


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
