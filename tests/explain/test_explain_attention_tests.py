"""Jain & Wallace 2019 / Wiegreffe & Pinter 2019 measurements: rank correlations against scipy, permuted and
uniform attention (exact no-change on a uniform-attention model, large change where attention is decisive),
adversarial attention within the TVD budget."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain import EXPLAINERS
from neuronlab.explain import attention_tests as at

torch = pytest.importorskip("torch")
scipy_stats = pytest.importorskip("scipy.stats")
scipy_distance = pytest.importorskip("scipy.spatial.distance")

TEXTS = [["a", "good", "movie", "indeed"], ["the", "plot", "was", "terrible", "and", "boring"], ["fine"]]


@pytest.fixture(scope="module")
def tiny():
    from helpers.live_models import tiny_bert

    live = tiny_bert(seed=4)
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():  # weights large enough that attention matters (BERT's 0.02 init leaves it at rounding level)
        for m in live.model.bert.encoder.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.3)
    return live


@pytest.fixture(scope="module")
def uniform_model():
    """A tiny BERT whose every head attends uniformly to the real tokens (query and key weights zero)."""
    from helpers.live_models import tiny_bert

    live = tiny_bert(seed=5)
    with torch.no_grad():
        for block in live.model.bert.encoder.layer:
            for lin in (block.attention.self.query, block.attention.self.key):
                lin.weight.zero_()
                lin.bias.zero_()
    return live


@pytest.fixture(scope="module")
def planted():
    from helpers.planted import planted_classifier, sentences

    words, labels = sentences(16, seed=7)
    return planted_classifier(), [w for w, y in zip(words, labels) if y][:6]


def test_kendall_and_spearman_equal_scipy_with_ties():
    rng = np.random.default_rng(0)
    for n in (2, 3, 7, 12):
        for _ in range(5):
            x, y = rng.integers(0, 4, n).astype(float), rng.normal(size=n)
            if np.ptp(x) == 0:
                continue
            assert at.kendall_tau(x, y) == pytest.approx(scipy_stats.kendalltau(x, y).statistic, abs=1e-12, nan_ok=True)
            assert at.spearman_rho(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic, abs=1e-12, nan_ok=True)
    p, q = rng.dirichlet(np.ones(5)), np.array([0.5, 0.5, 0.0, 0.0, 0.0])
    want = scipy_distance.jensenshannon(p, q) ** 2  # scipy returns the distance, the square root of the divergence
    assert float(at.jsd(torch.tensor(p), torch.tensor(q))) == pytest.approx(want, abs=1e-12)
    assert at.tvd(p, q) == pytest.approx(0.5 * np.abs(p - q).sum())
    assert np.isnan(at.kendall_tau([1.0, 1.0], [0.0, 2.0])) and np.isnan(at.spearman_rho([3.0], [1.0]))


def test_correlations_are_scipys_on_the_same_vectors(tiny):
    res = at.attention_correlations(tiny, TEXTS, batch_size=2)
    enc = tiny.encode(TEXTS)
    from neuronlab.explain.attention import attention_maps

    maps = attention_maps(tiny, enc)
    grad = EXPLAINERS["gradient"](tiny).explain(TEXTS).word_scores
    loo = EXPLAINERS["leave-one-out"](tiny, target={"kind": "probability", "index": "predicted"}).explain(TEXTS)
    assert res.kendall.shape == (3, 2, 2, 3) and res.layers == [0, 1] and res.n_heads == 2
    checked = 0
    for i in range(2):  # the one-word input has no ranking: NaN
        att = at.word_attention(maps[i], 0, enc.word_ids[i], enc.n_words(i))
        for k, imp in enumerate((grad[i], loo.word_scores[i])):
            for layer in range(2):
                for h in range(3):
                    a = maps[i][layer, :, 0].mean(0) if h == 2 else maps[i][layer, h, 0]
                    words = np.bincount(np.array(enc.word_ids[i][:len(a)])[np.array(enc.word_ids[i][:len(a)]) >= 0],
                                        weights=a[np.array(enc.word_ids[i][:len(a)]) >= 0])
                    np.testing.assert_allclose(att[layer, h], words, atol=1e-6)
                    want = scipy_stats.kendalltau(words, np.abs(imp)).statistic
                    assert res.kendall[i, k, layer, h] == pytest.approx(want, abs=1e-6)
                    want = scipy_stats.spearmanr(words, np.abs(imp)).statistic
                    assert res.spearman[i, k, layer, h] == pytest.approx(want, abs=1e-6)
                    checked += 1
    assert checked == 24
    assert np.isnan(res.kendall[2]).all()
    assert res.kendall_mean["gradient"][0][0] == pytest.approx(np.nanmean(res.kendall[:, 0, 0, 0]))
    json.loads(res.to_json())  # JSON-safe (NaN means become null)


def test_permuting_or_flattening_uniform_attention_changes_nothing(uniform_model):
    perm = at.permuted_attention(uniform_model, TEXTS, n_permutations=4, batch_size=5)
    assert perm.settings == ["layer 0", "layer 1", "layers 0,1"]
    assert perm.tvd.shape == (3, 3, 4)
    assert np.all(perm.tvd == 0.0)  # exact: a permutation of equal weights is the same tensor
    uni = at.uniform_attention(uniform_model, TEXTS, layers=[1], batch_size=2)
    assert uni.settings == ["layer 1"] and uni.tvd.shape == (3, 1, 1)
    np.testing.assert_allclose(uni.tvd, 0.0, atol=1e-7)
    # the longest input's real tokens: max attention is 1/8 everywhere
    np.testing.assert_allclose(perm.max_attention[1], 1.0 / 8, atol=1e-6)


def test_permutation_keeps_padding_masked_and_is_a_permutation(tiny):
    gen = torch.Generator().manual_seed(0)
    real = np.array([0, 1, 2, 3])
    idx = at._permutation(gen, real, 3, 6)
    for h in range(3):
        assert sorted(idx[h, :4].tolist()) == [0, 1, 2, 3] and idx[h, 4:].tolist() == [4, 5]
    res = at.permuted_attention(tiny, TEXTS, layers=[-1], n_permutations=3, seed=1)
    again = at.permuted_attention(tiny, TEXTS, layers=[1], n_permutations=3, seed=1, batch_size=1)
    np.testing.assert_allclose(res.tvd, again.tvd, atol=1e-6)  # seeded, independent of the batching
    assert res.tvd.min() > 1e-5  # attention matters in this model: every draw moves the output


def test_decisive_attention_changes_the_output(planted):
    live, positives = planted
    perm = at.permuted_attention(live, positives, layers=[0], n_permutations=5)
    uni = at.uniform_attention(live, positives, layers=[0])
    # the planted classifier finds "nobody" through layer 0's attention: scrambling it flips the predictions
    assert perm.mean_median_tvd[0] > 0.5 and perm.flipped[0] > 0.5
    assert uni.mean_median_tvd[0] > 0.5


def test_adversarial_attention_stays_within_epsilon(tiny):
    res = at.adversarial_attention(tiny, TEXTS[:2], layer=1, epsilon=0.02, steps=8, lr=0.2)
    assert all(t <= 0.02 for t in res.tvd) and all(j >= 0 for j in res.jsd)
    assert res.layer == 1 and len(res.max_attention) == 2
    # where the layer's values are zero its attention cannot matter: any attention is feasible, and the
    # optimiser moves far from the original
    from helpers.live_models import tiny_bert

    live = tiny_bert(seed=4)
    with torch.no_grad():
        live.model.bert.encoder.layer[1].attention.self.value.weight.zero_()
        live.model.bert.encoder.layer[1].attention.self.value.bias.zero_()
    free = at.adversarial_attention(live, TEXTS[:2], layer=1, epsilon=0.01, steps=25, lr=1.0)
    # near the largest JSD from (almost uniform) attention to a one-hot row: 0.454 over 6 tokens, 0.497 over 8
    assert free.jsd == pytest.approx([0.454, 0.497], abs=0.01) and max(free.tvd) < 1e-6


def test_results_round_trip_through_a_store(tmp_path, uniform_model):
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    res = at.uniform_attention(uniform_model, TEXTS[:2], layers=[0])
    path = tmp_path / "s.h5"
    synthetic_store(path, [["a", "b"]])
    with ActivationStore.open(path, mode="r+") as store:
        res.to_store(store, "attention_uniform")
    with ActivationStore.open(path) as store:
        back = at.AttentionIntervention.from_store(store, "attention_uniform")
    assert back.to_dict() == json.loads(res.to_json())
    np.testing.assert_array_equal(back.tvd, res.tvd)


def test_errors_are_one_line_and_name_the_parameter(tiny):
    with pytest.raises(InvalidParameterError, match="layer 7 is out of range"):
        at.permuted_attention(tiny, TEXTS, layers=[7])
    with pytest.raises(InvalidParameterError, match="n_permutations"):
        at.permuted_attention(tiny, TEXTS, n_permutations=0)
    with pytest.raises(InvalidParameterError, match="steps"):
        at.adversarial_attention(tiny, TEXTS, steps=0)
    with pytest.raises(InvalidParameterError, match="explainer"):
        at.attention_correlations(tiny, TEXTS, methods=["nope"])


# ------------------------------------------------------------------ the explain-attention command
def _cli(*args):
    """``neuronlab ARGS`` in this process: (exit status, stdout, stderr)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from neuronlab.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny):
    d = tmp_path_factory.mktemp("attncli") / "clf"
    tiny.model.save_pretrained(str(d))
    tiny.tokenizer.save_pretrained(str(d))
    return d


