"""Import/export of NeuroX activation files (neuronlab.store.neurox).

The NeuroX files built here by hand follow NeuroX's writer (neurox/data/writer.py, Dalvi et al.
2019): hdf5 = one dataset per sentence named str(index), shape (n_layers, n_tokens, hidden), plus
``sentence_to_index`` = (1,) vlen str holding json {text: index}; json = one line per sentence
{"linex_index", "features": [{"token", "layers": [{"index", "values"}]}]}.
"""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from neuronlab.errors import CorpusError, InvalidParameterError, StoreError
from neuronlab.store import ActivationStore
from neuronlab.store import neurox as nx
from neuronlab.store.neurox import export_neurox, import_neurox, neurox_sites
from neuronlab.testing import synthetic_store

SENTS = [["the", "cat", "sat"], ["dogs", "run"], ["the", "cat", "sat"], ["a", "b", "c", "d"]]
SITES = ["embeddings", "layers.0", "layers.1"]
WIDTH = 5


def make_store(path, sentences=SENTS, sites=None, tokens=None, granularity="word", seed=0):
    """A small complete store written through the public create + writer API; returns (path, {site: array})."""
    data = synthetic_store(path, sentences, sites=sites or {s: WIDTH for s in SITES}, tokens=tokens,
                           granularity=granularity, seed=seed, model={"name": "toy"})
    return path, data


def write_neurox_hdf5(path, sentences, arrays, keys=None):
    """A NeuroX hdf5 file built by hand per the format description."""
    with h5py.File(path, "w") as f:
        mapping = {}
        for i, arr in enumerate(arrays):
            f.create_dataset(str(i), data=arr)
        for i, key in enumerate(keys if keys is not None else [" ".join(s) for s in sentences]):
            mapping[key] = str(i)
        ds = f.create_dataset("sentence_to_index", (1,), dtype=h5py.special_dtype(vlen=str))
        ds[0] = json.dumps(mapping)


# ---------------------------------------------------------------------------- hand-built files
def test_hand_built_hdf5_imports_to_expected_values(tmp_path):
    # 3 layers (embeddings + 2 blocks) x width 2; value = 100*layer + 10*token + neuron, sentence 1 offset by 1000
    arrs = [np.fromfunction(lambda l, t, h: 100 * l + 10 * t + h + 1000 * i, (3, n, 2), dtype=np.float32)
            for i, n in enumerate([2, 3, 2])]
    keys = ["hi there", "a b c", "hi there (Occurrence 2)"]  # NeuroX's key for a repeated sentence
    write_neurox_hdf5(tmp_path / "x.hdf5", None, arrs, keys=keys)
    with import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5", model_name="bert-x") as store:
        assert store.sites == ["embeddings", "layers.0", "layers.1"]
        assert store.granularity == "word"
        assert store.dtype == "float32"
        assert store.offsets.tolist() == [0, 2, 5, 7]
        assert store.tokens() == ["hi", "there", "a", "b", "c", "hi", "there"]
        assert store.texts() == ["hi there", "a b c", "hi there"]
        # layers.0 is NeuroX layer 1: 100 + 10*t + h (+1000 for sentence 1, +2000 for sentence 2)
        np.testing.assert_array_equal(
            store["layers.0"][:],
            [[100, 101], [110, 111], [1100, 1101], [1110, 1111], [1120, 1121], [2100, 2101], [2110, 2111]],
        )
        np.testing.assert_array_equal(store["embeddings"][:, 1], [1, 11, 1001, 1011, 1021, 2001, 2011])
        assert store.model["imported_from"] == str(tmp_path / "x.hdf5")
        assert store.model["format"] == "neurox-hdf5" and store.config["format"] == "neurox-hdf5"
        assert store.model["name"] == "bert-x"
    # the file can be opened again as an ordinary, complete store
    with ActivationStore.open(tmp_path / "s.h5") as store:
        assert store.complete and store.n_rows == 7


def test_hdf5_index_order_not_mapping_order_and_float16(tmp_path):
    arrs = [np.full((2, 1, 3), i, dtype=np.float16) for i in range(3)]
    # mapping written out of order: sentences are imported by their index 0, 1, 2
    with h5py.File(tmp_path / "x.h5", "w") as f:
        for i, a in enumerate(arrs):
            f.create_dataset(str(i), data=a)
        f.create_dataset("sentence_to_index", data=[json.dumps({"c": "2", "a": "0", "b": "1"})],
                         dtype=h5py.string_dtype())
    with import_neurox(tmp_path / "x.h5", tmp_path / "s.h5") as store:
        assert store.dtype == "float16"
        assert store.tokens() == ["a", "b", "c"]
        np.testing.assert_array_equal(store["layers.0"][:, 0], [0, 1, 2])


