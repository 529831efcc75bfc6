"""The planning pass's tokens kept on disk, so that an extraction tokenises its corpus once.

The planning pass (:func:`.planning.plan_extraction`) tokenises every sentence to count its tokens;
:class:`TokenCache` keeps what it computed (subword ids and word ids, 8 bytes per token) in a scratch
file next to the output, appended block by block, so that the extraction pass
(:class:`.feed.ChunkFeed`) and the store's row tokens (:func:`.feed.sentence_data`) read each write
chunk's tokens back from disk instead of tokenising again. Nothing of it stays in memory but a few
numbers per block: each read returns the sentences asked for, with plain file reads (no memory map
whose pages would count as the process's memory). A CRC-32 of each sentence's text lets the later
reading pass check that the corpus did not change since it was tokenised.

The file is a sequence of blocks, one per :meth:`TokenCache.append` (little-endian, raw)::

    offsets  int64 [n + 1]     tokens of the block's sentence i are offsets[i]:offsets[i + 1]
    crc32    uint32 [n]        zlib.crc32 of each sentence's text (words joined by spaces)
    tokens   int32 [t, 2]      subword id and word id (-1 for special tokens) of each token

Its name follows the output's (``.<out name>.tokens``): a run replaces what a killed run left there
(and the CLI's safe outputs remove it with the other temporaries of a killed run), and
:meth:`TokenCache.delete` removes it when the run ends, successful or not.
"""
from __future__ import annotations

import bisect
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import StoreError
from .tokenize import TokenizedCorpus, _special_counts

__all__ = ["TokenCache", "text_crcs"]

_I32 = np.iinfo(np.int32).max


def text_crcs(texts: list[str]) -> np.ndarray:
    """CRC-32 of each text's UTF-8 bytes.

    >>> text_crcs(["a b", "a b", "c"]).tolist() == [zlib.crc32(b"a b")] * 2 + [zlib.crc32(b"c")]
    True
    """
    return np.fromiter((zlib.crc32(t.encode("utf-8")) for t in texts), dtype=np.uint32, count=len(texts))


