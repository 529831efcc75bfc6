"""The extraction pass's reader: the sentences of consecutive write chunks, read block by block.

:class:`ChunkFeed` hands out the tokens of each write chunk. With a :class:`~.token_cache.TokenCache`
(what :meth:`~.extractor.Extractor.extract` uses) it reads them from the planning pass's cache on disk
and never opens the corpus; without one it walks the corpus (an in-memory
:class:`~neuronlab.corpus.base.Corpus` or a :class:`~neuronlab.corpus.stream.CorpusStream`) once, from
the first sentence a run needs, and tokenises each chunk's sentences, holding the current chunk and at
most one block of the next. Either way memory does not grow with the corpus.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..corpus.base import Corpus
from ..errors import CorpusError
from . import planning
from .planning import Plan
from .token_cache import TokenCache, text_crcs
from .tokenize import TokenizedCorpus, tokenize_sentences

__all__ = ["ChunkInput", "ChunkFeed", "sentence_data"]


@dataclass
class ChunkInput:
    """One write chunk's input: store sentences ``[s0, s1)``, their tokens and (when read from the corpus)
    their words and labels; ``corpus`` is None when the tokens come from a :class:`TokenCache`."""

    s0: int
    s1: int
    corpus: Corpus | None
    tokens: TokenizedCorpus


def _normalised(block: Corpus, word: dict, sentence: dict) -> Corpus:
    """``block`` with exactly the plan's concepts (a concept the block lacks: no value)."""
    return Corpus(
        sentences=block.sentences,
        word_labels={k: block.word_labels.get(k) or [[None] * len(s) for s in block.sentences] for k in word},
        sentence_labels={k: block.sentence_labels.get(k) or [None] * len(block) for k in sentence},
        source=block.source,
    )


def _concat(a: Corpus, b: Corpus) -> Corpus:
    return Corpus(a.sentences + b.sentences, {k: v + b.word_labels[k] for k, v in a.word_labels.items()},
                  {k: v + b.sentence_labels[k] for k, v in a.sentence_labels.items()}, a.source)


class ChunkFeed:
    """Sentences of increasing, non-overlapping chunks of a corpus, read in one pass.

    Parameters
    ----------
    corpus : Corpus or CorpusStream
    plan : Plan
        The plan of the sentences the store holds (its concepts and token counts are checked against).
    tokenizer
        The tokenizer of the plan.
    base : int
        Corpus index of the store's sentence 0 (a shard's first sentence).
    start : int
        First store sentence needed (a resumed run skips the finished chunks).
    block : int, optional
        Sentences read per block (default :data:`.planning.PLAN_BLOCK`).
    cache : TokenCache, optional
        The planning pass's tokens of the whole corpus: chunks are read from it (the corpus is not read).
    """

    def __init__(self, corpus, plan: Plan, tokenizer, *, base: int = 0, start: int = 0, block: int | None = None,
                 cache: TokenCache | None = None):
        self.plan, self.tokenizer, self.base, self.cache = plan, tokenizer, base, cache
        self._blocks = iter(()) if cache is not None else corpus.blocks(
            block or planning.PLAN_BLOCK, start=base + start, stop=base + plan.n_sentences)
        self._pending = Corpus([], {k: [] for k in plan.word_labels}, {k: [] for k in plan.sentence_labels})
        self._pos = start  # store index of the first pending sentence
        self._source = getattr(corpus, "source", "") or "the corpus"

    def close(self) -> None:
        """Stop reading (closes the corpus file of a stream)."""
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()

    def take(self, s0: int, s1: int) -> ChunkInput:
        """The chunk of store sentences ``[s0, s1)`` (``s0`` at or after the end of the previous chunk).

        Raises
        ------
        CorpusError
            If the corpus ends early or its sentences no longer tokenise to the planned counts (the file
            changed between the planning pass and this one).
        """
        if s0 < self._pos:
            raise ValueError(f"internal: chunk {s0}:{s1} is before the feed's position {self._pos}")
        if self.cache is not None:
            self._pos = s1
            tokens = self.cache.read(self.base + s0, self.base + s1)
            if not np.array_equal(tokens.lengths, self.plan.lengths[s0:s1]):
                raise CorpusError(f"internal: the token cache of sentences {self.base + s0} to {self.base + s1 - 1} "
                                  "differs from the plan; extract again")
            return ChunkInput(s0, s1, None, tokens)
        while len(self._pending) < s1 - self._pos:
            block = next(self._blocks, None)
            if block is None:
                raise CorpusError(f"{self._source} ended after {self.base + self._pos + len(self._pending)} "
                                  f"sentences, but it had {self.base + self.plan.n_sentences} when the extraction "
                                  "was planned: it changed while it was read; extract it again")
            self._pending = _concat(self._pending, _normalised(block, self.plan.word_labels,
                                                               self.plan.sentence_labels))
        k0, k1 = s0 - self._pos, s1 - self._pos
        chunk = self._pending.subset(range(k0, k1))
        rest = range(k1, len(self._pending))
        self._pending = self._pending.subset(rest)
        self._pos = s1
        tokens = tokenize_sentences(self.tokenizer, chunk.sentences)
        if not np.array_equal(tokens.lengths, self.plan.lengths[s0:s1]):
            raise CorpusError(f"{self._source} changed while it was read (sentences {self.base + s0} to "
                              f"{self.base + s1 - 1} differ from the planning pass); extract it again")
        return ChunkInput(s0, s1, chunk, tokens)


def sentence_data(corpus, plan: Plan, tokenizer, schema: dict, config, *, base: int = 0,
                  cache: TokenCache | None = None):
    """Texts, row tokens, word indices and label codes of the store's sentences, block by block, as
    ``(start, stop, data)`` for ``fill`` of :meth:`ActivationStore.create` (one more reading pass).

    At token granularity, where the rows are subwords, the tokens come from ``cache`` (the sentences are
    tokenised again without one). With ``cache``, each block's texts are checked against the texts the
    planning pass tokenised (their CRC-32), so that the store never pairs a changed text with the tokens
    of the old one.

    Raises
    ------
    CorpusError
        If the corpus ended early or (with ``cache``) its sentences changed since the planning pass.
    """
    from .labels import chunk_meta

    a = 0
    for block in corpus.blocks(planning.PLAN_BLOCK, start=base, stop=base + plan.n_sentences):
        block = _normalised(block, plan.word_labels, plan.sentence_labels)
        b = a + len(block)
        if cache is not None:
            changed = np.flatnonzero(text_crcs(block.texts()) != cache.crcs(base + a, base + b))
            if changed.size:
                source = getattr(corpus, "source", "") or "the corpus"
                raise CorpusError(f"{source} changed while it was read (sentence {base + a + int(changed[0])} "
                                  "differs from the planning pass); extract it again")
        if config.granularity != "token":
            tokens = None
        elif cache is not None:
            tokens = cache.read(base + a, base + b)
        else:
            tokens = tokenize_sentences(tokenizer, block.sentences)
        yield a, b, chunk_meta(block, tokens, tokenizer, schema, config.granularity, config.special_tokens)
        a = b
    if a != plan.n_sentences:
        source = getattr(corpus, "source", "") or "the corpus"
        raise CorpusError(f"{source} ended after {base + a} sentences, but it had {base + plan.n_sentences} when "
                          "the extraction was planned: it changed while it was read; extract it again")
