"""Issue 10, items 6, 8 and 10 (store side): damaged, locked and read-only stores are named as such, in one line."""
from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from neuronlab.errors import (DamagedStoreError, IncompleteStoreError, InvalidParameterError, StoreError,
                              StoreLockedError, StoreReadOnlyError)
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store

SENTS = [["a", "b", "c"], ["d", "e"], ["f", "g", "h", "i"]]


@pytest.fixture()
def store_path(tmp_path):
    p = tmp_path / "s.h5"
    synthetic_store(p, SENTS, labels={"pos": (list("xyxyxyxyx"), "row")})
    return p


def _damage(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)


def _set(key, value):
    def fn(f):
        f[key][...] = value
    return fn


def _del(key):
    def fn(f):
        del f[key]
    return fn


def _attr(key, value):
    def fn(f):
        f.attrs[key] = value
    return fn


def _label_attr(key, value):
    def fn(f):
        if value is None:
            del f["labels/pos"].attrs[key]
        else:
            f["labels/pos"].attrs[key] = value
    return fn


DAMAGE = {
    "deleted site": (_del("sites/layers.0"), r"/sites/layers\.0 is missing"),
    "deleted label vocabulary": (_label_attr("vocabulary", None), r"label /labels/pos has no readable vocabulary"),
    "invalid config": (_attr("config", "{not json"), r"attribute 'config' of the file is not valid JSON"),
    "invalid model": (_attr("model", "[1, 2"), r"attribute 'model' of the file is not valid JSON"),
    "done beyond sentences": (_set("sentences/done", [7]), r"/sentences/done says 7 sentences are written, the store has 3"),
    "offsets end out of range": (_set("sentences/offsets", [0, 3, 5, 12]), r"offsets is not a non-decreasing sequence"),
    "offsets decreasing": (_set("sentences/offsets", [0, 4, 2, 9]), r"offsets is not a non-decreasing sequence"),
    "deleted offsets": (_del("sentences/offsets"), r"/sentences/offsets is missing"),
    "deleted tokens": (_del("rows/tokens"), r"/rows/tokens is missing"),
    "deleted labels group": (_del("labels"), r"the group /labels is missing"),
    "label level": (_label_attr("level", "word"), r"has level 'word'"),
    "bad granularity": (_attr("granularity", "chars"), r"'granularity' is 'chars'"),
    "sites attribute": (_attr("sites", '["embeddings", "layers.9"]'), r"/sites/layers\.9 is missing"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_hand_damaged_store_is_named_damaged(store_path, case):
    fn, message = DAMAGE[case]
    _damage(store_path, fn)
    with pytest.raises(DamagedStoreError, match=message) as info:
        ActivationStore.open(store_path, allow_incomplete=True)
    assert "\n" not in str(info.value) and "damaged neuronlab store" in str(info.value)


def test_done_beyond_unwritten_rows_is_damaged_not_complete(store_path):
    """A done counter set past sentences whose rows were never written does not read as complete."""
    p = store_path.with_name("part.h5")
    synthetic_store(p, SENTS, written=[(0, 1)])
    _damage(p, _set("sentences/done", [3]))
    with pytest.raises(DamagedStoreError, match="rows of sentence 1 were never written"):
        ActivationStore.open(p)


def test_cli_info_and_rank_report_damage_in_one_line(store_path):
    _damage(store_path, _set("sentences/done", [7]))
    for argv in (["info", str(store_path)], ["rank", str(store_path), "--concept", "pos", "--method", "probeless"]):
        res = subprocess.run([sys.executable, "-m", "neuronlab", *argv], capture_output=True, text=True)
        assert res.returncode == 2, (argv, res.stdout, res.stderr)
        assert res.stderr.startswith("neuronlab: error: ") and "damaged neuronlab store" in res.stderr
        assert "Traceback" not in res.stderr


def test_label_values_out_of_range_are_damage(store_path):
    _damage(store_path, _set("labels/pos", [0, 1, 0, 1, 0, 1, 0, 1, 5]))
    with ActivationStore.open(store_path) as st:
        with pytest.raises(DamagedStoreError, match=r"label 'pos' is damaged: it holds class indices outside -1\.\.1"):
            st.label("pos")


# ---------------------------------------------------------------------------- results (item 6)
def _result(st, name="probe_pos", seed=0):
    rng = np.random.default_rng(seed)
    st.write_result(name, {"ranking": np.array(["layers.0:1", "embeddings:0"]), "scores": rng.normal(size=5)},
                    config={"seed": seed}, kind="probe")


def test_half_written_result_is_reported_damaged(store_path):
    with ActivationStore.open(store_path, mode="r+") as st:
        _result(st)
        _result(st, "rank_x")
    # what an interrupted (pre-atomic) rewrite left: the group with its attributes, one array missing
    _damage(store_path, _del("results/probe_pos/scores"))
    with ActivationStore.open(store_path) as st:
        assert st.result_names() == ["rank_x"]
        assert list(st.damaged_results()) == ["probe_pos"]
        assert st.summary()["results"] == ["rank_x"]
        with pytest.raises(DamagedStoreError, match=r"result 'probe_pos' is damaged: it holds 1 of its 2 arrays"):
            st.read_result("probe_pos")
        assert st.read_result("rank_x")["kind"] == "probe"
    _damage(store_path, _attr_of("results/rank_x", "config", "{oops"))
    with ActivationStore.open(store_path) as st:
        with pytest.raises(DamagedStoreError, match="result 'rank_x' is damaged: it has no readable 'config'"):
            st.read_result("rank_x")
    res = subprocess.run([sys.executable, "-m", "neuronlab", "info", str(store_path), "--json"],
                         capture_output=True, text=True)
    summary = json.loads(res.stdout)
    assert summary["results"] == [] and sorted(summary["damaged_results"]) == ["probe_pos", "rank_x"]


def _attr_of(obj, key, value):
    def fn(f):
        f[obj].attrs[key] = value
    return fn


def test_result_rewrite_is_atomic_and_leftovers_are_settled(store_path, monkeypatch):
    from neuronlab.store import atomic

    with ActivationStore.open(store_path, mode="r+") as st:
        _result(st, seed=1)
        before = st.read_result("probe_pos")
    # a crash while the new result is being built: the old one stays readable, the partial one is invisible
    real = atomic.replace_member

    def crash_after_build(file, group, name, build):
        def failing_build(g, tmp):
            build(g, tmp)
            file.flush()
            raise KeyboardInterrupt  # stands for a kill after the partial group reached the disk
        real(file, group, name, failing_build)

    monkeypatch.setattr(atomic, "replace_member", crash_after_build)
    with ActivationStore.open(store_path, mode="r+") as st:
        with pytest.raises(KeyboardInterrupt):
            _result(st, seed=2)
    monkeypatch.undo()
    with h5py.File(store_path, "r") as f:
        assert ".partial-probe_pos" in f["results"]
    with ActivationStore.open(store_path) as st:
        assert st.result_names() == ["probe_pos"]
        np.testing.assert_array_equal(st.read_result("probe_pos")["scores"], before["scores"])
    # a crash between the two moves: the old result is found under its hidden name and moved back
    with h5py.File(store_path, "r+") as f:
        f["results"].move("probe_pos", ".old-probe_pos")
    with ActivationStore.open(store_path) as st:
        np.testing.assert_array_equal(st.read_result("probe_pos")["scores"], before["scores"])
    with ActivationStore.open(store_path, mode="r+") as st:
        _result(st, seed=3)
    with h5py.File(store_path, "r") as f:
        assert sorted(f["results"]) == ["probe_pos"]
        assert json.loads(f["results/probe_pos"].attrs["config"]) == {"seed": 3}


def test_result_and_label_names_are_checked(store_path):
    with ActivationStore.open(store_path, mode="r+") as st:
        with pytest.raises(InvalidParameterError, match="result name must be a non-empty string without '/'"):
            _result(st, ".partial-x")
        with pytest.raises(InvalidParameterError, match="label name"):
            st.write_label("a/b", np.zeros(9), ["x"])


# ---------------------------------------------------------------------------- locked / read-only (item 10)
def test_store_locked_by_a_writer_is_said_to_be_in_use(store_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import h5py, sys, time; f = h5py.File(sys.argv[1], 'r+'); print('ok', flush=True); "
                               "time.sleep(60)", str(store_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        for mode in ("r", "r+"):
            with pytest.raises(StoreLockedError, match="in use by another process") as info:
                ActivationStore.open(store_path, mode=mode)
            assert "overwrite" not in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    ActivationStore.open(store_path).close()


def test_read_only_store_is_said_to_be_read_only(store_path, monkeypatch):
    import os

    from neuronlab.store import files

    monkeypatch.setattr(files.os, "access", lambda p, m: m != os.W_OK)  # as for a non-root user after chmod a-w
    with pytest.raises(StoreReadOnlyError, match="read-only \\(no write permission\\)") as info:
        ActivationStore.open(store_path, mode="r+")
    assert "overwrite" not in str(info.value)
    ActivationStore.open(store_path).close()  # reading is fine
    monkeypatch.undo()

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.h5py_module(), "File", denied)
    with pytest.raises(StoreReadOnlyError, match="no permission") as info:
        ActivationStore.open(store_path)
    assert "overwrite" not in str(info.value) and "not a readable HDF5" not in str(info.value)


def test_truncated_store_is_not_readable_and_says_so(store_path):
    data = store_path.read_bytes()
    store_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="not a readable HDF5 file .*truncated") as info:
        ActivationStore.open(store_path)
    assert not isinstance(info.value, IncompleteStoreError)