def test_cli_results_equal_the_library_and_go_into_the_store(model_dir, tmp_path):
    from neuronlab.models.live import load_live
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    store = tmp_path / "s.h5"
    synthetic_store(store, [["a", "b"]])
    texts = [" ".join(t) for t in TEXTS[:2]]
    args = ["explain-attention", model_dir, "--text", texts[0], "--text", texts[1], "--layers", "1",
            "--permutations", "3", "--adversarial", "--steps", "3", "--store", store, "--quiet"]
    rc, out, err = _cli(*args, "--json")
    assert rc == 0, err
    r = json.loads(out)
    live = load_live(str(model_dir))
    words = [t.split() for t in texts]
    want = at.attention_correlations(live, words, layers=[1])
    np.testing.assert_allclose(np.array(r["correlation"]["kendall_mean"]["gradient"], dtype=float),
                               np.array(want.kendall_mean["gradient"], dtype=float), atol=1e-9)
    perm = at.permuted_attention(live, words, layers=[1], n_permutations=3)
    np.testing.assert_allclose(r["permuted"]["median_tvd"], perm.median_tvd, atol=1e-9)
    assert r["uniform"]["settings"] == ["layer 1"] and r["adversarial"]["layer"] == 1
    assert set(r["result_paths"]) == {"correlation", "permuted", "uniform", "adversarial"}
    with ActivationStore.open(store) as st:
        back = at.AttentionIntervention.from_store(st, "attention_permuted")
    np.testing.assert_allclose(back.median_tvd, perm.median_tvd, atol=1e-9)
    rc, text, _ = _cli("explain-attention", model_dir, "--text", texts[0], "--layers", "0", "--permutations", "2",
                       "--methods", "gradient", "--quiet")
    assert rc == 0 and "Kendall tau" in text and "permuted attention" in text and "uniform attention" in text


