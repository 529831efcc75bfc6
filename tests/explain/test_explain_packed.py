"""The packed forward of the perturbation explainers (neuronlab/explain/packed.py): the same logits as
transformers' forward, the same explanations as the padded path, and a fall back wherever packing would
compute something else (hooks, patched forward methods, other heads)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.live_models import minilm_classifier, tiny_bert

from neuronlab.errors import InvalidParameterError
from neuronlab.explain.lime import LimeText
from neuronlab.explain.packed import (
    PackedClassifier,
    packed_for,
    run_batches,
    why_not_packed,
)
from neuronlab.explain.perturbation import LeaveOneOut, Occlusion
from neuronlab.explain.shapley import KernelShap

WORDS = [["a", "gorgeous", ",", "witty", "movie", "that", "nobody", "should", "miss"],
         ["the", "plot", "is", "paper", "thin"]]


@pytest.fixture(scope="module")
def minilm():
    return minilm_classifier()


def _ragged_rows(seed=0, lengths=(5, 5, 3, 9, 1, 0, 12, 12, 12, 2)):
    rng = np.random.default_rng(seed)
    return [np.r_[101, rng.integers(1000, 5000, n), 102].astype(np.int64) for n in lengths]


def _hf_logits(live, rows):
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for k, r in enumerate(rows):
        ids[k, :len(r)] = torch.from_numpy(r)
        mask[k, :len(r)] = 1
    with torch.no_grad():
        return live.model(input_ids=ids, attention_mask=mask).logits


def _tiny(cls_name, seed=0, **extra):
    import transformers
    from transformers import AutoTokenizer

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(seed)
    family = cls_name.split("For")[0]
    cfg = getattr(transformers, f"{family}Config")(vocab_size=30522, max_position_embeddings=64, num_labels=3,
                                                   **extra)
    model = getattr(transformers, cls_name)(cfg).eval()
    return _visible(LiveModel(model, AutoTokenizer.from_pretrained(str(_minilm_path()))))


def _visible(live):
    """Scale a random tiny model's small matrices: weights of std 0.02 give near-equal logits for every input."""
    with torch.no_grad():
        for p in live.model.parameters():
            if p.dim() == 2 and p.shape[0] <= 64:
                p.mul_(10.0)
    return live


BERT = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 24}


@pytest.mark.parametrize("which", ["minilm", "tiny_bert", "BertForSequenceClassification",
                                   "RobertaForSequenceClassification", "DistilBertForSequenceClassification"])
def test_packed_logits_equal_the_transformers_forward_on_ragged_rows(minilm, which):
    if which == "minilm":
        live = minilm
    elif which == "tiny_bert":
        live = _visible(tiny_bert())
    elif which.startswith("DistilBert"):
        live = _tiny(which, dim=16, n_layers=2, n_heads=2, hidden_dim=24)
    else:
        live = _tiny(which, **BERT)
    assert why_not_packed(live) is None
    rows = _ragged_rows()
    got = packed_for(live).logits(rows)
    ref = _hf_logits(live, rows)
    assert got.shape == ref.shape
    assert float((got - ref).abs().max()) < 1e-5
    assert float(ref.std(0).max()) > 1e-3      # rows differ: the comparison is not between constants


def test_packed_token_classifier_reads_the_query_position():
    live = _tiny("BertForTokenClassification", **BERT)
    rows = _ragged_rows(1, lengths=(4, 4, 7, 2))
    query = [1, 3, 6, 2]
    got = packed_for(live).logits(rows, query)
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for k, r in enumerate(rows):
        ids[k, :len(r)] = torch.from_numpy(r)
        mask[k, :len(r)] = 1
    with torch.no_grad():
        ref = live.model(input_ids=ids, attention_mask=mask).logits[torch.arange(len(rows)), torch.as_tensor(query)]
    assert float((got - ref).abs().max()) < 1e-5


@pytest.mark.parametrize("make", [
    lambda live: LeaveOneOut(live, mode="mask", batch_size=4),
    lambda live: Occlusion(live, window=2, mode="drop", batch_size=5),
    lambda live: KernelShap(live, n_samples=40, mode="mask", batch_size=8),
    lambda live: LimeText(live, n_samples=40, mode="drop", batch_size=8,
                          target={"kind": "probability", "index": "predicted"}),
], ids=["leave-one-out", "occlusion", "kernel-shap", "lime"])
def test_packed_explanations_equal_the_padded_transformers_path(minilm, make):
    auto = make(minilm)
    hf = make(minilm)
    hf.engine = "hf"
    a, b = auto.explain(WORDS), hf.explain(WORDS)
    for x, y in zip(a.word_scores, b.word_scores):
        assert x == pytest.approx(y, abs=1e-5)
    assert a.forward_passes == b.forward_passes
    assert a.target_value == pytest.approx(b.target_value, abs=1e-5)      # f(x) by the packed pass, too
    assert a.target == b.target                                          # the same predicted classes
    assert max(abs(v) for s in b.word_scores for v in s) > 1e-3


