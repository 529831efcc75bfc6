"""Stores of several models run on the same corpus: open them together and check that their rows match."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from neuronlab.errors import InvalidParameterError
from neuronlab.store.store import ActivationStore

__all__ = ["check_same_rows", "open_aligned", "model_labels"]


def model_labels(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Short distinct labels of the stores (file stems; ``#2``... appended to repeated stems)."""
    stems = [Path(p).stem for p in paths]
    seen: dict[str, int] = {}
    out = []
    for s in stems:
        seen[s] = seen.get(s, 0) + 1
        out.append(s if stems.count(s) == 1 else f"{s}#{seen[s]}")
    return out


def check_same_rows(stores: Sequence[ActivationStore], labels: Sequence[str] | None = None) -> None:
    """Raise unless every store has the rows of the first: same granularity, sentences, offsets and tokens.

    Multi-model methods correlate row ``i`` of one model with row ``i`` of another, so row ``i`` must be the
    same word of the same sentence in every store.

    Raises
    ------
    InvalidParameterError
        Naming the first store that differs and how (row counts, sentence boundaries, or the first row whose
        token differs).
    """
    labels = list(labels) if labels is not None else [str(s.path) for s in stores]
    ref, ref_label = stores[0], labels[0]
    ref_tokens = None
    for st, label in zip(stores[1:], labels[1:]):
        what = f"{label!r} and {ref_label!r}"
        if st.granularity != ref.granularity:
            raise InvalidParameterError(f"{what} hold different rows ({st.granularity} vs {ref.granularity} "
                                        "granularity); extract every model with the same --granularity")
        if st.n_valid_rows != ref.n_valid_rows:
            raise InvalidParameterError(
                f"{label!r} has {st.n_valid_rows} rows but {ref_label!r} has {ref.n_valid_rows}; multi-model search "
                "needs every model run on the same corpus (same sentences, same rows): extract them from one input")
        if st.n_done != ref.n_done or not np.array_equal(st.offsets[:st.n_done + 1], ref.offsets[:ref.n_done + 1]):
            raise InvalidParameterError(f"{what} split their rows into sentences differently; extract every model "
                                        "from the same corpus file")
        if ref_tokens is None:
            ref_tokens = np.array(ref.tokens()[:ref.n_valid_rows], dtype=object)
        tokens = np.array(st.tokens()[:st.n_valid_rows], dtype=object)
        diff = np.flatnonzero(tokens != ref_tokens)
        if diff.size:
            i = int(diff[0])
            raise InvalidParameterError(
                f"{what} differ at row {i} ({tokens[i]!r} vs {ref_tokens[i]!r}); multi-model search needs the same "
                "words in the same rows (word granularity for models with different tokenizers)")


@contextlib.contextmanager
def open_aligned(paths: Sequence[str | os.PathLike]) -> Iterator[list[ActivationStore]]:
    """Open every store read-only, check their rows match (:func:`check_same_rows`), and close them after."""
    if len(paths) < 1:
        raise InvalidParameterError("give at least one store")
    with contextlib.ExitStack() as stack:
        stores = [stack.enter_context(ActivationStore.open(p)) for p in paths]
        check_same_rows(stores, model_labels(paths))
        yield stores
