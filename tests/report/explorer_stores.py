"""Stores for the explorer tests and benchmarks/bench_report.py (import: ``from explorer_stores import ranked_store``).

Not a conftest.py and not a test module: the benchmark imports it too (with tests/report on ``sys.path``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from neuronlab.testing import synthetic_store

#: BERT-base-like sites: the embeddings and the output of each of 12 layers, 768 neurons each (9,984 in all)
BERT_BASE_SITES = {"embeddings": 768, **{f"layers.{i}": 768 for i in range(12)}}
#: MiniLM-like sites (2,688 neurons)
MINILM_SITES = {"embeddings": 384, **{f"layers.{i}": 384 for i in range(6)}}


def ranked_store(path: Path, *, sites: Mapping[str, int], concepts: Sequence[str] = tuple(f"c{i}" for i in range(10)),
                 methods: Sequence[str] = ("probeless",), n_sentences: int = 40, n_words: int = 5,
                 n_classes: int = 3, seed: int = 0, words: Sequence[str] | None = None,
                 classes: Sequence[str] | None = None) -> Path:
    """A word store over ``sites`` with one label per concept (``n_classes`` classes, a planted neuron per concept
    and class) and every concept ranked by every method of ``methods`` (written into ``/results`` as
    ``rank_<concept index>_<method>``). ``words`` and ``classes`` override the vocabulary and the class names."""
    from neuronlab.concepts.study import rank_concept
    from neuronlab.store import ActivationStore

    rng = np.random.default_rng(seed)
    n = n_sentences * n_words
    vocab = list(words or [f"w{i}" for i in range(20)])
    class_names = list(classes or [f"k{j}" for j in range(n_classes)])
    toks = rng.choice(len(vocab), size=n)
    data = {s: rng.normal(size=(n, w)).astype(np.float32) for s, w in sites.items()}
    site_names = list(sites)
    labels = {}
    for ci, concept in enumerate(concepts):
        y = rng.integers(0, len(class_names), size=n)
        for c in range(len(class_names)):
            site = site_names[(ci + c) % len(site_names)]
            data[site][y == c, (7 * ci + c) % sites[site]] += 4.0
        labels[concept] = ([class_names[c] for c in y], "row")
    sentences = [[vocab[t] for t in toks[i * n_words:(i + 1) * n_words]] for i in range(n_sentences)]
    synthetic_store(path, sentences, data=data, labels=labels, model={"name": f"ranked-{seed}"},
                    config={"corpus": "synthetic", "granularity": "word"})
    with ActivationStore.open(path, mode="r+") as st:
        for ci, concept in enumerate(concepts):
            for method in methods:
                rank_concept(st, concept, method).to_store(st, f"rank_{ci}_{method}")
    return path


def fake_write_dossiers(calls: list, *, per_ranking: int = 2, description: str = "fires for {nid}"):
    """A stand-in for ``neuronlab.report.dossier.write_dossiers`` until (and independently of) the dossier pages:
    install it with ``monkeypatch.setattr("neuronlab.report.build.dossier_writer", lambda: fake)``. It records its
    call in ``calls`` and writes a tiny page (no script) for the best ``per_ranking`` neurons of every ranking, at
    most ``max_neurons``; ``description`` is formatted with ``nid``."""
    import html

    from neuronlab.report.paths import dossier_path

    def write_dossiers(store_path, data, out_dir, *, neurons=None, max_neurons=200, model=None, progress=False):
        calls.append({"store": str(store_path), "max_neurons": max_neurons, "model": model, "progress": progress})
        chosen = list(neurons) if neurons is not None else list(dict.fromkeys(
            nid for _, res in data.of_kind("ranking") for nid in res.ranking[:per_ranking]))
        out = {}
        for nid in chosen[:max_neurons]:
            page = Path(out_dir) / dossier_path(nid)
            page.parent.mkdir(exist_ok=True)
            page.write_text("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv="
                            "\"Content-Security-Policy\" content=\"default-src 'none'\">"
                            f"<title>{html.escape(nid)}</title></head><body><h1>Neuron {html.escape(nid)}</h1>"
                            "<a href=\"../index.html#explorer\">back to the report</a></body></html>",
                            encoding="utf-8")
            out[nid] = {"dossier": dossier_path(nid), "description": description.format(nid=nid), "auc": 0.75}
        return out

    return write_dossiers
