"""Concept labels of a corpus encoded as class indices at the store's granularity, and what each row stands for."""
from __future__ import annotations

from typing import Sequence as Seq

import numpy as np

from ..corpus.base import Corpus
from .tokenize import TokenizedCorpus

__all__ = ["encode_labels", "write_labels", "row_tokens", "label_schema", "chunk_meta", "encode_with"]


def encode_labels(values: Seq) -> tuple[list[str], np.ndarray]:
    """``(vocabulary, codes)``: the sorted class names and each value's index (-1 for None).

    >>> encode_labels(["b", None, "a", "b"])
    (['a', 'b'], array([ 1, -1,  0,  1], dtype=int32))
    """
    present = sorted({str(v) for v in values if v is not None})
    index = {v: i for i, v in enumerate(present)}
    codes = np.array([-1 if v is None else index[str(v)] for v in values], dtype=np.int32)
    return present, codes


def _kept_tokens(tokens: TokenizedCorpus, special_tokens: bool) -> np.ndarray:
    return np.ones(tokens.ids.size, dtype=bool) if special_tokens else tokens.word_ids >= 0


def row_tokens(corpus: Corpus, tokens: TokenizedCorpus, tokenizer, granularity: str,
               special_tokens: bool) -> tuple[list[str], np.ndarray | None]:
    """What each row stands for (word, subword or sentence text), and the word of each token row."""
    if granularity == "word":
        return [w for s in corpus.sentences for w in s], None
    if granularity == "sentence":
        return corpus.texts(), None
    keep = _kept_tokens(tokens, special_tokens)
    return tokenizer.convert_ids_to_tokens(tokens.ids[keep].tolist()), tokens.word_ids[keep].astype(np.int32)


def write_labels(store, corpus: Corpus, tokens: TokenizedCorpus, granularity: str, special_tokens: bool) -> None:
    """Store the corpus's sentence labels, and its word labels at the store's granularity (token rows
    take their word's label; special tokens get none)."""
    for name, per_sent in corpus.sentence_labels.items():
        vocab, codes = encode_labels(per_sent)
        store.write_label(name, codes, vocab, level="sentence")
    if granularity == "sentence":
        return
    for name, per_word in corpus.word_labels.items():
        if name in corpus.sentence_labels:
            continue
        flat = [lab for sent in per_word for lab in sent]
        vocab, codes = encode_labels(flat)
        if granularity == "token":
            keep = _kept_tokens(tokens, special_tokens)
            word_offsets = np.concatenate([[0], np.cumsum([len(s) for s in corpus.sentences])])
            sent_of_token = np.repeat(np.arange(len(corpus)), tokens.lengths)[keep]
            rw = tokens.word_ids[keep].astype(np.int64)
            gidx = word_offsets[sent_of_token] + rw
            codes = np.where(rw >= 0, codes[np.clip(gidx, 0, max(0, len(codes) - 1))], -1).astype(np.int32)
        store.write_label(name, codes, vocab, level="row")


def encode_with(values: Seq, vocabulary: Seq[str]) -> np.ndarray:
    """Class indices of ``values`` in a given (sorted) ``vocabulary``; -1 for None.

    >>> encode_with(["b", None, "a"], ["a", "b"])
    array([ 1, -1,  0], dtype=int32)
    """
    index = {v: i for i, v in enumerate(vocabulary)}
    return np.fromiter((-1 if v is None else index[str(v)] for v in values), dtype=np.int32, count=len(values))


def label_schema(word_labels: dict[str, list[str]], sentence_labels: dict[str, list[str]],
                 granularity: str) -> dict[str, tuple[list[str], str]]:
    """The labels a store gets, as ``name -> (vocabulary, level)``: every sentence-level concept and, except
    at sentence granularity, every word-level concept (at row level) whose name is not a sentence concept."""
    schema = {name: (vocab, "sentence") for name, vocab in sentence_labels.items()}
    if granularity != "sentence":
        schema.update({name: (vocab, "row") for name, vocab in word_labels.items() if name not in sentence_labels})
    return schema


def chunk_meta(chunk: Corpus, tokens: TokenizedCorpus, tokenizer, schema: dict[str, tuple[list[str], str]],
               granularity: str, special_tokens: bool) -> dict:
    """What the store holds for a block of sentences (``fill`` of :meth:`ActivationStore.create`): texts, row
    tokens, word indices (token granularity) and label codes, from the block's sentences and tokens only.

    Gives, block by block, exactly what :func:`row_tokens` and :func:`write_labels` give for the whole
    corpus. A concept the block lacks has no value in it (-1). ``tokens`` is needed at token granularity only.
    """
    row_toks, row_words = row_tokens(chunk, tokens, tokenizer, granularity, special_tokens)
    labels = {}
    for name, (vocab, level) in schema.items():
        if level == "sentence":
            values = chunk.sentence_labels.get(name)
            labels[name] = (encode_with(values, vocab) if values is not None
                            else np.full(len(chunk), -1, dtype=np.int32))
            continue
        per_word = chunk.word_labels.get(name)
        if per_word is None:
            labels[name] = np.full(len(row_toks), -1, dtype=np.int32)
            continue
        codes = encode_with([lab for sent in per_word for lab in sent], vocab)
        if granularity == "token":
            keep = _kept_tokens(tokens, special_tokens)
            word_offsets = np.concatenate([[0], np.cumsum([len(s) for s in chunk.sentences])])
            sent_of_token = np.repeat(np.arange(len(chunk)), tokens.lengths)[keep]
            rw = tokens.word_ids[keep].astype(np.int64)
            gidx = word_offsets[sent_of_token] + rw
            codes = np.where(rw >= 0, codes[np.clip(gidx, 0, max(0, len(codes) - 1))], -1).astype(np.int32)
        labels[name] = codes
    return {"texts": chunk.texts(), "tokens": row_toks, "row_words": row_words, "labels": labels}
