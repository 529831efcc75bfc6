"""Unsupervised discovery on an activation store: NMF neuron groups, UMAP maps, latent concepts.

Each driver reads one site (or a glob of sites) of a store, fits the estimator, describes what it found
in words and contexts, and returns a :mod:`~neuronlab.concepts.unsupervised.results` object that the
caller may write into the store's ``/results``. :data:`DISCOVERY` is the registry the CLI offers
(``neuronlab discover --method``).
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

import numpy as np

from neuronlab.errors import InvalidParameterError
from neuronlab.registry import Entry, Param, Registry

__all__ = ["DISCOVERY", "discover_nmf", "discover_umap", "discover_latent", "row_labels", "contexts"]

Progress = Callable[[int], None]


# ---------------------------------------------------------------------------------------------- store helpers
def row_labels(store: Any, concept: str, n_rows: int) -> tuple[np.ndarray, list]:
    """Class code of every row (-1 = none) and the vocabulary; a sentence-level concept is given to its rows."""
    label = store.label(concept)
    values = np.asarray(label.values, dtype=np.int64)
    if label.level == "sentence" and store.granularity != "sentence":
        values = values[store.row_sentence()]
    return values[:n_rows], list(label.vocabulary)


def contexts(store: Any, rows: Any, *, window: int = 6, tokens: list | None = None,
             offsets: np.ndarray | None = None) -> list[str]:
    """The sentence window around each row, the row's word in ``[[ ]]`` (the sentence text for sentence rows)."""
    rows = np.asarray(rows, dtype=np.int64)
    if store.granularity == "sentence":
        texts = store.texts()
        return [texts[int(r)] for r in rows]
    tokens = store.tokens() if tokens is None else tokens
    offsets = store.offsets if offsets is None else offsets
    sentence = np.searchsorted(offsets, rows, side="right") - 1
    out = []
    for r, s in zip(rows.tolist(), sentence.tolist()):
        lo, hi = max(int(offsets[s]), r - window), min(int(offsets[s + 1]), r + window + 1)
        out.append(" ".join(tokens[lo:r] + [f"[[{tokens[r]}]]"] + tokens[r + 1:hi]))
    return out


def _view(store: Any, site: str):
    """The valid rows of the selected site(s)."""
    if not site:
        raise InvalidParameterError(f"site= is required; the store has: {', '.join(store.sites)}")
    return store.view(sites=site, rows=np.arange(store.n_valid_rows))


def _tick(progress: Progress | None) -> Progress:
    return progress or (lambda n: None)


def _config(method: str, store: Any, site: str, concept: str | None, params: dict) -> dict:
    return {"method": method, "store": str(store.path), "site": site, "concept": concept, "params": dict(params)}


