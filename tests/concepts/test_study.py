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
from neuronlab.testing import synthetic_store

PLANTED = {"layers.1:3": 0, "layers.1:7": 1, "layers.0:5": 2}  # neuron -> class it fires for


@pytest.fixture()
def planted_store(tmp_path):
    """300 sentences x 6 words, 3 sites of 16 neurons; class c makes its planted neuron fire.

    The embeddings encode the word type (12 types, unrelated to the class), so a probe can memorise per-type
    control labels there (Hewitt & Liang's point): a correct control task is learnable, a per-token scramble is not.
    """
    rng = np.random.default_rng(0)
    n_sent, n_words = 300, 6
    n = n_sent * n_words
    y = rng.integers(0, 3, size=n)
    y[::7] = -1  # unlabelled rows (e.g. a feature the word does not have)
    word_ids = rng.integers(0, 12, size=n)
    words = np.array([f"w{i}" for i in range(12)])[word_ids]  # word identity unrelated to the class
    sites = {"embeddings": 16, "layers.0": 16, "layers.1": 16}
    data = {s: rng.normal(size=(n, w)).astype(np.float32) for s, w in sites.items()}
    data["embeddings"] += 3.0 * rng.normal(size=(12, 16)).astype(np.float32)[word_ids]
    for nid, c in PLANTED.items():
        site, idx = nid.split(":")
        data[site][y == c, int(idx)] += 3.0
    path = tmp_path / "planted.h5"
    synthetic_store(path, [list(words[i * n_words:(i + 1) * n_words]) for i in range(n_sent)], data=data,
                    labels={"concept": (["ABC"[c] if c >= 0 else None for c in y], "row"),
                            "single": (["only" if c >= 0 else None for c in y], "row")},
                    config={"sites": "all"})
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
    # per-type control labels are memorisable from the embeddings (a per-token scramble would stay near 0.4)
    assert b["control_task"] > 0.85
    assert result.selectivity == pytest.approx(result.accuracy - b["control_task"])
    assert result.classes == ["A", "B", "C"] and result.unseen_test_classes == {}
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
    m = ev["minimal"]
    assert m["k"] <= 5 and m["dev_accuracy"] >= m["dev_oracle_accuracy"] - 0.01 and m["n_dev"] > 0
    assert [k for k, _ in m["tried_on_dev"]][-1] == m["k"]


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


def _store_with_rare_class(path, rare_sentence):
    """Like planted_store, with a 4th class "D" on the words of one sentence only."""
    rng = np.random.default_rng(3)
    n_sent, n_words = 200, 4
    n = n_sent * n_words
    y = rng.integers(0, 3, size=n)
    y[rare_sentence * n_words:(rare_sentence + 1) * n_words] = 3
    X = rng.normal(size=(n, 8)).astype(np.float32)
    X[np.arange(n), y] += 3.0
    words = [f"w{i % 9}" for i in range(n)]
    st = ActivationStore.create(path, sites={"layers.0": 8}, offsets=np.arange(0, n + 1, n_words),
                                texts=["w w w w"] * n_sent, tokens=words, granularity="word", dtype="float32",
                                model={"name": "synthetic"}, config={})
    st._write_rows(0, n_sent, {"layers.0": X})
    st.write_label("upos", y, ["A", "B", "C", "D"])
    st.close()


def test_class_missing_from_training_is_reported_and_scored_as_errors(tmp_path):
    # a tag that occurs in one sentence only falls into one split; in the test split the probe never saw it
    path = tmp_path / "rare.h5"
    with ActivationStore.create(tmp_path / "tmp.h5", sites={"layers.0": 1}, offsets=np.arange(0, 801, 4),
                                texts=["w"] * 200, tokens=["w"] * 800, granularity="word", dtype="float32",
                                model={"name": "s"}, config={}) as tmp:
        tmp._write_rows(0, 200, {"layers.0": np.zeros((800, 1), np.float32)})
        tmp.write_label("upos", np.arange(800) % 2, ["A", "B"])
    with ActivationStore.open(tmp_path / "tmp.h5") as tmp:
        _, te = split_by_sentence(load_concept(tmp, "upos"), train_size=0.8, random_state=0)
    rare = int(te.groups[-1])  # a sentence that the seed-0 split puts into test
    _store_with_rare_class(path, rare)
    res = subprocess.run([sys.executable, "-m", "neuronlab", "probe", str(path), "--concept", "upos", "--split", "0.8",
                          "--seed", "0", "--no-random-init", "--json"], capture_output=True, text=True)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    r = json.loads(res.stdout)
    assert r["classes"] == ["A", "B", "C"] and r["unseen_test_classes"] == {"D": 4}
    assert set(r["per_class"]) == {"A", "B", "C"}
    with ActivationStore.open(path) as st:
        stored = st.read_result("probe_upos")
        assert list(stored["classes"]) == ["A", "B", "C"] and stored["coef"].shape == (3, 8)
        # the 4 rows of D count as errors: the same probe scored without them is right on exactly as many rows
        result = probe_concept(st, "upos", controls=False)
    n_test = r["n_test"]
    correct = round(r["accuracy"] * n_test)
    assert result.accuracy == pytest.approx(r["accuracy"])
    assert correct <= n_test - 4
    text = subprocess.run([sys.executable, "-m", "neuronlab", "probe", str(path), "--concept", "upos",
                           "--no-random-init"], capture_output=True, text=True)
    assert text.returncode == 0 and "D (4 rows)" in text.stdout


