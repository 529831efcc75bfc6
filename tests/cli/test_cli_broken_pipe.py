"""`neuronlab info STORE | head -1`: a reader that closes the pipe early gets no traceback."""
from __future__ import annotations

import io

from neuronlab.cli.main import main
from neuronlab.testing import synthetic_store


class _ClosedPipe(io.StringIO):
    def write(self, s):  # what print() meets when `head` has exited
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_ends_quietly(tmp_path, monkeypatch, capsys):
    synthetic_store(tmp_path / "s.h5", [["a", "b"]])
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    rc = main(["info", str(tmp_path / "s.h5")])
    assert rc == 0
    assert "Traceback" not in capsys.readouterr().err
