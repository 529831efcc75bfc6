"""The planning pass's tokens kept on disk, so that an extraction tokenises its corpus once.

The planning pass (:func:`.planning.plan_extraction`) tokenises every sentence to count its tokens;
:class:`TokenCache` keeps what it computed (subword ids and word ids, a few bytes per token) in a
scratch folder next to the output, appended block by block, so that the extraction pass
(:class:`.feed.ChunkFeed`) and the store's row tokens (:func:`.feed.sentence_data`) read each write
chunk's tokens back from disk instead of tokenising again. Nothing of it stays in memory: each read
returns the sentences asked for, with plain file reads (no memory map whose pages would count as the
process's memory). A CRC-32 of each sentence's text lets the later reading pass check that the corpus
did not change since it was tokenised.

Files in the folder (little-endian, raw)::

    tokens.i32   int32 [n_tokens, 2]         subword id and word id (-1 for special tokens) of each token
    offsets.i64  int64 [n_sentences + 1]     tokens of sentence i are offsets[i]:offsets[i + 1]
    texts.crc32  uint32 [n_sentences]        zlib.crc32 of each sentence's text (words joined by spaces)

The folder's name is fixed by the output's (``.<out name>.tokens``): a run replaces what a killed run
left there, and :meth:`TokenCache.delete` removes it when the run ends, successful or not.
"""
from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import numpy as np

from ..errors import StoreError
from .tokenize import TokenizedCorpus, _special_counts

__all__ = ["TokenCache", "text_crcs"]

_TOKENS, _OFFSETS, _CRCS = "tokens.i32", "offsets.i64", "texts.crc32"
_I32 = np.iinfo(np.int32).max


def text_crcs(texts: list[str]) -> np.ndarray:
    """CRC-32 of each text's UTF-8 bytes.

    >>> text_crcs(["a b", "a b", "c"]).tolist() == [zlib.crc32(b"a b")] * 2 + [zlib.crc32(b"c")]
    True
    """
    return np.fromiter((zlib.crc32(t.encode("utf-8")) for t in texts), dtype=np.uint32, count=len(texts))


class TokenCache:
    """A corpus's tokenised sentences in a scratch folder: appended block by block, read back by range.

    Parameters
    ----------
    directory : path-like
        The scratch folder; created (emptied first if a killed run left it).

    Attributes
    ----------
    n_sentences, n_tokens : int
        What has been appended.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuronlab.extraction.tokenize import TokenizedCorpus
    >>> cache = TokenCache(pathlib.Path(tempfile.mkdtemp()) / "c")
    >>> tc = TokenizedCorpus(np.array([101, 7, 8, 102, 101, 9, 102]), np.array([-1, 0, 0, -1, -1, 0, -1], np.int32),
    ...                      np.array([0, 4, 7]), np.array([1, 1], np.int32), np.array([1, 1], np.int32))
    >>> cache.append(tc, ["ab", "c"])
    >>> cache.finish()
    >>> back = cache.read(1, 2)
    >>> back.ids.tolist(), back.word_ids.tolist(), back.offsets.tolist()
    ([101, 9, 102], [-1, 0, -1], [0, 3])
    >>> cache.delete(); cache.directory.exists()
    False
    """

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        self._writers = {name: open(self.directory / name, "wb") for name in (_TOKENS, _OFFSETS, _CRCS)}
        self._writers[_OFFSETS].write(np.zeros(1, "<i8").tobytes())
        self.n_sentences = 0
        self.n_tokens = 0

    @classmethod
    def next_to(cls, out: Path | str) -> "TokenCache":
        """The cache of an extraction into ``out``: the folder ``.<out name>.tokens`` beside it."""
        out = Path(out)
        return cls(out.parent / f".{out.name}.tokens")

    def append(self, tokens: TokenizedCorpus, texts: list[str]) -> None:
        """Add the next sentences: their tokens and their texts (whose CRC-32 is kept)."""
        if len(texts) != len(tokens):
            raise ValueError(f"internal: {len(tokens)} tokenised sentences but {len(texts)} texts")
        if tokens.ids.size and (int(tokens.ids.max()) > _I32 or int(tokens.ids.min()) < 0):
            raise StoreError("a token id does not fit in 32 bits; extract with token_cache=False")
        pairs = np.empty((tokens.ids.size, 2), dtype="<i4")
        pairs[:, 0] = tokens.ids
        pairs[:, 1] = tokens.word_ids
        self._writers[_TOKENS].write(pairs.tobytes())
        self._writers[_OFFSETS].write((tokens.offsets[1:] + self.n_tokens).astype("<i8").tobytes())
        self._writers[_CRCS].write(text_crcs(texts).astype("<u4").tobytes())
        self.n_sentences += len(tokens)
        self.n_tokens += int(tokens.offsets[-1])

    def finish(self) -> None:
        """Close the files written to (reading is possible afterwards)."""
        for fh in self._writers.values():
            fh.close()
        self._writers = {}

    def _read(self, name: str, dtype: str, start: int, count: int) -> np.ndarray:
        """``count`` items of ``dtype`` from item ``start`` of file ``name`` (a file opened for this read only)."""
        if self._writers:
            raise ValueError("internal: the token cache is read before the planning pass finished it")
        size = np.dtype(dtype).itemsize
        with open(self.directory / name, "rb") as fh:
            fh.seek(start * size)
            data = fh.read(count * size)
        if len(data) != count * size:
            raise StoreError(f"the token cache {str(self.directory)!r} is truncated (it was changed or removed "
                             "during the run); extract again")
        return np.frombuffer(data, dtype=dtype)

    def read(self, s0: int, s1: int) -> TokenizedCorpus:
        """The tokens of sentences ``[s0, s1)``, as :func:`.tokenize.tokenize_sentences` gave them."""
        if not 0 <= s0 <= s1 <= self.n_sentences:
            raise IndexError(f"internal: sentences {s0}:{s1} of a token cache of {self.n_sentences}")
        offsets = self._read(_OFFSETS, "<i8", s0, s1 - s0 + 1).astype(np.int64)
        pairs = self._read(_TOKENS, "<i4", 2 * int(offsets[0]), 2 * int(offsets[-1] - offsets[0])).reshape(-1, 2)
        offsets -= offsets[0]
        ids = pairs[:, 0].astype(np.int64)
        wid = pairs[:, 1].astype(np.int32)
        prefix, suffix = _special_counts(wid, offsets[:-1], np.diff(offsets))
        return TokenizedCorpus(ids, wid, offsets, prefix, suffix)

    def crcs(self, s0: int, s1: int) -> np.ndarray:
        """The CRC-32 of the texts of sentences ``[s0, s1)`` (see :func:`text_crcs`)."""
        return self._read(_CRCS, "<u4", s0, s1 - s0).astype(np.uint32)

    def delete(self) -> None:
        """Close and remove the folder (nothing happens if it is gone already)."""
        for fh in self._writers.values():
            fh.close()
        self._writers = {}
        shutil.rmtree(self.directory, ignore_errors=True)
