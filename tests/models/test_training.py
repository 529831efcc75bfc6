"""Task-model training on a tiny BERT: a separable toy task is learned, the directory loads as a live model."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from helpers.tiny_models import build_tiny_model  # noqa: E402

from neuronlab.errors import InvalidParameterError  # noqa: E402
from neuronlab.models.training import CARD_NAME, TrainConfig, train_sequence_classifier  # noqa: E402

POS = ["good", "great", "fine", "nice"]
NEG = ["bad", "awful", "poor", "dull"]


def _data(n: int, seed: int):
    import random

    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        y = i % 2
        w = rng.choice(POS if y else NEG)
        texts.append(f"the {rng.choice(['film', 'plot', 'cast'])} was {w}")
        labels.append(y)
    return texts, labels


def test_train_save_and_load(tmp_path):
    from neuronlab.models.live import load_live

    base = build_tiny_model("bert", tmp_path / "base")
    tr, dv = _data(64, 0), _data(16, 1)
    cfg = TrainConfig(epochs=6, lr=3e-3, batch_size=16, seed=0)
    card = train_sequence_classifier(str(base), *tr, tmp_path / "clf", label_names=["neg", "pos"], dev_texts=dv[0],
                                     dev_labels=dv[1], config=cfg, data="toy")
    assert card["dev_accuracy"] == 1.0
    assert card["history"][-1]["train_loss"] < card["history"][0]["train_loss"]
    on_disk = json.loads((tmp_path / "clf" / CARD_NAME).read_text())
    assert on_disk["config"]["epochs"] == 6 and on_disk["labels"] == ["neg", "pos"] and on_disk["n_train"] == 64
    live = load_live(str(tmp_path / "clf"))
    assert live.info["head"] == "sequence-classification"
    with torch.no_grad():
        pred = live.forward(live.encode(dv[0])).logits.argmax(-1).tolist()
    assert pred == dv[1]


def test_top_layers_only(tmp_path):
    base = build_tiny_model("bert", tmp_path / "base")
    tr = _data(16, 0)
    card = train_sequence_classifier(str(base), *tr, tmp_path / "clf", label_names=["neg", "pos"],
                                     config=TrainConfig(epochs=1, batch_size=8, train_layers=1))
    from transformers import AutoModel

    a = AutoModel.from_pretrained(str(base)).state_dict()
    b = AutoModel.from_pretrained(str(tmp_path / "clf")).state_dict()
    assert torch.equal(a["encoder.layer.0.output.dense.weight"], b["encoder.layer.0.output.dense.weight"])
    assert not torch.equal(a["encoder.layer.2.output.dense.weight"], b["encoder.layer.2.output.dense.weight"])
    assert card["dev_accuracy"] is None


def test_bad_input(tmp_path):
    with pytest.raises(InvalidParameterError, match="epochs must be a positive int"):
        TrainConfig(epochs=0)
    with pytest.raises(InvalidParameterError, match="labels must lie in 0..1"):
        train_sequence_classifier("minilm", ["a"], [2], tmp_path, label_names=["x", "y"])
    with pytest.raises(InvalidParameterError, match="2 texts but 1 labels"):
        train_sequence_classifier("minilm", ["a", "b"], [0], tmp_path, label_names=["x", "y"])