@pytest.mark.parametrize("extra,pattern", [
    (("--layers", "9"), "layer 9 is out of range"),
    (("--layers", "x"), "--layers 'x'"),
    (("--methods", "nope"), "unknown explainer 'nope'"),
    (("--permutations", "-1"), "--permutations must be >= 0"),
    (("--methods", "none", "--permutations", "0", "--no-uniform"), "nothing to do"),
    (("--target", "7"), "--target '7' is not a class"),
])
def test_cli_mistakes_are_one_line_errors(model_dir, extra, pattern):
    rc, _, err = _cli("explain-attention", model_dir, "--text", "a good movie", *extra, "--quiet")
    lines = [ln for ln in err.splitlines() if ln.startswith("neuronlab: error:")]
    assert rc == 2 and len(lines) == 1 and pattern in lines[0] and "Traceback" not in err, err


def test_output_position_is_cls_for_encoders_and_the_last_token_for_decoders(tiny):
    from types import SimpleNamespace

    enc = tiny.encode(TEXTS)  # right-padded: lengths 6, 8, 3
    assert at.output_positions(tiny, enc).tolist() == [0, 0, 0]
    decoder = SimpleNamespace(adapter=SimpleNamespace(kind="decoder"))
    assert at.output_positions(decoder, enc).tolist() == [5, 7, 2]
    with pytest.raises(InvalidParameterError, match="needs a task head with logits"):
        at._distribution(SimpleNamespace(logits=None), [0])


def test_causal_permutations_stay_within_each_querys_keys():
    gen = torch.Generator().manual_seed(0)
    idx = at._causal_permutation(gen, np.array([0, 1, 2, 3]), 2, 6)  # 4 real tokens, 2 padded
    for h in range(2):
        for q in range(6):
            allowed = [k for k in range(4) if k <= q]
            row = idx[h, q].tolist()
            assert sorted(row[k] for k in allowed) == allowed
            assert all(row[k] == k for k in range(6) if k not in allowed)


def test_decoder_uniform_causal_attention_is_left_unchanged():
    """A GPT-2 classifier whose heads attend uniformly to the keys each query may see (query/key weights zero):
    causal permutations and the causal uniform baseline change nothing; value zeroing reads the last token."""
    from transformers import AutoTokenizer, GPT2Config, GPT2ForSequenceClassification

    from neuronlab.explain import value_zeroing as vz
    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=30522, n_embd=16, n_layer=2, n_head=2, n_positions=32, num_labels=2, pad_token_id=0)
    model = GPT2ForSequenceClassification(cfg).eval()
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_attn.weight[:, :32] = 0  # query and key columns
            block.attn.c_attn.bias[:32] = 0
    live = LiveModel(model, AutoTokenizer.from_pretrained(str(_minilm_path())))
    perm = at.permuted_attention(live, TEXTS, n_permutations=2, batch_size=4)
    assert np.all(perm.tvd == 0.0)
    uni = at.uniform_attention(live, TEXTS)
    np.testing.assert_allclose(uni.tvd, 0.0, atol=1e-7)
    enc = live.encode(TEXTS)
    ex = EXPLAINERS["value_zeroing"](live).explain(TEXTS)
    maps = vz.value_zeroing_maps(live, enc)
    for i, n in enumerate(enc.lengths):
        np.testing.assert_allclose(ex.token_scores[i], vz.mixing_rollout(maps[i])[-1][n - 1], atol=1e-9)
        assert np.allclose(np.triu(maps[i][0], 1), 0.0)  # causal: no token depends on a later one
