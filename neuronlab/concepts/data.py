"""From a store and a concept to ``X, y``: labelled rows, class names, sentence groups, splits by sentence.

Words of one sentence never straddle a train/test split: :func:`split_by_sentence` splits sentence
ids, not rows. This module reads the store only (no torch).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ..errors import InvalidParameterError
from ..store.store import ActivationStore
from ..store.view import StoreView

__all__ = ["ConceptData", "load_concept", "split_by_sentence", "align_classes", "class_remap"]

log = logging.getLogger("neuronlab.concepts")


@dataclass
class ConceptData:
    """The labelled rows of one concept.

    Attributes
    ----------
    X : StoreView or ndarray of shape (n_rows, n_neurons)
        Activations (a lazy view until :meth:`load` is called).
    y : ndarray of int64, shape (n_rows,)
        Class index per row, into ``classes``.
    classes : list of str
    groups : ndarray of int64
        Sentence index of every row (for splits and sentence-level pooling).
    words : ndarray of object
        The word (or token) each row stands for: the word types of control tasks.
    neuron_ids : list of str
        ``site:index`` of every column.
    rows : ndarray of int64
        Row indices in the store.
    concept : str
    """

    X: StoreView | np.ndarray
    y: np.ndarray
    classes: list
    groups: np.ndarray
    words: np.ndarray
    neuron_ids: list
    rows: np.ndarray
    concept: str

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def load(self, dtype=np.float32) -> "ConceptData":
        """The same data with ``X`` read into memory (converted chunk by chunk)."""
        if isinstance(self.X, np.ndarray):
            return self if self.X.dtype == dtype else replace(self, X=self.X.astype(dtype))
        return replace(self, X=self.X.to_numpy(dtype=dtype))

    def subset(self, mask_or_index) -> "ConceptData":
        idx = np.asarray(mask_or_index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        X = self.X[idx] if isinstance(self.X, np.ndarray) else StoreView(self.X.arrays, rows=self.X.rows[idx],
                                                                           n_rows=_n_rows(self.X))
        return replace(self, X=X, y=self.y[idx], groups=self.groups[idx], words=self.words[idx], rows=self.rows[idx])

    def class_counts(self) -> dict:
        counts = np.bincount(self.y, minlength=self.n_classes)
        return {c: int(n) for c, n in zip(self.classes, counts)}


def _n_rows(view: StoreView) -> int:
    return view.arrays[0].shape[0]


def load_concept(
    store: ActivationStore,
    concept: str,
    *,
    sites: str | Sequence[str] | None = None,
    min_class_count: int = 1,
) -> ConceptData:
    """Labelled rows of ``concept`` over the selected sites (lazy).

    Parameters
    ----------
    store : ActivationStore
    concept : str
        A label stored with the activations (``neuronlab info`` lists them).
    sites : str or sequence of str, optional
        Names or globs; every site when omitted.
    min_class_count : int, default 1
        Classes with fewer labelled rows are dropped (with a log line).

    Raises
    ------
    InvalidParameterError
        If the concept is absent, sentence-level on a word/token store, or has fewer than two classes.
    """
    label = store.label(concept)
    if label.level == "sentence" and store.granularity != "sentence":
        from .rankers import RANKERS

        pooled = [name for name, entry in RANKERS.items() if entry.level == "sentence"]
        raise InvalidParameterError(
            f"concept {concept!r} labels sentences but {str(store.path)!r} holds {store.granularity} rows; "
            f"extract with granularity='sentence' to probe it (or rank with a sentence-level method: "
            f"{', '.join(pooled)}, which pools rows per sentence)"
        )
    values = label.values.astype(np.int64)
    n_valid = store.n_valid_rows
    values = values[:n_valid]
    remap, keep_classes = class_remap(values, label.vocabulary, concept, min_class_count=min_class_count)
    y_all = np.where(values >= 0, remap[np.clip(values, 0, None)], -1)
    rows = np.flatnonzero(y_all >= 0)
    tokens = np.array(store.tokens(), dtype=object)
    groups = store.row_sentence()[rows] if store.granularity != "sentence" else rows.copy()
    view = store.view(sites=sites, rows=rows)
    return ConceptData(
        X=view, y=y_all[rows], classes=[label.vocabulary[i] for i in keep_classes], groups=groups,
        words=tokens[rows], neuron_ids=view.neuron_ids, rows=rows, concept=concept,
    )


def class_remap(values: np.ndarray, vocabulary: Sequence[str], concept: str, *, min_class_count: int = 1):
    """Map stored class codes to ``0..k-1`` over the classes that have at least ``min_class_count`` entries.

    Returns
    -------
    remap : ndarray of int64
        ``remap[code]`` is the new index, -1 for dropped classes.
    keep : ndarray of int64
        Stored codes of the kept classes.

    Raises
    ------
    InvalidParameterError
        If fewer than two classes are left.
    """
    n_classes = len(vocabulary)
    counts = np.bincount(values[values >= 0], minlength=n_classes)
    keep = np.flatnonzero(counts >= max(1, min_class_count))
    dropped = [vocabulary[i] for i in range(n_classes) if 0 < counts[i] < min_class_count]
    if dropped:
        log.info("concept %s: dropped rare classes %s (fewer than %d rows)", concept, dropped, min_class_count)
    if keep.size < 2:
        present = [vocabulary[i] for i in keep]
        raise InvalidParameterError(
            f"concept {concept!r} has only one class with labelled rows ({present or 'none'}): nothing to probe"
        )
    remap = np.full(n_classes, -1, dtype=np.int64)
    remap[keep] = np.arange(keep.size)
    return remap, keep


def split_by_sentence(data: ConceptData, *, train_size: float = 0.8, random_state: int | None = 0):
    """Split rows into train and test by whole sentences.

    Parameters
    ----------
    data : ConceptData
    train_size : float in (0, 1)
        Fraction of sentences in the training part.
    random_state : int or None

    Returns
    -------
    train, test : ConceptData
    """
    if not 0.0 < float(train_size) < 1.0:
        raise InvalidParameterError(f"train_size must lie strictly between 0 and 1, got {train_size!r}")
    sentences = np.unique(data.groups)
    if sentences.size < 2:
        raise InvalidParameterError("need at least two sentences to split into train and test")
    rng = np.random.default_rng(random_state)
    perm = rng.permutation(sentences)
    n_train = min(max(1, int(round(train_size * sentences.size))), sentences.size - 1)
    in_train = np.isin(data.groups, perm[:n_train])
    return data.subset(in_train), data.subset(~in_train)


def align_classes(train: ConceptData, test: ConceptData) -> ConceptData:
    """Re-index ``test`` labels into ``train.classes``; test rows of classes unseen in training are dropped."""
    index = {c: i for i, c in enumerate(train.classes)}
    mapped = np.array([index.get(test.classes[k], -1) for k in test.y], dtype=np.int64)
    unseen = sorted({test.classes[k] for k in test.y if test.classes[k] not in index})
    if unseen:
        log.warning("test rows of classes unseen in training were dropped: %s", unseen)
    keep = mapped >= 0
    out = test.subset(keep)
    return replace(out, y=mapped[keep], classes=list(train.classes))
