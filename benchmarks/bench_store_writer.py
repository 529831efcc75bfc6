"""The store writer's ceiling (issue 13): ``ActivationStore.write_rows`` old vs new, against ``dd`` and plain h5py.

ONE run writes the same synthetic rows (``--sites`` sites of ``--width`` neurons, float32 and float16,
the extractor's write sizes: ragged sentence ranges of about ``--write-rows`` rows, which is what
``--memory-mb 256`` gives for 13 x 768 at word level) on each filesystem of ``--dirs`` with:

(a) ``old``: the writer of another checkout (``--old-src``, a folder holding its ``neuronlab`` package,
    e.g. ``git archive main neuronlab | tar -x -C /tmp/nl_main``);
(b) ``new``: this checkout's writer;
(c) ``h5py``: the same bytes written by plain h5py into ONE contiguous dataset (no chunks, no fill),
    block by block, each block one aligned write: the ceiling of any HDF5 writer on that filesystem;

and reports GB/s (activation bytes per second of wall time; per second of the process's CPU time, which a
machine shared with other work disturbs less; and of wall time including an ``fsync`` of the file, the bytes
on the device) next to ``dd if=/dev/zero of=DIR/dd-test.bin bs=16M
count=128 oflag=direct`` on the same filesystem (tmpfs refuses O_DIRECT: there ``dd`` runs without it).
The time of (a) and (b) covers every ``write_rows`` and the ``close`` (which writes rows still held back);
creating the store is not timed. Each write runs in its own process (PYTHONPATH = the checkout), the
variants interleaved, ``--repeats`` times; the table shows the median and the best. After the first repeat
the values of (a) and (b) are read back and compared: the two writers must store the same bytes.

Usage::

    git archive main neuronlab | tar -x -C /tmp/nl_main
    nice -n 5 .venv/bin/python benchmarks/bench_store_writer.py --old-src /tmp/nl_main --dirs /dev/shm /tmp \\
        --repeats 3 --json bench_store_writer.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------- worker (one write, its own process)
def _plan(n_rows: int, write_rows: int, seed: int):
    """Sentence offsets (1-40 rows each) and write ranges of whole sentences of about ``write_rows`` rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = []
    while sum(lengths) < n_rows:
        lengths.append(int(rng.integers(1, 41)))
    lengths[-1] -= sum(lengths) - n_rows
    if lengths[-1] <= 0:
        lengths.pop()
        lengths[-1] += n_rows - sum(lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ranges, a = [], 0
    while a < len(lengths):
        target = offsets[a] + int(rng.integers(int(write_rows * 0.85), int(write_rows * 1.15) + 1))
        b = max(a + 1, int(np.searchsorted(offsets, target, side="right")) - 1)
        b = min(b, len(lengths))
        ranges.append((a, b))
        a = b
    return offsets, ranges


def _blocks(n_sites: int, width: int, rows: int, dtype: str):
    import numpy as np

    rng = np.random.default_rng(1)
    return [rng.standard_normal((rows, width), dtype=np.float32).astype(dtype) for _ in range(n_sites)]


def worker(args) -> dict:
    import numpy as np

    path = Path(args.path)
    offsets, ranges = _plan(args.rows, args.write_rows, args.seed)
    max_rows = max(int(offsets[b] - offsets[a]) for a, b in ranges)
    blocks = _blocks(args.sites, args.width, max_rows, args.dtype)
    nbytes = args.rows * args.width * args.sites * np.dtype(args.dtype).itemsize
    if args.variant == "h5py":
        import h5py

        f = h5py.File(path, "w")
        ds = f.create_dataset("all", shape=(args.rows * args.sites, args.width), dtype=args.dtype,
                              fill_time="never")
        t, c = time.perf_counter(), time.process_time()
        for a, b in ranges:
            r0, r1 = int(offsets[a]), int(offsets[b])
            n = r1 - r0
            for i, blk in enumerate(blocks):  # one aligned write per site and block, as many bytes as the store
                ds[r0 * args.sites + i * n: r0 * args.sites + (i + 1) * n] = blk[:n]
            f.flush()
        f.close()
    else:
        sys.path.insert(0, args.src)
        from neuronlab.store.store import ActivationStore

        sites = {f"layers.{i}": args.width for i in range(args.sites)}
        n_sent = len(offsets) - 1
        st = ActivationStore.create(path, sites=sites, offsets=offsets, texts=["x"] * n_sent,
                                    tokens=["x"] * args.rows, granularity="word", dtype=args.dtype,
                                    model={"name": "bench"}, config={}, overwrite=True)
        names = list(sites)
        t, c = time.perf_counter(), time.process_time()
        for a, b in ranges:
            n = int(offsets[b] - offsets[a])
            st.write_rows(a, b, {s: blk[:n] for s, blk in zip(names, blocks)})
        st.close()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)  # until the bytes are on the device (nothing to do on tmpfs)
    os.close(fd)
    out = {"wall_s": wall, "cpu_s": cpu, "fsync_wall_s": time.perf_counter() - t, "bytes": nbytes,
           "writes": len(ranges), "mean_write_rows": args.rows / len(ranges)}
    if args.checksum and args.variant != "h5py":
        import h5py

        h = hashlib.sha256()
        with h5py.File(path, "r") as f:
            for i in range(args.sites):
                h.update(f["sites"][f"layers.{i}"][()].tobytes())
            out["complete"] = int(f["sentences/done"][0]) == len(offsets) - 1
        out["sha256"] = h.hexdigest()
    path.unlink()
    return out


