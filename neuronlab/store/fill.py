"""Strings, word indices and label codes of a store being created (``fill`` of :meth:`ActivationStore.create`)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import InvalidParameterError
from . import atomic

__all__ = ["fill_sentences"]


def fill_sentences(f, start: int, stop: int, *, texts: Sequence[str], tokens: Sequence[str],
                   row_words: np.ndarray | None = None, labels: Mapping[str, np.ndarray] | None = None) -> None:
    """Write the texts of sentences ``[start, stop)``, their rows' tokens (and word indices) and label codes
    into a store being created (see ``fill`` of :meth:`ActivationStore.create`)."""
    n_sentences = f["sentences/text"].shape[0]
    if not 0 <= start <= stop <= n_sentences:
        raise InvalidParameterError(f"fill: sentence range [{start}, {stop}) is not within 0..{n_sentences}")
    offs = f["sentences/offsets"]
    r0, r1 = int(offs[start]), int(offs[stop])
    if len(texts) != stop - start or len(tokens) != r1 - r0:
        raise InvalidParameterError(f"fill: {len(texts)} texts and {len(tokens)} tokens for {stop - start} "
                                    f"sentences of {r1 - r0} rows")
    if stop > start:
        f["sentences/text"][start:stop] = np.array(list(texts), dtype=object)
    if r1 > r0:
        f["rows/tokens"][r0:r1] = np.array(list(tokens), dtype=object)
        if row_words is not None:
            f["rows/word"][r0:r1] = np.asarray(row_words, dtype=np.int32)
    for name, values in (labels or {}).items():
        ds = f["labels"][name]
        a, b = (start, stop) if atomic.text_attr(ds.attrs.get("level", "row")) == "sentence" else (r0, r1)
        if np.shape(values) != (b - a,):
            raise InvalidParameterError(f"fill: label {name!r} got {np.shape(values)} values, expected {b - a}")
        if b > a:
            ds[a:b] = np.asarray(values, dtype=np.int32)
