"""The shared training loop: length-bucketed batches, the step count, frozen word embeddings, the time budget."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from helpers.tiny_models import build_tiny_model  # noqa: E402

from neuronlab.errors import InvalidParameterError  # noqa: E402
from neuronlab.models.training import TrainConfig, batch_order, n_batches, train_sequence_classifier  # noqa: E402


def _texts(n: int, seed: int = 0):
    import random

    rng = random.Random(seed)
    return [["w"] * rng.randint(1, 40) for _ in range(n)]


@pytest.mark.parametrize("n,bs,bucket", [(1000, 8, True), (1000, 8, False), (37, 4, True), (401, 8, True)])
def test_batch_order_is_a_partition_and_counts_match(n, bs, bucket):
    texts = _texts(n)
    batches = batch_order(texts, bs, torch.Generator().manual_seed(1), bucket, pool=5)
    assert sorted(i for b in batches for i in b) == list(range(n))
    assert len(batches) == n_batches(n, bs, bucket, pool=5) and all(1 <= len(b) <= bs for b in batches)


def test_buckets_hold_similar_lengths():
    """Sorted pools leave much less padding than plain shuffled batches (same seed, same data)."""
    texts = _texts(2000)

    def padding(batches):
        return sum(max(len(texts[i]) for i in b) * len(b) - sum(len(texts[i]) for i in b) for b in batches)

    plain = batch_order(texts, 16, torch.Generator().manual_seed(0), bucket=False)
    bucketed = batch_order(texts, 16, torch.Generator().manual_seed(0), bucket=True)
    assert padding(bucketed) < 0.2 * padding(plain)
    # the epoch stays random: the batch order is not sorted by length
    firsts = [len(texts[b[0]]) for b in bucketed]
    assert firsts != sorted(firsts)


def _toy(n: int):
    pos, neg = ["good", "great"], ["bad", "awful"]
    texts = [f"the film was {(pos if i % 2 else neg)[i % 4 // 2]}" for i in range(n)]
    return texts, [i % 2 for i in range(n)]


def test_frozen_word_embeddings_stay_fixed(tmp_path):
    from transformers import AutoModel

    base = build_tiny_model("bert", tmp_path / "base")
    card = train_sequence_classifier(str(base), *_toy(16), tmp_path / "clf", label_names=["neg", "pos"],
                                     config=TrainConfig(epochs=1, batch_size=8, lr=1e-2, freeze_word_embeddings=True))
    a = AutoModel.from_pretrained(str(base)).state_dict()
    b = AutoModel.from_pretrained(str(tmp_path / "clf")).state_dict()
    assert torch.equal(a["embeddings.word_embeddings.weight"], b["embeddings.word_embeddings.weight"])
    assert not torch.equal(a["embeddings.position_embeddings.weight"], b["embeddings.position_embeddings.weight"])
    assert card["config"]["freeze_word_embeddings"] is True and card["steps_done"] == card["steps_planned"] == 2


def test_time_budget_stops_early_and_still_saves(tmp_path):
    base = build_tiny_model("bert", tmp_path / "base")
    texts, labels = _toy(32)
    card = train_sequence_classifier(str(base), texts, labels, tmp_path / "clf", label_names=["neg", "pos"],
                                     dev_texts=texts[:8], dev_labels=labels[:8],
                                     config=TrainConfig(epochs=3, batch_size=4, max_minutes=1e-9))
    assert card["stopped_early"] is True and card["steps_done"] == 0 and card["steps_planned"] == 24
    assert card["dev_accuracy"] is not None and len(card["history"]) == 1  # dev scored on what was trained
    assert (tmp_path / "clf" / "config.json").is_file()


@pytest.mark.parametrize("field,value,match", [("max_minutes", 0, "max_minutes must be positive"),
                                               ("warmup", 1.0, r"warmup must lie in \[0, 1\)")])
def test_config_errors(field, value, match):
    with pytest.raises(InvalidParameterError, match=match):
        TrainConfig(**{field: value})
