"""TCAV: planted concept found and significant, random concept not; exact directional derivatives; the t-test
and the corrections against scipy / a direct computation; CAV training; the CAV cache; store concepts; bad input."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scipy.stats import ttest_ind  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from helpers.live_models import tiny_bert  # noqa: E402
from neuronlab.attribution import METHODS, TCAV, TCAVResult  # noqa: E402
from neuronlab.attribution import cav as cav_mod  # noqa: E402
from neuronlab.attribution.cav import text_pool, train_cav  # noqa: E402
from neuronlab.attribution.tcav import benjamini_hochberg, bonferroni, directional_derivatives  # noqa: E402
from neuronlab.errors import InvalidParameterError, UnknownSiteError  # noqa: E402
from neuronlab.store import ActivationStore  # noqa: E402

COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "pink", "brown"]
NOUNS = ["car", "house", "dog", "book", "table", "door", "hat", "bird", "tree", "cup", "shoe", "boat"]
VERBS = ["saw", "liked", "sold", "found", "lost", "took", "made", "wanted"]
SITE = "layers.1"


def _sentences(seed=0):
    rng = np.random.default_rng(seed)
    concept = [f"the {rng.choice(COLOURS)} {rng.choice(NOUNS)}" for _ in range(16)]
    random = [f"he {rng.choice(VERBS)} the {rng.choice(NOUNS)}" for _ in range(72)]
    inputs = [f"a {rng.choice(NOUNS)} {rng.choice(VERBS)} it" for _ in range(10)]
    return concept, random, inputs


@pytest.fixture(scope="module")
def planted():
    """A tiny BERT whose class-1 logit reads one known direction ``d`` of the CLS row of ``layers.1``.

    ``d`` is where the colour sentences differ from the random ones at that site (mean of word rows), the
    pooler is the identity followed by tanh, so ``logit_1 = 3 d . tanh(h_CLS)`` and moving the site along
    ``d`` raises the logit for every input.
    """
    live = tiny_bert()
    concept, random, inputs = _sentences()
    d = text_pool(live, concept, SITE).X.mean(0) - text_pool(live, random, SITE).X.mean(0)
    d /= np.linalg.norm(d)
    m = live.model
    with torch.no_grad():
        m.bert.pooler.dense.weight.copy_(torch.eye(16))
        m.bert.pooler.dense.bias.zero_()
        m.classifier.weight.zero_()
        m.classifier.bias.zero_()
        m.classifier.weight[1] = torch.tensor(3 * d, dtype=torch.float32)
    return live, d, concept, random, inputs


@pytest.fixture(scope="module")
def text_result(planted):
    live, _, concept, random, inputs = planted
    tcav = TCAV(live, SITE, n_runs=20, correction="bh")
    return tcav.attribute(inputs, target=1, concepts={"colour": concept, "not_a_concept": random[:16]},
                          random=random[16:])


def test_planted_concept_is_significant_and_a_random_concept_is_not(text_result):
    colour = text_result.row("colour", SITE)
    assert colour["score"] == 1.0 and colour["magnitude"] == 1.0
    assert colour["cav_accuracy"] == 1.0  # the colour sentences are linearly separable at the site
    assert colour["p_value"] < 1e-3 and colour["significant"]
    other = text_result.row("not_a_concept", SITE)
    assert other["p_value"] > 0.2 and not other["significant"]
    assert other["cav_accuracy"] < 0.7  # a random split is not separable: the held-out accuracy says so
    assert 0.2 < colour["random_score"] < 0.8  # random CAVs point anywhere


def test_planted_cavs_align_with_the_planted_direction(planted):
    live, d, concept, random, _ = planted
    X = text_pool(live, concept + random, SITE).X
    y = np.r_[np.ones(len(concept)), np.zeros(len(random))]
    g = np.arange(len(y))
    cav = train_cav(X[y == 1], g[y == 1], X[y == 0], g[y == 0], random_state=0)
    assert np.isclose(np.linalg.norm(cav.vector), 1.0)
    assert cav.vector @ d > 0.5


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
def test_p_values_are_scipys_t_test_and_corrections_are_applied(text_result):
    res = text_result
    p = []
    for c, concept in enumerate(res.concepts):
        t, pv = ttest_ind(res.scores[c, 0], res.random_scores[c, 0])
        row = res.row(concept, SITE)
        assert row["t"] == pytest.approx(float(t), rel=1e-12)
        assert row["p_value"] == pytest.approx(float(pv), rel=1e-12)
        assert row["score"] == pytest.approx(res.scores[c, 0].mean())
        assert row["cav_accuracy"] == pytest.approx(res.cav_accuracy[c, 0].mean())
        p.append(float(pv))
    assert [r["p_adjusted"] for r in res.rows] == pytest.approx(benjamini_hochberg(np.array(p)).tolist())
    assert res.config["correction"] == "bh" and res.config["n_runs"] == 20


def test_scores_are_the_sign_fraction_of_the_stored_derivatives(text_result):
    res = text_result
    np.testing.assert_array_equal(res.scores, (res.derivatives > 0).mean(-1))
    s = res.derivatives[1, 0, 3]
    assert res.magnitudes[1, 0, 3] == pytest.approx(s[s > 0].sum() / np.abs(s).sum())


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
def test_magnitude_statistic_is_tested_when_asked(planted, tmp_path):
    live, _, concept, random, inputs = planted
    store = _store(tmp_path / "m.h5", live, concept, random)
    res = TCAV(live, SITE, n_runs=4, statistic="magnitude", correction="none").attribute(
        inputs, target=1, concepts={"colour": concept}, random=random, cache=store)
    t, p = ttest_ind(res.magnitudes[0, 0], res.random_magnitudes[0, 0])
    assert res.rows[0]["p_value"] == pytest.approx(float(p), rel=1e-12)
    assert res.rows[0]["p_adjusted"] == res.rows[0]["p_value"]
    store.close()


def test_token_pooling_makes_one_example_per_word_token(planted):
    live = planted[0]
    sents = ["the red car", "a big blue hat today"]
    tok, mean = text_pool(live, sents, SITE, pooling="tokens"), text_pool(live, sents, SITE, pooling="mean")
    enc = live.encode(sents)
    n_word_tokens = [int(m.sum()) for m in enc.content_mask()]
    assert tok.group.tolist() == [0] * n_word_tokens[0] + [1] * n_word_tokens[1]
    np.testing.assert_allclose(mean.X, [tok.X[tok.group == g].mean(0) for g in (0, 1)], rtol=1e-12)
    y = live.activations(enc, SITE).double().numpy()
    np.testing.assert_allclose(tok.X[: n_word_tokens[0]], y[0][enc.content_mask()[0].numpy()], rtol=1e-12)
    assert tok.digest != mean.digest


def _bh_reference(p, alpha):
    """The step-up rule as Benjamini & Hochberg (1995) state it, and adjusted p-values by brute force."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    k = 0
    for rank, i in enumerate(order, start=1):
        if p[i] <= rank * alpha / m:
            k = rank
    rejected = {order[r] for r in range(k)}
    adjusted = []
    for i in range(m):
        adjusted.append(min(min(1.0, p[order[r]] * m / (r + 1)) for r in range(m) if p[order[r]] >= p[i]))
    return rejected, adjusted


