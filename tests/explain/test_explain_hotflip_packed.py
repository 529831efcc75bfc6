"""HotFlip's swap verification through the packed forward (neuronlab/explain/packed.py): the same scores, the same
chosen swaps and the same number of forward rows as transformers' padded forward, on minilm and a tiny BERT."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.live_models import minilm_classifier, tiny_bert

from neuronlab.errors import InvalidParameterError
from neuronlab.explain import EXPLAINERS
from neuronlab.explain.packed import PackedClassifier
from neuronlab.explain.perturb import layout
from neuronlab.explain.perturbation import HotFlip

WORDS = [["a", "gorgeous", ",", "witty", "movie", "that", "nobody", "should", "miss"],
         ["the", "plot", "is", "paper", "thin"]]


@pytest.fixture(scope="module")
def models():
    tiny = tiny_bert(seed=2)
    with torch.no_grad():  # std 0.02 weights give near-equal logits for every input: make the swaps matter
        for p in tiny.model.parameters():
            if p.dim() == 2 and p.shape[0] <= 64:
                p.mul_(10.0)
    return {"minilm": minilm_classifier(), "tiny_bert": tiny}


@pytest.fixture
def packed_calls(monkeypatch):
    """Rows that went through PackedClassifier.logits."""
    calls = []
    original = PackedClassifier.logits

    def counted(self, rows, query=None):
        calls.append(len(rows))
        return original(self, rows, query)

    monkeypatch.setattr(PackedClassifier, "logits", counted)
    return calls


def _flip_key(flips):
    return [[(f["position"], f["replacement"], f["flips_prediction"]) for f in ex] for ex in flips]


@pytest.mark.parametrize("name", ["minilm", "tiny_bert"])
def test_auto_and_hf_engines_give_equal_scores_swaps_and_rows(models, name, packed_calls):
    live = models[name]
    hf = HotFlip(live, candidates=3, batch_size=7, engine="hf").explain(WORDS)
    assert packed_calls == []  # hf: transformers' forward only
    auto = HotFlip(live, candidates=3, batch_size=7, engine="auto").explain(WORDS)
    # the verification rows ran packed: one row for the input and 3 swaps per content token of each example
    enc = live.encode(WORDS)
    n_content = [int((layout(enc, i).word_of >= 0).sum()) for i in range(len(WORDS))]
    assert sum(packed_calls) >= sum(1 + 3 * n for n in n_content)
    for a, b in zip(auto.word_scores, hf.word_scores):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    assert _flip_key(auto.config["flips"]) == _flip_key(hf.config["flips"])
    for fa, fb in zip(auto.config["flips"], hf.config["flips"]):
        np.testing.assert_allclose([f["change"] for f in fa], [f["change"] for f in fb], atol=1e-5, rtol=0)
    assert auto.forward_passes == hf.forward_passes
    # the pass at the inputs, the gradient rows, then the input and the swaps of each example
    assert hf.forward_passes == 2 * len(WORDS) + sum(1 + 3 * n for n in n_content)


def test_packed_verification_matches_direct_forward_passes(models):
    """Each verified change is f(x') - f(x) of the swapped ids by the model itself (not only engine agreement)."""
    live = models["tiny_bert"]
    ex = HotFlip(live, target=1, candidates=2, engine="native").explain(WORDS[1:])
    enc = live.encode(WORDS[1:])
    ids = enc.input_ids[0]
    with torch.no_grad():
        base = float(live.model(input_ids=ids[None]).logits[0, 1])
    assert ex.target_value[0] == pytest.approx(base, abs=1e-5)
    for flip in ex.config["flips"][0]:
        swapped = ids.clone()
        swapped[flip["position"]] = live.tokenizer.convert_tokens_to_ids(flip["replacement"])
        with torch.no_grad():
            new = float(live.model(input_ids=swapped[None]).logits[0, 1])
        assert flip["change"] == pytest.approx(new - base, abs=1e-5)


def test_engine_parameter_is_checked_and_registered(models):
    with pytest.raises(InvalidParameterError, match="engine must be one of auto, native, hf; got 'fast'"):
        HotFlip(models["tiny_bert"], engine="fast")
    assert EXPLAINERS["hotflip"](models["tiny_bert"], engine="hf").engine == "hf"


def test_token_level_target_runs_packed_with_equal_scores(packed_calls):
    """A token classifier: the packed forward reads the explained word's position (a swap keeps every position)."""
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(6)
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=24, max_position_embeddings=64, num_labels=3)
    model = BertForTokenClassification(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2 and p.shape[0] <= 64:
                p.mul_(10.0)
    live = LiveModel(model, AutoTokenizer.from_pretrained(str(_minilm_path())))
    target = {"index": "predicted", "position": 1}
    hf = HotFlip(live, target=target, candidates=2, engine="hf").explain(WORDS)
    assert packed_calls == []
    native = HotFlip(live, target=target, candidates=2, engine="native").explain(WORDS)
    assert packed_calls
    for a, b in zip(native.word_scores, hf.word_scores):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    assert _flip_key(native.config["flips"]) == _flip_key(hf.config["flips"])
    assert native.forward_passes == hf.forward_passes
