"""`neuronlab train --task token`: a CoNLL-U file in, a token-classification directory with its card out; user
mistakes are one-line errors (the library test tests/models/test_training_tokens.py attributes one word's logit)."""
from __future__ import annotations

import json
import random

import pytest

torch = pytest.importorskip("torch")

from cli_helpers import assert_user_error, cli  # noqa: E402
from helpers.tiny_models import build_tiny_model  # noqa: E402

#: the planted rule: UPOS by word list (a word's tag never depends on its context)
WORDS = {"DET": ["the", "a", "every"], "NOUN": ["dog", "film", "house"], "VERB": ["runs", "sleeps", "sings"],
         "ADJ": ["good", "green", "old"]}


def _conllu(path, n: int, seed: int):
    rng = random.Random(seed)
    blocks = []
    for _ in range(n):
        tags = [rng.choice(sorted(WORDS)) for _ in range(rng.randint(3, 6))]
        words = [rng.choice(WORDS[t]) for t in tags]
        rows = [f"{i + 1}\t{w}\t{w}\t{t}\t_\t_\t0\tdep\t_\t_" for i, (w, t) in enumerate(zip(words, tags))]
        blocks.append(f"# text = {' '.join(words)}\n" + "\n".join(rows) + "\n")
    path.write_text("\n".join(blocks) + "\n")
    return path


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    d = tmp_path_factory.mktemp("tokcli")
    base = build_tiny_model("bert", d / "base")
    train, dev = _conllu(d / "train.conllu", 80, 0), _conllu(d / "dev.conllu", 20, 1)
    res = cli("train", "--task", "token", "--model", base, "--data", train, "--dev", dev, "--epochs", "6",
              "--lr", "3e-3", "--batch-size", "16", "--out", d / "tagger", "--json", "--quiet")
    assert res[0] == 0, res[2]
    return d, base, train, dev, json.loads(res[1])


def test_token_card(tagger):
    from transformers import AutoModelForTokenClassification

    from neuronlab.models.training import CARD_NAME

    d, _, train, dev, card = tagger
    on_disk = json.loads((d / "tagger" / CARD_NAME).read_text())
    assert {k: on_disk[k] for k in ("task", "concept", "labels", "data", "split", "seed", "epochs", "n_train",
                                    "n_dev")} == {
        "task": "token-classification", "concept": "upos", "labels": ["ADJ", "DET", "NOUN", "VERB"],
        "data": f"{train}:upos", "split": f"train: {train}; dev: {dev}", "seed": 0, "epochs": 6, "n_train": 80,
        "n_dev": 20}
    assert card["dev_accuracy"] == on_disk["dev_accuracy"] >= 0.9  # majority is about 0.25
    model = AutoModelForTokenClassification.from_pretrained(str(d / "tagger"))
    assert model.config.id2label[2] == "NOUN"


def test_token_errors(tagger, tmp_path):
    _, base, train, _, _ = tagger
    small = ["train", "--task", "token", "--model", base, "--epochs", "1", "--quiet", "--out", tmp_path / "m"]
    assert_user_error(cli(*small, "--data", train, "--concept", "Tense"), "no word-level concept 'Tense'", "upos")
    assert_user_error(cli(*small, "--concept", "polarity"), "sentence-level concept: use --task sequence")
    assert_user_error(cli(*small, "--data", tmp_path / "none.conllu"), "is not embedded, ewt, a corpus file")
    from neuronlab.testing import synthetic_store

    synthetic_store(tmp_path / "u.h5", [["the", "dog"], ["a", "cat", "runs"]], labels={"pos": ([None] * 5, "row")})
    assert_user_error(cli(*small, "--data", tmp_path / "u.h5", "--concept", "pos"), "'pos': no training word",
                      "carries a label")
    assert not (tmp_path / "m").exists()
