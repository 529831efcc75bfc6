"""Correlation clustering benchmark: neuronlab's CorrelationClustering vs NeuroX 1.0.9's, side by side.

Same data for both: synthetic activations, ``--rows`` rows (default 4,000) x N neurons for N in ``--neurons``
(default 1,000 2,000 5,000 10,000), float32, a rank-50 mixture plus noise (so that clusters exist at
every threshold): ``X = Z A + 0.5 E`` with ``Z`` (rows x 50), ``A`` (50 x N), ``E`` standard normal, drawn
block by block from ``numpy.random.default_rng(seed)``. Each measurement runs in a fresh Python process
(``--one IMPL N``), which builds X, notes its resident memory, runs the clustering once and reports the wall
time and the peak resident memory above that baseline (``ru_maxrss``). Both are given the matrix in
memory; neuronlab reads it in row chunks (it can as well stream it from a store on disk), NeuroX needs it
whole.

- NeuroX: ``np.random.seed(seed); interpretation.clustering.extract_independent_neurons(X, clustering_threshold=t)``
  (``create_correlation_clusters``: ``np.corrcoef``, ``nan_to_num``, symmetrise, ``1 - |r|``, ``squareform``, SciPy
  ``linkage(average)``, ``fcluster``; then one random neuron per cluster).
- neuronlab: ``CorrelationClustering(t, random_state=seed).fit(X)`` (chunked float64 scatter by BLAS
  ``syrk``/``syr``, condensed distances packed in the same buffer, the same SciPy linkage and fcluster, one random
  neuron per cluster from the same random stream).

The script checks that both give the same clusters and keep the same neurons, and prints time and memory ratios.

``--ewt`` instead runs the real-data study of docs/redundancy.md on minilm and UD English-EWT (stores from
``ewt_upos_study.ensure_store``, cached in ``$NEURONLAB_BENCH_DIR``, default /tmp/neuronlab-bench): general
redundancy over every row of the EWT train store (streamed, all 7 residual sites, 2,688 neurons) at
``--thresholds``, then CCFS and task-specific redundancy for UPOS (train: the first ``--train-words`` words of
EWT train, test: EWT test), with the all-neuron oracle.

Usage::

    .venv/bin/python benchmarks/bench_redundancy.py [--threads 2] [--neurons 1000 2000 5000 10000] [--json out.json]
    .venv/bin/python benchmarks/bench_redundancy.py --ewt [--train-words 20000] [--json out.json]
"""
from __future__ import annotations

import argparse
import os
import sys

from _threads import pin_threads  # noqa: E402  (before numpy / torch load BLAS)

_THREADS = pin_threads()

import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RANK = 50


