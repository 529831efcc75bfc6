"""Readers of NeuroX activation files (hdf5 and json lines), streaming one sentence at a time.

The layouts are described in :mod:`neuronlab.store.neurox` (Dalvi et al., 2019, "NeuroX: A Toolkit for
Analyzing Individual Neurons in Neural Networks"). A first pass learns every sentence's shape and
tokens without reading values; :meth:`arrays` then yields ``(n_layers, n_tokens, width)`` per sentence.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import StoreError

__all__ = ["HDF5Reader", "JSONReader", "INDEX_DATASET"]

#: name of NeuroX's index dataset in its hdf5 files
INDEX_DATASET = "sentence_to_index"

_OCCURRENCE_RE = re.compile(r"^(?P<text>.*) \(Occurrence (?P<k>\d+)\)$", re.S)


class _Sentence:
    """What the first pass learns about one sentence (no activation values)."""

    __slots__ = ("key", "text", "tokens", "n_tokens")

    def __init__(self, key, text: str, tokens: list[str] | None, n_tokens: int):
        self.key = key  # hdf5: dataset name; json: 1-based line number
        self.text = text
        self.tokens = tokens  # the file's tokens, None if unknown
        self.n_tokens = n_tokens


class HDF5Reader:
    """Streams the sentences of a NeuroX hdf5 file in index order."""

    fmt = "neurox-hdf5"

    def __init__(self, path: Path):
        import h5py

        self.path = path
        try:
            self._f = h5py.File(path, "r")
        except OSError as exc:
            raise StoreError(f"{str(path)!r} is not a readable HDF5 file: {exc}") from None
        try:
            self.sentences, self.n_layers, self.width, self.dtype = self._scan()
        except BaseException:
            self._f.close()
            raise

    def _scan(self):
        f, path = self._f, self.path
        if INDEX_DATASET not in f:
            hint = (" (it is a neuronlab activation store already: open it with ActivationStore.open)"
                    if f.attrs.get("format") == "neuronlab-activations" else "")
            raise StoreError(
                f"{str(path)!r} is not a NeuroX activation file: the dataset {INDEX_DATASET!r} is missing{hint}"
            )
        raw = f[INDEX_DATASET]
        if not hasattr(raw, "shape"):
            raise StoreError(f"{str(path)!r}: {INDEX_DATASET!r} is a group; NeuroX writes a dataset holding one JSON string")
        try:
            raw = raw[0] if raw.shape else raw[()]
            mapping = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        except (ValueError, TypeError, IndexError) as exc:
            raise StoreError(f"{str(path)!r}: {INDEX_DATASET!r} does not hold a JSON object ({exc})") from None
        if not isinstance(mapping, dict) or not mapping:
            raise StoreError(f"{str(path)!r}: {INDEX_DATASET!r} must map sentence text to index; it is empty or not a mapping")
        by_index: dict[int, str] = {}
        for key, idx in mapping.items():
            try:
                i = int(idx)
            except (TypeError, ValueError):
                raise StoreError(f"{str(path)!r}: {INDEX_DATASET!r} maps {key!r} to {idx!r}, not a sentence index") from None
            if i in by_index:
                raise StoreError(f"{str(path)!r}: sentences {by_index[i]!r} and {key!r} both map to index {idx!r}")
            by_index[i] = key
        sentences: list[_Sentence] = []
        n_layers = width = dtype = None
        for i in sorted(by_index):
            name, key = str(i), by_index[i]
            if name not in f:
                raise StoreError(
                    f"{str(path)!r}: {INDEX_DATASET!r} lists sentence {name} ({key!r}) but the dataset {name!r} is missing"
                )
            ds = f[name]
            if len(ds.shape) != 3:
                raise StoreError(
                    f"{str(path)!r}: dataset {name!r} has shape {ds.shape}; NeuroX stores (n_layers, n_tokens, hidden)"
                )
            L, T, H = (int(x) for x in ds.shape)
            if n_layers is None:
                n_layers, width, dtype = L, H, ds.dtype
            elif (L, H) != (n_layers, width):
                raise StoreError(
                    f"{str(path)!r}: inconsistent sentences: dataset {name!r} has {L} layers x {H} neurons, "
                    f"dataset {sentences[0].key!r} has {n_layers} layers x {width} neurons"
                )
            text = _strip_occurrence(key, mapping)
            words = text.split(" ") if text else []
            sentences.append(_Sentence(name, text, words if len(words) == T else None, T))
        return sentences, n_layers, width, dtype

    def arrays(self) -> Iterator[np.ndarray]:
        for s in self.sentences:
            yield self._f[s.key][()]

    def close(self) -> None:
        self._f.close()


def _strip_occurrence(key: str, mapping: dict) -> str:
    """The sentence text of a ``sentence_to_index`` key: NeuroX's ``" (Occurrence k)"`` suffix removed."""
    m = _OCCURRENCE_RE.match(key)
    if m and int(m.group("k")) >= 2 and m.group("text") in mapping:
        return m.group("text")
    return key


