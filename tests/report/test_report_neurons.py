"""What the dossiers compute (neuronlab/report/neurons.py): streamed columns and correlations, statistics, quantile
groups, descriptions and their detection AUC, what the results say about a neuron."""
from __future__ import annotations

import numpy as np
import pytest
from report_stores import study_store
from sklearn.metrics import roc_auc_score

from neuronlab.errors import InvalidParameterError
from neuronlab.report.data import ReportData
from neuronlab.report.neurons import (activation_stats, attribution_shares, context_groups, default_neurons,
                                      describe_neurons, detection_auc, heldout_sentences, neuron_ranks,
                                      redundancy_clusters, row_labels, stream_neurons)
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store

UPOS = ["NOUN", "VERB", "DET", "ADJ"]


def planted_store(path, *, seed=0, n_sent=80, n_words=6):
    """Word store whose layers.0:0 is high exactly on NOUN, layers.0:1 on plural nouns, layers.0:2 random,
    layers.0:3 on verbs of the sentences of kind "a" (a sentence-level concept); a constant neuron layers.1:1."""
    rng = np.random.default_rng(seed)
    n = n_sent * n_words
    upos = rng.choice(UPOS, size=n)
    number = np.where(upos == "NOUN", rng.choice(["Sing", "Plur"], size=n), None)
    kind = np.repeat(np.where(np.arange(n_sent) % 2, "a", "b"), n_words)
    x = rng.normal(size=(n, 4)).astype(np.float32) * 0.3
    x[:, 0] += 3.0 * (upos == "NOUN")
    x[:, 1] += 3.0 * (number == "Plur")
    x[:, 2] = rng.normal(size=n)
    x[:, 3] += 3.0 * ((upos == "VERB") & (kind == "a"))
    layer1 = np.stack([rng.normal(size=n), np.full(n, 2.5)], axis=1).astype(np.float32)
    sentences = [[f"w{i}" for i in range(s * n_words, (s + 1) * n_words)] for s in range(n_sent)]
    labels = {"upos": (list(upos), "row"), "Number": (list(number), "row"),
              "kind": (["a" if s % 2 else "b" for s in range(n_sent)], "sentence")}
    synthetic_store(path, sentences, data={"layers.0": x, "layers.1": layer1}, labels=labels)
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return planted_store(tmp_path_factory.mktemp("planted") / "p.h5")


def test_columns_and_correlations_equal_numpy_with_small_chunks(planted):
    with ActivationStore.open(planted) as st:
        full = np.concatenate([st["layers.0"][:], st["layers.1"][:]], axis=1).astype(np.float64)
        chosen = ["layers.1:0", "layers.0:2", "layers.0:0"]
        res = stream_neurons(st, chosen, chunk_rows=37)  # 480 rows: 13 chunks, the last one short
    assert res.neuron_ids == ["layers.0:0", "layers.0:1", "layers.0:2", "layers.0:3", "layers.1:0", "layers.1:1"]
    cols = [4, 2, 0]
    np.testing.assert_array_equal(res.columns, full[:, cols].astype(np.float32))
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = np.corrcoef(full.T)[cols]
    ref[:, 5] = 0.0  # the constant neuron: r undefined, reported as 0
    np.testing.assert_allclose(res.corr, ref, atol=1e-5)
    assert res.corr[0, 4] == pytest.approx(1.0, abs=1e-6)


def test_blocks_stay_under_the_memory_bound(planted, monkeypatch):
    from neuronlab.report import neurons as nmod

    monkeypatch.setattr(nmod, "BLOCK_BYTES", 4 * 6 * 50)  # 50 rows of the 6 neurons per block
    reads = []
    with ActivationStore.open(planted) as st:
        full = np.concatenate([st["layers.0"][:], st["layers.1"][:]], axis=1).astype(np.float64)
        original = type(st["layers.0"]).__getitem__
        monkeypatch.setattr(type(st["layers.0"]), "__getitem__", lambda self, key: reads.append(key) or
                            original(self, key))
        res = stream_neurons(st, ["layers.0:3"], chunk_rows=8192)
    assert max(k.stop - k.start for k in reads) == 50
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_allclose(res.corr[0, :5], np.corrcoef(full.T)[3, :5], atol=1e-5)
    with ActivationStore.open(planted) as st:
        assert stream_neurons(st, [], correlate=False).columns.shape == (480, 0)