def test_hdf5_with_subword_rows_is_token_granularity(tmp_path):
    # key "un affable" has 2 words but the dataset has 3 rows (subwords): token granularity, placeholder tokens
    arr = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    write_neurox_hdf5(tmp_path / "x.hdf5", None, [arr], keys=["un affable"])
    with import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5") as store:
        assert store.granularity == "token"
        assert store.tokens() == ["#0", "#1", "#2"]
        assert store.texts() == ["un affable"]
        np.testing.assert_array_equal(store["layers.0"][:], arr[1])


def test_json_hand_built_and_labels(tmp_path):
    lines = [
        {"linex_index": 0, "features": [
            {"token": "hi", "layers": [{"index": 0, "values": [1.5, -2.0]}, {"index": 1, "values": [3.0, 4.0]}]},
            {"token": "you", "layers": [{"index": 0, "values": [5.0, 6.0]}, {"index": 1, "values": [7.0, 8.25]}]}]},
        {"linex_index": 1, "features": [
            {"token": "ok", "layers": [{"index": 0, "values": [9.0, 10.0]}, {"index": 1, "values": [11.0, 12.0]}]}]},
    ]
    (tmp_path / "x.json").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (tmp_path / "x.label").write_text("INTJ PRON\nINTJ\n")
    with import_neurox(tmp_path / "x.json", tmp_path / "s.h5", labels=tmp_path / "x.label") as store:
        assert store.sites == ["embeddings", "layers.0"]
        assert store.tokens() == ["hi", "you", "ok"] and store.texts() == ["hi you", "ok"]
        np.testing.assert_array_equal(store["embeddings"][:], [[1.5, -2.0], [5.0, 6.0], [9.0, 10.0]])
        np.testing.assert_array_equal(store["layers.0"][:], [[3.0, 4.0], [7.0, 8.25]] + [[11.0, 12.0]])
        assert store.model["format"] == "neurox-json"
        lab = store.label("label")
        assert lab.level == "row" and list(lab.names()) == ["INTJ", "PRON", "INTJ"]
    # sentence-level labels (one per line) and custom site names (a file written with --ignore_embeddings)
    (tmp_path / "y.label").write_text("pos\nneg\n")
    with import_neurox(tmp_path / "x.json", tmp_path / "t.h5", labels=tmp_path / "y.label",
                       sites=["layers.4", "layers.5"]) as store:
        assert store.sites == ["layers.4", "layers.5"]
        lab = store.label("label")
        assert lab.level == "sentence" and list(lab.names()) == ["pos", "neg"]


# ---------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("fmt", ["hdf5", "json"])
def test_round_trip_is_identical(tmp_path, fmt, monkeypatch):
    src, data = make_store(tmp_path / "src.h5")
    suffix = {"hdf5": ".hdf5", "json": ".json"}[fmt]
    # tiny buffers: import and export both go through several batches of sentences
    monkeypatch.setattr(nx, "_BUFFER_VALUES", 2 * WIDTH * len(SITES))
    export_neurox(src, tmp_path / f"x{suffix}")
    with ActivationStore.open(src) as a, import_neurox(tmp_path / f"x{suffix}", tmp_path / "back.h5") as b:
        assert b.sites == a.sites
        assert b.granularity == "word"
        assert b.tokens() == a.tokens() and b.texts() == a.texts()
        np.testing.assert_array_equal(b.offsets, a.offsets)
        for s in SITES:
            np.testing.assert_array_equal(b[s][:], data[s])
        np.testing.assert_array_equal(b.view().to_numpy(), a.view().to_numpy())


def test_hdf5_export_layout_and_duplicate_keys(tmp_path):
    src, data = make_store(tmp_path / "src.h5")
    export_neurox(src, tmp_path / "x.hdf5", sites="layers.*")
    with h5py.File(tmp_path / "x.hdf5", "r") as f:
        mapping = json.loads(f["sentence_to_index"][0])
        # the repeated sentence 2 gets NeuroX's "(Occurrence 2)" key; insertion order = sentence order
        assert list(mapping.items()) == [("the cat sat", "0"), ("dogs run", "1"),
                                         ("the cat sat (Occurrence 2)", "2"), ("a b c d", "3")]
        assert f["1"].shape == (2, 2, WIDTH) and f["1"].dtype == np.float32
        np.testing.assert_array_equal(f["1"][1], data["layers.1"][3:5])


def test_token_granularity_round_trip_with_sentences(tmp_path):
    words = [["unaffable", "cat"], ["hi"]]
    toks = [["[CLS]", "un", "##aff", "##able", "cat", "[SEP]"], ["[CLS]", "hi", "[SEP]"]]
    src, data = make_store(tmp_path / "src.h5", sentences=words, tokens=toks, granularity="token")
    export_neurox(src, tmp_path / "x.json")
    with import_neurox(tmp_path / "x.json", tmp_path / "b.h5", sentences=words) as b:
        assert b.granularity == "token"  # 6 rows for 2 words
        assert b.tokens() == [t for s in toks for t in s]
        assert b.texts() == ["unaffable cat", "hi"]
        np.testing.assert_array_equal(b["layers.1"][:], data["layers.1"])


