"""SIGKILL at random (seeded) moments of the commands whose output is replaced atomically.

``import-neurox --overwrite`` and ``extract --overwrite`` over an existing store are killed ~18 times in all;
after each kill the output is either byte-identical to what it was, or the complete new store: never a
half-written or incomplete file at the output path. The workers are forked from a fork server that has
imported neuronlab (and torch) once, so that a kill lands in the work, not in the interpreter's start-up.
"""
from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time

import pytest

from cli_helpers import digest, leftovers, make_store, run_quietly

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def ctx():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["neuronlab.cli.main", "neuronlab.store.neurox", "neuronlab.extraction", "torch"])
    return ctx


def _run(ctx, argv, kill_after=None) -> int | None:
    """Run ``neuronlab argv`` in a worker; SIGKILL it after ``kill_after`` s (None: let it finish)."""
    p = ctx.Process(target=run_quietly, args=([str(a) for a in argv],))
    p.start()
    if kill_after is None:
        p.join(120)
        return p.exitcode
    p.join(kill_after)
    if p.is_alive():
        os.kill(p.pid, signal.SIGKILL)
    p.join(30)
    return p.exitcode


def _kill_loop(ctx, out, argv_for, check_new, n_kills, seed):
    """Alternate the target between two versions; kill each run at a random moment in 0-130 % of a full run."""
    from neuronlab.store import ActivationStore

    assert _run(ctx, ["--version"]) == 0  # the fork server is up: the duration below is one run's work
    t0 = time.perf_counter()
    assert _run(ctx, argv_for(0)) == 0  # the "old" output, and the duration of one run
    duration = time.perf_counter() - t0
    state, before = 0, digest(out)
    rng = random.Random(seed)
    replaced = 0
    for _ in range(n_kills):
        target = 1 - state
        _run(ctx, argv_for(target), kill_after=rng.uniform(0.0, 1.3 * duration))
        now = digest(out)
        if now == before:
            continue
        with ActivationStore.open(out) as st:  # raises on a half-written or incomplete store
            assert st.complete
            check_new(st, target)
        state, before, replaced = target, now, replaced + 1
    assert _run(ctx, argv_for(1 - state)) == 0  # a re-run completes and clears what the kills left
    assert leftovers(out.parent) == []
    print(f"{out.name}: one run {duration:.2f} s, {n_kills} kills, {replaced} replaced the output")
    return replaced


def test_kill_import_neurox_overwrite(ctx, tmp_path):
    from neuronlab.store.neurox import export_neurox

    sources = []
    for i in range(2):
        make_store(tmp_path / f"src{i}.h5", n_sent=1000, n_words=6, seed=i)
        sources.append(export_neurox(tmp_path / f"src{i}.h5", tmp_path / f"src{i}.hdf5"))
    out = tmp_path / "out.h5"

    def check(st, target):
        assert st.model["imported_from"] == str(sources[target]) and st.n_sentences == 1000

    _kill_loop(ctx, out, lambda t: ["import-neurox", sources[t], "--out", out, "--overwrite"], check,
               n_kills=10, seed=10)


def test_kill_extract_overwrite(ctx, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"the cat {i} sat on a mat near the old dog number {i} while it rained" for i in range(200)) + "\n")
    out = tmp_path / "s.h5"
    sites = ["layers.0", "layers.0,layers.1"]

    def check(st, target):
        assert st.sites == sites[target].split(",") and st.n_sentences == 200

    _kill_loop(ctx, out, lambda t: ["extract", "--corpus", corpus, "--sites", sites[t], "--out", out, "--overwrite",
                                    "--quiet"], check, n_kills=8, seed=11)
