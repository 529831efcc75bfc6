"""Stores holding every analysis result kind, for the section tests (``from report_sections_stores import ...``).

The concept analyses (probe with its evaluations, redundancy, NMF, UMAP, latent concepts, compositional
explanations, contexts, cross-model) are run for real on a tiny synthetic store. The analyses that need a live
model (attribution, ablation, head pruning, TCAV, the concept bridge, alignment, generation) are written through
their real writers (``AttributionResult.to_store``, ``TCAVResult.to_store``, ...) with values drawn from ``seed``,
so that two seeds give two different results. Not a conftest.py (see report_stores.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from neuronlab.testing import synthetic_store

#: a string that is markup if not escaped
SCRIPT = "<script>alert(1)</script>"
SITES = {"embeddings": 4, "layers.0": 6, "layers.1": 6}


def base_store(path: Path, *, seed: int = 0, concept: str = "pos", classes=("A", "B", "C"),
               words: list[str] | None = None, n_sent: int = 30, n_words: int = 6) -> Path:
    """A word store with a planted neuron per class and two near-copies of neurons (for redundancy)."""
    rng = np.random.default_rng(seed)
    n = n_sent * n_words
    y = rng.integers(0, len(classes), size=n)
    vocab = list(words or [f"w{i}" for i in range(10)])
    toks = np.array([vocab[(c * 3 + int(rng.integers(0, 3))) % len(vocab)] for c in y], dtype=object)
    data = {s: rng.normal(size=(n, w)).astype(np.float32) for s, w in SITES.items()}
    for c in range(len(classes)):
        site = list(SITES)[(seed + c) % len(SITES)]
        data[site][y == c, (seed + 2 * c) % SITES[site]] += 3.0 + seed
    data["layers.1"][:, 0] = 2 * data["layers.0"][:, 0] + 0.05 * rng.normal(size=n)  # |r| near 1
    data["layers.1"][:, 1] = -data["embeddings"][:, 1] + 0.05 * rng.normal(size=n)
    data["layers.1"][:, 2] = data["layers.0"][:, 3] + 0.6 * rng.normal(size=n)  # |r| near 0.86: joins at 0.3
    sentences = [list(toks[i * n_words:(i + 1) * n_words]) for i in range(n_sent)]
    synthetic_store(path, sentences, data=data, labels={concept: ([classes[c] for c in y], "row")},
                    model={"name": f"synthetic-{seed}", "weights_sha256": f"{seed:064x}"},
                    config={"corpus": f"corpus-{seed}.txt", "granularity": "word"})
    return path


def add_concept_results(path: Path, *, seed: int = 0, concept: str = "pos", prefix: str = "") -> None:
    """Run the concept analyses for real and write their results into the store."""
    from neuronlab.concepts.compositional import explain_neurons
    from neuronlab.concepts.corpus_methods import describe_contexts
    from neuronlab.concepts.multimodel import cross_model
    from neuronlab.concepts.redundancy.study import redundancy_study
    from neuronlab.concepts.study import probe_concept
    from neuronlab.concepts.unsupervised.discover import discover_latent, discover_nmf
    from neuronlab.store import ActivationStore

    other = path.with_name(path.stem + "-other.h5")
    with ActivationStore.open(path) as st:
        n_sent, texts = st.n_sentences, [t.split(" ") for t in st.texts()]
    synthetic_store(other, texts, sites=SITES, seed=seed + 7)
    crossmodel = [cross_model([path, other], m, top_k=3) for m in ("maxcorr", "cka")]
    with ActivationStore.open(path, mode="r+") as st:
        probe_concept(st, concept, evaluate=("ablation", "minimal")).to_store(st, f"{prefix}probe")
        redundancy_study(st, thresholds=(0.1, 0.3, 0.6), concept=concept).to_store(st, f"{prefix}redundancy")
        discover_nmf(st, "layers.0", concept=concept, n_components=3, top_k=3).to_store(st, f"{prefix}nmf")
        umap_results(st, seed=seed, concept=concept, prefix=prefix)
        discover_latent(st, "layers.0", concept=concept, n_clusters=4, top_k=3).to_store(st, f"{prefix}latent")
        explain_neurons(st, ["layers.0:0", "embeddings:1"], max_length=2).to_store(st, f"{prefix}compositional")
        describe_contexts(st, ["layers.0:0", "layers.1:2"], k=3, window=2, ngram_sizes=(1, 2), ngram_k=3,
                          min_count=1).to_store(st, f"{prefix}contexts")
        for res in crossmodel:
            res.to_store(st, f"{prefix}crossmodel_{res.method}")
    assert n_sent > 0


def umap_results(st, *, seed: int, concept: str, prefix: str) -> None:
    """UMAP maps of tokens and neurons through :class:`UMAPResult` (running umap-learn costs a 30 s JIT compile)."""
    from neuronlab.concepts.unsupervised.discover import row_labels
    from neuronlab.concepts.unsupervised.results import UMAPResult

    rng = np.random.default_rng(seed)
    codes, vocab = row_labels(st, concept, st.n_rows)
    rows = np.arange(0, st.n_rows, 2)
    labels = [vocab[c] if c >= 0 else "" for c in codes[rows]]
    coords = rng.normal(size=(rows.size, 2)) + 3 * codes[rows, None]
    tokens = st.tokens()
    UMAPResult("umap", str(st.path), "layers.0", "tokens", concept, rows.size, rows.size, sorted(set(labels) - {""}),
               0.1, {"site": "layers.0", "of": "tokens"}, coordinates=coords, points=[str(r) for r in rows],
               tokens=[tokens[r] for r in rows], labels=labels).to_store(st, f"{prefix}umap_tokens")
    ids = st.neuron_ids("layers.0")
    nlab = [vocab[i % len(vocab)] for i in range(len(ids))]
    UMAPResult("umap", str(st.path), "layers.0", "neurons", concept, len(ids), st.n_rows, sorted(set(nlab)), 0.1,
               {"site": "layers.0", "of": "neurons"}, coordinates=rng.normal(size=(len(ids), 2)), points=ids,
               tokens=[""] * len(ids), labels=nlab).to_store(st, f"{prefix}umap_neurons")


def add_model_results(path: Path, *, seed: int = 0, concept: str = "pos", prefix: str = "",
                      class_name: str = "positive") -> None:
    """Attribution, ablation, head pruning, TCAV, bridge, alignment and generation results, through their writers."""
    from neuronlab.attribution.bridge import BridgeResult
    from neuronlab.attribution.head_pruning import HeadImportance, HeadPruningResult
    from neuronlab.attribution.result import AttributionResult
    from neuronlab.attribution.tcav import TCAVResult
    from neuronlab.cli.commands_attribution import _ablation_to_store
    from neuronlab.models.generation import AlignmentResult, GenerationResult
    from neuronlab.store import ActivationStore

    rng = np.random.default_rng(seed)
    with ActivationStore.open(path, mode="r+") as st:
        inputs = [t.split(" ") for t in st.texts()[:3]]
        tokens = [["[CLS]"] + w + ["[SEP]"] for w in inputs]
        T = max(len(t) for t in tokens)
        word_ids = [[-1] + list(range(len(w))) + [-1] * (T - len(w) - 1) for w in inputs]
        for site in ("layers.0", "layers.1"):
            attr = rng.normal(size=(len(inputs), T, SITES[site])) * np.arange(1, SITES[site] + 1)
            f_in, f_base = rng.normal(size=3), rng.normal(size=3)
            AttributionResult("layer_conductance", site, attr, attr.sum((1, 2)) - (f_in - f_base), f_in, f_base,
                              tokens, word_ids, config={"target": {"kind": "logit", "index": 1}}).to_store(
                st, f"{prefix}conductance_{site}", inputs=inputs)
        heads = rng.random(size=(len(inputs), 2, T, T))
        AttributionResult("self_attention_attribution", "layers.0.attn.probs", heads, np.zeros(3), np.ones(3),
                          np.zeros(3), tokens, word_ids).to_store(st, f"{prefix}attention")
        curve = np.cumsum(-rng.random(5)) + 2.0
        _ablation_to_store(st, f"{prefix}greedy", {
            "mode": "greedy", "indices": [0, 3, 1, 2], "neurons": [f"layers.0:{j}" for j in (0, 3, 1, 2)],
            "curve": curve.tolist(), "effects": np.diff(curve).tolist(), "config": {"site": "layers.0"},
            "target": {"kind": "logit", "spec": class_name}})
        per = rng.normal(size=6)
        _ablation_to_store(st, f"{prefix}ablate", {
            "mode": "neurons", "indices": list(range(6)), "neurons": [f"layers.0:{j}" for j in range(6)],
            "per_neuron_effect": per.tolist(), "group_effect_per_input": rng.normal(size=3).tolist(),
            "config": {"site": "layers.0"}, "target": {"kind": "logit", "spec": class_name}})
        imp = HeadImportance(["layers.0.attn.probs", "layers.1.attn.probs"], rng.random((2, 4)), rng.random((2, 4)))
        HeadPruningResult(imp, {o: np.sort(rng.random(5))[::-1] for o in ("attribution", "attention", "random")},
                          config={"layers": [0, 1]}).to_store(st, f"{prefix}head_pruning")
        concepts, sites, runs = [concept, SCRIPT], ["layers.0", "layers.1"], 6
        scores = rng.random((2, 2, runs))
        randoms = rng.random((2, 2, runs))
        rows = []
        for ci, c in enumerate(concepts):
            for si, s in enumerate(sites):
                p = float(rng.random() * 0.1)
                rows.append({"concept": c, "site": s, "score": float(scores[ci, si].mean()),
                             "score_std": float(scores[ci, si].std()), "random_score": float(randoms[ci, si].mean()),
                             "random_score_std": float(randoms[ci, si].std()), "p_value": p, "p_adjusted": 4 * p,
                             "significant": 4 * p < 0.05, "cav_accuracy": 0.9, "cav_accuracy_std": 0.01,
                             "random_cav_accuracy": 0.5, "magnitude": 0.6, "t": 2.0})
        TCAVResult("tcav", {"kind": "logit", "index": 1, "position": None, "output": None}, concepts, sites, rows,
                   {"n_runs": runs, "alpha": 0.05, "class_name": class_name}, scores=scores, random_scores=randoms,
                   magnitudes=scores, random_magnitudes=randoms, cav_accuracy=np.full((2, 2, runs), 0.9),
                   random_cav_accuracy=np.full((2, 2, runs), 0.5),
                   derivatives=rng.normal(size=(2, 2, runs, 3))).to_store(st, f"{prefix}tcav")
        n_random = 20
        shares = rng.random(n_random) * 0.3
        BridgeResult(concept, {"kind": "ranking", "name": "rank", "method": "ap", "top_k": 3},
                     ["layers.0:0", "layers.0:2", "layers.1:1"], {"layers.0": 2, "layers.1": 1}, 3, n_random,
                     "layer_conductance", "absolute", {"kind": "logit", "index": 1, "description": class_name},
                     share=0.4 + 0.1 * seed, share_p_value=1 / 21, random_share_mean=float(shares.mean()),
                     random_share_std=float(shares.std()),
                     ablation={"baseline": "zero", "target_before": 1.0, "target_after": 0.5, "target_effect": 0.5,
                               "random_target_effect_mean": 0.1, "target_p_value": 0.05},
                     model_check="fingerprint", config={}, share_per_example=rng.random(3), random_shares=shares,
                     random_target_effects=rng.random(n_random) * 0.2,
                     random_sets=np.array([[f"layers.0:{i % 6}", f"layers.0:{(i + 1) % 6}", f"layers.1:{i % 6}"]
                                           for i in range(n_random)], dtype=object)).to_store(st, f"{prefix}bridge")
        acts = np.sort(rng.normal(size=3))[::-1]
        AlignmentResult("layers.0:0", [{"concept": w, "activation": float(a), "z": float(2 * a), "sentence": w}
                                       for w, a in zip(["w1", SCRIPT, "w3"], acts)], 0.0, 1.0,
                        {"site": "layers.0", "neuron": 0}).to_store(st, f"{prefix}alignment_layers.0_0")
        GenerationResult("layers.0:0",
                         [{"ngram": f"g{i} {SCRIPT}", "activation": float(a)} for i, a in enumerate(acts)],
                         [{"ngram": f"c{i}", "activation": float(a) - 1} for i, a in enumerate(acts)],
                         {"site": "layers.0", "neuron": 0}).to_store(st, f"{prefix}generation_layers.0_0")


def analyses_store(path: Path, *, seed: int = 0, concept: str = "pos", classes=("A", "B", "C"),
                   words: list[str] | None = None, prefix: str = "") -> Path:
    """:func:`base_store` with every analysis result kind written into it."""
    base_store(path, seed=seed, concept=concept, classes=classes, words=words)
    add_concept_results(path, seed=seed, concept=concept, prefix=prefix)
    add_model_results(path, seed=seed, concept=concept, prefix=prefix)
    return path


_CACHE: dict = {}


def cached_analyses_store(tmp_path_factory, seed: int, **kwargs) -> Path:
    """:func:`analyses_store` built once per test session for each ``seed`` and ``kwargs`` (shared by the modules)."""
    key = (seed, tuple(sorted((k, str(v)) for k, v in kwargs.items())))
    if key not in _CACHE:
        d = tmp_path_factory.mktemp(f"analyses{seed}")
        _CACHE[key] = analyses_store(d / kwargs.pop("file_name", f"analyses-{seed}.h5"), seed=seed, **kwargs)
    return _CACHE[key]
