"""The CLI's log lines go to the stderr of each call, not to the stream of the first one (a closed stream after
pytest's capture, or a program that swaps sys.stderr, printed "Logging error" before)."""
from __future__ import annotations

import io
import logging
import sys

from neuronlab.cli.main import _setup_logging


def test_each_call_logs_to_the_current_stderr(monkeypatch):
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    _setup_logging(quiet=False)
    logging.getLogger("neuronlab").info("one")
    first.close()  # what pytest's capture does to a test's stream when the test ends
    monkeypatch.setattr(sys, "stderr", second)
    _setup_logging(quiet=False)
    logging.getLogger("neuronlab.extraction").info("two")
    assert second.getvalue() == "neuronlab: two\n"
    ours = [h for h in logging.getLogger("neuronlab").handlers if getattr(h, "_neuronlab", False)]
    assert len(ours) == 1