def test_stream_without_correlation_and_unknown_neurons(planted):
    with ActivationStore.open(planted) as st:
        res = stream_neurons(st, ["layers.1:1"], correlate=False, chunk_rows=100)
        assert res.corr is None and res.neuron_ids == ["layers.1:0", "layers.1:1"]
        assert np.all(res.columns == 2.5)
        with pytest.raises(InvalidParameterError, match="'layers.0:7' is not in the store"):
            stream_neurons(st, ["layers.0:7"])
        with pytest.raises(InvalidParameterError, match="chunk_rows"):
            stream_neurons(st, ["layers.0:1"], chunk_rows=0)


def test_activation_stats_equal_numpy():
    v = np.random.default_rng(1).normal(size=1000)
    s = activation_stats(v, threshold=0.5, bins=20)
    counts, edges = np.histogram(v, bins=20)
    assert (s["mean"], s["std"], s["min"], s["max"]) == (v.mean(), v.std(), v.min(), v.max())
    assert s["density"] == np.mean(v > 0.5) and s["n"] == 1000
    assert s["hist_counts"] == counts.tolist() and s["hist_edges"] == edges.tolist()


def test_context_groups_pick_the_right_rows():
    rng = np.random.default_rng(2)
    row_sentence = np.repeat(np.arange(50), 4)
    v = rng.normal(size=200)
    groups = context_groups(v, row_sentence, n_top=5, n_sample=3, n_bottom=4, seed=0)
    assert [g.name for g in groups] == ["top", "90-100%", "70-90%", "50-70%", "bottom"]
    top, bottom = groups[0].rows, groups[-1].rows
    # top: the highest rows, one per sentence
    best_per_sentence = sorted(((v[row_sentence == s].max(), s) for s in range(50)), reverse=True)[:5]
    assert [int(row_sentence[r]) for r in top] == [s for _, s in best_per_sentence]
    assert [v[r] for r in top] == [m for m, _ in best_per_sentence]
    asc = np.sort(v)
    for g in groups[1:-1]:
        lo, hi = asc[int(np.floor(g.lo * 200))], asc[int(np.floor(g.hi * 200)) - 1]
        assert len(g.rows) == 3 and all(lo <= v[r] <= hi for r in g.rows)
        assert [v[r] for r in g.rows] == sorted((v[r] for r in g.rows), reverse=True)
    worst = sorted((v[row_sentence == s].min(), s) for s in range(50))
    shown = {int(row_sentence[r]) for g in groups[:-1] for r in g.rows}
    assert [v[r] for r in bottom] == [m for m, s in worst if s not in shown][:4]
    sentences = [int(row_sentence[r]) for g in groups for r in g.rows]
    assert len(sentences) == len(set(sentences))  # no sentence twice on a page
    assert context_groups(v, row_sentence, seed=0)[1].rows == groups[1].rows  # seeded


def test_detection_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 5, size=300).astype(float)  # many ties
    y = rng.random(300) < 0.3
    assert detection_auc(scores, y) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert detection_auc([1.0, 2.0], [True, True]) is None


def test_average_ranks_equal_scipy():
    from scipy.stats import rankdata

    from neuronlab.report.descriptions import average_ranks

    x = np.random.default_rng(6).integers(0, 7, size=500).astype(float)
    np.testing.assert_array_equal(average_ranks(x), rankdata(x))
    assert average_ranks([]).size == 0


def test_heldout_split_is_by_sentence_and_seeded():
    m = heldout_sentences(50, fraction=0.2, seed=3)
    assert m.sum() == 10 and np.array_equal(m, heldout_sentences(50, fraction=0.2, seed=3))
    assert not np.array_equal(m, heldout_sentences(50, fraction=0.2, seed=4))
    with pytest.raises(InvalidParameterError, match="heldout fraction"):
        heldout_sentences(10, fraction=1.0)


