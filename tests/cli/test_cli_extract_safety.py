"""`neuronlab extract` and model loading under hostile use (issue 10 items 3, 4, 9, 11, 12): checks before the
model loads, --overwrite that keeps the old store on failure, one writer per output, one-line errors."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time

import pytest

from cli_helpers import assert_user_error, cli, digest, leftovers

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ex")
    (d / "c.txt").write_text("the cat sat\na dog ran fast\n")
    rc, _, err = cli("extract", "--corpus", d / "c.txt", "--sites", "layers.0", "--out", d / "s.h5", "--quiet")
    assert rc == 0, err
    return d


def _broken_model(tmp_path, **changes):
    """A copy of minilm (weights linked) whose config.json is changed (None deletes a key)."""
    from neuronlab.models.loading import _minilm_path

    src = _minilm_path()
    d = tmp_path / "broken"
    d.mkdir()
    for f in src.iterdir():
        if f.name != "config.json":
            (d / f.name).symlink_to(f)
    cfg = json.loads((src / "config.json").read_text())
    for k, v in changes.items():
        cfg.pop(k) if v is None else cfg.__setitem__(k, v)
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def test_out_equal_to_the_corpus_is_refused(workdir):
    corpus = workdir / "c.txt"
    before = digest(corpus)
    assert_user_error(cli("extract", "--corpus", corpus, "--out", corpus, "--overwrite", "--quiet"), "also an input")
    assert digest(corpus) == before


def test_out_equal_to_the_neurox_label_twin_is_refused(tmp_path):
    (tmp_path / "c.in").write_text("a b\n")
    (tmp_path / "c.label").write_text("X Y\n")
    before = digest(tmp_path / "c.label")
    assert_user_error(cli("extract", "--corpus", tmp_path / "c.in", "--out", tmp_path / "c.label", "--overwrite"),
                      "also an input")
    assert digest(tmp_path / "c.label") == before


@pytest.mark.parametrize("changes, engine, message", [
    ({"hidden_size": None}, "auto", "has no hidden_size"),
    ({"hidden_size": None}, "hf", "has no hidden_size"),
    ({"hidden_size": 100}, "auto", "hidden_size=100 is not a multiple of num_attention_heads=12"),
    ({"hidden_size": 768}, "native", "says hidden_size=768 but the weights' embeddings"),
    ({"hidden_size": 768}, "hf", "do not match its config.json"),
])
def test_broken_model_config_fails_in_one_line_and_overwrite_keeps_the_old_store(workdir, tmp_path, changes,
                                                                                   engine, message):
    model = _broken_model(tmp_path, **changes)
    store = workdir / "s.h5"
    before = digest(store)
    res = cli("extract", "--corpus", workdir / "c.txt", "--model", model, "--engine", engine, "--sites", "layers.0",
              "--out", store, "--overwrite", "--quiet")
    assert_user_error(res, message)
    assert digest(store) == before and leftovers(workdir) == []


def test_out_existing_directory_with_overwrite(workdir):
    d = workdir / "adir"
    d.mkdir(exist_ok=True)
    assert_user_error(cli("extract", "--corpus", workdir / "c.txt", "--out", d, "--overwrite", "--quiet"),
                      "is a directory")
    assert list(d.iterdir()) == [] and leftovers(workdir) == []


def test_read_only_out_directory_is_refused_before_the_model_loads(workdir, monkeypatch):
    ro = workdir / "ro"
    ro.mkdir(exist_ok=True)
    ro.chmod(0o555)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if os.fspath(p) == os.fspath(ro) and mode & os.W_OK
                        else real_access(p, mode, **kw))
    try:
        res = cli("extract", "--corpus", workdir / "c.txt", "--sites", "layers.0", "--out", ro / "s.h5")
        assert_user_error(res, "no write permission")
        assert "loading model" not in res[2] and list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("flags", [[], ["--overwrite"]])
def test_second_extract_on_the_same_out_is_refused(workdir, tmp_path, flags):
    out = tmp_path / "s.h5" if not flags else workdir / "s.h5"
    before = digest(out) if out.exists() else None
    fd = os.open(str(out) + ".lock", os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242")
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a running extract holds the output
    try:
        res = cli("extract", "--corpus", workdir / "c.txt", "--sites", "layers.0", "--out", out, *flags, "--quiet")
        assert_user_error(res, "being written by another neuronlab process (pid 4242)")
        assert (digest(out) if out.exists() else None) == before
    finally:
        os.close(fd)
        os.unlink(str(out) + ".lock")


def test_overwrite_replaces_a_complete_store_and_clears_stale_temporaries(workdir, tmp_path):
    out = tmp_path / "s.h5"
    shutil.copy(workdir / "s.h5", out)
    stale = tmp_path / ".s.h5.0123456789ab.neuronlab-tmp"  # left by a killed run
    stale.write_text("half")
    rc, stdout, err = cli("extract", "--corpus", workdir / "c.txt", "--sites", "layers.0,layers.1", "--out", out,
                          "--overwrite", "--json", "--quiet")
    assert rc == 0, err
    summary = json.loads(stdout)
    assert summary["complete"] and summary["path"] == str(out) and list(summary["sites"]) == ["layers.0", "layers.1"]
    assert leftovers(tmp_path) == []


def test_resume_and_overwrite_are_exclusive(workdir):
    rc, _, err = cli("extract", "--corpus", workdir / "c.txt", "--out", workdir / "s.h5", "--overwrite", "--resume")
    assert rc == 2 and "not allowed with argument" in err


def test_corpus_with_a_nul_byte(workdir, tmp_path):
    (tmp_path / "n.txt").write_bytes(b"a b\nc\x00d\n")
    assert_user_error(cli("extract", "--corpus", tmp_path / "n.txt", "--out", tmp_path / "n.h5", "--quiet"),
                      "n.txt, line 2: contains a NUL byte")
    assert not (tmp_path / "n.h5").exists()


def test_tsv_header_flags_on_the_command_line(tmp_path):
    (tmp_path / "s.tsv").write_text("sentiment\ttext\npos\ta fine film\nneg\tdull .\n")
    rc, out, err = cli("extract", "--corpus", tmp_path / "s.tsv", "--sites", "layers.0", "--out", tmp_path / "a.h5",
                       "--json")
    assert rc == 0, err
    assert json.loads(out)["n_sentences"] == 2 and "read as a header" in err
    rc, out, err = cli("extract", "--corpus", tmp_path / "s.tsv", "--sites", "layers.0", "--out", tmp_path / "b.h5",
                       "--no-header", "--json", "--quiet")
    assert rc == 0, err
    assert json.loads(out)["labels"]["label"]["vocabulary"] == ["neg", "pos", "sentiment"]


# --- item 12: model names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["no such model", "minilm!", "a:b", "x-", "owner/a..b"])
def test_implausible_model_name_fails_at_once_without_the_hub(tmp_path, monkeypatch, name):
    import transformers

    calls = []
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained",
                        lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(OSError("hub")))
    assert_user_error(cli("sites", "--model", name), "not an alias")
    assert calls == []


def test_hub_lookup_times_out_and_says_so(monkeypatch):
    import transformers

    def slow(path, local_files_only=False, **kw):
        if local_files_only:
            raise OSError("not cached")
        time.sleep(5)
        raise OSError("network unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("NEURONLAB_HUB_TIMEOUT", "0.3")
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", slow)
    t0 = time.perf_counter()
    assert_user_error(cli("sites", "--model", "someone/nosuch-model", "--engine", "hf"),
                      "did not answer within 0.3 s", "NEURONLAB_HUB_TIMEOUT")
    assert time.perf_counter() - t0 < 3
