"""Redundancy of minilm on a slice of the real UD English-EWT (Dalvi et al. 2020); skips when the data is absent.

The slice: the first 300 train and 100 test sentences (about 4.8k and 1.3k words), every residual-stream site
(``embeddings,layers.*``: 7 x 384 = 2,688 neurons, the counterpart of the paper's 13 x 768 for BERT).

Why the bounds hold independently of this code: the clusters are checked against NeuroX 1.0.9's own
implementation on the same matrix; Dalvi et al. (2020) find 85% of BERT's and XLNet's neurons removable by
correlation clustering and the share grows with the threshold by construction (one tree, cut higher). UPOS
is close to linearly decodable from BERT-type encoders (0.85+ on this slice, see test_ewt_upos.py), and the
paper keeps task accuracy within about a point with under 10% of the neurons for POS tagging.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

pytest.importorskip("torch")

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

N_TRAIN, N_TEST = 300, 100
SITES = "embeddings,layers.*"


@pytest.fixture(scope="module")
def ewt_stores(shared_data, minilm, tmp_path_factory):
    from neuronlab.corpus.readers import read_corpus
    from neuronlab.extraction import ExtractionConfig, Extractor

    out = tmp_path_factory.mktemp("ewt_redundancy")
    ex = Extractor(minilm, ExtractionConfig(sites=SITES, granularity="word", aggregation="mean", dtype="float16"),
                   progress=False)
    stores = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        corpus = read_corpus(shared_data / "ud-english-ewt" / f"en_ewt-ud-{split}.conllu", format="conllu")
        ex.extract(corpus.subset(range(n)), out / f"{split}.h5")
        stores[split] = out / f"{split}.h5"
    return stores


def test_general_redundancy_matches_neurox_and_grows_with_the_threshold(ewt_stores):
    from neurox.interpretation.clustering import create_correlation_clusters

    from neuronlab.concepts.redundancy import GeneralRedundancy
    from neuronlab.store import ActivationStore

    with ActivationStore.open(ewt_stores["train"]) as st:
        view = st.view(sites=SITES)
        assert view.shape[1] == 2688
        gr = GeneralRedundancy([0.3, 0.5, 0.7], chunk_rows=1000).fit(view)
        X = view.to_numpy(np.float32)
    with contextlib.redirect_stdout(io.StringIO()):
        ref = create_correlation_clusters(X, clustering_threshold=0.5)
    assert (gr.labels_[1] + 1).tolist() == list(ref)
    frac = gr.removable_fraction_
    assert frac[0] < frac[1] < frac[2]
    assert frac[2] > 0.5, f"removable at 0.3/0.5/0.7: {frac}"
    assert len(gr.representatives_[2]) == gr.n_clusters_[2]


def test_ccfs_for_upos_keeps_few_neurons_near_the_oracle(ewt_stores):
    from sklearn.base import clone

    from neuronlab.concepts.data import align_classes, load_concept
    from neuronlab.concepts.evaluation.layerwise import site_of
    from neuronlab.concepts.probes import LinearProbe
    from neuronlab.concepts.redundancy import CCFS
    from neuronlab.store import ActivationStore

    with ActivationStore.open(ewt_stores["train"]) as tr, ActivationStore.open(ewt_stores["test"]) as te:
        train = load_concept(tr, "upos", sites=SITES).load()
        test = align_classes(train, load_concept(te, "upos", sites=SITES)).load()
    # a looser solver tolerance and a coarse grid keep the ~20 probe fits of CCFS short (accuracy, not the exact
    # ranking, is what is checked here)
    probe = LinearProbe(tol=0.1, max_iter=60)
    oracle = clone(probe).fit(train.X, train.y).score(test.X, test.y)
    ccfs = CCFS(probe, threshold=0.3, delta=0.01, grid=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0)).fit(
        train.X, train.y, layers=[site_of(i) for i in train.neuron_ids], groups=train.groups)
    acc = ccfs.score(test.X, test.y)
    n = train.X.shape[1]
    assert oracle > 0.85
    assert len(ccfs.neurons_) < 0.25 * n, (len(ccfs.neurons_), ccfs.n_after_layers_, ccfs.n_after_clustering_)
    assert acc > oracle - 0.04, (acc, oracle)
    assert len(ccfs.neurons_) <= ccfs.n_after_clustering_ <= ccfs.n_after_layers_ <= n
