"""Resuming an interrupted extraction: is the store the same run, and where does the work start again."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..corpus.base import Corpus
from ..errors import StoreError
from ..store.store import ActivationStore
from .config import ExtractionConfig
from .planning import PLAN_BLOCK

__all__ = ["reopen_for_resume", "chunks_to_do"]


def _same_texts(store: ActivationStore, corpus, base: int, block: int = PLAN_BLOCK) -> bool:
    """Whether the store's texts equal the corpus's sentences ``base, base + 1, ...``, compared block by block."""
    n = store.n_sentences
    a = 0
    for chunk in corpus.blocks(block, start=base, stop=base + n):
        b = a + len(chunk)
        if store.texts(a, b) != chunk.texts():
            return False
        a = b
    return a == n


def reopen_for_resume(out: Path, corpus, config: dict, model_info: dict, *, base: int = 0,
                      offsets: np.ndarray | None = None) -> ActivationStore:
    """Open ``out`` for writing after checking that it was made by the same model, corpus and settings.

    The settings compared are :attr:`ExtractionConfig.RESULT_KEYS` (the one list of them); stores
    written before the ``engine`` was recorded count as written by the engine asked for now, before the
    ``compute_dtype`` was recorded as float32. The corpus (a :class:`Corpus` or a
    :class:`~neuronlab.corpus.stream.CorpusStream`, from its sentence ``base`` on for a shard) is
    compared with the store's texts block by block; ``config["n_sentences"]`` is the store's size. ``offsets``
    (the plan's rows per sentence), when given, must equal the store's.

    Raises
    ------
    StoreError
        Naming every difference.
    """
    store = ActivationStore.open(out, mode="r+", allow_incomplete=True)
    old = store.config
    defaults = {"engine": config.get("engine"), "compute_dtype": "float32"}  # keys older stores lack
    diffs = [k for k in ExtractionConfig.RESULT_KEYS if old.get(k, defaults.get(k)) != config.get(k)]
    if store.model.get("weights_sha256") != model_info.get("weights_sha256") and "engine" not in diffs:
        diffs.append("model weights")
    n = config.get("n_sentences", len(corpus) if isinstance(corpus, Corpus) else None)
    if store.n_sentences != n or old.get("n_sentences") != config.get("n_sentences") \
            or (offsets is not None and not np.array_equal(store.offsets, offsets)) \
            or not _same_texts(store, corpus, base):
        diffs.append("corpus")
    if diffs:
        store.close()
        raise StoreError(f"cannot resume {str(out)!r}: it was written with a different {', '.join(diffs)}; "
                         "use overwrite=True to start again")
    return store


def chunks_to_do(chunks: list[tuple[int, int]], done: int) -> list[tuple[int, int]]:
    """The write chunks a resumed run computes: every chunk not wholly before ``done``.

    ``done`` (the first sentence whose rows are not written) need not be a chunk boundary; the chunk
    holding it is recomputed from its start, with the same batches as an uninterrupted run, so the
    rows it rewrites get the same bytes.

    >>> chunks_to_do([(0, 4), (4, 9), (9, 12)], 6)
    [(4, 9), (9, 12)]
    >>> chunks_to_do([(0, 4), (4, 9)], 9)
    []
    """
    return [c for c in chunks if c[1] > done]
