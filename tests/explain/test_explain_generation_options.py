"""Generation explanations, the options of issue 15's second round: deletion occlusion (``mode="drop"``),
sampling and beam search (``generate_kwargs``, ``seed``), contrastive outputs of another length
(``contrast_alignments``). Every value is checked against direct forward passes on token ids, one context at a
time (no teacher forcing, no embeddings path of ours)."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")

from neuronlab.errors import InvalidParameterError
from neuronlab.explain.gen_align import auto_alignment, step_alignment
from neuronlab.explain.generation import explain_generation

PROMPT, TARGET = "A cat sat on", " the mat and the dog"
SRC_T5, TGT_T5 = "the cat sat on the mat", "a dog ran"


pytestmark = pytest.mark.usefixtures("one_thread")


def _seq2seq(live) -> bool:
    return bool(live.model.config.is_encoder_decoder)


def _cols(live, source, target):
    """(source ids, decoder prefix ids, target ids) as the explainer lays them out."""
    tok = live.tokenizer
    if _seq2seq(live):
        return tok(source)["input_ids"], [live.model.config.decoder_start_token_id], \
            tok(text_target=target)["input_ids"]
    return tok(source)["input_ids"], [], tok(target, add_special_tokens=False)["input_ids"]


def _next_logprobs(live, n_src, context):
    """log p(. | context) from ONE forward on the context's token ids alone (``n_src``: its encoder part)."""
    with torch.no_grad():
        if _seq2seq(live):
            out = live.model(input_ids=torch.tensor([context[:n_src]]),
                             decoder_input_ids=torch.tensor([context[n_src:]]))
        else:
            out = live.model(input_ids=torch.tensor([context]))
    return out.logits[0, -1].double().log_softmax(-1).numpy()


# ------------------------------------------------------------------ 1. deletion occlusion
@pytest.mark.parametrize("family", ["gpt2", "t5"])
def test_drop_occlusion_equals_a_forward_of_the_shortened_input(family, request):
    """Every score is f_t(x) - f_t(x without column j), f_t computed on the shortened context's ids directly."""
    live = request.getfixturevalue(family)
    source, target = (PROMPT, TARGET) if family == "gpt2" else (SRC_T5, TGT_T5)
    src, prefix, tgt = _cols(live, source, target)
    ids, n_src, n_before = src + prefix + tgt, len(src), len(src) + len(prefix)
    ex = explain_generation(live, source, method="occlusion", mode="drop", targets=[target], batch_size=5)
    assert ex.config["mode"] == "drop"
    m = ex.scores[0]
    specials = set(live.tokenizer.all_special_ids)
    f = [_next_logprobs(live, n_src, ids[:n_before + t])[y] for t, y in enumerate(tgt)]
    np.testing.assert_allclose(ex.step_values[0], f, atol=1e-5)
    checked = 0
    for j in range(n_before + len(tgt) - 1):
        special = j in range(n_src, n_before) or ids[j] in specials
        for t, y in enumerate(tgt):
            if j >= n_before + t:  # y_j is not in step t's context
                assert np.isnan(m[t, j])
                continue
            if special:
                assert m[t, j] == 0
                continue
            ctx = ids[:j] + ids[j + 1:n_before + t]
            g = _next_logprobs(live, n_src - int(j < n_src), ctx)[y]
            assert m[t, j] == pytest.approx(f[t] - g, abs=1e-5), (j, t)
            checked += 1
    assert checked > 10
    # n + 1 rows per sentence (plus f(x)), as replacement occlusion
    n_occ = sum(1 for j in range(n_before + len(tgt) - 1) if not (j in range(n_src, n_before) or ids[j] in specials))
    assert ex.forward_passes == 1 + 1 + n_occ
    rep = explain_generation(live, source, method="occlusion", targets=[target])
    assert not np.allclose(rep.source_scores(0), ex.source_scores(0))  # deletion is not replacement


def test_drop_occlusion_of_a_one_token_prompt_leaves_step_zero_nan(gpt2):
    ex = explain_generation(gpt2, "cat", method="occlusion", mode="drop", targets=[" sat on"])
    assert len(ex.source_tokens[0]) == 1
    assert np.isnan(ex.scores[0][0, 0]) and np.isfinite(ex.scores[0][1:, 0]).all()


