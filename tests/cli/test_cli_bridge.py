"""`neuronlab tcav` and `neuronlab bridge` on a tiny BERT classifier: values equal the library's, results go into the
store with their configuration, progress on stderr, user mistakes are one-line errors."""
from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cli_helpers import assert_user_error, cli  # noqa: E402
from helpers.live_models import tiny_bert  # noqa: E402

ADJ = ["good", "bad", "nice", "dull", "great", "awful"]
NOUN = ["film", "plot", "cast", "movie", "story"]


def _conllu(path, n: int = 24, seed: int = 0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [("the", "DET"), (rng.choice(NOUN), "NOUN"), ("was", "AUX"), (rng.choice(ADJ), "ADJ")]
        out.append("\n".join(f"{k + 1}\t{w}\t{w}\t{t}\t_\t_\t0\t_\t_\t_" for k, (w, t) in enumerate(words)))
    path.write_text("\n\n".join(out) + "\n\n")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny classifier directory, a store extracted from it with a probeless UPOS ranking, and a store of another
    model (same architecture, other weights)."""
    d = tmp_path_factory.mktemp("bridgecli")
    for name, seed in (("clf", 0), ("other", 1)):
        live = tiny_bert(seed=seed)
        live.model.config.id2label, live.model.config.label2id = {0: "neg", 1: "pos"}, {"neg": 0, "pos": 1}
        live.model.save_pretrained(d / name)
        live.tokenizer.save_pretrained(d / name)
    corpus = _conllu(d / "c.conllu")
    for name in ("clf", "other"):
        assert cli("extract", "--model", d / name, "--corpus", corpus, "--sites", "layers.0,layers.1", "--dtype",
                   "float32", "--out", d / f"{name}.h5", "--quiet")[0] == 0
    assert cli("rank", d / "clf.h5", "--concept", "upos", "--method", "probeless", "--sites", "layers.1",
               "--quiet")[0] == 0
    (d / "concept.txt").write_text("a red car\na blue hat\na green door\na yellow bus\n")
    (d / "random.txt").write_text("\n".join(["he ran home", "we ate", "it fell", "I sang loudly", "they left early",
                                             "she reads", "the dog slept", "rain came"]) + "\n")
    return d


@pytest.fixture()
def store(setup, tmp_path):
    dst = tmp_path / "s.h5"
    shutil.copy(setup / "clf.h5", dst)
    return dst


@pytest.fixture(scope="module")
def live(setup):
    from neuronlab.models.live import load_live

    return load_live(str(setup / "clf"))


# ------------------------------------------------------------------ bridge
def test_bridge_equals_the_library_and_goes_into_the_store(setup, store, live):
    from neuronlab.attribution import BridgeResult, ConceptBridge
    from neuronlab.attribution.neuron_sets import concept_neurons
    from neuronlab.store import ActivationStore

    rc, out, err = cli("bridge", setup / "clf", "--corpus", "store", "--store", store, "--ranking",
                       "rank_probeless_upos", "--top-k", "3", "--random-sets", "8", "--param", "steps=3",
                       "--baseline", "mean", "--max-examples", "6", "--json")
    assert rc == 0, err
    assert "bridge:" in err  # the progress bar, on stderr
    rep = json.loads(out)
    with ActivationStore.open(store) as st:
        words = [t.split(" ") for t in st.texts()[:6]]
        ids = concept_neurons(st, "rank_probeless_upos", top_k=3)
        lib = ConceptBridge(live, method_params={"steps": 3}, n_random=8, baseline="mean", store=st).attribute(
            words, neurons=ids)
        stored = BridgeResult.from_store(st, rep["result_path"].rsplit("/", 1)[1])
    assert rep["neurons"] == lib.neurons == ids[0]
    assert rep["share"] == pytest.approx(lib.share, rel=1e-6)
    assert rep["share_p_value"] == lib.share_p_value
    assert rep["ablation"]["target_effect"] == pytest.approx(lib.ablation["target_effect"], rel=1e-6, abs=1e-12)
    assert rep["model_check"] == "fingerprint" and rep["result_path"] == "/results/bridge_upos"
    assert stored.share == pytest.approx(rep["share"]) and stored.config["cli"]["n_inputs"] == 6
    assert stored.config["method_params"] == {"steps": 3} and stored.config["n_random"] == 8
    assert rep["sentence"].startswith("the top 3 upos neurons carry")


def test_bridge_neuron_ids_without_a_store(setup):
    rc, out, err = cli("bridge", setup / "clf", "--text", "the film was good", "--text", "a dull plot",
                       "--neurons", "layers.1:3,layers.0:5", "--random-sets", "4", "--method", "gradient x activation",
                       "--no-ablation", "--quiet")
    assert rc == 0, err
    assert out.startswith("the 2 given neurons carry") and "layers.1: 1, layers.0: 1" in out.replace(
        "layers.0: 1, layers.1: 1", "layers.1: 1, layers.0: 1")
    assert err == ""  # --quiet: no bar


@pytest.mark.parametrize("extra, message", [
    (["--neurons", "layers.1:3,layers.1:99"], "neuron 99 is out of range: site 'layers.1' has 16 neurons"),
    (["--neurons", "layers.7:1"], "'layers.7' matches no site"),
    (["--neurons", "layers.1:1", "--target", "7"], "--target '7' is not a class of the model; it has 2 classes"),
    (["--ranking", "rank_probeless_upos", "--top-k", "2"], "--ranking reads a result of --store"),
    (["--neurons", "layers.1:1", "--target", "gold"], "--target gold needs a corpus"),
    (["--neurons", "layers.1:1", "--random-sets", "0"], "--random-sets must be a positive int"),
])
def test_bridge_user_errors(setup, extra, message):
    assert_user_error(cli("bridge", setup / "clf", "--text", "a good film", "--quiet", *extra), message)


def test_bridge_store_errors(setup, store):
    other = setup / "other.h5"
    assert_user_error(cli("bridge", setup / "clf", "--text", "a good film", "--store", other, "--neurons", "layers.1:1",
                          "--quiet"), "extracted from another model")
    assert_user_error(cli("bridge", setup / "clf", "--text", "a good film", "--store", store, "--ranking", "nope",
                          "--top-k", "2", "--quiet"), "result 'nope' is not in the store")
    assert_user_error(cli("bridge", setup / "clf", "--text", "a good film", "--store", store, "--ranking",
                          "rank_probeless_upos", "--quiet"), "give top_k or top_fraction")


# ------------------------------------------------------------------ tcav
def test_tcav_store_concepts_equal_the_library_and_cache(setup, store, live):
    from neuronlab.attribution import TCAV, TCAVResult
    from neuronlab.models.targets import Target
    from neuronlab.store import ActivationStore

    args = ["tcav", setup / "clf", "--text", "the film was good", "--text", "a nice cast", "--store", store, "--site",
            "layers.0,layers.1", "--target", "pos", "--concept", "upos:ADJ", "--runs", "3", "--json"]
    rc, out, err = cli(*args)
    assert rc == 0, err
    assert "tcav:" in err
    rep = json.loads(out)
    assert rep["class_name"] == "pos" and rep["result_path"] == "/results/tcav_1"
    with ActivationStore.open(store, mode="r+") as st:  # writable: the CAV cache is read from it
        lib = TCAV(live, "layers.0,layers.1", n_runs=3).attribute(
            [["the", "film", "was", "good"], ["a", "nice", "cast"]], target=Target("logit", 1),
            concepts=["upos:ADJ"], store=st)
        stored = TCAVResult.from_store(st, "tcav_1")
    for got, ref in zip(rep["rows"], lib.rows):
        assert got["site"] == ref["site"] and got["score"] == ref["score"]
        assert got["p_value"] == pytest.approx(ref["p_value"]) and got["cav_accuracy"] == ref["cav_accuracy"]
    assert rep["config"]["cavs_trained"] == 12 and lib.config["cavs_trained"] == 0  # the CLI cached them
    assert stored.config["cli"]["inputs"] == "2 --text" and stored.config["n_runs"] == 3
    np.testing.assert_allclose(stored.scores, lib.scores)


def test_tcav_text_concepts(setup):
    rc, out, err = cli("tcav", setup / "clf", "--text", "a good film", "--site", "layers.1", "--target", "1",
                       "--concept", f"colour={setup / 'concept.txt'}", "--random", setup / "random.txt", "--runs", "2",
                       "--quiet")
    assert rc == 0, err
    assert "colour at layers.1: score" in out and "CAV accuracy" in out


@pytest.mark.parametrize("extra, message", [
    (["--target", "7", "--concept", "c={concept}", "--random", "{random}"], "--target '7' is not a class"),
    (["--site", "layers.7", "--concept", "c={concept}", "--random", "{random}"], "'layers.7' matches no site"),
    (["--concept", "upos:ADJ"], "--concept 'upos:ADJ' selects store rows; give --store"),
    (["--concept", "c={concept}"], "text concepts need --random FILE"),
    (["--concept", "c=/nonexistent.txt", "--random", "{random}"], "--concept c='/nonexistent.txt' is not a file"),
    (["--concept", "colour"], "expected NAME=FILE"),
    (["--concept", "c={concept}", "--random", "{random}", "--runs", "1"], "--runs must be at least 2"),
])
def test_tcav_user_errors(setup, extra, message):
    extra = [x.format(concept=setup / "concept.txt", random=setup / "random.txt") for x in extra]
    base = ["tcav", setup / "clf", "--text", "a good film", "--quiet"]
    if "--site" not in extra:
        base += ["--site", "layers.1"]
    if "--target" not in extra:
        base += ["--target", "1"]
    assert_user_error(cli(*base, *extra), message)


def test_tcav_store_of_another_model(setup):
    assert_user_error(cli("tcav", setup / "clf", "--text", "a good film", "--site", "layers.1", "--target", "1",
                          "--store", setup / "other.h5", "--concept", "upos:ADJ", "--runs", "2", "--quiet"),
                      "extracted from another model")
