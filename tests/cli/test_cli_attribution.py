"""`neuronlab train`, `attribute` and `ablate` on a tiny BERT: values equal the library's, results go into the
store (never a store of another model), directory outputs are safe, user mistakes are one-line errors."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cli_helpers import assert_user_error, cli, leftovers  # noqa: E402
from helpers.tiny_models import build_tiny_model  # noqa: E402

POS = ["good", "great", "fine", "nice"]
NEG = ["bad", "awful", "poor", "dull"]
TEXTS = ["the film was good", "the plot was awful and dull", "a nice cast"]


def _toy_tsv(path, n: int, seed: int):
    rng = random.Random(seed)
    lines = ["label\tsentence"]
    for i in range(n):
        y = i % 2
        lines.append(f"{'pos' if y else 'neg'}\tthe {rng.choice(['film', 'plot', 'cast'])} was "
                     f"{rng.choice(POS if y else NEG)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny BERT base, a toy TSV, and the classifier `neuronlab train` made of them (with its --json card)."""
    d = tmp_path_factory.mktemp("attrcli")
    base = build_tiny_model("bert", d / "base")
    data = _toy_tsv(d / "toy.tsv", 80, 0)
    res = cli("train", "--model", base, "--data", data, "--dev-fraction", "0.2", "--epochs", "6", "--lr", "3e-3",
              "--batch-size", "16", "--seed", "0", "--out", d / "clf", "--json", "--quiet")
    assert res[0] == 0, res[2]
    return d, base, data, d / "clf", json.loads(res[1])


@pytest.fixture(scope="module")
def live(trained):
    from neuronlab.models.live import load_live

    return load_live(str(trained[3]))


def _stores(trained):
    """A store extracted from the classifier and one from its base model (another model)."""
    d, base, _, clf, _ = trained
    corpus = d / "s.txt"
    if not (d / "clf.h5").exists():
        corpus.write_text("\n".join(TEXTS) + "\n")
        for model, out in ((clf, d / "clf.h5"), (base, d / "base.h5")):
            assert cli("extract", "--model", model, "--corpus", corpus, "--sites", "layers.1,layers.2.mlp",
                       "--out", out, "--quiet")[0] == 0
    return d / "clf.h5", d / "base.h5"


# ------------------------------------------------------------------ train
def test_train_card_and_model(trained, live):
    from neuronlab.models.training import CARD_NAME, sentence_data

    d, base, data, clf, card = trained
    on_disk = json.loads((clf / CARD_NAME).read_text())
    assert {k: on_disk[k] for k in ("data", "split", "seed", "epochs", "n_train", "n_dev")} == {
        "data": str(data), "split": "random 0.8/0.2 split of the sentences (seed 0)", "seed": 0, "epochs": 6,
        "n_train": 64, "n_dev": 16}
    assert card["dev_accuracy"] == on_disk["dev_accuracy"] and card["labels"] == ["neg", "pos"]
    # the card's dev accuracy is the saved model's accuracy on the same split, recomputed here
    split = sentence_data(str(data), dev_fraction=0.2, seed=0)
    with torch.no_grad():
        pred = live.forward(live.encode(split.dev_texts)).logits.argmax(-1).tolist()
    assert card["dev_accuracy"] == np.mean(np.array(pred) == np.array(split.dev_labels))
    assert card["dev_accuracy"] > 0.9  # the toy task is separable
    assert leftovers(d) == [] and not [p for p in d.iterdir() if p.name.startswith(".clf")]


def test_train_progress_on_stderr_only(trained, tmp_path):
    d, base, data, _, _ = trained
    rc, out, err = cli("train", "--model", base, "--data", data, "--max-examples", "8", "--epochs", "1",
                       "--out", tmp_path / "m", "--json")
    assert rc == 0 and json.loads(out)["n_train"] == 8
    assert "train:" in err and "epoch 1: train loss" in err  # the tqdm bar and the log line


