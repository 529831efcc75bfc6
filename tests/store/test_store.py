"""ActivationStore: schema, lazy mapping access, views, labels, results, completeness (no torch needed)."""
from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from neuronlab.errors import IncompleteStoreError, InvalidParameterError, StoreError, UnknownSiteError
from neuronlab.store import ActivationStore
from neuronlab.store import schema
from neuronlab.testing import synthetic_store


def make_store(path, *, complete=True, dtype="float32"):
    return synthetic_store(path, [["a", "b", "c"], ["d", "e"], ["f", "g", "h", "i"]], dtype=dtype,
                           written=[(0, 2), (2, 3)] if complete else [(0, 2)], model={"name": "toy"},
                           config={"sites": "all"})


def test_mapping_access_and_views(tmp_path):
    p = tmp_path / "s.h5"
    data = make_store(p)
    with ActivationStore.open(p) as st:
        assert list(st) == ["embeddings", "layers.0", "layers.0.mlp"] and len(st) == 3
        assert st.n_rows == 9 and st.n_sentences == 3 and st.complete
        np.testing.assert_array_equal(st["layers.0"][2:4], data["layers.0"][2:4])
        np.testing.assert_array_equal(st["layers.0"][[7, 1, 1]], data["layers.0"][[7, 1, 1]])
        np.testing.assert_array_equal(np.asarray(st["embeddings"]), data["embeddings"])
        v = st.view(sites="layers.*", rows=[8, 0, 4])
        assert v.shape == (3, 4) and v.sites == ["layers.0"]
        np.testing.assert_array_equal(v.to_numpy(), data["layers.0"][[8, 0, 4]])
        v2 = st.view(sites=["embeddings", "layers.0.mlp"])
        full = np.concatenate([data["embeddings"], data["layers.0.mlp"]], axis=1)
        np.testing.assert_array_equal(v2.to_numpy(), full)
        chunks = list(v2.iter_chunks(chunk_rows=4))
        assert [(a, b) for a, b, _ in chunks] == [(0, 4), (4, 8), (8, 9)]
        np.testing.assert_array_equal(np.concatenate([c for *_, c in chunks]), full)
        assert v2.neuron_ids[:2] == ["embeddings:0", "embeddings:1"] and v2.neuron_ids[-1] == "layers.0.mlp:5"
        np.testing.assert_array_equal(st.view(rows=np.arange(9) % 2 == 0)[:, 0], data["embeddings"][::2, 0])
        np.testing.assert_array_equal(st.row_sentence(), [0, 0, 0, 1, 1, 2, 2, 2, 2])
        assert st.texts()[2] == "f g h i" and st.tokens()[3] == "d"
        assert st.neuron_ids("layers.0")[3] == "layers.0:3"


def test_schema_attributes_are_documented(tmp_path):
    p = tmp_path / "s.h5"
    make_store(p)
    with h5py.File(p, "r") as f:
        assert f.attrs["format"] == schema.FORMAT and f.attrs["schema_version"] == schema.SCHEMA_VERSION
        assert json.loads(f.attrs["model"]) == {"name": "toy"}
        for path in ("sentences/text", "sentences/offsets", "sentences/done", "rows/tokens", "sites/layers.0.mlp"):
            assert path in f
        assert f["sites/layers.0.mlp"].chunks is not None


def test_labels_and_results_round_trip(tmp_path):
    p = tmp_path / "s.h5"
    make_store(p)
    with ActivationStore.open(p, mode="r+") as st:
        st.write_label("pos", [0, 1, 1, 0, -1, 2, 2, 0, 1], ["DET", "NOUN", "VERB"])
        st.write_label("sent", [1, 0, 1], ["neg", "pos"], level="sentence")
        with pytest.raises(InvalidParameterError, match="expected 9 values"):
            st.write_label("bad", [0, 1], ["x", "y"])
        with pytest.raises(InvalidParameterError, match="values must lie in -1..1"):
            st.write_label("bad", [0] * 8 + [5], ["x", "y"])
        st.write_result("probe_pos", {"ranking": np.array(["layers.0:1", "embeddings:0"]), "scores": np.ones(2)},
                        config={"l1": 0.001}, kind="probe")
    with ActivationStore.open(p) as st:
        lab = st.label("pos")
        assert lab.level == "row" and lab.vocabulary == ["DET", "NOUN", "VERB"]
        assert list(lab.names()[:5]) == ["DET", "NOUN", "NOUN", "DET", None]
        assert st.label("sent").level == "sentence"
        with pytest.raises(InvalidParameterError, match="stored concepts: pos, sent"):
            st.label("tense")
        r = st.read_result("probe_pos")
        assert r["kind"] == "probe" and r["config"] == {"l1": 0.001} and list(r["ranking"]) == ["layers.0:1",
                                                                                                "embeddings:0"]


def test_incomplete_store_is_refused_unless_asked(tmp_path):
    p = tmp_path / "s.h5"
    make_store(p, complete=False)
    with pytest.raises(IncompleteStoreError, match="after 2 of 3 sentences"):
        ActivationStore.open(p)
    with ActivationStore.open(p, allow_incomplete=True) as st:
        assert st.n_done == 2 and st.n_valid_rows == 5 and not st.complete


def test_unknown_site_lists_valid_ones(tmp_path):
    p = tmp_path / "s.h5"
    make_store(p)
    with ActivationStore.open(p) as st:
        with pytest.raises(UnknownSiteError, match="stored sites: embeddings, layers.0, layers.0.mlp"):
            st["layers.3"]
        with pytest.raises(UnknownSiteError, match="matches no site"):
            st.view(sites="layers.*.attn")


def test_refuses_overwrite_and_newer_schema(tmp_path):
    p = tmp_path / "s.h5"
    make_store(p)
    with pytest.raises(StoreError, match="exists; pass overwrite=True"):
        make_store(p)
    with h5py.File(p, "r+") as f:
        f.attrs["schema_version"] = schema.SCHEMA_VERSION + 1
    with pytest.raises(StoreError, match="upgrade neuronlab"):
        ActivationStore.open(p)


def test_store_module_does_not_import_torch(tmp_path):
    code = ("import sys; from neuronlab.store import ActivationStore; import neuronlab.concepts; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