def make_data(n_rows: int, n_neurons: int, seed: int = 0, block: int = 1000) -> np.ndarray:
    """``Z A + 0.5 E`` in float32, built in column blocks (no full-size float64 temporary)."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n_rows, RANK), dtype=np.float32)
    X = np.empty((n_rows, n_neurons), dtype=np.float32)
    for j in range(0, n_neurons, block):
        k = min(block, n_neurons - j)
        A = rng.standard_normal((RANK, k), dtype=np.float32)
        X[:, j:j + k] = Z @ A
        X[:, j:j + k] += 0.5 * rng.standard_normal((n_rows, k), dtype=np.float32)
    return X


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def one(impl: str, n_neurons: int, n_rows: int, threshold: float, seed: int) -> dict:
    """Run one implementation once in this process; time and peak memory above the baseline."""
    if impl == "neuronlab":
        from neuronlab.concepts.redundancy import CorrelationClustering

        def run(X):
            cc = CorrelationClustering(threshold, random_state=seed).fit(X)
            return cc.labels_ + 1, cc.representatives_
    else:
        from neurox.interpretation.clustering import extract_independent_neurons

        def run(X):
            np.random.seed(seed)
            with contextlib.redirect_stdout(io.StringIO()):
                independent, labels = extract_independent_neurons(X, clustering_threshold=threshold)
            return labels, np.asarray(independent)
    X = make_data(n_rows, n_neurons, seed)
    base = _rss()
    t0 = time.perf_counter()
    labels, kept = run(X)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"impl": impl, "n_neurons": n_neurons, "seconds": seconds, "peak_above_baseline_gb": (peak - base) / 2 ** 30,
            "matrix_gb": 8 * n_neurons ** 2 / 2 ** 30, "n_clusters": int(np.max(labels)),
            "labels_crc": int(np.asarray(labels, dtype=np.int64).sum() * 31 + np.asarray(labels)[::7].sum()),
            "kept_crc": int(np.sum(np.asarray(kept, dtype=np.int64) * np.arange(1, len(kept) + 1)))}


def spawn(impl: str, n: int, args) -> dict:
    cmd = [sys.executable, __file__, "--threads", str(args.threads), "--rows", str(args.rows), "--threshold",
           str(args.threshold), "--seed", str(args.seed), "--one", impl, str(n)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rows", type=int, default=4000)
    p.add_argument("--neurons", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1, help="runs per point (best time, largest peak)")
    p.add_argument("--ewt", action="store_true", help="run the real-data study (minilm, EWT) instead")
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    p.add_argument("--train-words", type=int, default=20000)
    p.add_argument("--ccfs-threshold", type=float, default=0.3)
    p.add_argument("--delta", type=float, default=0.01)
    p.add_argument("--tol", type=float, default=None, help="LinearProbe tol for --ewt (default: LinearProbe's)")
    p.add_argument("--one", nargs=2, metavar=("IMPL", "N"), help=argparse.SUPPRESS)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.rows, args.threshold, args.seed)))
        return
    if args.ewt:
        result = ewt_study(args)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
        return
    from tqdm import tqdm

    rows = []
    points = [(n, impl) for n in args.neurons for impl in ("neuronlab", "neurox")]
    for n, impl in tqdm(points * args.repeats, desc="bench", unit="run"):
        rows.append(spawn(impl, n, args))
    print(f"# correlation clustering, {args.rows} rows, threshold {args.threshold}, {args.threads} threads, "
          f"{platform.processor() or platform.machine()}")
    print("| neurons | n^2 float64 | neuronlab s | NeuroX s | speed-up | neuronlab peak | NeuroX peak | memory ratio "
          "| same clusters |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|:---:|")
    summary = []
    for n in args.neurons:
        ours = [r for r in rows if r["n_neurons"] == n and r["impl"] == "neuronlab"]
        theirs = [r for r in rows if r["n_neurons"] == n and r["impl"] == "neurox"]
        t_o, t_n = min(r["seconds"] for r in ours), min(r["seconds"] for r in theirs)
        m_o = max(r["peak_above_baseline_gb"] for r in ours)
        m_n = max(r["peak_above_baseline_gb"] for r in theirs)
        same = (ours[0]["labels_crc"] == theirs[0]["labels_crc"] and ours[0]["n_clusters"] == theirs[0]["n_clusters"]
                and ours[0]["kept_crc"] == theirs[0]["kept_crc"])
        summary.append({"n_neurons": n, "neuronlab_s": t_o, "neurox_s": t_n, "speedup": t_n / t_o,
                        "neuronlab_peak_gb": m_o, "neurox_peak_gb": m_n, "memory_ratio": m_n / m_o,
                        "matrix_gb": 8 * n * n / 2 ** 30, "same_clusters": same,
                        "n_clusters": ours[0]["n_clusters"]})
        print(f"| {n:,} | {8 * n * n / 2 ** 30:.2f} GB | {t_o:.2f} | {t_n:.2f} | {t_n / t_o:.2f}x | {m_o:.2f} GB "
              f"| {m_n:.2f} GB | {m_n / m_o:.2f}x | {'yes' if same else 'NO'} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": rows, "summary": summary}, indent=2))


def ewt_study(args) -> dict:
    """General redundancy over the EWT train store, CCFS and task redundancy for UPOS (docs/redundancy.md)."""
    from sklearn.base import clone

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ewt_upos_study import SITES, ensure_store, load_split

    from neuronlab.concepts.evaluation.layerwise import site_of
    from neuronlab.concepts.probes import LinearProbe
    from neuronlab.concepts.redundancy import CCFS, GeneralRedundancy, TaskRedundancy
    from neuronlab.store.store import ActivationStore

    out: dict = {"args": vars(args)}
    with ActivationStore.open(ensure_store("train")) as st:
        view = st.view(sites=SITES, rows=np.arange(st.n_valid_rows))
        t0 = time.perf_counter()
        gr = GeneralRedundancy(args.thresholds, progress=True).fit(view)
        seconds = time.perf_counter() - t0
        sites_of = [site_of(i) for i in view.neuron_ids]
    per_site = []
    for reps in gr.representatives_:
        counts = dict.fromkeys(dict.fromkeys(sites_of), 0)
        for j in reps:
            counts[sites_of[j]] += 1
        per_site.append(counts)
    out["general"] = {"rows": int(view.shape[0]), "neurons": int(view.shape[1]), "seconds": seconds,
                      "memory": gr.clustering_.memory_plan_.describe(), "constant": int(gr.clustering_.constant_.sum()),
                      "thresholds": list(args.thresholds), "n_clusters": gr.n_clusters_.tolist(),
                      "removable_fraction": gr.removable_fraction_.tolist(), "kept_per_site": per_site}
    print(f"general redundancy over {view.shape[0]:,} rows x {view.shape[1]:,} neurons ({seconds:.0f} s; "
          f"{out['general']['memory']}):")
    for t, k, f, c in zip(args.thresholds, gr.n_clusters_, gr.removable_fraction_, per_site):
        print(f"  threshold {t}: {k:,} clusters, {100 * f:.1f}% removable; kept per site {c}")

    train, test = load_split(args.train_words)
    layers = [site_of(i) for i in train.neuron_ids]
    probe = LinearProbe() if args.tol is None else LinearProbe(tol=args.tol)
    t0 = time.perf_counter()
    oracle = clone(probe).fit(train.X, train.y).score(test.X, test.y)
    ccfs = CCFS(probe, threshold=args.ccfs_threshold, delta=args.delta).fit(train.X, train.y, layers=layers,
                                                                            groups=train.groups)
    acc = ccfs.score(test.X, test.y)
    t_ccfs = time.perf_counter() - t0
    ls = ccfs.layer_selector_
    out["ccfs"] = {"n_train": len(train), "n_test": len(test), "oracle_accuracy": oracle, "accuracy": acc,
                   "selected_layers": ls.selected_layers_, "prefix_dev_accuracies": ls.prefix_accuracies_.tolist(),
                   "n_neurons": len(layers), "n_after_layers": ccfs.n_after_layers_,
                   "n_after_clustering": ccfs.n_after_clustering_, "n_kept": int(len(ccfs.neurons_)),
                   "kept_fraction": ccfs.kept_fraction_, "seconds": t_ccfs}
    print(f"CCFS for UPOS ({len(train):,} train words, {len(test):,} test words, {t_ccfs:.0f} s): layers "
          f"{ls.selected_layers_} -> {ccfs.n_after_layers_:,} neurons -> clustering {ccfs.n_after_clustering_:,} -> "
          f"kept {len(ccfs.neurons_):,} ({100 * ccfs.kept_fraction_:.1f}%); accuracy {100 * acc:.2f} vs oracle "
          f"{100 * oracle:.2f}")
    t0 = time.perf_counter()
    tr = TaskRedundancy(probe, delta=args.delta).fit(train.X, train.y, groups=train.groups)
    out["task"] = {"n_kept": int(len(tr.neurons_)), "removable_fraction": tr.removable_fraction_,
                   "accuracy": tr.score(test.X, test.y), "seconds": time.perf_counter() - t0}
    print(f"task-specific redundancy: {len(tr.neurons_):,} neurons kept, {100 * tr.removable_fraction_:.1f}% "
          f"removable, accuracy {100 * out['task']['accuracy']:.2f}")
    return out


if __name__ == "__main__":
    main()