def test_json_decimals_follow_neurox_rounding(tmp_path):
    src, data = make_store(tmp_path / "src.h5")
    export_neurox(src, tmp_path / "x.json", decimals=8)
    first = json.loads((tmp_path / "x.json").read_text().splitlines()[0])
    assert first["linex_index"] == 0 and first["features"][1]["token"] == "cat"
    assert [l["index"] for l in first["features"][1]["layers"]] == [0, 1, 2]
    expected = [round(float(x), 8) for x in data["layers.0"][1]]  # NeuroX: round(x.item(), 8)
    assert first["features"][1]["layers"][1]["values"] == expected


# ---------------------------------------------------------------------------- NeuroX's own loader
@pytest.mark.filterwarnings("ignore::UserWarning")  # NeuroX's loader warns about its own tensor creation
@pytest.mark.parametrize("suffix", [".hdf5", ".json"])
def test_neurox_loader_reads_our_export(tmp_path, suffix):
    loader = pytest.importorskip("neurox.data.loader")
    src, _ = make_store(tmp_path / "src.h5")
    out = export_neurox(src, tmp_path / f"x{suffix}")
    acts, n_layers = loader.load_activations(str(out))
    assert n_layers == len(SITES)
    with ActivationStore.open(src) as store:
        X = store.view(sites=SITES).to_numpy()
        offs = store.offsets
    assert len(acts) == len(SENTS)
    for i, a in enumerate(acts):
        np.testing.assert_array_equal(np.asarray(a, dtype=np.float32), X[offs[i]:offs[i + 1]])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_import_agrees_with_neurox_loader_on_hand_built_file(tmp_path):
    loader = pytest.importorskip("neurox.data.loader")
    rng = np.random.default_rng(1)
    arrs = [rng.normal(size=(4, len(s), 3)).astype(np.float32) for s in SENTS[:2]]
    write_neurox_hdf5(tmp_path / "x.hdf5", SENTS[:2], arrs)
    acts, _ = loader.load_activations(str(tmp_path / "x.hdf5"))
    with import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5") as store:
        np.testing.assert_array_equal(store.view().to_numpy(), np.concatenate(acts))