# ---------------------------------------------------------------------------------------------- NMF
def discover_nmf(store: Any, site: str, *, concept: str | None = None, n_components: int = 10,
                 nonnegative: str = "relu", solver: str = "cd", max_iter: int = 500, top_k: int = 10,
                 max_memory_gb: float | None = None, random_state: Any = 0, progress: Progress | None = None):
    """Factorise a site's activations into neuron groups and describe each by its top neurons and tokens.

    Returns
    -------
    NMFResult
    """
    from .nmf import ActivationNMF
    from .results import NMFResult

    t0 = time.perf_counter()
    view = _view(store, site)
    params = dict(n_components=n_components, nonnegative=nonnegative, solver=solver, max_iter=max_iter,
                  top_k=top_k, max_memory_gb=max_memory_gb, random_state=random_state)
    nmf = ActivationNMF(**params).fit(view, progress=_tick(progress))
    ids = view.neuron_ids
    tokens, offsets = store.tokens(), store.offsets
    codes, vocab = row_labels(store, concept, view.shape[0]) if concept else (None, [])
    total_mass = float(nmf.component_mass_.sum()) or 1.0
    components = []
    for k in range(nmf.n_components):
        rows = nmf.top_rows_[k]
        comp = {
            "component": k,
            "mass_share": float(nmf.component_mass_[k] / total_mass),
            "n_neurons_in_group": int((nmf.neuron_groups_ == k).sum()),
            "top_neurons": [ids[j] for j in nmf.top_neurons_[k]],
            "top_loadings": [float(nmf.components_[k, j]) for j in nmf.top_neurons_[k]],
            "top_tokens": [
                {"row": int(r), "token": tokens[int(r)], "weight": float(w), "context": c}
                for r, w, c in zip(rows, nmf.top_row_weights_[k], contexts(store, rows, tokens=tokens,
                                                                             offsets=offsets))
            ],
        }
        if codes is not None:
            hits = Counter(vocab[c] for c in codes[rows] if c >= 0)
            comp["top_token_classes"] = dict(hits.most_common())
        components.append(comp)
    norm = nmf.data_norm_
    return NMFResult(
        method="nmf", store=str(store.path), site=site, concept=concept, n_rows=view.shape[0],
        n_neurons=view.shape[1], n_components=nmf.n_components, reconstruction_err=nmf.reconstruction_err_,
        relative_err=nmf.reconstruction_err_ / norm if norm > 0 else 0.0, n_iter=nmf.n_iter_,
        components=components, seconds=time.perf_counter() - t0,
        config=_config("nmf", store, site, concept, params), loadings=nmf.components_,
        neuron_groups=nmf.neuron_groups_, top_rows=nmf.top_rows_, neuron_ids=ids,
    )


# ---------------------------------------------------------------------------------------------- UMAP
def discover_umap(store: Any, site: str, *, of: str = "neurons", concept: str | None = None,
                  n_neighbors: int = 15, min_dist: float = 0.1, max_rows: int | None = 5000,
                  random_state: Any = 0, progress: Progress | None = None):
    """A UMAP map of the site's neurons (activation profiles) or tokens, coloured by ``concept``.

    For neurons, a neuron's colour is the class with the highest mean standardised activation over the
    profile rows; for tokens, the token's class ("" where it has none).

    Returns
    -------
    UMAPResult
    """
    from ._rows import read_rows
    from .results import UMAPResult
    from .umap_embed import NeuronUMAP, TokenUMAP, import_umap, standardize_columns

    if of not in ("neurons", "tokens"):
        raise InvalidParameterError(f"of= must be 'neurons' or 'tokens', got {of!r}")
    import_umap()  # before any reading: a missing extra is the first thing the user hears
    t0 = time.perf_counter()
    view = _view(store, site)
    codes, vocab = row_labels(store, concept, view.shape[0]) if concept else (None, [])
    params = dict(n_neighbors=n_neighbors, min_dist=min_dist, max_rows=max_rows, random_state=random_state)
    est = (NeuronUMAP if of == "neurons" else TokenUMAP)(**params)
    est.fit(view)
    _tick(progress)(view.shape[0])
    rows = est.rows_
    if of == "neurons":
        points, point_tokens = view.neuron_ids, [""] * view.shape[1]
        labels = [""] * view.shape[1]
        if codes is not None:
            sub = codes[rows]
            present = sorted(set(sub[sub >= 0].tolist()))
            if present:
                data = standardize_columns(read_rows(view, rows))
                means = np.stack([data[sub == c].mean(axis=0) for c in present])
                labels = [vocab[present[i]] for i in means.argmax(axis=0)]
    else:
        tokens = store.tokens()
        points, point_tokens = [str(int(r)) for r in rows], [tokens[int(r)] for r in rows]
        labels = [vocab[c] if c >= 0 else "" for c in codes[rows]] if codes is not None else [""] * rows.size
    return UMAPResult(
        method="umap", store=str(store.path), site=site, of=of, concept=concept, n_points=len(points),
        n_profile_rows=int(rows.size), classes=sorted(set(labels) - {""}), seconds=time.perf_counter() - t0,
        config=_config("umap", store, site, concept, dict(params, of=of)), coordinates=est.embedding_,
        points=list(points), tokens=point_tokens, labels=labels,
    )


