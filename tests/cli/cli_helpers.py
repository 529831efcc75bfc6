"""Helpers of the CLI tests: run ``neuronlab`` in-process, build a tiny synthetic store, hash files."""
from __future__ import annotations

import hashlib
import io
import logging
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np


def cli(*args) -> tuple[int, str, str]:
    """``neuronlab ARGS`` in this process: (exit status, stdout, stderr). Any exception fails the test."""
    from neuronlab.cli.main import main

    logger = logging.getLogger("neuronlab")
    for h in [h for h in logger.handlers if getattr(h, "_neuronlab", False)]:
        logger.removeHandler(h)  # bound to an earlier test's stderr
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:  # argparse
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def assert_user_error(res, *patterns: str) -> str:
    """Exit status 2 and exactly one ``neuronlab: error:`` line (containing every pattern), no traceback."""
    rc, _, err = res
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("neuronlab: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for p in patterns:
        assert p in lines[0], lines[0]
    return lines[0]


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_store(path, *, n_sent: int = 24, n_words: int = 4, seed: int = 0):
    """A complete word-level store of 2 sites x 6 neurons with a planted 2-class concept ``c``."""
    from neuronlab.store import ActivationStore

    rng = np.random.default_rng(seed)
    n = n_sent * n_words
    y = rng.integers(0, 2, size=n)
    data = {s: rng.normal(size=(n, 6)).astype(np.float32) for s in ("layers.0", "layers.1")}
    data["layers.1"][:, 2] += 3.0 * y
    words = [f"w{i % 7}" for i in range(n)]
    st = ActivationStore.create(path, sites={"layers.0": 6, "layers.1": 6}, offsets=np.arange(0, n + 1, n_words),
                                texts=[" ".join(words[i * n_words:(i + 1) * n_words]) for i in range(n_sent)],
                                tokens=words, granularity="word", dtype="float32", model={"name": "synthetic"},
                                config={"sites": "all"})
    write_rows = getattr(st, "write_rows", None) or st._write_rows
    write_rows(0, n_sent, data)
    st.write_label("c", y, ["A", "B"])
    st.close()
    return Path(path)


def leftovers(directory) -> list[str]:
    """Temporary or lock files left in ``directory``."""
    return sorted(p.name for p in Path(directory).iterdir()
                  if p.name.endswith((".lock", ".tmp")) or "neuronlab-tmp" in p.name)


def run_quietly(argv: list[str]) -> None:
    """Process target: ``neuronlab ARGV`` with stdout/stderr to /dev/null; exits with its status."""
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    from neuronlab.cli.main import main

    sys.exit(main(argv))