# ---------------------------------------------------------------------------- bad input
def test_not_a_neurox_hdf5(tmp_path):
    with h5py.File(tmp_path / "x.hdf5", "w") as f:
        f.create_dataset("0", data=np.zeros((1, 1, 1)))
    with pytest.raises(StoreError, match="not a NeuroX activation file.*'sentence_to_index' is missing"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5")
    src, _ = make_store(tmp_path / "src.h5")
    with pytest.raises(StoreError, match="neuronlab activation store already"):
        import_neurox(src, tmp_path / "s.h5", format="hdf5")
    (tmp_path / "t.hdf5").write_text("hello")
    with pytest.raises(StoreError, match="not a readable HDF5 file"):
        import_neurox(tmp_path / "t.hdf5", tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists()


def test_missing_sentence_dataset(tmp_path):
    write_neurox_hdf5(tmp_path / "x.hdf5", [["a"], ["b"]], [np.zeros((2, 1, 3), np.float32)])
    with pytest.raises(StoreError, match="lists sentence 1 .* dataset '1' is missing"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5")


def test_inconsistent_layers_or_widths(tmp_path):
    write_neurox_hdf5(tmp_path / "x.hdf5", [["a"], ["b"]],
                      [np.zeros((3, 1, 4), np.float32), np.zeros((2, 1, 4), np.float32)])
    with pytest.raises(StoreError, match="dataset '1' has 2 layers x 4 neurons, dataset '0' has 3 layers x 4"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5")
    bad = [{"features": [{"token": "a", "layers": [{"index": 0, "values": [1, 2]}]}]},
           {"features": [{"token": "b", "layers": [{"index": 0, "values": [1, 2, 3]}]}]}]
    (tmp_path / "x.json").write_text("\n".join(map(json.dumps, bad)))
    with pytest.raises(StoreError, match="line 2: inconsistent sentences.*widths \\[3\\]"):
        import_neurox(tmp_path / "x.json", tmp_path / "s.h5")


def test_bad_json_lines(tmp_path):
    good = json.dumps({"linex_index": 0, "features": [{"token": "a", "layers": [{"index": 0, "values": [1]}]}]})
    (tmp_path / "x.json").write_text(good + "\n{not json\n")
    with pytest.raises(StoreError, match="line 2: not valid JSON"):
        import_neurox(tmp_path / "x.json", tmp_path / "s.h5")
    (tmp_path / "y.jsonl").write_text(good + "\n" + json.dumps({"linex_index": 1}) + "\n")
    with pytest.raises(StoreError, match="line 2 is not a NeuroX activation record: the key 'features' is missing"):
        import_neurox(tmp_path / "y.jsonl", tmp_path / "s.h5")
    (tmp_path / "z.json").write_text(json.dumps({"features": [{"token": "a"}]}) + "\n")
    with pytest.raises(StoreError, match="line 1: feature 0 must have the keys 'token' and 'layers'"):
        import_neurox(tmp_path / "z.json", tmp_path / "s.h5")


def test_parameter_errors(tmp_path):
    src, _ = make_store(tmp_path / "src.h5", sites={"layers.0": 4, "layers.0.mlp": 6})
    with pytest.raises(InvalidParameterError, match="widths layers.0=4, layers.0.mlp=6"):
        export_neurox(src, tmp_path / "x.hdf5")
    export_neurox(src, tmp_path / "x.hdf5", sites="layers.0.mlp")  # one width: fine
    with pytest.raises(InvalidParameterError, match="suffix '.txt'.*format='hdf5'"):
        export_neurox(src, tmp_path / "x.txt")
    with pytest.raises(InvalidParameterError, match="format must be one of hdf5, json, got 'csv'"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5", format="csv")
    (tmp_path / "s.h5").write_bytes(b"")
    with pytest.raises(StoreError, match="exists; pass overwrite=True"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5")
    with import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5", overwrite=True) as store:
        assert store.sites == ["embeddings"]
    with pytest.raises(InvalidParameterError, match="sentences has 1 sentences but .* holds 4"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "t.h5", sentences=[["a"]])
    with pytest.raises(InvalidParameterError, match="sites names 2 sites but the file has 1 layers"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "t.h5", sites=["layers.0", "layers.1"])
    (tmp_path / "x.label").write_text("A B C\nA B\nA B C\nA B C\n")
    with pytest.raises(CorpusError, match="line 4: 3 labels for 4 rows"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "t.h5", labels=tmp_path / "x.label")
    assert not (tmp_path / "t.h5").exists()  # a failed import leaves no half-written store


def test_neurox_sites():
    assert neurox_sites(1) == ["embeddings"]
    assert neurox_sites(13)[-1] == "layers.11"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_files_written_by_neurox_extractor(tmp_path, capsys):
    """NeuroX's own extractor on a tiny random BERT: import, compare with its loader, re-export identically."""
    extractor = pytest.importorskip("neurox.data.extraction.transformers_extractor")
    loader = pytest.importorskip("neurox.data.loader")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        from helpers.tiny_models import build_tiny_model

        model_dir = build_tiny_model("bert", tmp_path / "bert")
    except Exception as exc:  # the embedded MiniLM tokenizer package is missing
        pytest.skip(f"cannot build the tiny BERT: {exc}")
    finally:
        sys.path.pop(0)
    (tmp_path / "c.in").write_text("The unaffable cat sat .\nDogs run\nThe unaffable cat sat .\n")
    for suffix in (".hdf5", ".json"):
        extractor.extract_representations(str(model_dir), str(tmp_path / "c.in"), str(tmp_path / f"n{suffix}"),
                                          aggregation="average", output_type=suffix[1:])
    acts, n_layers = loader.load_activations(str(tmp_path / "n.hdf5"))
    capsys.readouterr()
    with import_neurox(tmp_path / "n.hdf5", tmp_path / "a.h5") as a, \
            import_neurox(tmp_path / "n.json", tmp_path / "b.h5") as b:
        assert a.sites == neurox_sites(n_layers) and a.granularity == "word"
        assert a.offsets.tolist() == [0, 5, 7, 12]
        assert a.tokens() == b.tokens() and a.tokens()[1] == "una##ffa##ble"  # NeuroX's detokenised words
        assert a.texts()[0] == a.texts()[2]  # the "(Occurrence 2)" suffix is not part of the text
        np.testing.assert_array_equal(a.view().to_numpy(), np.concatenate(acts))
        # json holds values rounded to 8 decimals
        np.testing.assert_allclose(b.view().to_numpy(), a.view().to_numpy(), rtol=0, atol=1e-8)
        export_neurox(a, tmp_path / "re.hdf5")
    with h5py.File(tmp_path / "re.hdf5", "r") as f, h5py.File(tmp_path / "n.hdf5", "r") as g:
        assert json.loads(f["sentence_to_index"][0]) == json.loads(g["sentence_to_index"][0])
        for k in ("0", "1", "2"):
            np.testing.assert_array_equal(f[k][()], g[k][()])