def test_descriptions_recover_planted_neurons(planted):
    with ActivationStore.open(planted) as st:
        cols = stream_neurons(st, ["layers.0:0", "layers.0:1", "layers.0:2", "layers.0:3"], correlate=False).columns
        labels = row_labels(st)
        rs = st.row_sentence()
    assert labels["kind"][0].shape == (480,) and labels["kind"][0][0] == 1  # sentence labels repeated per row
    noun, plural, rand, verb_a = describe_neurons(cols, labels, rs, seed=0)
    assert noun.text == "fires on NOUN (upos)" and noun.strong and noun.auc > 0.99  # not narrowed to plural nouns
    assert plural.text == "fires on Plur (Number)" and plural.auc > 0.99
    assert verb_a.text in ("fires on VERB (upos), a (kind)", "fires on a (kind), VERB (upos)") and verb_a.auc > 0.99
    assert [p["concept"] for p in noun.parts] == ["upos"] and noun.parts[0]["d"] > 0.8
    assert not rand.strong and rand.text.startswith("no clear concept") and 0.35 < rand.auc < 0.65
    # the AUC is sklearn's on the held-out sentences' rows with the description's predicate
    held = heldout_sentences(80, seed=0)[rs]
    y = np.array(labels["upos"][1])[labels["upos"][0][held]] == "NOUN"
    assert noun.auc == pytest.approx(roc_auc_score(y, cols[held, 0]), abs=1e-12)
    assert noun.n_heldout == held.sum() and noun.n_positive == y.sum()
    # formulas are appended; another seed moves the split
    assert describe_neurons(cols[:, :1], labels, rs, formulas={0: "upos:NOUN"})[0].text.endswith(
        "; formula: upos:NOUN")
    assert describe_neurons(cols[:, 2:3], labels, rs, seed=1)[0].auc != rand.auc


def test_default_neurons_round_robin_and_ranks(tmp_path):
    store = study_store(tmp_path / "s.h5")
    with ActivationStore.open(store) as st:
        data = ReportData(st)
    rankings = [list(r.ranking) for _, r in data.of_kind("ranking")] + [list(r.ranking) for _, r in
                                                                         data.of_kind("probe")]
    chosen = default_neurons(data, 4)
    expected = list(dict.fromkeys(n for depth in range(14) for r in rankings for n in r[depth:depth + 1]))[:4]
    assert chosen == expected and set(r[0] for r in rankings) <= set(chosen)
    ranks = neuron_ranks(data, chosen)
    for nid in chosen:
        by_result = {e["result"]: e for e in ranks[nid]}
        for name, res in data.of_kind("ranking"):
            pos = list(res.ranking).index(nid)
            assert by_result[name]["rank"] == pos + 1 and by_result[name]["score"] == res.scores[pos]
        _, probe = data.of_kind("probe")[0]
        j = probe.neuron_ids.index(nid)
        w = np.abs(np.atleast_2d(probe.coef))
        assert by_result["probe"]["score"] == pytest.approx(100 * w[:, j].sum() / w.sum())
    with pytest.raises(InvalidParameterError, match="max_neurons"):
        default_neurons(data, 0)


def test_attribution_shares_and_redundancy_clusters(planted, tmp_path):
    import shutil

    path = tmp_path / "p.h5"
    shutil.copy(planted, path)
    per_neuron = np.array([[1.0, -3.0, 0.0], [1.0, 1.0, 2.0]], dtype=np.float32)
    ids = np.array(["layers.0:0", "layers.0:1", "layers.0:2"], dtype=object)
    with ActivationStore.open(path, mode="r+") as st:
        st.write_result("att", {"per_neuron": per_neuron, "neuron_ids": ids}, config={},
                        kind="attribution/layer_conductance")
        st.write_result("red", {"neuron_ids": ids, "thresholds": np.array([0.3, 0.7]),
                                "labels": np.array([[0, 1, 2], [0, 0, 1]], dtype=np.int32),
                                "kept": np.array([[1, 1, 1], [0, 1, 1]], dtype=np.uint8)}, config={},
                        kind="redundancy")
        shares = attribution_shares(st, ["layers.0:1", "layers.1:0"])
        clusters = redundancy_clusters(st, ["layers.0:0"])
    assert shares["layers.1:0"] == []
    (s,) = shares["layers.0:1"]
    assert (s["method"], s["share"], s["rank"], s["of"]) == ("layer_conductance", 4.0 / 8.0, 1, 3)
    assert [(c["threshold"], c["size"], c["members"], c["kept"]) for c in clusters["layers.0:0"]] == [
        (0.3, 1, [], True), (0.7, 2, ["layers.0:1"], False)]
