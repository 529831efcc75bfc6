"""Concept activation vectors (CAVs): examples of a concept and of random sets, a linear classifier, a cache.

A CAV (Kim et al. 2018) is the unit normal of the decision boundary of a linear classifier trained to
separate activations of concept examples (class 1) from activations of random examples (class 0) at one
site; it points towards the concept. Its held-out accuracy says whether the concept is linearly present
at the site at all.

Examples come from two sources (:class:`ExamplePool`):

- **text**: sentences run through the live model at the site; ``pooling="mean"`` makes one example per
  sentence (the mean of its word tokens' rows: every subword that belongs to a word, special tokens
  excluded), ``pooling="tokens"`` one example per word token row;
- **store**: rows of an :class:`~neuronlab.store.ActivationStore` (``store[site]``), the concept's rows
  selected by a label (``label == class``).

References
----------
Kim, Wattenberg, Gilmer, Cai, Wexler, Viegas & Sayres (2018). Interpretability beyond feature attribution:
quantitative testing with concept activation vectors (TCAV). ICML.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import InvalidParameterError, choices

__all__ = ["CLASSIFIERS", "POOLINGS", "register_classifier", "ExamplePool", "text_pool", "store_pool",
           "train_cav", "CAV", "cav_cache_name", "read_cav", "write_cav"]

#: how token rows of a sentence become examples
POOLINGS = ("mean", "tokens")


def _logistic(random_state: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, random_state=random_state)


def _sgd(random_state: int):
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(alpha=0.01, max_iter=1000, tol=1e-3, random_state=random_state)


#: name -> factory(random_state) of an unfitted scikit-learn linear classifier (``fit``, ``coef_``, ``score``)
CLASSIFIERS: dict[str, Callable[[int], Any]] = {"logistic": _logistic, "sgd": _sgd}


def register_classifier(name: str, factory: Callable[[int], Any]) -> None:
    """Add a CAV classifier: ``factory(random_state)`` returns an unfitted linear classifier with ``coef_``."""
    CLASSIFIERS[name] = factory


# ------------------------------------------------------------------ examples
@dataclass
class ExamplePool:
    """Activations of some examples at one site, with a digest that identifies them.

    Attributes
    ----------
    X : ndarray of shape (n_examples, width)
    group : ndarray of int64 of shape (n_examples,)
        Source unit of each example (the sentence for text, the row for a store); random sets are drawn by
        group so that the token rows of one sentence never fall on both sides.
    digest : str
        sha256 (hex, 16 chars) of what defines the examples (source, sentences or rows, pooling).
    """

    X: np.ndarray
    group: np.ndarray
    digest: str

    @property
    def n_groups(self) -> int:
        return int(np.unique(self.group).size)


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def text_pool(live, sentences, site: str, *, pooling: str = "mean", batch_size: int = 32,
              name: str = "examples") -> ExamplePool:
    """Examples of ``sentences`` (strings or word lists) at ``site`` of a live model.

    Raises
    ------
    InvalidParameterError
        If ``sentences`` is empty or ``pooling`` is unknown.
    """
    import torch

    if pooling not in POOLINGS:
        raise InvalidParameterError(f"pooling {pooling!r} is unknown; choose one of {choices(POOLINGS)}")
    sentences = [sentences] if isinstance(sentences, str) else list(sentences)
    if not sentences:
        raise InvalidParameterError(f"{name}: no example sentences given; give at least 2")
    xs, groups = [], []
    for b0 in range(0, len(sentences), batch_size):
        enc = live.encode(sentences[b0: b0 + batch_size])
        y = live.activations(enc, site).double().cpu()
        mask = enc.content_mask()
        for i in range(enc.n_examples):
            rows = y[i][mask[i]]
            if pooling == "mean":
                xs.append(rows.mean(0, keepdim=True))
                groups.append(b0 + i)
            else:
                xs.append(rows)
                groups.extend([b0 + i] * rows.shape[0])
    X = torch.cat(xs).numpy()
    return ExamplePool(X, np.asarray(groups, dtype=np.int64),
                       _digest({"source": "text", "site": site, "pooling": pooling, "sentences": sentences}))


def store_pool(store, site: str, rows, *, what: str) -> ExamplePool:
    """Examples = ``rows`` of ``store[site]`` (one example per row)."""
    rows = np.asarray(rows, dtype=np.int64)
    X = np.asarray(store[site][np.sort(rows)], dtype=np.float64) if rows.size else np.zeros((0, 0))
    order = np.argsort(np.argsort(rows))
    X = X[order] if rows.size else X
    return ExamplePool(X, rows.copy(), _digest({"source": "store", "path": str(store.path), "site": site,
                                                "model": store.model, "what": what, "n": int(rows.size),
                                                "rows": _digest(rows.tolist())}))


# ------------------------------------------------------------------ training
@dataclass
class CAV:
    """One concept activation vector.

    Attributes
    ----------
    vector : ndarray of shape (width,)
        Unit normal of the classifier's decision boundary, pointing towards the concept (class 1).
    accuracy : float
        Accuracy of the classifier on the held-out examples.
    n_train, n_test : int
    """

    vector: np.ndarray
    accuracy: float
    n_train: int
    n_test: int


def train_cav(X_pos: np.ndarray, g_pos: np.ndarray, X_neg: np.ndarray, g_neg: np.ndarray, *, classifier="logistic",
              test_fraction: float = 0.33, random_state: int = 0) -> CAV:
    """Train one CAV: concept examples ``X_pos`` (class 1) against random examples ``X_neg`` (class 0).

    The held-out split is by group (sentence or row), ``test_fraction`` of the groups of each side,
    drawn with ``random_state``; the classifier is seeded with it too.

    Parameters
    ----------
    X_pos, X_neg : ndarray of shape (n, width)
    g_pos, g_neg : ndarray of shape (n,)
        Group of each example.
    classifier : str or estimator
        A key of :data:`CLASSIFIERS`, or an unfitted scikit-learn linear classifier (cloned, then fitted).
    """
    from sklearn.base import clone

    if isinstance(classifier, str):
        if classifier not in CLASSIFIERS:
            raise InvalidParameterError(f"classifier {classifier!r} is unknown; choose one of {choices(CLASSIFIERS)}"
                                        " or pass a scikit-learn linear classifier")
        clf = CLASSIFIERS[classifier](random_state)
    else:
        clf = clone(classifier)
    rng = np.random.default_rng(random_state)
    tr_p, te_p = _split(g_pos, test_fraction, rng)
    tr_n, te_n = _split(g_neg, test_fraction, rng)
    X_tr = np.concatenate([X_pos[tr_p], X_neg[tr_n]])
    y_tr = np.r_[np.ones(tr_p.sum()), np.zeros(tr_n.sum())]
    clf.fit(X_tr, y_tr)
    coef = np.asarray(clf.coef_, dtype=np.float64).reshape(-1)
    classes = list(np.asarray(clf.classes_).tolist())
    if classes[-1] != 1:  # coef_ points to classes_[1]
        coef = -coef
    norm = np.linalg.norm(coef)
    vector = coef / norm if norm > 0 else coef
    X_te = np.concatenate([X_pos[te_p], X_neg[te_n]])
    y_te = np.r_[np.ones(te_p.sum()), np.zeros(te_n.sum())]
    acc = float(clf.score(X_te, y_te)) if len(y_te) else float("nan")
    return CAV(vector, acc, int(len(y_tr)), int(len(y_te)))


def _split(groups: np.ndarray, test_fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Boolean train/test masks, whole groups on one side; at least one group on each side."""
    uniq = np.unique(groups)
    n_test = min(max(1, int(round(test_fraction * uniq.size))), uniq.size - 1)
    test_groups = rng.choice(uniq, size=n_test, replace=False)
    test = np.isin(groups, test_groups)
    return ~test, test


