"""Generation explanations (issue 15): Captum's LLM attribution, completeness, exact values on a linear LM,
batching invariance, step targets against scipy, the result in the store, the CLI."""
from __future__ import annotations

import json
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")

from neuronlab.errors import InvalidParameterError, UnknownKeyError
from neuronlab.explain import gen_targets as gt
from neuronlab.explain.generation import GENERATION_METHODS, explain_generation

PROMPTS = ["The quick brown fox", "A cat sat"]
TARGETS = [" jumps over the lazy", " on the mat"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _ids(live, text, **kw):
    return live.tokenizer(text, **kw)["input_ids"]


# ------------------------------------------------------------------ Captum's LLM attribution (independent reference)
def _captum_grad(gpt2, layer_method, prompt, target, **kw):
    from captum.attr import LLMGradientAttribution, TextTokenInput

    attr = LLMGradientAttribution(layer_method, gpt2.tokenizer)
    return attr.attribute(TextTokenInput(prompt, gpt2.tokenizer), target=target, **kw).token_attr.detach().numpy()


def test_gradient_x_input_agrees_with_captum(gpt2):
    from captum.attr import LayerGradientXActivation

    model = gpt2.model
    ref = _captum_grad(gpt2, LayerGradientXActivation(model, model.transformer.wte), PROMPTS[0], TARGETS[0])
    ex = explain_generation(gpt2, PROMPTS[0], method="gradient_x_input", targets=[TARGETS[0]])
    ours = ex.source_scores(0)
    assert ours.shape == ref.shape == (len(_ids(gpt2, TARGETS[0])), len(_ids(gpt2, PROMPTS[0])))
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=1e-4)
    assert np.abs(ref).max() > 1e-3  # not trivially zero


@pytest.mark.parametrize("reduction", ["l1", "l2"])
def test_gradient_norms_equal_autograd_per_step(gpt2, reduction):
    """Saliency of every column (source and previous targets) against one plain autograd call per step.

    (Captum's LLMGradientAttribution sums the gradient over the embedding, which GPT-2's first LayerNorm makes
    ~0: the l1/l2 norms are checked against autograd instead.)
    """
    src, tgt = _ids(gpt2, PROMPTS[0]), _ids(gpt2, TARGETS[0], add_special_tokens=False)
    ex = explain_generation(gpt2, PROMPTS[0], method="gradient", targets=[TARGETS[0]], reduction=reduction)
    wte = gpt2.model.transformer.wte
    for t, y in enumerate(tgt):
        e = wte(torch.tensor(src + tgt[:t])).detach().requires_grad_(True)
        lp = gpt2.model(inputs_embeds=e[None]).logits[0, -1].log_softmax(-1)[y]
        (g,) = torch.autograd.grad(lp, e)
        ref = g.abs().sum(-1) if reduction == "l1" else g.norm(dim=-1)
        np.testing.assert_allclose(ex.scores[0][t, :len(src) + t], ref.numpy(), rtol=1e-4, atol=1e-6)


def test_integrated_gradients_agree_with_captum(gpt2):
    from captum.attr import LayerIntegratedGradients

    model = gpt2.model
    ref = _captum_grad(gpt2, LayerIntegratedGradients(model, model.transformer.wte), PROMPTS[1], TARGETS[1],
                       n_steps=16)  # baseline: token id 0 on every prompt token; target tokens not interpolated
    base = gpt2.tokenizer.convert_ids_to_tokens(0)
    ex = explain_generation(gpt2, PROMPTS[1], method="integrated_gradients", targets=[TARGETS[1]], steps=16,
                            baseline=base, target_side=False)
    np.testing.assert_allclose(ex.source_scores(0), ref, atol=1e-4, rtol=1e-4)
    assert np.isnan(ex.target_scores(0)).all()


def test_occlusion_agrees_with_captum_feature_ablation(gpt2):
    from captum.attr import FeatureAblation, LLMAttribution, TextTokenInput

    attr = LLMAttribution(FeatureAblation(gpt2.model), gpt2.tokenizer)
    ref = attr.attribute(TextTokenInput(PROMPTS[0], gpt2.tokenizer, baselines=0), target=TARGETS[0],
                         forward_in_tokens=False).token_attr.detach().numpy()
    ex = explain_generation(gpt2, PROMPTS[0], method="occlusion", targets=[TARGETS[0]],
                            baseline=gpt2.tokenizer.convert_ids_to_tokens(0))
    np.testing.assert_allclose(ex.source_scores(0), ref, atol=1e-4, rtol=1e-4)
    assert np.abs(ref).max() > 1e-4


