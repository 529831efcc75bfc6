"""Run CLI commands in child processes that can be SIGKILLed at any moment, cheaply.

Children are forked from a multiprocessing *forkserver* that has imported neuronlab, torch and h5py
once, so a child starts in milliseconds instead of the ~2 s of a fresh interpreter; the forkserver
never runs a torch parallel region, so forking it is safe.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time

__all__ = ["cli_process", "run_cli", "kill_after", "kill_in_write", "write_span", "PRELOAD"]

PRELOAD = ["neuronlab.cli.main", "neuronlab.store", "neuronlab.extraction", "neuronlab.concepts.probing",
           "neuronlab.models", "helpers.crash"]

_CTX = None


def _context():
    global _CTX
    if _CTX is None:
        _CTX = multiprocessing.get_context("forkserver")
        _CTX.set_forkserver_preload(PRELOAD)
    return _CTX


def _child(argv: list[str]) -> None:
    from neuronlab.cli.main import main

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.exit(main(argv))


def cli_process(argv: list[str]):
    """A started child process running ``neuronlab ARGV`` (output discarded)."""
    p = _context().Process(target=_child, args=(list(argv),))
    p.start()
    return p


def run_cli(argv: list[str], timeout: float = 120) -> tuple[int, float]:
    """Run ``neuronlab ARGV`` to the end in a child; ``(exit code, seconds)``."""
    t = time.perf_counter()
    p = cli_process(argv)
    p.join(timeout)
    if p.exitcode is None:
        p.kill()
        p.join()
        raise TimeoutError(f"neuronlab {' '.join(argv)} did not finish in {timeout} s")
    return p.exitcode, time.perf_counter() - t


def _kill(p) -> int | None:
    """SIGKILL ``p`` unless it has ended; its exit code if it finished by itself, else None."""
    if p.exitcode is not None:
        return p.exitcode
    try:
        os.kill(p.pid, signal.SIGKILL)
    except ProcessLookupError:  # it ended just now
        pass
    p.join()
    return p.exitcode if p.exitcode is not None and p.exitcode >= 0 else None


def kill_after(argv: list[str], delay: float) -> int | None:
    """Start ``neuronlab ARGV``, SIGKILL it after ``delay`` seconds; its exit code if it finished first, else None."""
    p = cli_process(argv)
    p.join(delay)
    return _kill(p)



def _stamp(path):
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


def kill_in_write(argv: list[str], path, delay: float, timeout: float = 120) -> int | None:
    """Start ``neuronlab ARGV``; ``delay`` seconds after ``path`` first changes (its writes began), SIGKILL it.

    Relative to the first change rather than to the start, so that the kill lands inside the writes however
    loaded the machine is. Returns the exit code if it finished first, else None.
    """
    first = _stamp(path)
    p = cli_process(argv)
    t = time.perf_counter()
    while p.exitcode is None and _stamp(path) == first:
        if time.perf_counter() - t > timeout:
            break
        time.sleep(0.0002)
    if p.exitcode is None:
        p.join(delay)
    return _kill(p)


def write_span(argv: list[str], path, timeout: float = 120) -> tuple[float, float]:
    """Run ``neuronlab ARGV`` to the end, watching ``path``: ``(seconds from its first change to its last,
    total seconds)``; kills drawn within the first value after the first change land inside the writes."""
    last = first = _stamp(path)
    p = cli_process(argv)
    t = time.perf_counter()
    seen: list[float] = []
    while p.exitcode is None and time.perf_counter() - t < timeout:
        now = _stamp(path)
        if now != last:
            seen.append(time.perf_counter() - t)
            last = now
        time.sleep(0.0001)
    p.join()
    if p.exitcode != 0:
        raise RuntimeError(f"neuronlab {' '.join(argv)} exited with {p.exitcode}")
    if last == first or not seen:
        raise RuntimeError(f"neuronlab {' '.join(argv)} did not change {path}")
    return seen[-1] - seen[0], time.perf_counter() - t


def _store_ops(path: str, ops: list, kill_after: int | None) -> None:
    """Apply ``ops`` to the store at ``path`` (see tests/store/test_store_properties.py); SIGKILL itself after
    op number ``kill_after`` (no close, no flush beyond what the ops did)."""
    from neuronlab.store import ActivationStore

    st = ActivationStore.open(path, mode="r+", allow_incomplete=True)
    for k, op in enumerate(ops):
        kind = op[0]
        if kind == "rows":
            _, start, stop = op
            offs = st.offsets
            st.write_rows(start, stop, {s: op_rows(s, st[s].shape[1], int(offs[start]), int(offs[stop]))
                                        for s in st.sites})
        elif kind == "label":
            _, name, seed = op
            st.write_label(name, label_values(seed, st.n_rows), ["x", "y", "z"])
        elif kind == "result":
            _, name, seed = op
            st.write_result(name, result_arrays(seed), config={"seed": seed}, kind="test")
        if kill_after is not None and k == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    st.close()


def op_rows(site: str, width: int, r0: int, r1: int):
    import numpy as np

    base = sum(map(ord, site))
    return (np.arange(r0, r1)[:, None] * 100 + np.arange(width)[None, :] + base).astype(np.float32)


def label_values(seed: int, n: int):
    import numpy as np

    return np.random.default_rng(seed).integers(-1, 3, n)


def result_arrays(seed: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    return {"scores": rng.normal(size=7), "ranking": np.array([f"layers.0:{i}" for i in rng.permutation(4)])}


def run_store_ops(path, ops: list, kill_after: int | None) -> int:
    """Run :func:`_store_ops` in a forkserver child; its exit code (negative: killed by that signal)."""
    p = _context().Process(target=_store_ops, args=(str(path), ops, kill_after))
    p.start()
    p.join(60)
    if p.exitcode is None:
        p.kill()
        p.join()
        raise TimeoutError("store operations did not finish in 60 s")
    return p.exitcode
