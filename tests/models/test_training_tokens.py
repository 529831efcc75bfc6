"""Token-classification training on a tiny BERT: first-subword labels, a planted word rule is learned, the card,
the saved directory reloads as AutoModelForTokenClassification, the live layer explains one word's logit."""
from __future__ import annotations

import json
import random

import pytest

torch = pytest.importorskip("torch")

from helpers.tiny_models import build_tiny_model  # noqa: E402

from neuronlab.errors import InvalidParameterError  # noqa: E402
from neuronlab.models.training import CARD_NAME, TrainConfig  # noqa: E402
from neuronlab.models.training_tokens import IGNORE, first_subword_labels, token_data, train_token_classifier  # noqa: E402

# the planted rule: a word's tag is the list it comes from; "unbelievably" is several WordPiece subwords
LISTS = {"ADJ": ["good", "bad", "unbelievably", "green"], "NOUN": ["film", "dog", "house", "tree"],
         "DET": ["the", "a", "this", "every"]}
NAMES = sorted(LISTS)


def planted(n: int, seed: int):
    rng = random.Random(seed)
    words, tags = [], []
    for _ in range(n):
        seq = [rng.choice(NAMES) for _ in range(rng.randint(3, 7))]
        words.append([rng.choice(LISTS[t]) for t in seq])
        tags.append([NAMES.index(t) for t in seq])
    return words, tags


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tagger")
    base = build_tiny_model("bert", tmp / "base")
    tr, dv = planted(96, 0), planted(24, 1)
    card = train_token_classifier(str(base), *tr, tmp / "tagger", label_names=NAMES, concept="pos", dev_words=dv[0],
                                  dev_tags=dv[1], config=TrainConfig(epochs=8, lr=3e-3, batch_size=16, seed=0),
                                  data="planted", split="two seeds")
    return tmp / "tagger", card, dv


def test_first_subword_labels(tmp_path):
    from transformers import AutoTokenizer

    base = build_tiny_model("bert", tmp_path / "base")
    tok = AutoTokenizer.from_pretrained(str(base))
    enc = tok([["the", "unbelievably", "good"]], is_split_into_words=True, return_tensors="pt")
    pieces = tok.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    assert len(pieces) > 5  # [CLS] the un ##bel... good [SEP]: the middle word has several subwords
    got = first_subword_labels(enc, [[0, 1, 2]])[0].tolist()
    want = [IGNORE] * len(pieces)
    want[1], want[2], want[-2] = 0, 1, 2
    assert got == want


def test_planted_rule_is_learned(tagger):
    _, card, dv = tagger
    flat = [t for s in dv[1] for t in s]
    majority = max(flat.count(c) for c in set(flat)) / len(flat)
    assert majority < 0.5 and card["dev_accuracy"] >= 0.95
    assert card["history"][-1]["train_loss"] < card["history"][0]["train_loss"]


def test_card_fields(tagger):
    path, card, dv = tagger
    on_disk = json.loads((path / CARD_NAME).read_text())
    assert on_disk == json.loads(json.dumps(card))
    assert on_disk["task"] == "token-classification" and on_disk["concept"] == "pos"
    assert on_disk["labels"] == NAMES and on_disk["data"] == "planted" and on_disk["split"] == "two seeds"
    assert on_disk["seed"] == 0 and on_disk["epochs"] == 8 and on_disk["n_train"] == 96 and on_disk["n_dev"] == 24
    assert on_disk["n_dev_words"] == sum(len(s) for s in dv[0])
    assert "first subword" in on_disk["labelling"] and on_disk["dev_accuracy"] == on_disk["history"][-1]["dev_accuracy"]