def test_leave_one_out_runs_one_row_per_word_besides_f_x(minilm):
    ex = LeaveOneOut(minilm, mode="mask").explain(WORDS)
    assert ex.forward_passes == len(WORDS) + sum(len(w) for w in WORDS)   # Captum FeatureAblation's n + 1


def test_hooks_on_the_model_make_the_explainer_use_the_transformers_forward(minilm):
    """An intervention changes what the model computes; the packed pass cannot see it, so it must not run."""
    ex = LeaveOneOut(minilm, mode="mask", target=0)
    plain = ex.explain(WORDS[:1]).word_scores[0]
    with minilm.intervene("layers.2.mlp", "set", neurons=list(range(200)), value=0.0):
        assert "hook" in why_not_packed(minilm)
        assert packed_for(minilm) is None
        hooked = ex.explain(WORDS[:1]).word_scores[0]
        ref = LeaveOneOut(minilm, mode="mask", target=0, engine="hf").explain(WORDS[:1]).word_scores[0]
    assert hooked == pytest.approx(ref, abs=1e-6)
    assert max(abs(x - y) for x, y in zip(hooked, plain)) > 1e-3
    assert why_not_packed(minilm) is None


def test_patched_forward_methods_are_detected(minilm):
    layer = minilm.model.bert.encoder.layer[0]
    layer.forward = lambda *a, **k: None
    try:
        assert "forward method of bert.encoder.layer.0 is patched" in why_not_packed(minilm)
    finally:
        del layer.forward
    assert why_not_packed(minilm) is None


def test_weights_changed_in_place_rebuild_the_packed_model():
    live = tiny_bert(seed=3)
    rows = _ragged_rows(2)
    first = packed_for(live)
    assert packed_for(live) is first                       # cached while the weights stay
    with torch.no_grad():
        live.model.bert.encoder.layer[1].attention.self.query.weight.mul_(3.0)
    second = packed_for(live)
    assert second is not first
    assert float((second.logits(rows) - _hf_logits(live, rows)).abs().max()) < 1e-5


def test_engine_native_refuses_a_model_it_cannot_pack_and_unknown_engines(minilm):
    live = _tiny("BertForMaskedLM", **BERT)
    assert "has no packed forward" in why_not_packed(live)
    with pytest.raises(InvalidParameterError, match="engine 'native' cannot run this model: the head "
                                                    "BertForMaskedLM has no packed forward"):
        LeaveOneOut(live, engine="native")
    with pytest.raises(InvalidParameterError, match="engine must be one of auto, native, hf; got 'fast'"):
        KernelShap(minilm, engine="fast")
    minilm.model.train()
    try:
        assert why_not_packed(minilm) == "the model is in training mode (dropout)"
    finally:
        minilm.model.eval()


def test_roberta_pad_mode_falls_back_because_positions_skip_pads():
    live = _tiny("RobertaForSequenceClassification", pad_token_id=0, **BERT)  # the tokenizer's [PAD]
    packed = PackedClassifier(live.model)
    assert packed.check_rows([np.array([0, 5, 1, 2])]) == "RoBERTa-style positions skip padding tokens"
    a = LeaveOneOut(live, mode="pad", target=0).explain([["good", "film", "here"]])
    b = LeaveOneOut(live, mode="pad", target=0, engine="hf").explain([["good", "film", "here"]])
    assert a.word_scores[0] == pytest.approx(b.word_scores[0], abs=1e-5)  # f(x) packed, the pad rows padded
    with pytest.raises(InvalidParameterError, match="engine 'native' cannot run these inputs: RoBERTa-style"):
        LeaveOneOut(live, mode="pad", target=0, engine="native").explain([["good", "film", "here"]])


def test_run_batches_keeps_the_order_and_restores_the_thread_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = run_batches(lambda b: (b, torch.get_num_threads()), list(range(7)))
        assert [b for b, _ in seen] == list(range(7))
        assert {t for _, t in seen} == {1}                 # two workers with one intra-op thread each
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
