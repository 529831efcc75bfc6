"""Tokenise pre-split sentences once, align subwords to words, and cut long sentences into windows.

The tokenised corpus is kept in flat arrays (ids, word ids, per-sentence offsets), a few bytes per
token, so that the memory an extraction needs does not grow with the corpus beyond the corpus itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError

__all__ = ["TokenizedSentence", "TokenizedCorpus", "tokenize_sentences", "Sequence", "make_sequences"]

#: sentences per tokenizer call: large enough for the tokenizer's own parallelism, small enough that its
#: per-sentence objects (strings, offsets, masks) never pile up for the whole corpus at once
TOKENIZE_BLOCK = 1024


@dataclass
class TokenizedSentence:
    """Subword ids of one sentence with its special tokens.

    ``ids = prefix + content + suffix``; ``word_ids[i]`` is the word of token i (-1 for specials).
    """

    ids: list
    word_ids: np.ndarray
    n_prefix: int
    n_suffix: int
    replaced_words: int = 0

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    @property
    def n_content(self) -> int:
        return len(self.ids) - self.n_prefix - self.n_suffix


@dataclass
class TokenizedCorpus:
    """Every sentence's subword ids and word ids in flat arrays; ``corpus[i]`` is a :class:`TokenizedSentence`.

    Attributes
    ----------
    ids : ndarray of int64, shape (n_tokens,)
    word_ids : ndarray of int32, shape (n_tokens,)
        Word of each token within its sentence, -1 for special tokens.
    offsets : ndarray of int64, shape (n_sentences + 1,)
        Tokens of sentence i are ``offsets[i]:offsets[i + 1]``.
    n_prefix, n_suffix : ndarray of int32, shape (n_sentences,)
        Special tokens before the first and after the last content token.
    replaced_words : int
        Words that produced no subword and were tokenised as the unknown token.
    """

    ids: np.ndarray
    word_ids: np.ndarray
    offsets: np.ndarray
    n_prefix: np.ndarray
    n_suffix: np.ndarray
    replaced_words: int = 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per sentence."""
        return np.diff(self.offsets)

    def __getitem__(self, i: int) -> TokenizedSentence:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return TokenizedSentence(self.ids[a:b].tolist(), self.word_ids[a:b].astype(np.int64), int(self.n_prefix[i]),
                                 int(self.n_suffix[i]))

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _word_tokenizer(tokenizer):
    """Accept a :class:`~neuronlab.models.wordtok.WordTokenizer` or a transformers tokenizer."""
    if hasattr(tokenizer, "encode_words"):
        return tokenizer
    from ..models.wordtok import HFWordTokenizer

    return HFWordTokenizer(tokenizer)


def tokenize_sentences(tokenizer, sentences: list[list[str]], *, block: int = TOKENIZE_BLOCK) -> TokenizedCorpus:
    """Tokenise pre-split sentences (batched calls); words that vanish are replaced by the unk token.

    A word such as a lone control character may produce no subword at all; its row would be undefined,
    so such words are tokenised as the tokenizer's unknown token (counted in ``replaced_words``).

    Parameters
    ----------
    tokenizer : WordTokenizer or transformers tokenizer
    sentences : list of list of str
    block : int
        Sentences per tokenizer call.
    """
    tok = _word_tokenizer(tokenizer)
    parts = []
    replaced = 0
    for b0 in range(0, len(sentences), block):
        chunk = sentences[b0: b0 + block]
        encs = tok.encode_words(chunk)
        ids, wid, lengths = _flatten(encs)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        # distinct words per sentence: content tokens whose word differs from the previous token's
        new_word = wid >= 0
        new_word[1:] &= wid[1:] != wid[:-1]
        new_word[starts[lengths > 0]] = wid[starts[lengths > 0]] >= 0
        n_seen = _segment_sum(new_word, starts, lengths)
        n_words = np.fromiter((len(s) for s in chunk), dtype=np.int64, count=len(chunk))
        bad = np.flatnonzero(n_seen < n_words)
        if bad.size:  # rare: re-encode those sentences with the vanished words as the unknown token
            for i in bad:
                a = starts[i]
                seen = set(wid[a: a + lengths[i]].tolist())
                encs[i] = tok.encode_words([[w if j in seen else tok.unk_token for j, w in enumerate(chunk[i])]])[0]
                replaced += int(n_words[i] - n_seen[i])
            ids, wid, lengths = _flatten(encs)
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        parts.append((ids, wid, lengths, *_special_counts(wid, starts, lengths)))
    if not parts:
        z = np.zeros(0, np.int32)
        return TokenizedCorpus(np.zeros(0, np.int64), z, np.zeros(1, np.int64), z, z, 0)
    lengths = np.concatenate([p[2] for p in parts])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return TokenizedCorpus(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), offsets,
                           np.concatenate([p[3] for p in parts]), np.concatenate([p[4] for p in parts]), replaced)