# ---------------------------------------------------------------------------------------------- latent concepts
#: how the cluster-id classifier's accuracy is computed (reported with it)
CLASSIFIER_PROTOCOL = (
    "sentences split {train:.0%}/{test:.0%} (seed random_state); the clusters are built from the training "
    "sentences' rows only (per-type cap applied); each cluster predicts its majority gold class among its "
    "training rows; every labelled held-out row is assigned to the nearest cluster centre (Euclidean) and "
    "gets that cluster's class; accuracy over the held-out rows, against predicting the training majority class"
)


def discover_latent(store: Any, site: str, *, concept: str | None = None, n_clusters: int = 50,
                    max_per_type: int | None = 10, min_type_count: int = 1, max_rows: int | None = 20000,
                    test_size: float = 0.2, top_k: int = 10, max_memory_gb: float | None = None,
                    random_state: Any = 0, progress: Progress | None = None):
    """Latent concepts of a site (Dalvi et al. 2022) and, with a gold concept, their evaluation.

    Without a concept every valid row is a candidate and all of them are clustered (after the caps).
    With a concept only its labelled rows are used: the clusters are built on ``1 - test_size`` of the
    sentences, evaluated there with B-cubed, NPMI and the 90% alignment, and the cluster-id classifier is
    scored on the held-out sentences (:data:`CLASSIFIER_PROTOCOL`).

    Returns
    -------
    LatentConceptsResult
    """
    from .latent import LatentConcepts
    from .metrics import ClusterLabelClassifier, bcubed, cluster_alignment
    from .results import LatentConceptsResult

    t0 = time.perf_counter()
    if not 0.0 <= float(test_size) < 1.0:
        raise InvalidParameterError(f"test_size must lie in [0, 1), got {test_size!r}")
    view = _view(store, site)
    n_rows = view.shape[0]
    tokens = np.array(store.tokens()[:n_rows], dtype=object)
    sentence = store.row_sentence()[:n_rows]
    if concept:
        codes, vocab = row_labels(store, concept, n_rows)
        candidates = np.flatnonzero(codes >= 0)
        if np.unique(codes[candidates]).size < 2:
            raise InvalidParameterError(f"concept {concept!r} has fewer than two classes with labelled rows: "
                                        "nothing to evaluate the clusters against")
    else:
        codes, vocab, candidates = None, [], np.arange(n_rows)
    train, test = candidates, candidates[:0]
    if concept and test_size > 0:
        sents = np.unique(sentence[candidates])
        if sents.size < 2:
            raise InvalidParameterError("need at least two labelled sentences to hold some out; pass test_size=0")
        rng = np.random.default_rng(random_state)
        n_test = min(max(1, int(round(test_size * sents.size))), sents.size - 1)
        held = np.isin(sentence[candidates], rng.permutation(sents)[:n_test])
        train, test = candidates[~held], candidates[held]
    params = dict(n_clusters=n_clusters, max_per_type=max_per_type, min_type_count=min_type_count,
                  max_rows=max_rows, max_memory_gb=max_memory_gb, random_state=random_state)
    sub = store.view(sites=site, rows=train)
    est = LatentConcepts(**params).fit(sub, words=[t.lower() for t in tokens[train]])
    _tick(progress)(int(train.size))
    rows = train[est.sample_]
    evaluation = None
    if concept:
        gold = codes[rows]
        b = bcubed(est.labels_, gold)
        align = cluster_alignment(est.labels_, gold, threshold=0.9)
        evaluation = {
            "bcubed": {"precision": b.precision, "recall": b.recall, "f1": b.f1},
            "npmi_majority_mean": float(np.mean(align["npmi"])),
            "aligned_threshold": align["threshold"],
            "aligned_fraction": align["aligned_fraction"],
            "aligned_items": align["aligned_items"],
            "n_gold_classes": int(np.unique(gold).size),
        }
        if test.size:
            clf = ClusterLabelClassifier().fit(est.labels_, gold)
            test_clusters = est.predict(store.view(sites=site, rows=test))
            _tick(progress)(int(test.size))
            majority = np.bincount(gold).argmax()
            evaluation["classifier"] = {
                "accuracy": clf.score(test_clusters, codes[test]),
                "majority_baseline": float(np.mean(codes[test] == majority)),
                "train_purity": clf.score(est.labels_, gold),
                "n_train": int(rows.size), "n_test": int(test.size),
                "protocol": CLASSIFIER_PROTOCOL.format(train=1 - test_size, test=test_size),
            }
        align_by_cluster = {int(c): i for i, c in enumerate(align["cluster_ids"])}
    clusters = []
    for c in range(est.n_clusters_):
        members = est.labels_ == c
        words = Counter(est.words_[members].tolist())
        entry = {"cluster": c, "size": int(members.sum()),
                 "top_words": [[w, n] for w, n in words.most_common(top_k)], "n_types": len(words)}
        if concept:
            i = align_by_cluster[c]
            entry.update(majority=vocab[int(align["majority"][i])], purity=float(align["purity"][i]),
                         npmi=float(align["npmi"][i]))
        clusters.append(entry)
    return LatentConceptsResult(
        method="latent", store=str(store.path), site=site, concept=concept, n_rows=n_rows,
        n_clustered=int(rows.size), n_clusters=est.n_clusters_, evaluation=evaluation, clusters=clusters,
        seconds=time.perf_counter() - t0,
        config=_config("latent", store, site, concept, dict(params, test_size=test_size, lowercase=True)),
        rows=rows, labels=est.labels_, centers=est.cluster_centers_, neuron_ids=view.neuron_ids,
    )