@pytest.mark.parametrize("p", [[0.01, 0.04, 0.03, 0.005, 0.5, 0.2], [0.049, 0.0499, 0.0001], [0.3], [0.02, 0.02, 0.9]])
def test_benjamini_hochberg_equals_the_direct_computation(p):
    rejected, adjusted = _bh_reference(p, 0.05)
    q = benjamini_hochberg(np.array(p))
    np.testing.assert_allclose(q, adjusted, rtol=1e-12)
    assert {i for i in range(len(p)) if q[i] <= 0.05} == rejected
    np.testing.assert_allclose(bonferroni(np.array(p)), [min(1.0, x * len(p)) for x in p])


@pytest.mark.parametrize("positions", ["all", "words"])
def test_directional_derivative_equals_a_finite_difference(positions):
    live = tiny_bert(seed=3)
    live.model.double()
    inputs = ["a red car", "he saw the big dog today"]
    v = np.random.default_rng(1).normal(size=16)
    S = directional_derivatives(live, inputs, "layers.0", 1, v[None, :], positions=positions)[:, 0]
    enc = live.encode(inputs)
    mask = (enc.attention_mask.bool() if positions == "all" else enc.content_mask()).double()[:, :, None]
    vt = torch.as_tensor(v)
    eps = 1e-5
    with torch.no_grad():
        with live.replace("layers.0", lambda y: y + eps * mask * vt):
            up = live.forward(enc).logits[:, 1]  # float64 logits (the target itself is computed in float32)
        with live.replace("layers.0", lambda y: y - eps * mask * vt):
            down = live.forward(enc).logits[:, 1]
    np.testing.assert_allclose(S, ((up - down) / (2 * eps)).numpy(), rtol=1e-6)