def test_reload_predicts_the_rule(tagger):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    path, _, _ = tagger
    model = AutoModelForTokenClassification.from_pretrained(str(path)).eval()
    tok = AutoTokenizer.from_pretrained(str(path))
    assert model.config.id2label == dict(enumerate(NAMES))
    words = ["this", "green", "house", "a", "dog"]
    enc = tok([words], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        pred = model(**enc).logits.argmax(-1)[0]
    first = [enc.word_ids(0).index(w) for w in range(len(words))]
    assert [NAMES[int(pred[t])] for t in first] == ["DET", "ADJ", "NOUN", "DET", "NOUN"]


def test_live_layer_attributes_one_words_logit(tagger):
    """The live model finds the token head; conductance of a word's ADJ logit is complete and its F(x) is that logit."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from neuronlab.attribution.layer_conductance import LayerConductance
    from neuronlab.models.live import load_live
    from neuronlab.models.targets import Target

    path, _, _ = tagger
    live = load_live(str(path))
    assert live.info["head"] == "token-classification"
    words = [["the", "unbelievably", "good", "film"]]
    res = LayerConductance(live, "layers.1", steps=64).attribute(words, target=Target("logit", NAMES.index("ADJ"),
                                                                                        position=1))
    model = AutoModelForTokenClassification.from_pretrained(str(path)).eval()
    enc = AutoTokenizer.from_pretrained(str(path))(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        logit = model(**enc).logits[0, enc.word_ids(0).index(1), NAMES.index("ADJ")]
    assert res.f_input[0] == pytest.approx(float(logit), abs=1e-4)
    assert abs(res.delta[0]) <= 1e-3 * max(1.0, abs(res.f_input[0] - res.f_baseline[0]))


def test_bad_input(tmp_path):
    base = str(build_tiny_model("bert", tmp_path / "base"))
    with pytest.raises(InvalidParameterError, match="no word carries a label"):
        train_token_classifier(base, [["a", "b"]], [[IGNORE, IGNORE]], tmp_path / "x", label_names=["X", "Y"])
    with pytest.raises(InvalidParameterError, match="sentence 0 has 2 words but 1 tags"):
        train_token_classifier(base, [["a", "b"]], [[0]], tmp_path / "x", label_names=["X", "Y"])
    with pytest.raises(InvalidParameterError, match=r"tags must lie in 0\.\.1"):
        train_token_classifier(base, [["a"]], [[2]], tmp_path / "x", label_names=["X", "Y"])
    with pytest.raises(InvalidParameterError, match="at least 2 classes"):
        train_token_classifier(base, [["a"]], [[0]], tmp_path / "x", label_names=["X"])


# ------------------------------------------------------------------ data
CONLLU = """# text = The dog barks .
1\tThe\tthe\tDET\tDT\tDefinite=Def\t2\tdet\t_\t_
2\tdog\tdog\tNOUN\tNN\tNumber=Sing\t3\tnsubj\t_\t_
3\tbarks\tbark\tVERB\tVBZ\tNumber=Sing\t0\troot\t_\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# text = Cats sleep .
1\tCats\tcat\tNOUN\tNNS\tNumber=Plur\t2\tnsubj\t_\t_
2\tsleep\tsleep\tVERB\tVBP\t_\t0\troot\t_\t_
3\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_

"""


def test_token_data_from_conllu(tmp_path):
    train, dev = tmp_path / "train.conllu", tmp_path / "dev.conllu"
    train.write_text(CONLLU)
    dev.write_text(CONLLU.split("\n\n")[1] + "\n\n")
    d = token_data(str(train), concept="upos", dev=dev)
    assert d.label_names == ["DET", "NOUN", "PUNCT", "VERB"]
    assert d.train_words == [["The", "dog", "barks", "."], ["Cats", "sleep", "."]]
    assert d.train_tags == [[0, 1, 3, 2], [1, 3, 2]] and d.dev_tags == [[1, 3, 2]]
    n = token_data(str(train), concept="Number", dev=dev)  # a feature: words without it are ignored
    assert n.label_names == ["Plur", "Sing"] and n.train_tags == [[IGNORE, 1, 1, IGNORE], [0, IGNORE, IGNORE]]


def test_token_data_embedded_split_and_subset():
    d = token_data("embedded", concept="upos", max_examples=50, seed=3)
    assert len(d.train_words) == 50 and len(d.dev_words) == 500 and "NOUN" in d.label_names
    assert all(len(w) == len(t) for w, t in zip(d.train_words, d.train_tags))
    assert "50 training sentences drawn at random (seed 3)" in d.split and d.data == "embedded corpus:upos"


def test_token_data_from_a_store(tmp_path):
    from neuronlab.testing import synthetic_store

    sents = [["the", "dog", "runs"], ["a", "cat"], ["dogs", "bark", "loudly"], ["it", "rains"]]
    tags = ["D", "N", "V", "D", "N", "N", "V", None, "P", "V"]
    synthetic_store(tmp_path / "s.h5", sents, labels={"pos": (tags, "row")})
    d = token_data(str(tmp_path / "s.h5"), concept="pos", dev_fraction=0.25, seed=0)
    assert d.label_names == ["D", "N", "P", "V"] and len(d.train_words) == 3 and len(d.dev_words) == 1
    index = {" ".join(s): [None if t is None else "DNPV"[t] for t in tag] for s, tag in
             zip(d.train_words + d.dev_words, [[None if v == IGNORE else v for v in t] for t in d.train_tags + d.dev_tags])}
    assert index == {"the dog runs": ["D", "N", "V"], "a cat": ["D", "N"], "dogs bark loudly": ["N", "V", None],
                     "it rains": ["P", "V"]}


def test_token_data_errors(tmp_path, monkeypatch):
    with pytest.raises(InvalidParameterError, match="no word-level concept 'nope'.*upos"):
        token_data("embedded", concept="nope")
    with pytest.raises(InvalidParameterError, match="sentence-level concept: use --task sequence"):
        token_data("embedded", concept="polarity")
    from neuronlab.testing import synthetic_store

    synthetic_store(tmp_path / "u.h5", [["the", "dog"], ["a", "cat", "runs"]], labels={"pos": ([None] * 5, "row")})
    with pytest.raises(InvalidParameterError, match="concept 'pos': no training word of store .* carries a label"):
        token_data(str(tmp_path / "u.h5"), concept="pos", dev_fraction=0.5)
    with pytest.raises(InvalidParameterError, match="token training needs a word-level store"):
        synthetic_store(tmp_path / "t.h5", [["the", "dog"]], tokens=[["the", "d", "##og"]], granularity="token")
        token_data(str(tmp_path / "t.h5"), concept="pos")
    with pytest.raises(InvalidParameterError, match="is not embedded, ewt, a corpus file"):
        token_data(str(tmp_path / "missing.conllu"))
    monkeypatch.setenv("NEURONLAB_SHARED_DATA", str(tmp_path))
    with pytest.raises(InvalidParameterError, match="NEURONLAB_SHARED_DATA"):
        token_data("ewt")