def _flatten(encs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(ids) for ids, _ in encs), dtype=np.int64, count=len(encs))
    n = int(lengths.sum())
    ids = np.fromiter((t for i, _ in encs for t in i), dtype=np.int64, count=n)
    wid = np.fromiter((-1 if w is None else w for _, ws in encs for w in ws), dtype=np.int32, count=n)
    return ids, wid, lengths


def _segment_sum(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    csum = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    return csum[starts + lengths] - csum[starts]


def _special_counts(wid: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tokens before the first and after the last content token of each sentence."""
    content = wid >= 0
    n_content = _segment_sum(content, starts, lengths)
    pos = np.arange(wid.size, dtype=np.int64)
    big = np.iinfo(np.int64).max
    nonempty = lengths > 0
    first = np.full(len(lengths), big)
    last = np.full(len(lengths), -1)
    if wid.size:
        masked_first = np.where(content, pos, big)
        masked_last = np.where(content, pos, -1)
        first[nonempty] = np.minimum.reduceat(masked_first, starts[nonempty])
        last[nonempty] = np.maximum.reduceat(masked_last, starts[nonempty])
    has = n_content > 0
    prefix = np.where(has, first - starts, lengths).astype(np.int32)
    suffix = np.where(has, starts + lengths - 1 - last, 0).astype(np.int32)
    return prefix, suffix


@dataclass
class Sequence:
    """One model input: a whole sentence, or one window of a long one.

    ``take_pos`` are positions in this sequence whose activations are kept, ``take_tok`` the token
    positions in the sentence they stand for (each sentence token is owned by exactly one sequence).
    """

    sentence: int
    ids: list
    take_pos: np.ndarray
    take_tok: np.ndarray

    @property
    def keeps_all(self) -> bool:
        """Every position of the sequence is kept (a whole sentence, not a window)."""
        return self.take_pos.size == len(self.ids)


def make_sequences(sent_index: int, ts: TokenizedSentence, max_length: int, overlap: int) -> list[Sequence]:
    """Split a sentence into overlapping windows of at most ``max_length`` tokens (specials repeated).

    Each content token is taken from the window in which it has the most context on both sides
    (the window whose centre is nearest), so no token is cut off and none is counted twice.
    """
    n = ts.n_tokens
    if n <= max_length:
        idx = np.arange(n)
        return [Sequence(sent_index, ts.ids, idx, idx)]
    P, Q = ts.n_prefix, ts.n_suffix
    prefix, suffix = ts.ids[:P], ts.ids[n - Q:] if Q else []
    content = ts.ids[P: n - Q]
    W = max_length - P - Q
    if W < 2:
        raise InvalidParameterError(
            f"max_length {max_length} leaves no room for words between the model's {P + Q} special tokens; "
            f"use --max-length {P + Q + 2} or more")
    overlap = min(max(0, overlap), W - 1)
    step = W - overlap
    starts = list(range(0, max(1, len(content) - W) + step, step))
    starts = sorted({min(s, len(content) - W) for s in starts})
    if starts[-1] + W < len(content):
        starts.append(len(content) - W)
    centres = np.array([s + (W - 1) / 2 for s in starts])
    owner = np.abs(np.arange(len(content))[:, None] - centres[None, :]).argmin(axis=1)
    seqs = []
    for k, s in enumerate(starts):
        ids = list(prefix) + list(content[s: s + W]) + list(suffix)
        own = np.flatnonzero(owner == k)
        pos = [own - s + P]
        tok = [own + P]
        if k == 0 and P:
            pos.insert(0, np.arange(P))
            tok.insert(0, np.arange(P))
        if k == len(starts) - 1 and Q:
            pos.append(np.arange(P + W, P + W + Q))
            tok.append(np.arange(n - Q, n))
        seqs.append(Sequence(sent_index, ids, np.concatenate(pos), np.concatenate(tok)))
    return seqs
