"""Issue 13: the Gaussian probe's ranking in memory, streamed in row chunks, and on a dask LocalCluster, side by side.

Builds a synthetic float16 store (``--rows`` x ``--width`` neurons, ``--classes`` classes planted in a few
neurons), then runs ``neuronlab rank --method gaussian --param max_dims=K`` three times, each in its own process:

- in memory (the incremental greedy state: ``classes x rows x neurons`` float64 residuals);
- streamed under ``--max-memory-gb`` (class statistics merged over chunks, one pass per greedy step, residuals
  recomputed from the selected set);
- on dask, ``--scheduler local:N`` (the same map-reduce on N worker processes; the time includes starting them).

Prints the ranking's own time (``seconds`` of the result: reading, fitting, and for dask starting the cluster;
not Python's start-up) and the peak RSS of each process (the dask workers' memory is not in the client's RSS), the ratios to
the in-memory run, and whether the rankings are identical.

    nice -n 5 .venv/bin/python benchmarks/bench_dask_gaussian.py --rows 60000 --width 192 --classes 6 --max-dims 15
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def build_store(path: Path, rows: int, width: int, classes: int, seed: int) -> None:
    from neuronlab.testing import synthetic_store

    rng = np.random.default_rng(seed)
    words = 20
    rows = rows // words * words
    y = rng.integers(0, classes, size=rows)
    X = rng.normal(size=(rows, width)).astype(np.float32)
    for c in range(classes):
        X[y == c, (7 * c) % width] += 0.5 + 0.25 * c
    X[:, 1] = 0.7 * X[:, 0] + 0.7 * X[:, 1]
    half = width // 2
    data = {"layers.0": X[:, :half].astype(np.float16), "layers.1": X[:, half:].astype(np.float16)}
    synthetic_store(path, [[f"w{j}" for j in range(words)]] * (rows // words), data=data, dtype="float16",
                    labels={"concept": ([f"c{c}" for c in y], "row")})


def run_one(store: str, max_dims: int, extra: list[str]) -> dict:
    """Run the ranking in this process (called in a child) and report time, peak RSS and the ranking."""
    import contextlib
    import io

    from neuronlab.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["rank", store, "--concept", "concept", "--method", "gaussian", "--param", f"max_dims={max_dims}",
                   "--no-write-back", "--json", "--quiet", *extra])
    report = json.loads(out.getvalue())
    return {"rc": rc, "seconds": report["seconds"], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "ranking": report["ranking"], "streamed": report["config"]["streamed"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=60000)
    ap.add_argument("--width", type=int, default=192)
    ap.add_argument("--classes", type=int, default=6)
    ap.add_argument("--max-dims", type=int, default=15)
    ap.add_argument("--max-memory-gb", type=float, default=None,
                    help="budget of the streamed run (default: half the float32 matrix)")
    ap.add_argument("--workers", type=int, default=2, help="dask worker processes (local:N)")
    if sys.argv[1:2] == ["--child"]:  # one run, in its own process: --child STORE MAX_DIMS [rank options]
        store, dims, *extra = sys.argv[2:]
        print(json.dumps(run_one(store, int(dims), extra)))
        return
    args = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "g.h5")
        build_store(Path(store), args.rows, args.width, args.classes, 0)
        matrix_gb = args.rows * args.width * 4 / 2 ** 30
        budget = args.max_memory_gb or matrix_gb / 2
        runs = {"in memory": [], "streamed": ["--max-memory-gb", f"{budget:.6g}"],
                f"dask local:{args.workers}": ["--scheduler", f"local:{args.workers}"]}
        results = {}
        for name, extra in runs.items():
            cmd = [sys.executable, __file__, "--child", store, str(args.max_dims), *extra]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
            results[name] = json.loads(out.strip().splitlines()[-1])
    ref = results["in memory"]
    print(f"store: {args.rows} rows x {args.width} neurons (float16; float32 matrix {matrix_gb:.3f} GB), "
          f"{args.classes} classes, max_dims={args.max_dims}; streamed budget {budget:.3g} GB; BLAS threads 1")
    print(f"{'run':<16} {'seconds':>8} {'x memory':>9} {'peak RSS MB':>12} {'x memory':>9}  same ranking  streamed")
    for name, r in results.items():
        print(f"{name:<16} {r['seconds']:8.2f} {r['seconds'] / ref['seconds']:9.2f} {r['peak_rss_mb']:12.0f} "
              f"{r['peak_rss_mb'] / ref['peak_rss_mb']:9.2f}  {str(r['ranking'] == ref['ranking']):<12}  "
              f"{r['streamed']}")


if __name__ == "__main__":
    main()