def test_binary_probe_writes_one_coef_row_per_class(planted_store):
    from neuronlab.concepts.probes import LinearProbe

    with ActivationStore.open(planted_store) as st:
        st_y = st.label("concept").values
    with ActivationStore.open(planted_store, mode="r+") as st:
        st.write_label("binary", np.where(st_y >= 0, (st_y == 1).astype(int), -1), ["no", "yes"])
    with ActivationStore.open(planted_store) as st:
        for probe in (LinearProbe(), LinearProbe(alpha=1e-3)):  # a two-output softmax, and a sigmoid
            result = probe_concept(st, "binary", probe=probe, controls=False)
            arrays = result.arrays()
            assert list(arrays["classes"]) == ["no", "yes"] and arrays["coef"].shape == (2, 48)
            X = st.view().to_numpy()
            z = X @ arrays["coef"].T + arrays["intercept"]
            assert result.ranking[0] == "layers.1:7"
            assert np.mean((z[:, 1] > z[:, 0])[st_y >= 0] == (st_y[st_y >= 0] == 1)) > 0.9


def test_rank_cli_prints_what_ranked_the_neurons(planted_store):
    from sklearn.metrics import average_precision_score

    res = subprocess.run([sys.executable, "-m", "neuronlab", "rank", str(planted_store), "--concept", "concept",
                          "--method", "linear", "--top-k", "7"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert "0.0 % of" in lines[2] and "weight mass" in lines[1]
    per_class = [line for line in lines if line.startswith("  A ") or line.startswith("  B ") or line.startswith("  C ")]
    assert len(per_class) == 3 and all(len(line.split(",")) == 7 for line in per_class)  # --top-k per class
    res = subprocess.run([sys.executable, "-m", "neuronlab", "rank", str(planted_store), "--concept", "concept",
                          "--method", "ap", "--json"], capture_output=True, text=True)
    r = json.loads(res.stdout)
    ap = r["average_precision"]
    with ActivationStore.open(planted_store) as st:
        d = load_concept(st, "concept").load()
    col = d.neuron_ids.index(r["ranking"][0])
    cls = d.classes.index(ap["class"][0])
    pos = average_precision_score(d.y == cls, d.X[:, col])
    neg = average_precision_score(d.y == cls, -d.X[:, col])
    assert ap["ap_positive"][0] == pytest.approx(pos) and ap["ap_negative"][0] == pytest.approx(neg)
    assert ap["direction"][0] == ("+" if pos >= neg else "-") and r["scores"][0] == pytest.approx(max(pos, neg))
    text = subprocess.run([sys.executable, "-m", "neuronlab", "rank", str(planted_store), "--concept", "concept",
                           "--method", "ap", "--top-k", "3"], capture_output=True, text=True).stdout
    assert "AP(a)" in text and "AP(-a)" in text and "(fires for the class)" in text


def test_one_default_tol_in_api_cli_and_ranker():
    from neuronlab.concepts.probes import LinearProbe
    from neuronlab.concepts.rankers.linear import LinearProbeRanker
    from neuronlab.concepts.probes.linear import DEFAULT_TOL

    assert LinearProbe().tol == DEFAULT_TOL
    assert LinearProbeRanker()._make_probe().tol == DEFAULT_TOL
    res = subprocess.run([sys.executable, "-m", "neuronlab", "probe", "--help"], capture_output=True, text=True)
    import re

    stated = re.search(r"\(default ([0-9.e+-]+), LinearProbe's", " ".join(res.stdout.split()))
    assert stated and float(stated.group(1)) == DEFAULT_TOL
    assert "||W||_F" in res.stdout and "not squared" in res.stdout