# ------------------------------------------------------------------ cache
def cav_cache_name(site: str, concept: str, random_set: str, seed: int, key: dict) -> str:
    """Result name of a cached CAV: readable parts plus a digest of everything that defines it."""
    safe = "".join(c if c.isalnum() or c in "._-:" else "_" for c in str(concept))
    return f"cav.{site}.{safe}.{random_set}.s{seed}.{_digest(key)[:12]}"


def read_cav(store, name: str, key: dict) -> CAV | None:
    """The CAV cached as ``/results/<name>``, or None when absent or written with another key."""
    if store is None or name not in store.result_names():
        return None
    stored = store.read_result(name)
    if stored.get("kind") != "cav" or stored["config"].get("key") != json.loads(json.dumps(key, default=str)):
        return None
    return CAV(np.asarray(stored["vector"], dtype=np.float64), float(stored["accuracy"]),
               int(stored["n_train"]), int(stored["n_test"]))


def write_cav(store, name: str, key: dict, cav: CAV) -> str:
    """Cache a CAV under ``/results/<name>`` (kind ``cav``, ``config`` = its key)."""
    return store.write_result(name, {"vector": cav.vector, "accuracy": np.float64(cav.accuracy),
                                     "n_train": np.int64(cav.n_train), "n_test": np.int64(cav.n_test)},
                              config={"key": key}, kind="cav")