def test_cav_is_the_unit_normal_of_the_boundary_pointing_to_the_concept():
    rng = np.random.default_rng(0)
    X_pos, X_neg = rng.normal(size=(30, 5)), rng.normal(size=(40, 5))
    X_pos[:, 2] += 8
    g_pos, g_neg = np.arange(30), np.arange(40)
    cav = train_cav(X_pos, g_pos, X_neg, g_neg, random_state=0, test_fraction=0.33)
    assert cav.n_train + cav.n_test == 70 and cav.n_test == 10 + 13
    assert cav.accuracy == 1.0 and np.argmax(cav.vector) == 2
    # the same split and classifier by hand: LogisticRegression's coef_, normalised
    r = np.random.default_rng(0)
    te_p = np.isin(g_pos, r.choice(g_pos, 10, replace=False))
    te_n = np.isin(g_neg, r.choice(g_neg, 13, replace=False))
    ref = LogisticRegression(max_iter=2000, random_state=0).fit(
        np.r_[X_pos[~te_p], X_neg[~te_n]], np.r_[np.ones((~te_p).sum()), np.zeros((~te_n).sum())]).coef_[0]
    np.testing.assert_allclose(cav.vector, ref / np.linalg.norm(ref), rtol=1e-10)
    # swapping the sides flips the CAV
    flipped = train_cav(X_neg, g_neg, X_pos, g_pos, random_state=0, classifier="sgd")
    assert flipped.vector[2] < -0.5


def test_cavs_are_cached_and_a_second_call_does_not_retrain(planted, tmp_path, monkeypatch):
    live, _, concept, random, inputs = planted
    store = _store(tmp_path / "cache.h5", live, concept, random)
    calls = []
    real = cav_mod.train_cav

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("neuronlab.attribution.tcav.train_cav", counting)
    tcav = TCAV(live, SITE, n_runs=3)
    kw = dict(target=1, concepts={"colour": concept}, random=random, cache=store)
    first = tcav.attribute(inputs, **kw)
    assert len(calls) == 6 and first.config["cavs_trained"] == 6
    assert sum(n.startswith("cav.") for n in store.result_names()) == 6
    second = tcav.attribute(inputs, **kw)
    assert len(calls) == 6 and second.config["cavs_trained"] == 0 and second.config["cavs_cached"] == 6
    np.testing.assert_array_equal(first.derivatives, second.derivatives)
    assert first.rows == second.rows
    # another seed or other concept sentences are other CAVs
    TCAV(live, SITE, n_runs=3, random_state=1).attribute(inputs, **kw)
    assert len(calls) == 12
    store.close()


def _store(path, live, concept, random):
    """A sentence-granularity store: one row per sentence (mean of its word rows at ``layers.1``), label 'topic'."""
    texts = concept + random
    X = text_pool(live, texts, SITE).X.astype(np.float32)
    n = len(texts)
    store = ActivationStore.create(path, sites={SITE: 16}, offsets=np.arange(n + 1), texts=texts, tokens=texts,
                                   granularity="sentence", dtype="float32", model={"name": "tiny"}, config={})
    store._write_rows(0, n, {SITE: X})
    store.write_label("topic", [1] * len(concept) + [0] * len(random), ["other", "colour"])
    store.write_label("empty", [0] * n, ["other", "never"])
    return store


def test_store_concepts_planted_significant_and_cached_in_the_store(planted, tmp_path):
    live, _, concept, random, inputs = planted
    store = _store(tmp_path / "s.h5", live, concept, random)
    res = TCAV(live, SITE, n_runs=10).attribute(inputs, target=1, concepts=["topic:colour"], store=store)
    row = res.row("topic:colour", SITE)
    assert row["score"] == 1.0 and row["cav_accuracy"] == 1.0 and row["significant"]
    assert res.config["source"]["source"] == "store"
    assert sum(n.startswith("cav.layers.1.topic:colour.") for n in store.result_names()) == 10
    # the result itself goes into the store and comes back
    res.to_store(store, "tcav_colour")
    back = TCAVResult.from_store(store, "tcav_colour")
    assert back.to_dict() == res.to_dict()
    np.testing.assert_array_equal(back.scores, res.scores)
    assert '"significant": true' in res.to_json()
    store.close()