def test_drop_occlusion_does_not_depend_on_batching(gpt2):
    a = explain_generation(gpt2, [PROMPT, "The dog"], method="occlusion", mode="drop", targets=[TARGET, " ran"],
                           batch_size=64)
    b = explain_generation(gpt2, [PROMPT, "The dog"], method="occlusion", mode="drop", targets=[TARGET, " ran"],
                           batch_size=2, max_batch_tokens=20)
    for x, y in zip(a.scores, b.scores):
        np.testing.assert_allclose(x, y, atol=1e-5, equal_nan=True)


# ------------------------------------------------------------------ 2. sampling and beam search
def _generate(live, source, n, seed=None, **kw):
    ids = live.tokenizer(source, return_tensors="pt")["input_ids"]
    pad = live.tokenizer.pad_token_id if live.tokenizer.pad_token_id is not None else live.tokenizer.eos_token_id
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        out = live.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                  min_new_tokens=1, pad_token_id=pad, **kw)[0].tolist()
    return out[1:] if _seq2seq(live) else out[ids.shape[1]:]


SAMPLE = {"do_sample": True, "top_k": 50, "top_p": 0.95, "temperature": 1.5}


def test_sampling_with_a_seed_is_reproducible_and_equals_transformers(gpt2):
    state = torch.get_rng_state()
    a = explain_generation(gpt2, [PROMPT, PROMPT], method="gradient_x_input", max_new_tokens=6,
                           generate_kwargs=SAMPLE, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG state is left alone
    b = explain_generation(gpt2, PROMPT, method="gradient_x_input", max_new_tokens=6, generate_kwargs=SAMPLE,
                           seed=7)
    ref = gpt2.tokenizer.convert_ids_to_tokens(_generate(gpt2, PROMPT, 6, seed=7, **SAMPLE))
    assert a.target_tokens[0] == a.target_tokens[1] == b.target_tokens[0] == ref  # seeded per input
    np.testing.assert_array_equal(a.scores[0], b.scores[0])
    assert a.config["seed"] == 7 and a.config["generate_kwargs"] == SAMPLE
    outs = {tuple(explain_generation(gpt2, PROMPT, method="occlusion", max_new_tokens=6, generate_kwargs=SAMPLE,
                                     seed=s).target_tokens[0]) for s in range(4)}
    greedy = explain_generation(gpt2, PROMPT, method="occlusion", max_new_tokens=6).target_tokens[0]
    assert len(outs) > 1 or outs != {tuple(greedy)}  # sampling does sample


def test_sampling_without_a_seed_records_the_one_drawn(gpt2):
    torch.manual_seed(123)
    ex = explain_generation(gpt2, PROMPT, method="occlusion", max_new_tokens=5, generate_kwargs=SAMPLE)
    seed = ex.config["seed"]
    assert isinstance(seed, int)
    again = explain_generation(gpt2, PROMPT, method="occlusion", max_new_tokens=5, generate_kwargs=SAMPLE, seed=seed)
    assert again.target_tokens == ex.target_tokens


@pytest.mark.parametrize("family", ["gpt2", "t5"])
def test_beam_search_output_equals_transformers_and_is_teacher_forced(family, request):
    live = request.getfixturevalue(family)
    source = PROMPT if family == "gpt2" else SRC_T5
    ex = explain_generation(live, source, method="occlusion", max_new_tokens=5,
                            generate_kwargs={"num_beams": 3})
    ref = _generate(live, source, 5, num_beams=3, do_sample=False)
    assert ex.target_tokens[0] == live.tokenizer.convert_ids_to_tokens(ref)
    src, prefix, _ = _cols(live, source, "x")
    ids = src + prefix + ref
    n = len(src) + len(prefix)
    f = [_next_logprobs(live, len(src), ids[:n + t])[y] for t, y in enumerate(ref)]
    np.testing.assert_allclose(ex.step_values[0], f, atol=1e-5)  # the chosen output, teacher-forced


def test_generate_kwargs_are_checked(gpt2):
    with pytest.raises(InvalidParameterError, match="no argument of transformers' generate"):
        explain_generation(gpt2, PROMPT, method="gradient", generate_kwargs={"top_kk": 3})
    with pytest.raises(InvalidParameterError, match="max_new_tokens"):
        explain_generation(gpt2, PROMPT, method="gradient", generate_kwargs={"max_new_tokens": 3})
    with pytest.raises(InvalidParameterError, match="one explained output per input"):
        explain_generation(gpt2, PROMPT, method="gradient", generate_kwargs={"num_return_sequences": 2})
    with pytest.raises(InvalidParameterError, match="seed"):
        explain_generation(gpt2, PROMPT, method="gradient", seed=-1)


# ------------------------------------------------------------------ 3. contrastive outputs of another length
def test_auto_alignment_and_pairs():
    assert auto_alignment(list("abcd"), list("axcd")) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert auto_alignment(list("abcd"), list("abxycd")) == [(0, 0), (1, 1), (2, 4), (3, 5)]
    assert auto_alignment(list("abcd"), list("acd")) == [(0, 0), (2, 1), (3, 2)]  # b is unaligned
    assert step_alignment([(0, 2), (0, 1), (2, 0)], 3, 3) == [1, -1, 0]  # the smallest t' (as inseq)
    with pytest.raises(InvalidParameterError, match="out of range"):
        step_alignment([(0, 5)], 3, 3)
    with pytest.raises(InvalidParameterError, match="pairs"):
        step_alignment(["ab"], 3, 3)


def _contrast_reference(live, source, target, contrast, calign):
    """p(y_t | x, y_<t) - p(y'_t' | x, y'_<t') per step, each side by a direct forward; NaN if unaligned."""
    src, prefix, tgt = _cols(live, source, target)
    _, _, alt = _cols(live, source, contrast)
    n = len(src) + len(prefix)
    out = []
    for t, y in enumerate(tgt):
        if calign[t] < 0:
            out.append(np.nan)
            continue
        a = calign[t]
        p = np.exp(_next_logprobs(live, len(src), src + prefix + tgt[:t])[y])
        q = np.exp(_next_logprobs(live, len(src), src + prefix + alt[:a])[alt[a]])
        out.append(p - q)
    return np.array(out), src, prefix, tgt, alt, n


@pytest.mark.parametrize("family", ["gpt2", "t5"])
def test_aligned_contrast_step_values_are_exact(family, request):
    live = request.getfixturevalue(family)
    source, target, contrast = (PROMPT, TARGET, " the big red mat and a dog") if family == "gpt2" else \
        (SRC_T5, TGT_T5, "a big dog sat")
    ex = explain_generation(live, source, method="occlusion", targets=[target], step_target="contrast_prob_diff",
                            contrast=[contrast], contrast_alignments="auto")
    tgt = _cols(live, source, target)[2]
    alt = _cols(live, source, contrast)[2]
    assert len(alt) != len(tgt)
    calign = step_alignment(auto_alignment(live.tokenizer.convert_ids_to_tokens(tgt),
                                           live.tokenizer.convert_ids_to_tokens(alt)), len(tgt), len(alt))
    assert -1 not in calign or family == "gpt2"
    ref, *_ = _contrast_reference(live, source, target, contrast, calign)
    np.testing.assert_allclose(ex.step_values[0], ref, atol=1e-8, equal_nan=True)
    assert ex.config["contrast_alignments"][0] == [[t, a] for t, a in enumerate(calign) if a >= 0]
    # at least one step compares with a contrast step at another position (the prefixes differ)
    assert any(a not in (-1, t) for t, a in enumerate(calign))


@pytest.mark.parametrize("method", ["gradient_x_input", "integrated_gradients", "occlusion"])
def test_aligned_contrast_unaligned_steps_are_nan_and_explicit_pairs(gpt2, method):
    target, contrast = " the mat and the dog", " a mat"
    pairs = [(0, 0), (1, 1)]  # " the"->" a", " mat"->" mat"; " and the dog" unaligned
    kw = {"steps": 4} if method == "integrated_gradients" else {}
    ex = explain_generation(gpt2, PROMPT, method=method, targets=[target], step_target="contrast_prob_diff",
                            contrast=[contrast], contrast_alignments=[pairs], **kw)
    calign = step_alignment(pairs, len(ex.target_tokens[0]), 2)
    ref, *_ = _contrast_reference(gpt2, PROMPT, target, contrast, calign)
    np.testing.assert_allclose(ex.step_values[0], ref, atol=1e-8, equal_nan=True)
    m = ex.scores[0]
    assert np.isfinite(m[:2, :len(ex.source_tokens[0])]).all() and np.isnan(m[2:]).all()


def test_aligned_contrast_occlusion_recomputes_both_sides(gpt2):
    """Replacing a prompt token changes the target and the contrast side; a target token only the target side."""
    target, contrast = " the mat", " a big mat"
    ex = explain_generation(gpt2, PROMPT, method="occlusion", targets=[target], step_target="contrast_prob_diff",
                            contrast=[contrast], contrast_alignments=[[(0, 0), (1, 2)]])
    src, _, tgt = _cols(gpt2, PROMPT, target)
    alt = _cols(gpt2, PROMPT, contrast)[2]
    unk = gpt2.tokenizer.unk_token_id

    def f(s, y_prefix, t, a):
        p = np.exp(_next_logprobs(gpt2, 0, s + y_prefix)[tgt[t]])
        q = np.exp(_next_logprobs(gpt2, 0, s + alt[:a])[alt[a]])
        return p - q

    for t, a in ((0, 0), (1, 2)):
        base = f(src, tgt[:t], t, a)
        for j in range(len(src)):
            s2 = list(src)
            s2[j] = unk
            assert ex.scores[0][t, j] == pytest.approx(base - f(s2, tgt[:t], t, a), abs=1e-8)
    p_rep = np.exp(_next_logprobs(gpt2, 0, src + [unk])[tgt[1]])
    p = np.exp(_next_logprobs(gpt2, 0, src + tgt[:1])[tgt[1]])
    assert ex.scores[0][1, len(src)] == pytest.approx(p - p_rep, abs=1e-8)  # contrast side unchanged
    # deletion: the prompt token is removed from both sides
    drop = explain_generation(gpt2, PROMPT, method="occlusion", mode="drop", targets=[target],
                              step_target="contrast_prob_diff", contrast=[contrast],
                              contrast_alignments=[[(0, 0), (1, 2)]])
    for t, a in ((0, 0), (1, 2)):
        base = f(src, tgt[:t], t, a)
        for j in range(len(src)):
            assert drop.scores[0][t, j] == pytest.approx(base - f(src[:j] + src[j + 1:], tgt[:t], t, a), abs=1e-8)
    p_drop = np.exp(_next_logprobs(gpt2, 0, src)[tgt[1]])
    assert drop.scores[0][1, len(src)] == pytest.approx(p - p_drop, abs=1e-8)


def test_aligned_contrast_gradient_flows_through_both_sides(gpt2):
    """Gradient x input of the prompt = autograd of p(y_t | e, y_<t) - p(y'_t' | e, y'_<t') on shared e."""
    target, contrast = " the mat", " a big mat"
    pairs = [(0, 0), (1, 2)]
    ex = explain_generation(gpt2, PROMPT, method="gradient_x_input", targets=[target],
                            step_target="contrast_prob_diff", contrast=[contrast], contrast_alignments=[pairs])
    src, _, tgt = _cols(gpt2, PROMPT, target)
    alt = _cols(gpt2, PROMPT, contrast)[2]
    wte = gpt2.model.transformer.wte
    for t, a in pairs:
        e = wte(torch.tensor(src)).detach().requires_grad_(True)
        left = torch.cat([e, wte(torch.tensor(tgt[:t], dtype=torch.long)).detach()])
        right = torch.cat([e, wte(torch.tensor(alt[:a], dtype=torch.long)).detach()])
        p = gpt2.model(inputs_embeds=left[None]).logits[0, -1].softmax(-1)[tgt[t]]
        q = gpt2.model(inputs_embeds=right[None]).logits[0, -1].softmax(-1)[alt[a]]
        (g,) = torch.autograd.grad(p - q, e)
        ref = (g * e).sum(-1).detach().numpy()
        np.testing.assert_allclose(ex.scores[0][t, :len(src)], ref, rtol=1e-4, atol=1e-9)


def test_aligned_contrast_with_integrated_gradients_is_complete(gpt2):
    ex = explain_generation(gpt2, PROMPT, method="integrated_gradients", targets=[" the mat"], steps=24,
                            step_target="contrast_prob_diff", contrast=[" a big mat"], contrast_alignments="auto",
                            batch_size=64)
    delta = np.asarray(ex.step_values[0]) - np.asarray(ex.reference_values[0])
    ok = np.isfinite(delta)
    assert ok.any()
    # probabilities of a tiny random model are ~1e-3: the tolerance is relative to the deltas
    np.testing.assert_allclose(ex.step_sums(0)[ok], delta[ok], rtol=1e-3, atol=1e-3 * np.abs(delta[ok]).max())


def test_new_options_round_trip_through_the_store(gpt2, tmp_path):
    from neuronlab.explain.gen_result import GenerationExplanation
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    ex = explain_generation(gpt2, PROMPT, method="occlusion", mode="drop", targets=[" the mat"],
                            step_target="contrast_prob_diff", contrast=[" a big mat"], contrast_alignments="auto",
                            generate_kwargs={"num_beams": 2}, seed=5)
    path = tmp_path / "s.h5"
    synthetic_store(path, [["a", "b"]])
    with ActivationStore.open(str(path), mode="r+") as st:
        ex.to_store(st, "gen")
    with ActivationStore.open(str(path)) as st:
        back = GenerationExplanation.from_store(st, "gen")
    assert back.config["mode"] == "drop" and back.config["generate_kwargs"] == {"num_beams": 2}
    assert back.config["seed"] == 5 and back.config["contrast_alignments"] == ex.config["contrast_alignments"]
    np.testing.assert_array_equal(back.scores[0], ex.scores[0])


def test_contrast_alignment_errors(gpt2):
    with pytest.raises(InvalidParameterError, match="contrast_alignments='auto'"):
        explain_generation(gpt2, PROMPT, method="gradient", targets=[" the mat"],
                           step_target="contrast_prob_diff", contrast=[" a big mat"])
    with pytest.raises(InvalidParameterError, match="for contrast_prob_diff"):
        explain_generation(gpt2, PROMPT, method="gradient", targets=[" the mat"], step_target="kl_divergence",
                           contrast=["The dog"], contrast_alignments="auto")
    with pytest.raises(InvalidParameterError, match="'auto' or one list"):
        explain_generation(gpt2, PROMPT, method="gradient", targets=[" the mat"],
                           step_target="contrast_prob_diff", contrast=[" a mat"], contrast_alignments="difflib")


# ------------------------------------------------------------------ CLI
def test_cli_drop_sampling_and_alignment(gpt2_dir, gpt2, capsys):
    from neuronlab.cli.main import main

    rc = main(["explain-generate", str(gpt2_dir), "--text", PROMPT, "--method", "occlusion", "--param", "mode=drop",
               "--max-new-tokens", "4", "--generate-arg", "do_sample=true", "--generate-arg", "top_k=20",
               "--generate-arg", "temperature=1.5", "--seed", "3", "--json", "--quiet"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["config"]["seed"] == 3 and r["config"]["mode"] == "drop"
    assert r["config"]["generate_kwargs"] == {"do_sample": True, "top_k": 20, "temperature": 1.5}
    ref = _generate(gpt2, PROMPT, 4, seed=3, do_sample=True, top_k=20, temperature=1.5)
    assert r["examples"][0]["target_tokens"] == gpt2.tokenizer.convert_ids_to_tokens(ref)
    rc = main(["explain-generate", str(gpt2_dir), "--text", PROMPT, "--target-text", " the mat",
               "--step-target", "contrast_prob_diff", "--contrast", " a big mat", "--contrast-alignment", "0:0,1:2",
               "--method", "occlusion", "--json", "--quiet"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["config"]["contrast_alignments"] == [[[0, 0], [1, 2]]]


def test_cli_refuses_bad_generation_options(gpt2_dir, capsys):
    from neuronlab.cli.main import main

    for argv, text in ((["--generate-arg", "top_k"], "NAME=VALUE"), (["--generate-arg", "nonsense=1"],
                                                                     "no argument of transformers"),
                       (["--contrast-alignment", "auto"], "contrast_prob_diff"),
                       (["--step-target", "contrast_prob_diff", "--contrast", "x y", "--contrast-alignment", "0-1"],
                        "T:T'")):
        assert main(["explain-generate", str(gpt2_dir), "--text", PROMPT, "--quiet"] + argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("neuronlab: error:") and text in err and "Traceback" not in err