# ---------------------------------------------------------------------- driver
def dd(folder: Path, count: int = 128) -> dict:
    """``dd if=/dev/zero of=FOLDER/dd-test.bin bs=16M count=COUNT oflag=direct`` (without oflag where refused)."""
    target = folder / "dd-test.bin"
    for flags in (["oflag=direct"], []):
        cmd = ["dd", "if=/dev/zero", f"of={target}", "bs=16M", f"count={count}", *flags]
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t
        target.unlink(missing_ok=True)
        if p.returncode == 0:
            return {"gb_s": count * 16 * 2**20 / wall / 1e9, "cmd": " ".join(cmd),
                    "dd_says": p.stderr.strip().splitlines()[-1]}
    return {"error": p.stderr.strip()[-200:], "cmd": " ".join(cmd)}


def run_worker(ns, variant: str, folder: Path, dtype: str, src: str, checksum: bool) -> dict:
    fd, name = tempfile.mkstemp(suffix=".h5", dir=folder, prefix="bench-writer-")
    os.close(fd)
    os.unlink(name)
    cmd = [sys.executable, __file__, "--worker", "--variant", variant, "--path", name, "--dtype", dtype,
           "--src", src, "--rows", str(ns.rows), "--write-rows", str(ns.write_rows), "--sites", str(ns.sites),
           "--width", str(ns.width), "--seed", str(ns.seed)] + (["--checksum"] if checksum else [])
    env = dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    Path(name).unlink(missing_ok=True)
    if p.returncode != 0:
        raise RuntimeError(f"{variant} on {folder} ({dtype}) failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old-src", help="folder holding the old neuronlab package (omit: only new and h5py)")
    p.add_argument("--dirs", nargs="+", default=["/dev/shm", "/tmp"], help="filesystems to write on")
    p.add_argument("--dtypes", nargs="+", default=["float32", "float16"])
    p.add_argument("--rows", type=int, default=20000, help="rows of the store (per site)")
    p.add_argument("--write-rows", type=int, default=1707, help="mean rows per write_rows call")
    p.add_argument("--sites", type=int, default=13)
    p.add_argument("--width", type=int, default=768)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the results here")
    # worker mode
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
    p.add_argument("--dtype", help=argparse.SUPPRESS)
    p.add_argument("--src", help=argparse.SUPPRESS)
    p.add_argument("--checksum", action="store_true", help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    if ns.worker:
        print(json.dumps(worker(ns)))
        return 0

    variants = {"new": str(ROOT), "h5py": str(ROOT)}
    if ns.old_src:
        variants = {"old": str(Path(ns.old_src).resolve()), **variants}
    results = {"config": {k: getattr(ns, k) for k in ("rows", "write_rows", "sites", "width", "repeats", "seed")},
               "load_before": os.getloadavg(), "runs": {}}
    for folder in map(Path, ns.dirs):
        disk = dd(folder)
        results["runs"][str(folder)] = {"dd": disk}
        print(f"\n== {folder}: dd {disk.get('gb_s', float('nan')):.2f} GB/s ({disk['cmd']})", flush=True)
        for dtype in ns.dtypes:
            runs = {v: [] for v in variants}
            sums = {}
            for r in range(ns.repeats):
                for v, src in variants.items():
                    out = run_worker(ns, v, folder, dtype, src, checksum=r == 0)
                    runs[v].append(out)
                    if "sha256" in out:
                        sums[v] = out["sha256"]
                        if not out["complete"]:
                            raise RuntimeError(f"{v}: the store is not complete after close")
            if len(set(sums.values())) > 1:
                raise RuntimeError(f"old and new writers stored different bytes on {folder} ({dtype}): {sums}")
            row = {}
            for v, outs in runs.items():
                wall = [o["bytes"] / o["wall_s"] / 1e9 for o in outs]
                cpu = [o["bytes"] / o["cpu_s"] / 1e9 for o in outs]
                synced = [o["bytes"] / o["fsync_wall_s"] / 1e9 for o in outs]
                row[v] = {"wall_gb_s_median": statistics.median(wall), "wall_gb_s_best": max(wall),
                          "cpu_gb_s_median": statistics.median(cpu), "fsync_gb_s_median": statistics.median(synced),
                          "writes": outs[0]["writes"],
                          "mean_write_rows": outs[0]["mean_write_rows"], "bytes": outs[0]["bytes"]}
            results["runs"][str(folder)][dtype] = row
            print(f"-- {dtype}: {row['new']['bytes'] / 1e9:.2f} GB in {row['new']['writes']} writes of "
                  f"{row['new']['mean_write_rows']:.0f} rows (mean); identical bytes: {len(sums) > 1}")
            print(f"{'writer':8s} {'GB/s wall med':>14s} {'best':>6s} {'GB/s CPU':>9s} {'+fsync':>7s} {'vs dd':>6s} "
                  f"{'vs old':>7s} {'vs h5py':>8s}")
            for v, m in row.items():
                vs_dd = m["wall_gb_s_median"] / disk["gb_s"] if "gb_s" in disk else float("nan")
                vs_old = m["wall_gb_s_median"] / row["old"]["wall_gb_s_median"] if "old" in row else float("nan")
                vs_h5 = m["wall_gb_s_median"] / row["h5py"]["wall_gb_s_median"]
                m.update(vs_dd=vs_dd, vs_old=vs_old, vs_h5py=vs_h5)
                print(f"{v:8s} {m['wall_gb_s_median']:14.2f} {m['wall_gb_s_best']:6.2f} {m['cpu_gb_s_median']:9.2f} "
                      f"{m['fsync_gb_s_median']:7.2f} {vs_dd:6.2f} {vs_old:7.2f} {vs_h5:8.2f}", flush=True)
    results["load_after"] = os.getloadavg()
    print(f"\nload average before {results['load_before'][0]:.1f}, after {results['load_after'][0]:.1f}")
    if ns.json:
        Path(ns.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