def test_bad_input_one_line_errors(planted, tmp_path):
    live, _, concept, random, inputs = planted
    tcav = TCAV(live, SITE, n_runs=2)
    with pytest.raises(UnknownSiteError, match=r"'layers\.7' matches no site; valid sites: embeddings"):
        TCAV(live, "layers.7")
    with pytest.raises(InvalidParameterError, match=r"concept 'colour' has 0 example sentences; give a list"):
        tcav.attribute(inputs, target=1, concepts={"colour": []}, random=random)
    with pytest.raises(InvalidParameterError, match=r"concept 'colour' has 1 example sentences"):
        tcav.attribute(inputs, target=1, concepts={"colour": (s for s in concept[:1])}, random=iter(random))
    with pytest.raises(InvalidParameterError, match="random: give a list of random sentences"):
        tcav.attribute(inputs, target=1, concepts={"colour": concept})
    with pytest.raises(InvalidParameterError, match=r"72 random examples are too few for a random set of 60"):
        TCAV(live, SITE, n_runs=2, n_random=60).attribute(inputs, target=1, concepts={"colour": concept},
                                                          random=random)
    with pytest.raises(InvalidParameterError, match=r"target class 5 is out of range"):
        tcav.attribute(inputs, target=5, concepts={"colour": concept}, random=random)
    with pytest.raises(InvalidParameterError, match=r"correction 'holm' is unknown; choose one of bonferroni, bh"):
        TCAV(live, SITE, correction="holm")
    with pytest.raises(InvalidParameterError, match=r"statistic 'mean' is unknown; choose one of score, magnitude"):
        TCAV(live, SITE, statistic="mean")
    with pytest.raises(InvalidParameterError, match=r"pooling 'max' is unknown; choose one of mean, tokens"):
        TCAV(live, SITE, pooling="max")
    with pytest.raises(InvalidParameterError, match=r"n_runs must be an int >= 2, got 1"):
        TCAV(live, SITE, n_runs=1)
    store = _store(tmp_path / "bad.h5", live, concept, random)
    with pytest.raises(InvalidParameterError, match=r"concept 'empty:never' has 0 rows in the store"):
        tcav.attribute(inputs, target=1, concepts=["empty:never"], store=store)
    with pytest.raises(InvalidParameterError, match=r"class 'blue' is not in label 'topic'; its classes: other"):
        tcav.attribute(inputs, target=1, concepts=["topic:blue"], store=store)
    with pytest.raises(InvalidParameterError, match=r"concept 'upos' is not in .*stored concepts: empty, topic"):
        tcav.attribute(inputs, target=1, concepts=["upos:ADJ"], store=store)
    with pytest.raises(InvalidParameterError, match=r"concept 'topic': with store= write it as 'label:class'"):
        tcav.attribute(inputs, target=1, concepts=["topic"], store=store)
    with pytest.raises(InvalidParameterError, match=r"site 'layers\.0' is not in the store .*stored sites: layers\.1"):
        TCAV(live, "layers.0", n_runs=2).attribute(inputs, target=1, concepts=["topic:colour"], store=store)
    other = tiny_bert(hidden=8)
    with pytest.raises(InvalidParameterError, match=r"the store's 'layers\.1' has 16 neurons, the model's has 8: "
                                                    "the store comes from another model"):
        TCAV(other, SITE, n_runs=2).attribute(inputs, target=1, concepts=["topic:colour"], store=store)
    store.close()


def test_registered_and_sites_by_pattern(planted):
    assert METHODS["tcav"].load() is TCAV and METHODS["tcav"].command == ""  # a library method, no CLI verb yet
    assert TCAV(planted[0], "layers.*.mlp").sites == ["layers.0.mlp", "layers.1.mlp"]
    assert TCAV(planted[0], "layers.1,layers.0").sites == ["layers.0", "layers.1"]