# ------------------------------------------------------------------ direct references on the model itself
def _step_logprobs(live, src_ids, tgt_ids):
    """log p(. | x, y_<t) for every step, one teacher-forced pass on token ids."""
    with torch.no_grad():
        ids = torch.tensor([src_ids + tgt_ids[:-1]])
        logits = live.model(input_ids=ids).logits[0, len(src_ids) - 1:]
    return logits.double().log_softmax(-1).numpy()


def test_occlusion_of_target_tokens_is_leave_one_out_on_ids(gpt2):
    """Target columns too: f_t(x) - f_t(x with y_j replaced), from a forward pass on replaced token ids."""
    src, tgt = _ids(gpt2, PROMPTS[1]), _ids(gpt2, TARGETS[1], add_special_tokens=False)
    unk = gpt2.tokenizer.unk_token_id
    ex = explain_generation(gpt2, PROMPTS[1], method="occlusion", targets=[TARGETS[1]], baseline="unk")
    lp = _step_logprobs(gpt2, src, tgt)
    f = lp[np.arange(len(tgt)), tgt]
    np.testing.assert_allclose(ex.step_values[0], f, atol=1e-5)
    for j in range(len(tgt) - 1):
        alt = list(tgt)
        alt[j] = unk
        g = _step_logprobs(gpt2, src, alt)[np.arange(len(tgt)), tgt]
        col = ex.scores[0][:, len(src) + j]
        np.testing.assert_allclose(col[j + 1:], (f - g)[j + 1:], atol=1e-5)
        assert np.isnan(col[:j + 1]).all()  # y_j is no input of the steps up to j


def test_scores_matrix_layout_and_nan_future(gpt2):
    ex = explain_generation(gpt2, PROMPTS, method="gradient", targets=TARGETS)
    for i in range(2):
        m, ns, nt = ex.scores[i], len(ex.source_tokens[i]), len(ex.target_tokens[i])
        assert m.shape == (nt, ns + nt) and ex.prefix_tokens[i] == []
        assert np.isfinite(m[:, :ns]).all()
        for t in range(nt):
            assert np.isfinite(m[t, ns:ns + t]).all() and np.isnan(m[t, ns + t:]).all()
        assert (m[:, :ns] >= 0).all()  # l1 norm of the gradient


# ------------------------------------------------------------------ completeness
def test_integrated_gradients_completeness_many_steps(gpt2):
    """Greedy generation of 16 tokens; every step's scores (source + previous targets) sum to f_t(x) - f_t(x')."""
    ex = explain_generation(gpt2, PROMPTS, method="integrated_gradients", steps=16, max_new_tokens=16,
                            batch_size=256)
    for i in range(2):
        assert len(ex.target_tokens[i]) == 16
        delta = np.asarray(ex.step_values[i]) - np.asarray(ex.reference_values[i])
        np.testing.assert_allclose(ex.step_sums(i), delta, atol=2e-3 * max(1.0, np.abs(delta).max()))
        assert np.abs(delta).max() > 0.05
        assert np.isfinite(ex.target_scores(i)[1:, 0]).all()  # previous targets are attributed


def test_integrated_gradients_completeness_seq2seq(t5):
    ex = explain_generation(t5, "the cat sat on the mat", method="integrated_gradients", steps=48,
                            targets=["a dog ran"], step_target="probability", batch_size=256)
    delta = np.asarray(ex.step_values[0]) - np.asarray(ex.reference_values[0])
    np.testing.assert_allclose(ex.step_sums(0), delta, atol=1e-3)
    assert ex.prefix_tokens[0] == [t5.tokenizer.convert_ids_to_tokens(t5.model.config.decoder_start_token_id)]
    ns = len(ex.source_tokens[0])
    assert np.all(ex.scores[0][:, ns] == 0)  # the decoder start token is not interpolated


