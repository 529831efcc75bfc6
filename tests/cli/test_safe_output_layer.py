"""neuronlab.outputs: the output-safety layer every writing command goes through."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from neuronlab.outputs import OutputError, check_output, output_lock, safe_output


def test_success_renames_and_failure_keeps_the_old_file(tmp_path):
    out = tmp_path / "sub" / "r.json"
    with safe_output(out) as tmp:
        assert tmp.parent == out.parent and not tmp.exists()
        tmp.write_text("one")
    assert out.read_text() == "one"
    with pytest.raises(KeyboardInterrupt):
        with safe_output(out, overwrite=True) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert out.read_text() == "one" and sorted(p.name for p in out.parent.iterdir()) == ["r.json"]


def test_a_block_that_writes_nothing_does_not_replace(tmp_path):
    out = tmp_path / "r.json"
    out.write_text("old")
    with pytest.raises(OutputError, match="nothing was written"):
        with safe_output(out, overwrite=True):
            pass
    assert out.read_text() == "old"


def test_checks(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("x")
    (tmp_path / "link").symlink_to(src)
    with pytest.raises(OutputError, match="also an input"):
        check_output(tmp_path / "link", overwrite=True, inputs=[None, src])
    with pytest.raises(OutputError, match="is a directory"):
        check_output(tmp_path, overwrite=True)
    with pytest.raises(OutputError, match=r"exists; pass --overwrite to replace it"):
        check_output(src, overwrite_hint="--overwrite")
    with pytest.raises(OutputError, match="is not a directory"):
        check_output(src / "x.json")
    assert check_output(src, in_place=True) == src  # resume: written in place, not refused
    assert check_output(tmp_path / "new" / "deeper" / "o.h5") == tmp_path / "new" / "deeper" / "o.h5"


def test_lock_refuses_a_second_process_and_is_removed(tmp_path):
    out = tmp_path / "o.h5"
    script = textwrap.dedent(f"""
        import sys
        from neuronlab.outputs import output_lock, OutputError
        try:
            with output_lock({str(out)!r}):
                print("locked")
        except OutputError as e:
            print(e)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    with output_lock(out):
        assert (tmp_path / "o.h5.lock").read_text() == str(os.getpid())
        res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
        assert f"being written by another neuronlab process (pid {os.getpid()})" in res.stdout, res.stderr
    assert not (tmp_path / "o.h5.lock").exists()
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert res.stdout.strip() == "locked"


def test_stale_temporaries_of_killed_writers_are_removed_under_the_lock(tmp_path):
    out = tmp_path / "o.h5"
    (tmp_path / ".o.h5.aaaaaaaaaaaa.neuronlab-tmp").write_text("half")
    (tmp_path / ".o.h5.bbbbbbbbbbbb.neuronlab-tmp.tmp").write_text("half")
    (tmp_path / ".other.h5.cccccccccccc.neuronlab-tmp").write_text("not ours")
    with safe_output(out) as tmp:
        tmp.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.h5.cccccccccccc.neuronlab-tmp", "o.h5"]


def test_in_place_yields_the_path_itself_under_the_lock(tmp_path):
    out = tmp_path / "o.h5"
    with safe_output(out, in_place=True) as target:
        assert target == out and (tmp_path / "o.h5.lock").exists()
        with pytest.raises(OutputError, match="being written by another"):
            with safe_output(out, in_place=True):
                pass
        target.write_text("partial")  # an interrupted run leaves it for --resume
    assert out.read_text() == "partial"
