"""Stores with results for the report tests (import: ``from report_stores import study_store``).

Not a conftest.py: the doctest collection of the whole tree would import two modules named ``conftest``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from neuronlab.testing import synthetic_store

#: a word, a class name and a concept name that are markup if not escaped
SCRIPT = "<script>alert(1)</script>"
XSS_CONCEPT = '<img src=x onerror="alert(2)"> &amp; \'q\''


def study_store(path: Path, *, seed: int = 0, concept: str = "pos", classes=("A", "B"),
                words: list[str] | None = None, rankers=("ap", "iou"), probe: bool = True,
                result_prefix: str = "") -> Path:
    """A 40 x 5 word store (3 sites) with a planted neuron per class, a probe (with control-task and random-init
    baselines) and rankings by ``rankers`` written into ``/results``; ``seed`` changes data, planted neurons and
    therefore every number and figure."""
    from neuronlab.concepts.study import probe_concept, rank_concept
    from neuronlab.store import ActivationStore

    rng = np.random.default_rng(seed)
    n_sent, n_words = 40, 5
    n = n_sent * n_words
    y = rng.integers(0, len(classes), size=n)
    vocab = words or [f"w{i}" for i in range(12)]
    toks = rng.choice(vocab, size=n)
    sites = {"embeddings": 4, "layers.0": 4, "layers.0.mlp": 6}
    data = {s: rng.normal(size=(n, w)).astype(np.float32) for s, w in sites.items()}
    site_names = list(sites)
    for c in range(len(classes)):
        site = site_names[(seed + c) % len(site_names)]
        data[site][y == c, (seed + 2 * c) % sites[site]] += 3.0 + seed
    sentences = [list(toks[i * n_words:(i + 1) * n_words]) for i in range(n_sent)]
    labels = {concept: ([classes[c] for c in y], "row")}
    model = {"name": f"synthetic-{seed}", "weights_sha256": f"{seed:064x}"}
    synthetic_store(path, sentences, data=data, labels=labels, model=model,
                    config={"corpus": f"corpus-{seed}.conllu", "granularity": "word"})
    ri_path = path.with_name(path.stem + "-random-init.h5")
    synthetic_store(ri_path, sentences, sites=sites, seed=seed + 100, labels=labels,
                    model={"name": f"synthetic-{seed}", "random_init": True})
    with ActivationStore.open(path, mode="r+") as st:
        if probe:
            with ActivationStore.open(ri_path) as ri:
                probe_concept(st, concept, random_init_store=ri, evaluate=("layerwise", "ablation")).to_store(
                    st, f"{result_prefix}probe")
        for method in rankers:
            rank_concept(st, concept, method).to_store(st, f"{result_prefix}rank_{method}")
    return path
