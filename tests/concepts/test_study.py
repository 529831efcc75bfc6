"""probe_concept / rank_concept / load_concept on a store with planted neurons; the probe and rank CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from neuronlab.concepts import load_concept, split_by_sentence
from neuronlab.concepts.study import check_memory, probe_concept, rank_concept
from neuronlab.concepts.rankers import RANKERS
from neuronlab.errors import InvalidParameterError, UnknownSiteError
from neuronlab.store import ActivationStore

PLANTED = {"layers.1:3": 0, "layers.1:7": 1, "layers.0:5": 2}  # neuron -> class it fires for


@pytest.fixture()
def planted_store(tmp_path):
    """300 sentences x 6 words, 3 sites of 16 neurons; class c makes its planted neuron fire."""
    rng = np.random.default_rng(0)
    n_sent, n_words = 300, 6
    n = n_sent * n_words
    y = rng.integers(0, 3, size=n)
    y[::7] = -1  # unlabelled rows (e.g. a feature the word does not have)
    words = rng.choice([f"w{i}" for i in range(40)], size=n)  # word identity unrelated to the class
    sites = {"embeddings": 16, "layers.0": 16, "layers.1": 16}
    data = {s: rng.normal(size=(n, w)).astype(np.float32) for s, w in sites.items()}
    for nid, c in PLANTED.items():
        site, idx = nid.split(":")
        data[site][y == c, int(idx)] += 3.0
    path = tmp_path / "planted.h5"
    st = ActivationStore.create(path, sites=sites, offsets=np.arange(0, n + 1, n_words), texts=[
        " ".join(words[i * n_words:(i + 1) * n_words]) for i in range(n_sent)], tokens=list(words),
        granularity="word", dtype="float32", model={"name": "synthetic"}, config={"sites": "all"})
    st._write_rows(0, n_sent, data)
    st.write_label("concept", y, ["A", "B", "C"])
    st.write_label("single", np.where(y >= 0, 0, -1), ["only"])
    st.close()
    return path


def test_load_concept_drops_unlabelled_rows_and_keeps_ids(planted_store):
    with ActivationStore.open(planted_store) as st:
        d = load_concept(st, "concept", sites="layers.*")
        assert len(d) == 1800 - len(range(0, 1800, 7))
        assert d.neuron_ids[0] == "layers.0:0" and len(d.neuron_ids) == 32
        assert d.classes == ["A", "B", "C"]
        np.testing.assert_array_equal(d.groups, d.rows // 6)
        tr, te = split_by_sentence(d, train_size=0.75, random_state=1)
        assert not set(tr.groups) & set(te.groups)
        assert abs(len(np.unique(tr.groups)) - 225) <= 1
        np.testing.assert_array_equal(tr.load().X, st.view(sites="layers.*").to_numpy()[tr.rows])


def test_probe_concept_accuracy_baselines_and_ranking(planted_store):
    with ActivationStore.open(planted_store) as st:
        result = probe_concept(st, "concept", random_state=0)
    assert result.accuracy > 0.9
    b = result.baselines
    assert b["majority"] < 0.45
    assert b["control_task"] < 0.5  # word types carry no class information
    assert result.selectivity == pytest.approx(result.accuracy - b["control_task"])
    assert result.selectivity > 0.4
    assert set(result.ranking[:3]) == set(PLANTED)
    for nid, c in PLANTED.items():
        assert result.per_class["ABC"[c]][0] == nid
    assert result.layer_distribution["counts"]["layers.1"] >= 2
    assert result.coef.shape == (3, 48)
    assert result.n_train + result.n_test == 1800 - len(range(0, 1800, 7))


@pytest.mark.parametrize("method", sorted(RANKERS))
def test_every_method_finds_planted_neurons(planted_store, method):
    params = {"n_estimators": 50, "random_state": 0} if method == "rf" else {}
    with ActivationStore.open(planted_store) as st:
        result = rank_concept(st, "concept", method, params=params)
    assert set(result.ranking[:3]) == set(PLANTED), result.ranking[:5]
    assert len(result.ranking) == 48 and len(set(result.ranking)) == 48
    assert result.scores == sorted(result.scores, reverse=True)


def test_bad_input_is_explained(planted_store):
    with ActivationStore.open(planted_store) as st:
        with pytest.raises(InvalidParameterError, match="concept 'Tense' is not in .*stored concepts: concept, single"):
            probe_concept(st, "Tense")
        with pytest.raises(InvalidParameterError, match="only one class"):
            probe_concept(st, "single")
        with pytest.raises(InvalidParameterError, match="top_k must lie in 1..48"):
            rank_concept(st, "concept", "probeless", top_k=49)
        with pytest.raises(UnknownSiteError, match="matches no site"):
            rank_concept(st, "concept", "ap", sites="layers.*.mlp")
        with pytest.raises(InvalidParameterError, match="unknown ranking method 'gini'; valid: ap, expert"):
            rank_concept(st, "concept", "gini")
    with pytest.raises(InvalidParameterError, match="needs about .* GB"):
        check_memory(10**7, 10**4, budget_gb=1.0)


def test_cli_probe_and_rank_write_results_back(planted_store, tmp_path):
    out = tmp_path / "probe.json"
    res = subprocess.run([sys.executable, "-m", "neuronlab", "probe", str(planted_store), "--concept", "concept",
                          "--no-random-init", "--out", str(out), "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    assert printed == json.loads(out.read_text())
    for key in ("concept", "sites", "n_train", "n_test", "accuracy", "baselines", "selectivity", "ranking"):
        assert key in printed
    assert set(printed["baselines"]) >= {"majority", "control_task", "random_init"}
    res = subprocess.run([sys.executable, "-m", "neuronlab", "rank", str(planted_store), "--concept", "concept",
                          "--method", "iou", "--param", "quantile=0.9", "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    ranked = json.loads(res.stdout)
    assert ranked["method"] == "iou" and set(ranked["ranking"][:3]) == set(PLANTED)
    assert ranked["config"]["params"]["quantile"] == 0.9
    with ActivationStore.open(planted_store) as st:
        assert {"probe_concept", "rank_iou_concept"} <= set(st.result_names())
        stored = st.read_result("probe_concept")
        assert stored["kind"] == "probe" and stored["config"]["probe"]["lambda_l1"] == 1e-3
        assert list(stored["ranking"][:3]) == printed["ranking"][:3]
    res = subprocess.run([sys.executable, "-m", "neuronlab", "probe", str(planted_store), "--concept", "nope"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "stored concepts" in res.stderr


def test_probe_evaluations_on_planted_store(planted_store):
    with ActivationStore.open(planted_store) as st:
        result = probe_concept(st, "concept", controls=False, evaluate=["all"])
        with pytest.raises(InvalidParameterError, match="unknown evaluation"):
            probe_concept(st, "concept", controls=False, evaluate=["curves"])
    ev = result.evaluation
    lw = ev["layerwise"]
    assert list(lw) == ["embeddings", "layers.0", "layers.1"]
    assert lw["embeddings"] < 0.45 < lw["layers.0"] < lw["layers.1"]  # nothing planted in embeddings; 2 in layers.1
    curves = {(c["mode"], c["order"]): c for c in ev["ablation"]["curves"]}
    top, rnd = curves[("zero", "top")], curves[("zero", "random")]
    i = top["fractions"].index(0.1)
    assert top["accuracy"][i] < rnd["accuracy"][i] - 0.3  # zeroing the planted neurons destroys the probe
    assert ev["minimal"]["k"] <= 5 and ev["minimal"]["accuracy"] >= ev["minimal"]["oracle_accuracy"] - 0.01


def test_compare_rankings_agreement(planted_store):
    from neuronlab.concepts.study import compare_rankings

    with ActivationStore.open(planted_store) as st:
        r = compare_rankings(st, "concept", ["probeless", "ap", "linear"], k=3)
        with pytest.raises(InvalidParameterError, match="at least two methods"):
            compare_rankings(st, "concept", ["ap"])
    assert r["methods"] == ["probeless", "ap", "linear"]
    ov = np.array(r["overlap"])
    np.testing.assert_allclose(np.diag(ov), 1.0)
    np.testing.assert_allclose(ov, 1.0)  # every method's top 3 is the planted set
    for m in r["methods"]:
        assert set(r["top"][m]) == set(PLANTED)
    sp = np.array(r["spearman"])
    np.testing.assert_allclose(sp, sp.T)
    assert (sp > -1).all() and (sp <= 1).all()


def test_expert_ranks_sentence_level_concept_on_word_rows(tmp_path):
    rng = np.random.default_rng(1)
    n_sent, n_words = 200, 5
    n = n_sent * n_words
    X = rng.normal(size=(n, 10)).astype(np.float32)
    sent_y = rng.integers(0, 2, size=n_sent)
    for i in np.flatnonzero(sent_y == 1):  # one word of every positive sentence makes neuron 7 spike
        X[i * n_words + rng.integers(0, n_words), 7] += 6.0
    path = tmp_path / "s.h5"
    st = ActivationStore.create(path, sites={"layers.0": 10}, offsets=np.arange(0, n + 1, n_words),
                                texts=["a b c d e"] * n_sent, tokens=["a", "b", "c", "d", "e"] * n_sent,
                                granularity="word", dtype="float32", model={"name": "s"}, config={})
    st._write_rows(0, n_sent, {"layers.0": X})
    st.write_label("polarity", sent_y, ["neg", "pos"], level="sentence")
    st.close()
    with ActivationStore.open(path) as st:
        result = rank_concept(st, "polarity", "expert")
        assert result.ranking[0] == "layers.0:7" and result.per_class["pos"][0] == "layers.0:7"
        with pytest.raises(InvalidParameterError, match="labels sentences but .* holds word rows"):
            rank_concept(st, "polarity", "ap")