class JSONReader:
    """Streams the sentences of a NeuroX json-lines file in line order."""

    fmt = "neurox-json"
    dtype = np.dtype(np.float32)

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise StoreError(f"NeuroX activation file {str(path)!r} does not exist or is not a file")
        self.sentences: list[_Sentence] = []
        self.n_layers = self.width = None
        for lineno, record in self._records():
            tokens = []
            for t, feat in enumerate(record["features"]):
                tokens.append(self._token(feat, lineno, t))
                layers = feat["layers"]
                widths = [self._values(layer, lineno, t, l) for l, layer in enumerate(layers)]
                if self.n_layers is None:
                    self.n_layers, self.width, self._first = len(layers), widths[0] if widths else 0, lineno
                if len(layers) != self.n_layers or any(w != self.width for w in widths):
                    raise StoreError(
                        f"{str(path)!r}, line {lineno}: inconsistent sentences: token {t} has {len(layers)} layers "
                        f"of widths {sorted(set(widths))}, line {self._first} has {self.n_layers} layers of "
                        f"{self.width} neurons"
                    )
            self.sentences.append(_Sentence(lineno, " ".join(tokens), tokens, len(tokens)))
        if not self.sentences:
            raise StoreError(f"{str(path)!r} is not a NeuroX activation file: it holds no JSON line")
        if self.n_layers is None or self.n_layers == 0 or self.width == 0:
            raise StoreError(f"{str(path)!r}: no token has any layer values")

    def _records(self) -> Iterator[tuple[int, dict]]:
        with open(self.path, encoding="utf-8") as fp:
            lineno = 0
            while True:
                try:
                    line = fp.readline()
                except UnicodeDecodeError as exc:
                    raise StoreError(f"{str(self.path)!r}, line {lineno + 1}: not valid UTF-8 ({exc.reason})") from None
                if not line:
                    return
                lineno += 1
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise StoreError(
                        f"{str(self.path)!r}, line {lineno}: not valid JSON ({exc.msg} at column {exc.colno}); "
                        "a NeuroX json file holds one JSON object per line"
                    ) from None
                if not isinstance(record, dict) or "features" not in record:
                    raise StoreError(
                        f"{str(self.path)!r}, line {lineno} is not a NeuroX activation record: the key 'features' "
                        'is missing (expected {"linex_index": i, "features": [...]})'
                    )
                if not isinstance(record["features"], list):
                    raise StoreError(f"{str(self.path)!r}, line {lineno}: 'features' must be a list of tokens")
                yield lineno, record

    def _token(self, feat, lineno: int, t: int) -> str:
        if not isinstance(feat, dict) or "token" not in feat or "layers" not in feat:
            raise StoreError(
                f"{str(self.path)!r}, line {lineno}: feature {t} must have the keys 'token' and 'layers', "
                f"got {sorted(feat) if isinstance(feat, dict) else type(feat).__name__}"
            )
        if not isinstance(feat["layers"], list):
            raise StoreError(f"{str(self.path)!r}, line {lineno}: feature {t}: 'layers' must be a list")
        return str(feat["token"])

    def _values(self, layer, lineno: int, t: int, l: int) -> int:
        if not isinstance(layer, dict) or not isinstance(layer.get("values"), list):
            raise StoreError(
                f"{str(self.path)!r}, line {lineno}: token {t}, layer {l} has no list 'values'"
            )
        return len(layer["values"])

    def arrays(self) -> Iterator[np.ndarray]:
        for lineno, record in self._records():
            feats = record["features"]
            out = np.empty((self.n_layers, len(feats), self.width), dtype=np.float32)
            for t, feat in enumerate(feats):
                for l, layer in enumerate(feat["layers"]):
                    try:
                        out[l, t] = layer["values"]
                    except (TypeError, ValueError):
                        raise StoreError(
                            f"{str(self.path)!r}, line {lineno}: token {t}, layer {l}: values are not all numbers"
                        ) from None
            yield out

    def close(self) -> None:
        pass