class _LinearLM(torch.nn.Module):
    """A causal LM that is linear in its input embeddings: logits_t = (sum_{s <= t} x_s) W U (no bias)."""

    def __init__(self, vocab: int, hidden: int = 6, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.config = types.SimpleNamespace(is_encoder_decoder=False, vocab_size=vocab, hidden_size=hidden,
                                            num_hidden_layers=1, num_attention_heads=1)
        self.emb = torch.nn.Embedding(vocab, hidden).double()
        self.W = torch.nn.Parameter(torch.randn(hidden, hidden, generator=g, dtype=torch.float64))
        self.head = torch.nn.Linear(hidden, vocab, bias=False).double()
        with torch.no_grad():
            self.emb.weight.copy_(torch.randn(vocab, hidden, generator=g))
            self.head.weight.copy_(torch.randn(vocab, hidden, generator=g))

    def get_input_embeddings(self):
        return self.emb

    def get_output_embeddings(self):
        return self.head

    def forward(self, inputs_embeds, attention_mask=None, use_cache=False):
        h = (inputs_embeds * attention_mask[..., None]).cumsum(1) @ self.W
        return types.SimpleNamespace(logits=self.head(h))


def test_gradient_x_input_is_exact_on_a_linear_lm(gpt2):
    lm = _LinearLM(len(gpt2.tokenizer)).eval()
    live = types.SimpleNamespace(model=lm, tokenizer=gpt2.tokenizer)
    src, tgt = _ids(gpt2, PROMPTS[0]), _ids(gpt2, TARGETS[0], add_special_tokens=False)
    ex = explain_generation(live, PROMPTS[0], method="gradient_x_input", targets=[TARGETS[0]], step_target="logit")
    x = lm.emb.weight.detach().numpy()[src + tgt]
    U = lm.head.weight.detach().numpy()
    W = lm.W.detach().numpy()
    for t, y in enumerate(tgt):
        k = len(src) + t
        expected = x[:k] @ W @ U[y]  # column j's contribution x_j W u_y, exactly
        np.testing.assert_allclose(ex.scores[0][t, :k], expected, rtol=1e-10, atol=1e-10)
        assert ex.step_sums(0)[t] == pytest.approx(ex.step_values[0][t], rel=1e-10, abs=1e-10)
    ig = explain_generation(live, PROMPTS[0], method="integrated_gradients", targets=[TARGETS[0]],
                            step_target="logit", baseline="zero", steps=3)
    np.testing.assert_allclose(ig.scores[0], ex.scores[0], rtol=1e-10, atol=1e-10, equal_nan=True)


# ------------------------------------------------------------------ batching
def test_batching_does_not_change_scores_and_bounds_passes(gpt2):
    kw = {"method": "integrated_gradients", "steps": 3}
    big = explain_generation(gpt2, PROMPTS, batch_size=512, targets=TARGETS, **kw)
    small = explain_generation(gpt2, PROMPTS, batch_size=512, max_batch_tokens=30, targets=TARGETS, **kw)
    alone = explain_generation(gpt2, PROMPTS[1:], batch_size=3, targets=TARGETS[1:], **kw)
    for i in range(2):
        np.testing.assert_allclose(small.scores[i], big.scores[i], atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(alone.scores[0], big.scores[1], atol=1e-5, equal_nan=True)
    assert small.forward_passes == big.forward_passes  # the same rows, in more passes


def test_chunks_respect_the_token_and_memory_bounds(gpt2):
    from neuronlab.explain.gen_model import GenModel, Row

    gm = GenModel(gpt2)
    rows = [Row(0, torch.zeros(n, 4), [0]) for n in (3, 5, 2, 7, 4, 4, 9)]
    chunks = list(gm.chunks(rows, batch_size=100, max_batch_tokens=12))
    assert [len(c) for c in chunks] == [2, 1, 1, 2, 1]
    assert all(len(c) * max(int(r.emb.shape[0]) for r in c) <= 12 for c in chunks[:-1])
    one = gm.bytes_per_row(5)
    chunks = list(gm.chunks(rows[:2], batch_size=100, max_bytes=one * 1.5))
    assert [len(c) for c in chunks] == [1, 1]
    assert len(list(gm.chunks(rows, batch_size=3))) == 3


def test_occlusion_costs_one_row_per_token_not_per_step(gpt2):
    ex = explain_generation(gpt2, PROMPTS[0], method="occlusion", targets=[TARGETS[0]])
    n_inputs = len(ex.source_tokens[0]) + len(ex.target_tokens[0]) - 1
    assert ex.forward_passes == 1 + (n_inputs + 1)  # f(x), then the unperturbed row and one row per token


# ------------------------------------------------------------------ step targets
def test_step_targets_exact_values():
    from scipy.special import log_softmax, softmax
    from scipy.stats import entropy

    rng = np.random.default_rng(0)
    z, q = rng.normal(size=(3, 7)), rng.normal(size=(3, 7))
    tok, foil = torch.tensor([1, 4, 6]), torch.tensor([0, 4, 2])
    p = softmax(z, axis=1)
    zt = torch.tensor(z)
    lq = torch.tensor(log_softmax(q, axis=1))
    np.testing.assert_allclose(gt.logit(zt, tok), z[[0, 1, 2], [1, 4, 6]])
    np.testing.assert_allclose(gt.probability(zt, tok), p[[0, 1, 2], [1, 4, 6]])
    np.testing.assert_allclose(gt.log_probability(zt, tok), np.log(p[[0, 1, 2], [1, 4, 6]]))
    np.testing.assert_allclose(gt.entropy(zt, tok), entropy(p, axis=1))
    np.testing.assert_allclose(gt.contrast_prob_diff(zt, tok, foil), p[[0, 1, 2], [1, 4, 6]] - p[[0, 1, 2], [0, 4, 2]])
    np.testing.assert_allclose(gt.kl_divergence(zt, tok, None, lq), entropy(p, softmax(q, axis=1), axis=1))
    assert set(gt.STEP_TARGETS) == {"logit", "probability", "log_probability", "entropy", "contrast_prob_diff",
                                    "kl_divergence"}


def test_contrastive_and_kl_step_values_on_the_model(gpt2):
    from scipy.stats import entropy

    src, tgt = _ids(gpt2, PROMPTS[1]), _ids(gpt2, TARGETS[1], add_special_tokens=False)
    alt = " in the dog"
    foil = _ids(gpt2, alt, add_special_tokens=False)
    assert len(foil) == len(tgt)
    lp = _step_logprobs(gpt2, src, tgt)
    ex = explain_generation(gpt2, PROMPTS[1], method="gradient_x_input", targets=[TARGETS[1]],
                            step_target="contrast_prob_diff", contrast=[alt])
    p = np.exp(lp)
    np.testing.assert_allclose(ex.step_values[0], p[np.arange(len(tgt)), tgt] - p[np.arange(len(tgt)), foil],
                               atol=1e-6)
    assert np.all(ex.step_values[0][:1] == 0) or len(set(zip(tgt, foil))) > 0
    other = "The dog"
    q = np.exp(_step_logprobs(gpt2, _ids(gpt2, other), tgt))
    kl = explain_generation(gpt2, PROMPTS[1], method="occlusion", targets=[TARGETS[1]], step_target="kl_divergence",
                            contrast=[other])
    np.testing.assert_allclose(kl.step_values[0], entropy(p, q, axis=1), atol=1e-5)


def test_errors_are_one_line_and_specific(gpt2):
    with pytest.raises(InvalidParameterError, match=r"has \d+ tokens, the target 3"):
        explain_generation(gpt2, PROMPTS[1], targets=[TARGETS[1]], step_target="contrast_prob_diff",
                           contrast=[" in it"], method="gradient")
    with pytest.raises(InvalidParameterError, match="needs contrast"):
        explain_generation(gpt2, PROMPTS[1], step_target="kl_divergence", method="gradient")
    with pytest.raises(InvalidParameterError, match="takes no contrast"):
        explain_generation(gpt2, PROMPTS[1], contrast=["x"], method="gradient")
    with pytest.raises(UnknownKeyError, match="valid: contrast_prob_diff, entropy"):
        explain_generation(gpt2, PROMPTS[1], step_target="surprise", method="gradient")
    with pytest.raises(UnknownKeyError, match="unknown generation method"):
        explain_generation(gpt2, PROMPTS[1], method="lime")
    with pytest.raises(InvalidParameterError, match="one per input"):
        explain_generation(gpt2, PROMPTS, targets=TARGETS[:1], method="gradient")
    with pytest.raises(InvalidParameterError, match="neither zero"):
        explain_generation(gpt2, PROMPTS[1], method="occlusion", baseline="not-a-token-xyz")
    base = types.SimpleNamespace(model=tf.GPT2Model(gpt2.model.config), tokenizer=gpt2.tokenizer)
    with pytest.raises(InvalidParameterError, match="LM head"):
        explain_generation(base, PROMPTS[1], method="gradient")


def test_greedy_generation_matches_transformers_generate(t5, gpt2):
    ex = explain_generation(t5, "the cat sat", method="occlusion", max_new_tokens=4)
    ids = t5.tokenizer("the cat sat", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = t5.model.generate(input_ids=ids, max_new_tokens=4, do_sample=False, num_beams=1)[0, 1:].tolist()
    assert ex.target_tokens[0] == t5.tokenizer.convert_ids_to_tokens(ref)
    lp = np.asarray(ex.step_values[0])
    assert np.all(lp <= 0) and len(lp) == len(ref)


# ------------------------------------------------------------------ the result
def test_result_roundtrip_through_the_store_and_table(gpt2, tmp_path):
    from neuronlab.explain.gen_result import GenerationExplanation
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    ex = explain_generation(gpt2, PROMPTS, method="gradient_x_input", targets=TARGETS)
    path = tmp_path / "s.h5"
    synthetic_store(path, [["a", "b"]])
    with ActivationStore.open(str(path), mode="r+") as st:
        ex.to_store(st, "gen")
    with ActivationStore.open(str(path)) as st:
        back = GenerationExplanation.from_store(st, "gen")
    assert back.to_dict() == ex.to_dict()
    for a, b in zip(back.scores, ex.scores):
        np.testing.assert_array_equal(a, b)
    text = ex.table(1)
    lines = text.splitlines()
    assert len(lines) == 1 + len(ex.target_tokens[1]) and "f_t" in lines[0]
    assert f"{ex.step_values[1][0]:+.3f}" in lines[1]
    assert ex.html(0).count("<tr>") == 1 + len(ex.target_tokens[0])


def test_registry_lists_the_four_methods():
    assert set(GENERATION_METHODS) == {"gradient", "gradient_x_input", "integrated_gradients", "occlusion"}


# ------------------------------------------------------------------ CLI
def test_cli_explain_generate_json_and_store(gpt2_dir, tmp_path, capsys):
    from neuronlab.cli.main import main
    from neuronlab.explain.gen_result import GenerationExplanation
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    store = tmp_path / "s.h5"
    synthetic_store(store, [["a", "b"]])
    rc = main(["explain-generate", str(gpt2_dir), "--text", PROMPTS[1], "--target-text", TARGETS[1],
               "--method", "occlusion", "--json", "--quiet", "--store", str(store)])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    ex = r["examples"][0]
    assert r["method"] == "occlusion" and r["step_target"] == "log_probability"
    assert len(ex["scores"]) == len(ex["target_tokens"]) and ex["scores"][0][-1] is None
    with ActivationStore.open(str(store)) as st:
        back = GenerationExplanation.from_store(st, r["result_path"].split("/")[-1])
    np.testing.assert_allclose(back.step_values[0], ex["step_values"], atol=1e-9)


def test_cli_explain_generate_user_errors(gpt2_dir, capsys):
    from neuronlab.cli.main import main

    assert main(["explain-generate", str(gpt2_dir), "--text", "a", "--target-text", "b", "--target-text", "c"]) == 2
    assert "one --target-text per --text" in capsys.readouterr().err
    assert main(["explain-generate", str(gpt2_dir), "--text", "a", "--step-target", "kl_divergence", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuronlab: error:") and "contrast" in err and "Traceback" not in err
    assert main(["explain-generate", "--list"]) == 0
    assert "contrast_prob_diff" in capsys.readouterr().out


@pytest.mark.parametrize("method", sorted(GENERATION_METHODS))
def test_no_hook_is_left_behind_also_after_an_error(gpt2, method):
    head = gpt2.model.get_output_embeddings()
    explain_generation(gpt2, PROMPTS[1], method=method, targets=[TARGETS[1]], steps=2) if method == \
        "integrated_gradients" else explain_generation(gpt2, PROMPTS[1], method=method, targets=[TARGETS[1]])
    assert not head._forward_pre_hooks

    def boom(module, args, output):
        raise RuntimeError("planted failure")

    h = gpt2.model.transformer.h[1].register_forward_hook(boom)
    try:
        with pytest.raises(RuntimeError, match="planted failure"):
            explain_generation(gpt2, PROMPTS[1], method=method, targets=[TARGETS[1]])
    finally:
        h.remove()
    assert not head._forward_pre_hooks
