"""Tokenisers seen through one small interface: pre-split words in, subword ids and word ids out.

Extraction needs four things of a tokenizer: encode a batch of pre-split sentences (with special
tokens, no truncation, no padding) and say which word each subword comes from; the padding id;
the unknown token; and the subword strings of ids (token-level stores). Two implementations:

- :class:`HFWordTokenizer` wraps a transformers tokenizer (any model transformers can load);
- :class:`FastWordTokenizer` reads ``tokenizer.json`` with the ``tokenizers`` library directly. It
  is what the native engines use: it costs ~20 ms to load where importing transformers' tokenizer
  machinery costs about a second, and it gives the same ids (tested against transformers for every
  family the native engines serve).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, Sequence

from ..errors import UnknownModelError

__all__ = ["WordTokenizer", "HFWordTokenizer", "FastWordTokenizer"]


class WordTokenizer(Protocol):
    """What extraction needs of a tokenizer."""

    pad_token_id: int
    unk_token: str
    model_max_length: int | None

    def encode_words(self, sentences: Sequence[Sequence[str]]) -> list[tuple[list[int], list[int | None]]]:
        """``(ids, word_ids)`` per sentence; ``word_ids[i]`` is None for special tokens."""
        ...

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        ...


def _max_length(value) -> int | None:
    return int(value) if isinstance(value, int) and 0 < value < 1_000_000 else None


class HFWordTokenizer:
    """A transformers tokenizer behind the :class:`WordTokenizer` interface."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        pad = tokenizer.pad_token_id
        self.pad_token_id = 0 if pad is None else int(pad)
        self.unk_token = tokenizer.unk_token or "?"
        self.model_max_length = _max_length(getattr(tokenizer, "model_max_length", None))

    def encode_words(self, sentences):
        enc = self.tokenizer([list(s) for s in sentences], is_split_into_words=True, add_special_tokens=True,
                             truncation=False, verbose=False)
        return [(list(enc["input_ids"][i]), enc.word_ids(i)) for i in range(len(sentences))]

    def convert_ids_to_tokens(self, ids):
        return self.tokenizer.convert_ids_to_tokens(list(ids))


def _set_prefix_space(tok) -> None:
    """Make a byte-level pre-tokenizer add the word-initial space, keeping the rest of its settings."""
    from tokenizers import pre_tokenizers

    pre = tok.pre_tokenizer
    if isinstance(pre, pre_tokenizers.ByteLevel):
        pre.add_prefix_space = True
    elif pre is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    else:  # a sequence or another kind: look for its byte-level part in the serialised form
        state = json.loads(tok.to_str())

        def visit(node):
            if isinstance(node, dict):
                if node.get("type") == "ByteLevel" and "add_prefix_space" in node:
                    node["add_prefix_space"] = True
                for v in node.values():
                    visit(v)
            elif isinstance(node, list):
                for v in node:
                    visit(v)

        visit(state["pre_tokenizer"])
        tok.pre_tokenizer = type(tok).from_str(json.dumps(state)).pre_tokenizer


def _model_unk(tok) -> str | None:
    """The unknown token that tokenizer.json's model defines (WordPiece/BPE by name, Unigram by id)."""
    model = json.loads(tok.to_str()).get("model", {})
    if model.get("unk_token"):
        return model["unk_token"]
    return tok.id_to_token(model["unk_id"]) if isinstance(model.get("unk_id"), int) else None


def _first_present(tok, candidates) -> str | None:
    return next((c for c in candidates if tok.token_to_id(c) is not None), None)


def _token_content(value) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


class FastWordTokenizer:
    """``tokenizer.json`` read with the ``tokenizers`` library, without transformers.

    Parameters
    ----------
    directory : path-like
        A model directory with ``tokenizer.json`` (and optionally ``tokenizer_config.json`` /
        ``special_tokens_map.json`` for the special tokens and the maximum length).
    add_prefix_space : bool
        For byte-level BPE tokenizers (GPT-2, RoBERTa, BART): treat every word as preceded by a space,
        as transformers does when it is asked to encode pre-split words.

    Raises
    ------
    FileNotFoundError
        If the directory has no ``tokenizer.json``.
    """

    def __init__(self, directory: str | Path, *, add_prefix_space: bool = False):
        from tokenizers import Tokenizer

        directory = Path(directory)
        path = directory / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer.json in {str(directory)!r}")
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as e:  # the Rust side raises plain Exceptions
            raise UnknownModelError(f"cannot read {str(path)!r}: {e}") from None
        tok.no_truncation()
        tok.no_padding()
        if add_prefix_space:
            _set_prefix_space(tok)
        self._tok = tok
        cfg: dict = {}
        for name in ("special_tokens_map.json", "tokenizer_config.json"):  # the latter wins, as in transformers
            p = directory / name
            if p.is_file():
                try:
                    cfg.update(json.loads(p.read_text(encoding="utf-8")))
                except ValueError as e:
                    raise UnknownModelError(f"{str(p)!r} is not valid JSON: {e}") from None
        # pad and unk: the tokenizer's own files first; else what tokenizer.json itself defines
        pad = _token_content(cfg.get("pad_token")) or _first_present(tok, ("[PAD]", "<pad>"))
        pad_id = tok.token_to_id(pad) if pad else None
        self.pad_token_id = 0 if pad_id is None else int(pad_id)
        unk = _token_content(cfg.get("unk_token")) or _model_unk(tok)
        self.unk_token = unk or _first_present(tok, ("[UNK]", "<unk>")) or "?"
        self.model_max_length = _max_length(cfg.get("model_max_length"))

    def encode_words(self, sentences):
        encs = self._tok.encode_batch([list(s) for s in sentences], is_pretokenized=True, add_special_tokens=True)
        return [(e.ids, e.word_ids) for e in encs]

    def convert_ids_to_tokens(self, ids):
        return [self._tok.id_to_token(int(i)) for i in ids]
