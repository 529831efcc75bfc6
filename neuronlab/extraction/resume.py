"""Resuming an interrupted extraction: is the store the same run, and where does the work start again."""
from __future__ import annotations

from pathlib import Path

from ..corpus.base import Corpus
from ..errors import StoreError
from ..store.store import ActivationStore
from .config import ExtractionConfig

__all__ = ["reopen_for_resume", "chunks_to_do"]


def reopen_for_resume(out: Path, corpus: Corpus, config: dict, model_info: dict) -> ActivationStore:
    """Open ``out`` for writing after checking that it was made by the same model, corpus and settings.

    The settings compared are :attr:`ExtractionConfig.RESULT_KEYS` (the one list of them); stores
    written before the ``engine`` was recorded count as written by the engine asked for now, before the
    ``compute_dtype`` was recorded as float32.

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
    if store.n_sentences != len(corpus) or old.get("n_sentences") != config.get("n_sentences") \
            or store.texts() != corpus.texts():
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
