"""Issue 10, item 7 (and item 3 for the import): NeuroX imports refuse NaN/inf and row counts that do not
match their words, and a failed import never touches an existing store."""
from __future__ import annotations

import json
import logging
import subprocess
import sys

import h5py
import numpy as np
import pytest

from neuronlab.errors import CorpusError, InvalidParameterError, NonFiniteError
from neuronlab.store import ActivationStore
from neuronlab.store.neurox import import_neurox


def write_hdf5(path, keys, arrays):
    with h5py.File(path, "w") as f:
        for i, arr in enumerate(arrays):
            f.create_dataset(str(i), data=arr)
        ds = f.create_dataset("sentence_to_index", (1,), dtype=h5py.string_dtype())
        ds[0] = json.dumps({k: str(i) for i, k in enumerate(keys)})


KEYS = ["the cat sat", "dogs run", "a b c d"]


def arrays(rows=(3, 2, 4)):
    return [np.full((2, n, 3), i + 1, dtype=np.float32) for i, n in enumerate(rows)]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused_by_default(tmp_path, bad):
    arrs = arrays()
    arrs[1][1, 1, 2] = bad
    write_hdf5(tmp_path / "x.hdf5", KEYS, arrs)
    with pytest.raises(NonFiniteError, match=r"sentence 1 \('dogs run'\) holds a non-finite value .* at layer 1 "
                                             r"\(layers\.0\), row 1, neuron 2.*allow_nonfinite=True"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.hdf5"]  # nothing left behind


def test_non_finite_values_in_json_and_the_explicit_opt_in(tmp_path, caplog):
    line = {"linex_index": 0, "features": [{"token": "hi", "layers": [{"index": 0, "values": [1.0, float("inf")]}]}]}
    (tmp_path / "x.json").write_text(json.dumps(line) + "\n")  # json.dumps writes Infinity, as NeuroX's writer would
    with pytest.raises(NonFiniteError, match=r"sentence 0 \('hi'\)"):
        import_neurox(tmp_path / "x.json", tmp_path / "s.h5")
    with caplog.at_level(logging.WARNING, logger="neuronlab"):
        with import_neurox(tmp_path / "x.json", tmp_path / "s.h5", allow_nonfinite=True) as st:
            assert st.complete and np.isinf(st["embeddings"][0, 1])
    assert "imported 1 non-finite values" in caplog.text


def test_cli_refuses_non_finite_and_takes_allow_nonfinite(tmp_path):
    arrs = arrays()
    arrs[0][0, 0, 0] = np.nan
    write_hdf5(tmp_path / "x.hdf5", KEYS, arrs)
    cmd = [sys.executable, "-m", "neuronlab", "import-neurox", str(tmp_path / "x.hdf5"), "--out", str(tmp_path / "s.h5")]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.startswith("neuronlab: error: ") and "non-finite" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "s.h5").exists()
    res = subprocess.run(cmd + ["--allow-nonfinite"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "non-finite values" in res.stderr


def test_one_sentence_with_more_rows_than_words_is_an_error_naming_it(tmp_path):
    write_hdf5(tmp_path / "x.hdf5", KEYS, arrays(rows=(3, 2, 6)))  # 6 rows for the 4 words of sentence 2
    with pytest.raises(InvalidParameterError, match=r"sentence 2 \('a b c d'\) has 6 rows for 4 words.*"
                                                    r"granularity='token'"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists()
    with import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5", granularity="token") as st:
        assert st.granularity == "token" and st.n_rows == 11
        assert st.tokens()[:5] == ["the", "cat", "sat", "dogs", "run"] and st.tokens()[5:] == [f"#{j}" for j in range(6)]
    with pytest.raises(InvalidParameterError, match="granularity='word' needs one row per word"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "t.h5", granularity="word")


def test_a_failed_overwrite_keeps_the_existing_store(tmp_path):
    write_hdf5(tmp_path / "x.hdf5", KEYS, arrays())
    import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5").close()
    before = (tmp_path / "s.h5").read_bytes()
    (tmp_path / "bad.label").write_text("A B\n")  # one line of labels for three sentences
    with pytest.raises(CorpusError, match="1 lines of labels for 3 sentences"):
        import_neurox(tmp_path / "x.hdf5", tmp_path / "s.h5", labels=tmp_path / "bad.label", overwrite=True)
    assert (tmp_path / "s.h5").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.label", "s.h5", "x.hdf5"]
    ActivationStore.open(tmp_path / "s.h5").close()
