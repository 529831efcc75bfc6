"""Latent concepts and NMF on a slice of the real UD English-EWT with the embedded minilm (issue 12).

Skips when the shared data folder is absent. The slice: the first 400 test sentences (about 5k words) at site
``layers.2``. Why the thresholds hold independently of this code: middle layers of BERT-type encoders separate parts
of speech well (UPOS probes on them reach 0.9+, docs/probing.md), so clusters of their word representations are far
purer than chance, and a cluster id carries much of the UPOS tag; the majority class (NOUN) covers under a fifth of
EWT words. On the whole EWT test set at K = 200 the cluster-id classifier reaches 0.78 against 0.18
(docs/unsupervised.md).
"""
from __future__ import annotations

import pytest

pytest.importorskip("torch")

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def ewt_store(shared_data, minilm, tmp_path_factory):
    from neuronlab.corpus.readers import read_corpus
    from neuronlab.extraction import ExtractionConfig, Extractor

    out = tmp_path_factory.mktemp("ewt_unsup")
    ex = Extractor(minilm, ExtractionConfig(sites="layers.2", granularity="word", aggregation="mean", dtype="float16"),
                   progress=False)
    corpus = read_corpus(shared_data / "ud-english-ewt" / "en_ewt-ud-test.conllu", format="conllu")
    return ex.extract(corpus.subset(range(400)), out / "test.h5")


def test_latent_concepts_of_a_middle_layer_carry_upos(ewt_store):
    from neuronlab.concepts.unsupervised.discover import discover_latent

    r = discover_latent(ewt_store, "layers.2", concept="upos", n_clusters=50)
    ev = r.evaluation
    clf = ev["classifier"]
    assert clf["majority_baseline"] < 0.25
    assert clf["accuracy"] > clf["majority_baseline"] + 0.3, clf
    assert ev["bcubed"]["precision"] > 0.4 and ev["npmi_majority_mean"] > 0.2, ev
    assert max(c["size"] for c in r.clusters) < r.n_clustered / 2  # no single cluster swallows the data


def test_nmf_components_have_coherent_top_tokens(ewt_store):
    from neuronlab.concepts.unsupervised.discover import discover_nmf

    r = discover_nmf(ewt_store, "layers.2", concept="upos", n_components=8, top_k=10)
    # at least half the components draw 7+ of their 10 top tokens from one UPOS class
    coherent = [c for c in r.components if max(c["top_token_classes"].values()) >= 7]
    assert len(coherent) >= 4, [c["top_token_classes"] for c in r.components]
    assert r.relative_err < 1.0
