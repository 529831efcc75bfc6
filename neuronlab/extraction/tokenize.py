"""Tokenise pre-split sentences once, align subwords to words, and cut long sentences into windows."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TokenizedSentence", "tokenize_sentences", "Sequence", "make_sequences"]


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


def _encode(tokenizer, sentences):
    return tokenizer(sentences, is_split_into_words=True, add_special_tokens=True, truncation=False, verbose=False)


def tokenize_sentences(tokenizer, sentences: list[list[str]]) -> list[TokenizedSentence]:
    """One tokenizer call for the whole list; words that vanish in tokenisation are replaced by the unk token.

    A word such as a lone control character may produce no subword at all; its row would be undefined,
    so such words are tokenised as ``tokenizer.unk_token`` (counted in ``replaced_words``).
    """
    enc = _encode(tokenizer, sentences)
    out: list[TokenizedSentence] = []
    for i, words in enumerate(sentences):
        ts = _from_encoding(enc["input_ids"][i], enc.word_ids(i))
        seen = set(int(w) for w in ts.word_ids if w >= 0)
        if len(seen) < len(words):
            unk = tokenizer.unk_token or "?"
            fixed = [w if j in seen else unk for j, w in enumerate(words)]
            e2 = _encode(tokenizer, [fixed])
            ts = _from_encoding(e2["input_ids"][0], e2.word_ids(0))
            ts.replaced_words = len(words) - len(seen)
        out.append(ts)
    return out


def _from_encoding(ids, word_ids) -> TokenizedSentence:
    wid = np.array([-1 if w is None else w for w in word_ids], dtype=np.int64)
    content = np.flatnonzero(wid >= 0)
    if content.size == 0:
        n_prefix, n_suffix = len(ids), 0
    else:
        n_prefix, n_suffix = int(content[0]), int(len(ids) - 1 - content[-1])
    return TokenizedSentence(list(ids), wid, n_prefix, n_suffix)


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
        raise ValueError(f"max_length {max_length} leaves no room for content between {P + Q} special tokens")
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