# ---------------------------------------------------------------------------------------------- registry
DISCOVERY: Registry = Registry(
    "discovery method", how_to_add="register an Entry in neuronlab.concepts.unsupervised.discover.DISCOVERY")

_SEED = Param("random_state", int, "seed of every random choice")
_TOP_K = Param("top_k", int, "top neurons/tokens per component, words per cluster")
_MEMORY = Param("max_memory_gb", float, "memory budget checked before any work", nullable=True)
_MAX_ROWS = Param("max_rows", int, "rows read (umap) or clustered (latent)", nullable=True)

DISCOVERY.register(Entry(
    "nmf", "neuronlab.concepts.unsupervised.discover:discover_nmf",
    "non-negative matrix factorisation into neuron groups (as Ecco), with top neurons and tokens per component",
    "Lee & Seung 1999; Alammar 2021 (Ecco)",
    params=(Param("n_components", int, "number of components"),
            Param("nonnegative", str, "relu (Ecco), shift or none", choices=("relu", "shift", "none")),
            Param("solver", str, "cd, mu (in memory) or minibatch (streams)", choices=("cd", "mu", "minibatch")),
            Param("max_iter", int, "iterations (cd/mu) or passes (minibatch)"), _TOP_K, _MEMORY, _SEED)))
DISCOVERY.register(Entry(
    "umap", "neuronlab.concepts.unsupervised.discover:discover_umap",
    "UMAP coordinates of neurons (activation profiles) or tokens, coloured by a concept (umap-learn extra)",
    "McInnes et al. 2018",
    params=(Param("of", str, "map neurons or tokens", choices=("neurons", "tokens")),
            Param("n_neighbors", int, "UMAP neighbourhood size"), Param("min_dist", float, "UMAP min_dist"),
            _MAX_ROWS, _SEED)))
DISCOVERY.register(Entry(
    "latent", "neuronlab.concepts.unsupervised.discover:discover_latent",
    "latent concepts: Ward clusters of contextual word representations, B-cubed/NPMI/classifier vs a concept",
    "Dalvi et al. 2022",
    params=(Param("n_clusters", int, "K, the number of latent concepts"),
            Param("max_per_type", int, "occurrences kept per word type", nullable=True),
            Param("min_type_count", int, "leave out rarer word types"), _MAX_ROWS,
            Param("test_size", float, "fraction of sentences held out for the classifier"), _TOP_K, _MEMORY,
            _SEED)))
