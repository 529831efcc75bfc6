"""Issue 10 on the command line: no command destroys a store or an input (items 1-4, 9, 10, 12).

Every case runs ``neuronlab`` in-process on a tiny synthetic store; each failed on the code before the
output-safety layer (neuronlab/outputs.py) with exit status 0 and a lost file, or with a traceback.
"""
from __future__ import annotations

import fcntl
import json
import os

import pytest

from cli_helpers import assert_user_error, cli, digest, leftovers, make_store


@pytest.fixture()
def store(tmp_path):
    return make_store(tmp_path / "s.h5")


FAST = {"probe": ["--concept", "c", "--no-controls", "--quiet"],
        "rank": ["--concept", "c", "--method", "probeless", "--quiet"],
        "compare": ["--concept", "c", "--methods", "probeless,ap", "--top-k", "3", "--quiet"]}


# --- item 1 and 4: --out equal to an input, --out over an existing file ---------------------------------
@pytest.mark.parametrize("command", ["probe", "rank", "compare"])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_out_equal_to_the_store_is_refused(store, command, overwrite):
    before = digest(store)
    assert_user_error(cli(command, store, *FAST[command], "--out", store, *overwrite), "also an input")
    assert digest(store) == before and leftovers(store.parent) == []


def test_out_equal_to_the_store_through_a_symlink_or_hard_link_is_refused(store, tmp_path):
    (tmp_path / "link.h5").symlink_to(store)
    os.link(store, tmp_path / "hard.h5")
    before = digest(store)
    for alias in ("link.h5", "hard.h5"):
        assert_user_error(cli("rank", store, *FAST["rank"], "--out", tmp_path / alias, "--overwrite"),
                          "also an input")
    assert digest(store) == before


@pytest.mark.parametrize("command", ["probe", "rank", "compare"])
def test_out_over_an_existing_file_needs_overwrite(store, tmp_path, command):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("my only copy\n")
    assert_user_error(cli(command, store, *FAST[command], "--out", corpus), "exists", "--overwrite")
    assert corpus.read_text() == "my only copy\n"
    rc, _, err = cli(command, store, *FAST[command], "--out", corpus, "--overwrite")
    assert rc == 0, err
    assert json.loads(corpus.read_text())["concept"] == "c" and leftovers(tmp_path) == []


# --- item 2: export-neurox ------------------------------------------------------------------------------------
def test_export_neurox_never_replaces_the_store_and_needs_overwrite(store, tmp_path):
    before = digest(store)
    assert_user_error(cli("export-neurox", store, "--out", store, "--format", "hdf5"), "also an input")
    assert_user_error(cli("export-neurox", store, "--out", store, "--format", "hdf5", "--overwrite"),
                      "also an input")
    assert digest(store) == before
    out = tmp_path / "x.hdf5"
    out.write_text("precious")
    assert_user_error(cli("export-neurox", store, "--out", out), "exists", "--overwrite")
    assert out.read_text() == "precious"
    assert cli("export-neurox", store, "--out", out, "--overwrite")[0] == 0
    assert out.read_bytes()[:4] == b"\x89HDF" and leftovers(tmp_path) == []


# --- item 3: a failed --overwrite run leaves the old file intact --------------------------------------------
@pytest.fixture()
def neurox_file(store, tmp_path):
    from neuronlab.store.neurox import export_neurox

    return export_neurox(store, tmp_path / "acts.hdf5")


def test_failed_import_neurox_overwrite_keeps_the_old_store(store, neurox_file, tmp_path):
    bad = tmp_path / "bad.label"
    bad.write_text("A B\n")  # 1 line for 24 sentences
    before = digest(store)
    res = cli("import-neurox", neurox_file, "--labels", bad, "--out", store, "--overwrite")
    assert_user_error(res, "bad.label")
    assert digest(store) == before and leftovers(tmp_path) == []
    good = tmp_path / "good.label"
    good.write_text("\n".join(["A B A B"] * 24) + "\n")
    assert cli("import-neurox", neurox_file, "--labels", good, "--out", store, "--overwrite")[0] == 0
    from neuronlab.store import ActivationStore

    with ActivationStore.open(store) as st:
        assert st.model["name"] == "neurox-import" and st.label("label").vocabulary == ["A", "B"]


def test_import_neurox_out_equal_to_the_label_file_is_refused(neurox_file, tmp_path):
    labels = tmp_path / "l.label"
    labels.write_text("\n".join(["A B A B"] * 24) + "\n")
    before = digest(labels)
    assert_user_error(cli("import-neurox", neurox_file, "--labels", labels, "--out", labels, "--overwrite"),
                      "also an input")
    assert digest(labels) == before


# --- item 9: tracebacks -> one-line errors --------------------------------------------------------------------
def test_probe_out_directory_is_refused_before_the_result_is_written(store, tmp_path):
    before = digest(store)
    (tmp_path / "d").mkdir()
    assert_user_error(cli("probe", store, *FAST["probe"], "--out", tmp_path / "d"), "is a directory")
    assert digest(store) == before  # nothing written back into the store either


def test_out_in_a_read_only_directory_is_refused_up_front(store, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    real_access = os.access
    # root ignores permission bits: make os.access answer as for an ordinary user
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if os.fspath(p) == os.fspath(ro) and mode & os.W_OK
                        else real_access(p, mode, **kw))
    try:
        assert_user_error(cli("rank", store, *FAST["rank"], "--out", ro / "r.json"), "no write permission")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


# --- item 10: a read-only store --------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["probe", "rank"])
def test_read_only_store_is_an_error_unless_no_write_back(store, tmp_path, monkeypatch, command):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if os.fspath(p) == os.fspath(store) and mode & os.W_OK
                        else real_access(p, mode, **kw))
    before = digest(store)
    assert_user_error(cli(command, store, *FAST[command]), "read-only", "--no-write-back")
    rc, out, err = cli(command, store, *FAST[command], "--no-write-back", "--json", "--out", tmp_path / "r.json")
    assert rc == 0, err
    assert json.loads(out)["result_path"] is None and json.loads((tmp_path / "r.json").read_text())["concept"] == "c"
    assert digest(store) == before


# --- the lock: a second writer is refused ------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["export-neurox", "rank"])
def test_second_writer_of_an_output_is_refused(store, tmp_path, command):
    out = tmp_path / "o.hdf5"
    fd = os.open(str(out) + ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another writer at work
    try:
        args = [store, "--out", out] + (FAST["rank"] if command == "rank" else [])
        assert_user_error(cli(command, *args), "being written by another")
        assert not out.exists()
    finally:
        os.close(fd)
    assert cli(command, *args)[0] == 0 and out.exists()


# --- item 12: an imported store does not send probe to the hub ------------------------------------------------------
def test_probe_on_imported_store_skips_random_init_without_loading_a_model(neurox_file, tmp_path, monkeypatch):
    import neuronlab.extraction.controls as controls

    calls = []
    monkeypatch.setattr(controls, "load_model", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(
        AssertionError("tried to load a model")))
    labels = tmp_path / "l.label"
    labels.write_text("\n".join(["A B A B"] * 24) + "\n")
    imported = tmp_path / "imp.h5"
    assert cli("import-neurox", neurox_file, "--labels", labels, "--out", imported)[0] == 0
    rc, out, err = cli("probe", imported, "--concept", "label", "--json")
    assert rc == 0, err
    assert calls == [] and "random-init baseline skipped" in err and "imported" in err
    assert json.loads(out)["baselines"]["random_init"] is None
