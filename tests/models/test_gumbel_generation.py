"""Model-side corpus methods on tiny random models: Gumbel-softmax generation finds the token a planted neuron
fires on, concept alignment ranks the planted concept first, and scoring equals a direct forward pass."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers.live_models import tiny_bert  # noqa: E402

from neuronlab.errors import InvalidParameterError  # noqa: E402
from neuronlab.models.generation import (  # noqa: E402
    AlignmentResult,
    concept_alignment,
    gumbel_ngrams,
    score_texts,
    word_vocabulary,
)

PLANT_WORD = "banana"
NEURON = 3


@pytest.fixture(scope="module")
def planted():
    """tiny BERT whose embeddings neuron 3 is large for 'banana' only, and whose layers.0.mlp neuron 5 reads it."""
    live = tiny_bert(seed=1)
    tid = live.tokenizer.convert_tokens_to_ids(PLANT_WORD)
    with torch.no_grad():
        live.model.bert.embeddings.word_embeddings.weight[tid, NEURON] = 3.0
    return live, tid


def test_score_texts_equals_a_forward_pass(planted):
    live, _ = planted
    texts = ["the red banana", "a dog"]
    got = score_texts(live, "embeddings", NEURON, texts, reduce="mean")
    enc = live.encode([t.split() for t in texts])
    with torch.no_grad():
        hidden = live.model.bert.embeddings(input_ids=enc.input_ids)[..., NEURON].double()
    m = enc.content_mask().double()
    np.testing.assert_allclose(got, ((hidden * m).sum(1) / m.sum(1)).numpy(), rtol=1e-6)
    last = score_texts(live, "embeddings", NEURON, texts, reduce="last")
    np.testing.assert_allclose(last, [hidden[0, 3].item(), hidden[1, 2].item()], rtol=1e-6)


def test_gumbel_generation_finds_the_planted_token(planted):
    live, tid = planted
    vocab = word_vocabulary(live.tokenizer)
    assert tid in vocab and live.tokenizer.convert_tokens_to_ids("##ing") not in vocab
    sub = np.r_[vocab[:2000], tid]  # a smaller vocabulary keeps the test fast; the planted token is in it
    res = gumbel_ngrams(live, "embeddings", NEURON, length=2, steps=60, restarts=4, vocabulary=sub,
                        corpus=["apple pie", "the dog"], seed=0)
    assert res.generated[0]["ngram"] == f"{PLANT_WORD} {PLANT_WORD}"
    assert res.generated[0]["activation"] > max(c["activation"] for c in res.corpus)
    acts = [g["activation"] for g in res.generated]
    assert acts == sorted(acts, reverse=True)
    np.testing.assert_allclose(acts[0], score_texts(live, "embeddings", NEURON, [f"{PLANT_WORD} {PLANT_WORD}"])[0])
    # the model's parameters are left as they were (no gradient flag changed, no grad kept)
    assert all(p.requires_grad for p in live.model.parameters())
    assert all(p.grad is None for p in live.model.parameters())
    assert _no_hooks(live.model)


def _no_hooks(model) -> bool:
    return not any(m._forward_hooks or m._forward_pre_hooks or "forward" in m.__dict__ for m in model.modules())


def test_an_error_inside_the_search_leaves_no_hook_and_restores_the_parameters(planted, monkeypatch):
    import neuronlab.models.generation as gen

    live, tid = planted

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(gen, "_reduce", boom)
    with pytest.raises(RuntimeError, match="boom"):
        gumbel_ngrams(live, "embeddings", NEURON, length=1, steps=2, restarts=1, vocabulary=[tid])
    assert _no_hooks(live.model) and all(p.requires_grad for p in live.model.parameters())


def test_alignment_ranks_the_planted_concept_first(planted):
    live, _ = planted
    res = concept_alignment(live, "embeddings", NEURON, ["dog", "the house", PLANT_WORD, "run fast"], length=6,
                            n_random=16)
    assert isinstance(res, AlignmentResult)
    assert [c["concept"] for c in res.concepts][0] == PLANT_WORD
    assert res.concepts[0]["z"] > 3
    assert res.concepts[0]["sentence"] == " ".join([PLANT_WORD] * 6)
    two = next(c for c in res.concepts if c["concept"] == "the house")
    assert two["sentence"] == "the house the house the house"
    assert res.neuron == f"embeddings:{NEURON}"


def test_bad_input(planted):
    live, _ = planted
    with pytest.raises(InvalidParameterError, match="reduce must be one of"):
        score_texts(live, "embeddings", 0, ["a"], reduce="median")
    with pytest.raises(InvalidParameterError, match="neuron 99 is out of range"):
        gumbel_ngrams(live, "embeddings", 99, steps=1)
    with pytest.raises(InvalidParameterError, match="concepts: give at least one"):
        concept_alignment(live, "embeddings", 0, ["  "])
