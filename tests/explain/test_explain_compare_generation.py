"""Ranking generation explainers by ERASER faithfulness per step (issue 15): exact values against direct forwards
on token ids (tiny GPT-2 and T5), a planted check (true leave-one-out drops beat a random order), the Result."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")

from neuronlab.errors import InvalidParameterError
from neuronlab.explain.compare import ExplainerComparison
from neuronlab.explain.compare_generation import (
    compare_generation_explainers,
    generation_faithfulness,
    generation_from_arrays,
)
from neuronlab.explain.generation import explain_generation

PROMPTS = ["The quick brown fox jumps", "A cat sat on"]
TARGETS = [" over the lazy", " the mat and"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _direct_logprob(live, src_ids, tgt_ids, t):
    """log p(y_t | src, y_<t) from one forward on token ids (no embeddings, no packing)."""
    with torch.no_grad():
        if live.model.config.is_encoder_decoder:
            start = live.model.config.decoder_start_token_id
            out = live.model(input_ids=torch.tensor([src_ids]), decoder_input_ids=torch.tensor([[start] + tgt_ids[:t]]))
        else:
            out = live.model(input_ids=torch.tensor([src_ids + tgt_ids[:t]]))
    return float(out.logits[0, -1].double().log_softmax(-1)[tgt_ids[t]])


@pytest.mark.parametrize("family", ["gpt2", "t5"])
def test_step_comprehensiveness_and_sufficiency_equal_direct_forwards(family, gpt2, t5):
    live = {"gpt2": gpt2, "t5": t5}[family]
    ex = explain_generation(live, PROMPTS, method="gradient_x_input", step_target="log_probability",
                            targets=TARGETS)
    f = generation_faithfulness(live, ex, bins=(0.5,), seed=3)
    tok = live.tokenizer
    checked = 0
    for rec in f.steps:
        i, t, n = rec["sentence"], rec["step"], rec["n"]
        src = tok.convert_tokens_to_ids(ex.source_tokens[i])
        tgt = tok.convert_tokens_to_ids(ex.target_tokens[i])
        special = set(tok.all_special_ids)
        removable = [j for j, v in enumerate(src) if v not in special]
        assert n == len(removable) and sorted(rec["order"]) == removable
        # the explanation's order: source scores of the step, best first
        scores = np.asarray(ex.scores[i])[t, removable]
        assert rec["order"] == [removable[j] for j in np.argsort(-scores, kind="stable")]
        k = math.ceil(0.5 * n)
        top = set(rec["order"][:k])
        without = [v for j, v in enumerate(src) if j not in top]
        only = [v for j, v in enumerate(src) if j in top or v in special]
        f_x = _direct_logprob(live, src, tgt, t)
        assert rec["f_x"] == pytest.approx(f_x, abs=1e-5)
        assert rec["comprehensiveness"] == pytest.approx(f_x - _direct_logprob(live, without, tgt, t), abs=1e-5)
        assert rec["sufficiency"] == pytest.approx(f_x - _direct_logprob(live, only, tgt, t), abs=1e-5)
        rtop = set(rec["random_order"][:k])
        r_without = [v for j, v in enumerate(src) if j not in rtop]
        assert rec["random_comprehensiveness"] == pytest.approx(f_x - _direct_logprob(live, r_without, tgt, t),
                                                                abs=1e-5)
        # AOPC: the mean of f_x - deletion over k = 0..n (causal step 0: up to n - 1, one prompt token kept)
        d = np.asarray(rec["deletion"])
        assert np.isnan(d[n]) == (family == "gpt2" and t == 0)
        assert rec["aopc"] == pytest.approx(np.mean(rec["f_x"] - d[np.isfinite(d)]), abs=1e-9)
        checked += 1
    assert checked == sum(len(t) for t in ex.target_tokens)
    # means: over the steps of each sentence, then over the sentences
    by = [np.mean([r["comprehensiveness"] for r in f.steps if r["sentence"] == i]) for i in range(2)]
    assert f.comprehensiveness == pytest.approx(np.mean(by), abs=1e-12)


def test_causal_step_zero_keeps_one_prompt_token(gpt2):
    """Removing the whole prompt leaves step 0 without context: its deletion curve ends at n - 1."""
    ex = explain_generation(gpt2, ["fox"], method="occlusion", step_target="log_probability", targets=[" jumps over"])
    f = generation_faithfulness(gpt2, ex, bins=(1.0,))
    s0, s1 = f.steps[0], f.steps[1]
    assert s0["n"] == 1 and np.isnan(s0["deletion"][1]) and np.isnan(s0["comprehensiveness"])
    assert np.isfinite(s1["deletion"][1]) and np.isfinite(s1["comprehensiveness"])
    rest = [r["comprehensiveness"] for r in f.steps[1:]]
    assert len(rest) >= 1 and f.comprehensiveness == pytest.approx(np.mean(rest))  # the NaN step left out


@pytest.mark.parametrize("family", ["gpt2", "t5"])
def test_planted_true_leave_one_out_beats_random_and_its_negation_loses(family, gpt2, t5):
    """Occlusion with mode=drop *is* each token's leave-one-out drop: with one token removed (k=1) it takes the
    largest drop of the step, so it beats (or ties) the random token at every step; its negation takes the
    smallest."""
    live = {"gpt2": gpt2, "t5": t5}[family]
    loo = explain_generation(live, PROMPTS, method="occlusion", mode="drop", step_target="log_probability",
                             targets=TARGETS)
    neg = explain_generation(live, PROMPTS, method="occlusion", mode="drop", step_target="log_probability",
                             targets=TARGETS)
    neg.method = "negated"
    neg.scores = [-np.asarray(m) for m in neg.scores]
    good = generation_faithfulness(live, loo, bins=(0.01,), seed=1)
    bad = generation_faithfulness(live, neg, bins=(0.01,), seed=1)
    for g, b in zip(good.steps, bad.steps):
        if not np.isfinite(g["comprehensiveness"]):
            continue
        assert g["comprehensiveness"] >= g["random_comprehensiveness"] - 1e-6
        assert b["comprehensiveness"] <= b["random_comprehensiveness"] + 1e-6
        # the top-1 drop equals the occlusion score of that token (the true leave-one-out)
        sc = np.asarray(loo.scores[g["sentence"]])[g["step"], g["order"][0]]
        assert g["comprehensiveness"] == pytest.approx(sc, abs=1e-5)
    assert good.comprehensiveness > good.random_comprehensiveness > bad.comprehensiveness


def test_compare_generation_explainers_ranks_and_stores(gpt2, tmp_path):
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    neg = explain_generation(gpt2, PROMPTS, method="occlusion", mode="drop", step_target="log_probability",
                             targets=TARGETS)
    neg.method = "negated-occlusion"
    neg.scores = [-np.asarray(m) for m in neg.scores]
    cmp = compare_generation_explainers(gpt2, PROMPTS, ["gradient", "occlusion"], step_target="log_probability",
                                        target_texts=TARGETS, bins=(0.2, 0.5), params={"occlusion": {"mode": "drop"}},
                                        external=[neg])
    assert isinstance(cmp, ExplainerComparison) and cmp.config["level"] == "generation"
    names = [r["method"] for r in cmp.rows]
    assert sorted(names) == ["gradient", "negated-occlusion", "occlusion"]
    assert names[0] == "occlusion" and names[-1] == "negated-occlusion"
    direct = generation_faithfulness(gpt2, explain_generation(gpt2, PROMPTS, method="occlusion", mode="drop",
                                                              step_target="log_probability", targets=TARGETS),
                                     bins=(0.2, 0.5))
    occ = cmp.rows[0]
    assert occ["comprehensiveness"] == pytest.approx(direct.comprehensiveness, abs=1e-9)
    assert occ["random_aopc"] == pytest.approx(direct.random_aopc, abs=1e-9)
    # the random orders are the same for every method
    assert len({r["random_comprehensiveness"] for r in cmp.rows}) == 1
    assert occ["forward_passes"] > 0 and occ["seconds"] >= 0 and "compr." in cmp.table()
    assert cmp.rows[-1]["source"] == "external"
    path = tmp_path / "s.h5"
    synthetic_store(path, [["a", "b"]])
    with ActivationStore.open(path, mode="r+") as st:
        cmp.to_store(st, "gen_cmp")
    with ActivationStore.open(path) as st:
        back = ExplainerComparison.from_store(st, "gen_cmp")
    assert back.rows == cmp.rows and back.config["level"] == "generation"
    fig = __import__("neuronlab.explain.compare", fromlist=["comparison_plot"]).comparison_plot(cmp)
    assert len(fig.axes) == 4  # three metrics and the run time


def test_generated_outputs_and_errors(t5):
    cmp = compare_generation_explainers(t5, PROMPTS[:1], ["gradient", "occlusion"], max_new_tokens=3,
                                        progress=True)
    assert cmp.config["max_new_tokens"] == 3 and all(r["steps"] >= 1 for r in cmp.rows)
    assert all(r["eval_rows"] >= 0 and np.isfinite(r["comprehensiveness"]) for r in cmp.rows)
    with pytest.raises(InvalidParameterError, match="contrast"):
        compare_generation_explainers(t5, PROMPTS[:1], ["gradient"], step_target="kl_divergence")
    with pytest.raises(InvalidParameterError, match="bins"):
        compare_generation_explainers(t5, PROMPTS[:1], ["gradient"], bins=(0.0,))
    with pytest.raises(InvalidParameterError, match="not among"):
        compare_generation_explainers(t5, PROMPTS[:1], ["gradient"], params={"occlusion": {}})
    with pytest.raises(Exception, match="valid|choose|unknown"):
        compare_generation_explainers(t5, PROMPTS[:1], ["lime"])


def test_scores_saved_as_arrays_score_alike(t5):
    """An attribution computed elsewhere (here: our own occlusion, saved as token lists and matrices) scores the
    same as the explanation itself; a wrong shape is a one-line error."""
    ex = explain_generation(t5, PROMPTS, method="occlusion", mode="drop", step_target="log_probability",
                            targets=TARGETS)
    arr = generation_from_arrays("inseq-occlusion", PROMPTS, ex.source_tokens, ex.target_tokens,
                                 [np.array(m) for m in ex.scores], prefix_tokens=ex.prefix_tokens,
                                 step_target="log_probability")
    a = generation_faithfulness(t5, ex, bins=(0.5,), seed=2)
    b = generation_faithfulness(t5, arr, bins=(0.5,), seed=2)
    assert b.method == "inseq-occlusion" and a.steps == b.steps
    with pytest.raises(InvalidParameterError, match="shape"):
        generation_from_arrays("x", PROMPTS, ex.source_tokens, ex.target_tokens, [np.zeros((1, 1))] * 2,
                               prefix_tokens=ex.prefix_tokens)
