"""Issue 13: rank and cluster a store larger than the memory the process may use, and compare with in memory.

Builds a synthetic float16 store (planted concept neurons) of ``--rows`` x (``--sites`` x ``--width``), then
runs, each as its own process:

- in memory, unconstrained: ``neuronlab rank`` (iou, probeless, ap, linear: the linear probe, whose full-batch
  solver then sums loss and gradient over row chunks) and ``neuronlab redundancy`` (correlation clustering) -- the
  reference;
- under a cgroup-v1 memory limit (``--limit-gb``, RSS + page cache, no swap) smaller than the store by
  ``store / limit`` (>= 1.5 asked by the issue), with ``--max-memory-gb`` as the analysis budget: the same
  commands, which then stream the store in blocks.

Reports per run: exit status, wall time, peak RSS (``/usr/bin/time -v``), and whether the streamed ranking and
clusters equal the in-memory ones. Needs root for the cgroup (``/sys/fs/cgroup/memory``); without it the
constrained runs use ``prlimit --as`` (address space), which is stricter.

    sudo .venv/bin/python benchmarks/bench_stream.py --rows 400000 --limit-gb 1.2 --max-memory-gb 0.6
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CG = Path("/sys/fs/cgroup/memory/neuronlab-bench")


def build_store(path: Path, rows: int, sites: int, width: int, classes: int, seed: int) -> float:
    from neuronlab.testing import synthetic_store

    rng = np.random.default_rng(seed)
    words = 20
    n_sent = rows // words
    rows = n_sent * words
    y = rng.integers(0, classes, size=rows)
    data = {}
    for s in range(sites):
        a = rng.standard_normal(size=(rows, width), dtype=np.float32).astype(np.float16)
        for c in range(classes):
            a[y == c, (7 * c + s) % width] += np.float16(1.0 + 0.5 * c)
        data[f"layers.{s}"] = a
    synthetic_store(path, [[f"w{j}" for j in range(words)]] * n_sent, data=data, dtype="float16",
                    labels={"concept": ([f"c{c}" for c in y], "row")})
    return path.stat().st_size / 2**30


def cgroup(limit_gb: float) -> bool:
    value = str(int(limit_gb * 2**30))
    try:
        CG.mkdir(exist_ok=True)
    except OSError:
        return False
    # memory <= memory+swap must hold after each write: lower memory first, raise memory+swap first
    for order in (("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"),
                  ("memory.memsw.limit_in_bytes", "memory.limit_in_bytes")):
        try:
            for name in order:
                if (CG / name).exists():
                    (CG / name).write_text(value)
            return True
        except OSError:
            continue
    return False


def run(argv: list[str], limit_gb: float | None, use_cg: bool) -> dict:
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "neuronlab", *argv]
    if limit_gb is not None and use_cg:
        cmd = ["sh", "-c", f'echo $$ > {CG}/cgroup.procs && exec "$@"', "sh", *cmd]
    elif limit_gb is not None:
        cmd = ["prlimit", f"--as={int(limit_gb * 2**30)}", *cmd]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    out = {"argv": " ".join(argv), "limit_gb": limit_gb, "rc": p.returncode, "wall_s": round(wall, 1),
           "peak_rss_gb": round(int(rss.group(1)) / 2**20, 3) if rss else None}
    if p.returncode == 0:
        try:
            out["json"] = json.loads(p.stdout)
        except json.JSONDecodeError:
            out["stdout_tail"] = p.stdout[-300:]
    else:
        out["stderr_tail"] = p.stderr[-600:]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--sites", type=int, default=3)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--limit-gb", type=float, default=1.2, help="memory the constrained processes may use")
    ap.add_argument("--max-memory-gb", type=float, default=0.6, help="analysis budget passed to the commands")
    ap.add_argument("--methods", default="iou,probeless,ap", help="rankers to run (e.g. linear)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="ranker hyper-parameter passed to every rank run (e.g. tol=0.01 for linear)")
    ap.add_argument("--no-redundancy", action="store_true")
    ap.add_argument("--work", default="/tmp/neuronlab-stream")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    store = work / f"stream_{args.rows}x{args.sites}x{args.width}.h5"
    if not store.exists():
        t = time.perf_counter()
        size = build_store(store, args.rows, args.sites, args.width, args.classes, 0)
        print(f"built {store} ({size:.2f} GiB) in {time.perf_counter() - t:.0f} s", flush=True)
    size = store.stat().st_size / 2**30
    use_cg = cgroup(args.limit_gb)
    print(f"store {size:.2f} GiB; limit {args.limit_gb} GiB ({'cgroup v1 memory' if use_cg else 'prlimit --as'}); "
          f"store / limit = {size / args.limit_gb:.2f}", flush=True)
    results = []
    params = [a for p in args.param for a in ("--param", p)]
    jobs = [(["rank", str(store), "--concept", "concept", "--method", m, "--json", "--quiet", "--no-write-back",
              *params], m) for m in args.methods.split(",") if m]
    if not args.no_redundancy:
        jobs.append((["redundancy", str(store), "--no-task", "--json", "--quiet", "--no-write-back"], "redundancy"))
    for argv, name in jobs:
        ref = run(argv, None, use_cg)
        low = run(argv + ["--max-memory-gb", str(args.max_memory_gb)], args.limit_gb, use_cg)
        same = None
        if ref["rc"] == 0 and low["rc"] == 0:
            a, b = ref["json"], low["json"]
            keys = ["ranking", "scores"] if name != "redundancy" else ["general", "constant_neurons"]
            same = {k: a.get(k) == b.get(k) for k in keys if k in a}
            if "ranking" in a and "ranking" in b:  # how far apart two rankings are when not identical
                k = max(1, len(a["ranking"]) // 100)
                same["top10"] = a["ranking"][:10] == b["ranking"][:10]
                same["top1pct_overlap"] = round(len(set(a["ranking"][:k]) & set(b["ranking"][:k])) / k, 3)
        row = {"analysis": name, "in_memory": {k: ref[k] for k in ("rc", "wall_s", "peak_rss_gb")},
               "limited": {k: low[k] for k in ("rc", "wall_s", "peak_rss_gb")}, "equal": same,
               "streamed": (low.get("json") or {}).get("config", {}).get("streamed"),
               "seconds": [(ref.get("json") or {}).get("seconds"), (low.get("json") or {}).get("seconds")],
               "error": low.get("stderr_tail")}
        results.append(row)
        print(json.dumps(row), flush=True)
    summary = {"store_gib": round(size, 3), "limit_gib": args.limit_gb, "max_memory_gb": args.max_memory_gb,
               "ratio": round(size / args.limit_gb, 2), "rows": args.rows, "neurons": args.sites * args.width,
               "results": results}
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    if use_cg:
        try:
            os.rmdir(CG)
        except OSError:
            pass


if __name__ == "__main__":
    main()