class TokenCache:
    """A corpus's tokenised sentences in a scratch file: appended block by block, read back by range.

    Parameters
    ----------
    path : path-like
        The scratch file; created (replacing what a killed run left).

    Attributes
    ----------
    n_sentences, n_tokens : int
        What has been appended.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuronlab.extraction.tokenize import TokenizedCorpus
    >>> cache = TokenCache(pathlib.Path(tempfile.mkdtemp()) / "c.tokens")
    >>> tc = TokenizedCorpus(np.array([101, 7, 8, 102, 101, 9, 102]), np.array([-1, 0, 0, -1, -1, 0, -1], np.int32),
    ...                      np.array([0, 4, 7]), np.array([1, 1], np.int32), np.array([1, 1], np.int32))
    >>> cache.append(tc, ["ab", "c"])
    >>> cache.finish()
    >>> back = cache.read(1, 2)
    >>> back.ids.tolist(), back.word_ids.tolist(), back.offsets.tolist()
    ([101, 9, 102], [-1, 0, -1], [0, 3])
    >>> cache.delete(); cache.path.exists()
    False
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = open(self.path, "wb")
        self._first: list[int] = []  # per block: first sentence, sentences, file position
        self._count: list[int] = []
        self._pos: list[int] = []
        self._end = 0
        self.n_sentences = 0
        self.n_tokens = 0

    @classmethod
    def next_to(cls, out: Path | str) -> "TokenCache":
        """The cache of an extraction into ``out``: the file ``.<out name>.tokens`` beside it."""
        out = Path(out)
        return cls(out.parent / f".{out.name}.tokens")

    def append(self, tokens: TokenizedCorpus, texts: list[str]) -> None:
        """Add the next sentences (one block): their tokens and their texts (whose CRC-32 is kept)."""
        n = len(tokens)
        if len(texts) != n:
            raise ValueError(f"internal: {n} tokenised sentences but {len(texts)} texts")
        if n == 0:
            return
        if tokens.ids.size and (int(tokens.ids.max()) > _I32 or int(tokens.ids.min()) < 0):
            raise StoreError("a token id does not fit in 32 bits; extract with token_cache=False")
        pairs = np.empty((tokens.ids.size, 2), dtype="<i4")
        pairs[:, 0] = tokens.ids
        pairs[:, 1] = tokens.word_ids
        offsets = (tokens.offsets - tokens.offsets[0]).astype("<i8")
        parts = (offsets.tobytes(), text_crcs(texts).astype("<u4").tobytes(), pairs.tobytes())
        for part in parts:
            self._writer.write(part)
        self._first.append(self.n_sentences)
        self._count.append(n)
        self._pos.append(self._end)
        self._end += sum(len(p) for p in parts)
        self.n_sentences += n
        self.n_tokens += int(offsets[-1])

    def finish(self) -> None:
        """Close the file for writing (reading is possible afterwards)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _blocks(self, s0: int, s1: int):
        """``(block start in the file, sentences in the block, first, stop)`` of each block that holds part of
        ``[s0, s1)``, ``first:stop`` counted within the block."""
        if self._writer is not None:
            raise ValueError("internal: the token cache is read before the planning pass finished it")
        if not 0 <= s0 <= s1 <= self.n_sentences:
            raise IndexError(f"internal: sentences {s0}:{s1} of a token cache of {self.n_sentences}")
        k = max(0, bisect.bisect_right(self._first, s0) - 1)
        while k < len(self._first) and self._first[k] < s1:
            f = self._first[k]
            yield self._pos[k], self._count[k], max(s0, f) - f, min(s1, f + self._count[k]) - f
            k += 1

    def _read(self, fh, at: int, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize
        fh.seek(at)
        data = fh.read(count * size)
        if len(data) != count * size:
            raise StoreError(f"the token cache {str(self.path)!r} is truncated (it was changed or removed during the "
                             "run); extract again")
        return np.frombuffer(data, dtype=dtype)

    def read(self, s0: int, s1: int) -> TokenizedCorpus:
        """The tokens of sentences ``[s0, s1)``, as :func:`.tokenize.tokenize_sentences` gave them."""
        lengths, pairs = [np.zeros(0, np.int64)], [np.zeros((0, 2), "<i4")]
        with open(self.path, "rb") as fh:  # one file object per read: reads from several threads are safe
            for pos, n, a, b in self._blocks(s0, s1):
                offs = self._read(fh, pos + 8 * a, "<i8", b - a + 1)
                at = pos + 8 * (n + 1) + 4 * n + 8 * int(offs[0])
                pairs.append(self._read(fh, at, "<i4", 2 * int(offs[-1] - offs[0])).reshape(-1, 2))
                lengths.append(np.diff(offs))
        lengths = np.concatenate(lengths).astype(np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        pairs = np.concatenate(pairs)
        ids = pairs[:, 0].astype(np.int64)
        wid = pairs[:, 1].astype(np.int32)
        prefix, suffix = _special_counts(wid, offsets[:-1], lengths)
        return TokenizedCorpus(ids, wid, offsets, prefix, suffix)

    def crcs(self, s0: int, s1: int) -> np.ndarray:
        """The CRC-32 of the texts of sentences ``[s0, s1)`` (see :func:`text_crcs`)."""
        parts = [np.zeros(0, np.uint32)]
        with open(self.path, "rb") as fh:
            for pos, n, a, b in self._blocks(s0, s1):
                parts.append(self._read(fh, pos + 8 * (n + 1) + 4 * a, "<u4", b - a))
        return np.concatenate(parts).astype(np.uint32)

    def delete(self) -> None:
        """Close and remove the file (nothing happens if it is gone already)."""
        self.finish()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