def test_train_directory_output_is_safe(trained, tmp_path):
    from neuronlab.models.training import CARD_NAME

    d, base, data, clf, _ = trained
    small = ["--model", base, "--data", data, "--max-examples", "4", "--epochs", "1", "--quiet"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    assert_user_error(cli("train", *small, "--out", foreign), "exists; pass --overwrite")
    assert_user_error(cli("train", *small, "--out", foreign, "--overwrite"), "neuronlab did not write")
    assert (foreign / "notes.txt").read_text() == "precious"
    assert_user_error(cli("train", *small, "--out", base, "--overwrite"), "input of this command")
    (tmp_path / "f.txt").write_text("x")
    assert_user_error(cli("train", *small, "--out", tmp_path / "f.txt"), "is a file")
    # a neuronlab model is replaced only when the new training succeeded
    out = tmp_path / "m"
    assert cli("train", *small, "--out", out)[0] == 0
    before = (out / CARD_NAME).read_text()
    assert_user_error(cli("train", *small[:2], "--data", tmp_path / "missing.tsv", "--epochs", "1", "--out", out,
                          "--overwrite", "--quiet"), "missing.tsv")
    assert (out / CARD_NAME).read_text() == before
    assert cli("train", *small, "--seed", "1", "--out", out, "--overwrite")[0] == 0
    assert json.loads((out / CARD_NAME).read_text())["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt", "m", "mine"]


def test_train_embedded_concept_error(trained, tmp_path):
    assert_user_error(cli("train", "--model", trained[1], "--concept", "nope", "--out", tmp_path / "m", "--quiet"),
                      "no sentence-level concept 'nope'", "polarity")


# ------------------------------------------------------------------ attribute
def test_attribute_conductance_equals_the_library(trained, live):
    from neuronlab.attribution import LayerConductance
    from neuronlab.models.targets import Target

    clf = trained[3]
    args = [a for t in TEXTS for a in ("--text", t)]
    rc, out, err = cli("attribute", clf, *args, "--site", "layers.1", "--param", "steps=8", "--target", "pos",
                       "--chunk", "2", "--json", "--quiet")
    assert rc == 0, err
    rep = json.loads(out)
    lib = LayerConductance(live, "layers.1", steps=8).attribute([t.split() for t in TEXTS], target=Target("logit", 1))
    np.testing.assert_allclose(rep["per_neuron_mean"], lib.per_neuron().mean(0), rtol=1e-5, atol=1e-8)
    for i, ex in enumerate(rep["examples"]):
        assert ex["class"] == 1 and ex["tokens"] == lib.tokens[i]
        np.testing.assert_allclose(ex["per_token"], lib.per_token()[i, : len(lib.tokens[i])], rtol=1e-5, atol=1e-9)
        # completeness: the neurons' conductance sums to F(x) - F(baseline)
        assert abs(ex["delta"]) <= 1e-3 * abs(ex["f_input"] - ex["f_baseline"]) + 1e-7
    assert rep["config"]["steps"] == 8 and rep["config"]["target"]["index"] == [1, 1, 1]
    assert rep["top_neurons"][0][0].startswith("layers.1:")


def test_attribute_predicted_and_gold_targets(trained, live):
    d, _, data, clf, _ = trained
    rc, out, err = cli("attribute", clf, "--corpus", data, "--max-examples", "5", "--site", "layers.2.mlp",
                       "--method", "grad-x-act", "--target", "gold", "--json", "--quiet")
    assert rc == 0, err
    rep = json.loads(out)
    gold = [ln.split("\t")[0] for ln in data.read_text().splitlines()[1:6]]
    assert [ex["class_name"] for ex in rep["examples"]] == gold
    rep2 = json.loads(cli("attribute", clf, "--corpus", data, "--max-examples", "5", "--site", "layers.2.mlp",
                          "--method", "grad-x-act", "--json", "--quiet")[1])
    with torch.no_grad():
        pred = live.forward(live.encode([ex["text"].split() for ex in rep["examples"]])).logits.argmax(-1).tolist()
    assert [ex["class"] for ex in rep2["examples"]] == pred


def test_attribute_neuron_conductance(trained, live):
    from neuronlab.attribution import NeuronConductance

    rc, out, err = cli("attribute", trained[3], "--text", TEXTS[0], "--site", "layers.1", "--method",
                       "neuron-conductance", "--neuron", "3", "--target", "0", "--param", "steps=6", "--json",
                       "--quiet")
    assert rc == 0, err
    lib = NeuronConductance(live, "layers.1", steps=6).attribute([TEXTS[0].split()], target=0, neuron=3)
    np.testing.assert_allclose(json.loads(out)["examples"][0]["per_token"], lib.attributions[0], rtol=1e-5,
                               atol=1e-9)


def test_attribute_into_store_and_out_file(trained, tmp_path):
    from neuronlab.store import ActivationStore

    clf_store, base_store = _stores(trained)
    out = tmp_path / "r.json"
    rc, stdout, err = cli("attribute", trained[3], "--text", TEXTS[1], "--site", "layers.1", "--method", "ig",
                          "--param", "steps=4", "--store", clf_store, "--out", out, "--json")
    assert rc == 0, err
    assert "attribute:" in err  # the progress bar, on stderr
    rep = json.loads(out.read_text())
    assert rep == json.loads(stdout)
    with ActivationStore.open(clf_store) as st:
        stored = st.read_result("attribute_layer_integrated_gradients_layers.1")
    assert rep["result_path"] == "/results/attribute_layer_integrated_gradients_layers.1"
    np.testing.assert_allclose(stored["per_neuron"][0], rep["per_neuron_mean"], rtol=1e-6)
    assert list(stored["neuron_ids"][:2]) in (["layers.1:0", "layers.1:1"], [b"layers.1:0", b"layers.1:1"])
    # a store of another model (the base model before fine-tuning) is refused, before any work
    line = assert_user_error(cli("attribute", trained[3], "--text", TEXTS[1], "--site", "layers.1", "--store",
                                 base_store, "--quiet"), "extracted from another model")
    assert "base" in line
    with ActivationStore.open(base_store) as st:
        assert st.result_names() == []
    # --out is never the store
    assert_user_error(cli("attribute", trained[3], "--text", "a", "--site", "layers.1", "--store", clf_store,
                          "--out", clf_store, "--overwrite", "--quiet"), "also an input")


def test_attribute_attention_heads_equals_the_library(trained, live):
    from neuronlab.attribution import SelfAttentionAttribution

    rc, out, err = cli("attribute", trained[3], "--text", TEXTS[0], "--text", TEXTS[2], "--site", "layers.1.attn.probs",
                       "--method", "attention", "--param", "steps=4", "--target", "1", "--json", "--quiet")
    assert rc == 0, err
    rep = json.loads(out)
    lib = SelfAttentionAttribution(live, "layers.1", steps=4).attribute([TEXTS[0].split(), TEXTS[2].split()],
                                                                       target=1)
    np.testing.assert_allclose(rep["per_neuron_mean"], lib.per_neuron().mean(axis=0), rtol=1e-5, atol=1e-12)
    assert {n for n, _ in rep["top_neurons"]} == {"layers.1.attn.probs:0", "layers.1.attn.probs:1"}
    assert rep["max_relative_delta"] < 1e-2
    # the text output names the heads
    rc, text, _ = cli("attribute", trained[3], "--text", TEXTS[0], "--site", "layers.2.attn.probs", "--method",
                      "attention", "--param", "steps=2", "--quiet")
    assert rc == 0 and "layers.2.attn.probs:" in text


def test_attribute_writes_rows_aligned_with_the_store(trained, tmp_path):
    """`attribute --corpus store --store S` attributes the store's sentences and writes one value per store row."""
    import shutil

    from neuronlab.attribution.store_rows import read_row_attributions
    from neuronlab.store import ActivationStore

    clf_store, _ = _stores(trained)
    store = tmp_path / "c.h5"
    shutil.copy(clf_store, store)
    rc, out, err = cli("attribute", trained[3], "--corpus", "store", "--store", store, "--site", "layers.1",
                       "--method", "grad-x-act", "--name", "gxa", "--json", "--quiet")
    assert rc == 0, err
    rep = json.loads(out)
    with ActivationStore.open(store) as st:
        rows = read_row_attributions(st, "gxa")
        words, n_rows, n_sent = st.tokens(), st.n_rows, st.n_sentences
    assert rep["n_examples"] == n_sent == len(TEXTS)
    assert list(rows.rows) == list(range(n_rows)) and list(rows.example_sentence) == [0, 1, 2]
    assert words == " ".join(TEXTS).split()
    # each sentence's rows sum to its per-neuron attribution less the special tokens' share
    per_token = np.asarray([ex["per_token"] for ex in rep["examples"]], dtype=object)
    assert rows.values.shape == (n_rows, 32) and rows.unit_ids[0] == "layers.1:0"
    first = np.asarray(per_token[0])
    np.testing.assert_allclose(rows.values[:4].sum(axis=1), first[1:-1], rtol=1e-5, atol=1e-9)
    assert_user_error(cli("attribute", trained[3], "--corpus", "store", "--site", "layers.1", "--quiet"),
                      "--corpus store reads the sentences of --store")


@pytest.mark.parametrize("extra, message", [
    (["--target", "7"], "--target '7' is not a class of the model; it has 2 classes: 0 (neg), 1 (pos)"),
    (["--target", "happy"], "--target 'happy' is not a class"),
    (["--site", "layers.9"], "layers.9"),
    (["--method", "neuron-conductance", "--neuron", "32"], "neuron 32 is out of range: site 'layers.1' has 32"),
    (["--method", "neuron-conductance"], "--neuron is needed"),
    (["--param", "steps=many"], "parameter 'steps'"),
    (["--param", "k=3"], "unknown parameter 'k'"),
    (["--target", "gold"], "--target gold needs a corpus"),
    (["--store", "/nonexistent/s.h5"], "does not exist"),
])
def test_attribute_user_errors(trained, extra, message):
    args = ["attribute", trained[3], "--text", "a good film", "--site", "layers.1", "--quiet"]
    if "--site" in extra:
        args = args[:4] + args[6:]
    assert_user_error(cli(*args, *extra), message)


def test_method_choices_come_from_the_registry(trained):
    from neuronlab.attribution import METHODS, MethodEntry, register_method
    from neuronlab.cli.main import build_parser

    shorts = [e.short for e in METHODS.values() if e.command == "attribute"]
    assert shorts == ["conductance", "neuron-conductance", "ig", "grad-x-act", "attention"]
    register_method(MethodEntry("my_method", "neuronlab.attribution:LayerGradientXActivation", "a test method",
                                short="mine"))
    try:
        sub = build_parser()._subparsers._group_actions[0].choices["attribute"]
        method = next(a for a in sub._actions if a.dest == "method")
        assert method.choices == shorts + ["mine"]
        rc, out, err = cli("attribute", trained[3], "--text", "a", "--site", "layers.0", "--method", "mine", "--json",
                           "--quiet")
        assert rc == 0 and json.loads(out)["method"] == "layer_gradient_x_activation"
    finally:
        METHODS.unregister("my_method")


# ------------------------------------------------------------------ ablate
def test_ablate_neurons_equals_the_library(trained, live):
    from neuronlab.attribution import NeuronAblation, ablation_effect

    d, _, data, clf, _ = trained
    rc, out, err = cli("ablate", clf, "--corpus", data, "--max-examples", "6", "--site", "layers.1", "--neurons",
                       "2,5-7", "--chunk", "4", "--json", "--quiet")
    assert rc == 0, err
    rep = json.loads(out)
    lines = data.read_text().splitlines()[1:7]
    words = [ln.split("\t")[1].split() for ln in lines]
    gold = [1 if ln.startswith("pos") else 0 for ln in lines]
    with torch.no_grad():
        pred = live.forward(live.encode(words)).logits.argmax(-1).tolist()
    lib = NeuronAblation(live, "layers.1").attribute(words, target={"index": pred}, neurons=[2, 5, 6, 7])
    assert rep["indices"] == [2, 5, 6, 7] and rep["neurons"][0] == "layers.1:2"
    np.testing.assert_allclose(rep["per_neuron_effect"], lib["effects"].mean(0), rtol=1e-5, atol=1e-7)
    grp = NeuronAblation(live, "layers.1").attribute(words, target={"index": pred}, groups=[[2, 5, 6, 7]])
    np.testing.assert_allclose(rep["group_effect_per_input"], grp["effects"][:, 0], rtol=1e-5, atol=1e-7)
    eff = ablation_effect(live, words, gold, site="layers.1", neurons=[2, 5, 6, 7])
    assert rep["dataset"]["before"] == pytest.approx(eff["before"]) and rep["dataset"]["after"] == pytest.approx(
        eff["after"])
    assert rep["dataset"]["before"]["accuracy"] == np.mean(np.array(pred) == np.array(gold))


def test_ablate_greedy_into_store_with_mean_baseline(trained, live):
    from neuronlab.attribution import GreedyAblation, ablation_values
    from neuronlab.store import ActivationStore

    clf_store, base_store = _stores(trained)
    args = ["ablate", trained[3], "--text", TEXTS[0], "--text", TEXTS[1], "--site", "layers.1", "--neurons", "0-9",
            "--greedy", "2", "--target", "1", "--baseline", "mean", "--store", clf_store, "--json", "--quiet"]
    rc, out, err = cli(*args)
    assert rc == 0, err
    rep = json.loads(out)
    with ActivationStore.open(clf_store) as st:
        mean = ablation_values(live, "layers.1", "mean", store=st)
        stored = st.read_result("ablate_greedy_layers.1")
    lib = GreedyAblation(live, "layers.1", k=2, baseline=mean).attribute([t.split() for t in TEXTS[:2]], target=1,
                                                                         candidates=range(10))
    assert rep["indices"] == lib["neurons"] and len(rep["curve"]) == 3
    np.testing.assert_allclose(rep["curve"], lib["curve"], rtol=1e-6)
    assert list(stored["indices"]) == lib["neurons"] and rep["config"]["baseline"] == "mean"
    assert_user_error(cli(*args[:-4], "--store", base_store, "--quiet"), "extracted from another model")


@pytest.mark.parametrize("extra, message", [
    (["--neurons", "40"], "neuron 40 is out of range: site 'layers.1' has 32 neurons"),
    (["--neurons", "1,x"], "--neurons expects indices and ranges"),
    (["--baseline", "mean"], "--baseline mean reads each neuron's mean from --store"),
    (["--greedy", "0"], "--greedy must be a positive int"),
    (["--target", "-1"], "not a class of the model"),
])
def test_ablate_user_errors(trained, extra, message):
    assert_user_error(cli("ablate", trained[3], "--text", "a good film", "--site", "layers.1", "--quiet", *extra),
                      message)
