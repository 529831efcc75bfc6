"""Linear probe benchmark: neuronlab's LinearProbe vs NeuroX's probe on EWT UPOS with minilm.

Same data for both: the first EWT train sentences reaching ``--words`` (65,000) words, all 2,688
neurons of minilm (``embeddings,layers.*``, mean over subwords), tested on EWT test; same number of
torch/BLAS threads. NeuroX: ``train_logistic_regression_probe(X, y, lambda_l1, lambda_l2)`` (its
defaults: 10 epochs of Adam, batch 32, lr 1e-3, data in file order) + ``evaluate_probe``.
neuronlab: ``LinearProbe(lambda_l1, lambda_l2)`` (its ``solver="auto"``: here proximal Newton after a subsample
warm start, default tol; ``--also-solvers owlqn,working-set`` times the other solvers side by side). Also times the
vectorised IoU and AP rankers on the same matrix. Times are best of ``--repeats`` (ours) and of
``--neurox-repeats`` (NeuroX). Stores come from ``ewt_upos_study.ensure_store`` (extracted once into
``$NEURONLAB_BENCH_DIR``, default /tmp/neuronlab-bench).

Both minimise the same objective, NeuroX's: mean cross-entropy + ``lambda_l1 * ||W||_1 + lambda_l2 *
||W||_F`` (unsquared norm); NeuroX with 10 epochs of minibatch Adam, neuronlab to its stopping rule
(``LinearProbe``'s default ``tol``: the weights have settled). The objective value each reaches on the
training data is printed too.

Two ratios are reported, side by side: default vs default (NeuroX's 10 epochs, which stop far above its own
optimum, against neuronlab's converged default), and, with ``--neurox-epochs``, equal quality (NeuroX trained
for more epochs until its objective reaches the one neuronlab reached). ``--reference-iter`` adds a tightly
converged fit and reports how much of its top-10 / top-1% NeuroX ordering each fit shares.

Usage::

    .venv/bin/python benchmarks/bench_probe.py [--threads 2] [--repeats 3] [--json out.json]
    .venv/bin/python benchmarks/bench_probe.py --no-rankers --neurox-epochs 20,40,80 --reference-iter 400
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
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ewt_upos_study import load_split  # noqa: E402


def best_of(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, result


def overlaps(coef, ref_coef) -> dict:
    """Top-10 and top-1% overlap of the NeuroX orderings (Dalvi et al. 2019) read from two weight matrices."""
    from neuronlab.concepts.rankers.linear import neuron_ordering

    a, b = neuron_ordering(coef), neuron_ordering(ref_coef)
    out = {}
    for name, k in (("top10", 10), ("top1pct", max(1, round(0.01 * len(a))))):
        out[name] = len(set(a[:k].tolist()) & set(b[:k].tolist())) / k
    return out


def bench_neuronlab(train, test, args, solver: str | None = None) -> dict:
    from neuronlab.concepts.probes import LinearProbe

    def fit():
        probe = LinearProbe(lambda_l1=args.lambda_l1, lambda_l2=args.lambda_l2)
        return (probe if solver is None else probe.set_params(solver=solver)).fit(train.X, train.y)

    best, times, probe = best_of(fit, args.repeats)
    return {"fit_seconds": best, "all_seconds": times, "accuracy": float(probe.score(test.X, test.y)),
            "solver": probe.solver_, "iterations": int(probe.n_iter_), "presolve_iterations": int(probe.presolve_iter_),
            "evaluations": int(probe.n_fun_), "passes": float(probe.passes_), "tol": float(probe.tol),
            "objective": float(probe.objective_), "coef": probe.coef_}


def bench_reference(train, test, args) -> dict:
    """A tightly converged fit (``tol=args.reference_tol``, ``max_iter=args.reference_iter``): the rankings'
    yardstick."""
    from neuronlab.concepts.probes import LinearProbe

    t0 = time.perf_counter()
    probe = LinearProbe(lambda_l1=args.lambda_l1, lambda_l2=args.lambda_l2, tol=args.reference_tol,
                        max_iter=args.reference_iter, solver=args.reference_solver).fit(train.X, train.y)
    return {"fit_seconds": time.perf_counter() - t0, "solver": probe.solver_, "accuracy": float(probe.score(test.X, test.y)),
            "iterations": int(probe.n_iter_), "converged": bool(probe.converged_),
            "objective": float(probe.objective_), "coef": probe.coef_}


def bench_neurox(train, test, args, epochs: int = 10, repeats: int | None = None) -> dict:
    import torch
    from neurox.interpretation import linear_probe as nx

    torch.set_num_threads(args.threads)
    X, y = np.ascontiguousarray(train.X, dtype=np.float32), train.y.astype(np.int64)
    Xt, yt = np.ascontiguousarray(test.X, dtype=np.float32), test.y.astype(np.int64)

    def fit():
        torch.manual_seed(0)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return nx.train_logistic_regression_probe(X, y, lambda_l1=args.lambda_l1, lambda_l2=args.lambda_l2,
                                                      num_epochs=epochs)

    best, times, probe = best_of(fit, args.neurox_repeats if repeats is None else repeats)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        scores = nx.evaluate_probe(probe, Xt, yt)
    with torch.no_grad():  # NeuroX's own training loss on all training rows at the weights it stopped at
        W = probe.linear.weight
        out = probe(torch.from_numpy(X))
        objective = (torch.nn.functional.cross_entropy(out, torch.from_numpy(y)) + args.lambda_l1 * nx.l1_penalty(W)
                     + args.lambda_l2 * nx.l2_penalty(W))
    return {"fit_seconds": best, "all_seconds": times, "accuracy": float(scores["__OVERALL__"]),
            "epochs": epochs, "batch_size": 32, "objective": float(objective),
            "coef": probe.linear.weight.detach().numpy().copy()}


def bench_neurox_epochs(train, test, args, ours: dict) -> list[dict]:
    """Equal-quality comparison: NeuroX trained for more epochs, until its objective reaches neuronlab's (the
    list stops at the first count that does)."""
    runs = []
    for epochs in args.neurox_epochs:
        r = bench_neurox(train, test, args, epochs=epochs, repeats=1)
        r["overlap_with_neuronlab"] = overlaps(r["coef"], ours["coef"])
        runs.append(r)
        print(f"NeuroX {epochs} epochs: {r['fit_seconds']:.1f} s, objective {r['objective']:.5f}", file=sys.stderr)
        if r["objective"] <= ours["objective"]:
            break
    return runs


def bench_rankers(train, args) -> dict:
    from neuronlab.concepts.rankers import APRanker, IoURanker

    out = {}
    for name, make in (("iou", IoURanker), ("ap", APRanker)):
        best, times, _ = best_of(lambda: make().fit(train.X, train.y), args.repeats)
        out[name] = {"fit_seconds": best, "all_seconds": times}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch and BLAS threads for both (default 2)")
    ap.add_argument("--words", type=int, default=65000, help="training words (first sentences reaching it)")
    ap.add_argument("--lambda-l1", type=float, default=1e-3)
    ap.add_argument("--lambda-l2", type=float, default=1e-3)
    ap.add_argument("--repeats", type=int, default=3, help="timed fits of neuronlab (best is reported)")
    ap.add_argument("--neurox-repeats", type=int, default=1)
    ap.add_argument("--no-neurox", action="store_true")
    ap.add_argument("--no-rankers", action="store_true")
    ap.add_argument("--neurox-epochs", type=lambda v: [int(e) for e in v.split(",") if e], default=[],
                    metavar="E1,E2,...", help="equal-quality comparison: also train NeuroX for these epoch counts, "
                    "stopping at the first whose objective reaches neuronlab's (e.g. 20,40,80)")
    ap.add_argument("--reference-iter", type=int, default=0, metavar="N",
                    help="also fit a tightly converged reference (at most N iterations) and report how much of its "
                         "top-10 / top-1%% ranking each fit shares (0: skip)")
    ap.add_argument("--reference-tol", type=float, default=1e-4, help="tol of the reference fit (default 1e-4)")
    ap.add_argument("--reference-solver", default="auto",
                    help="solver of the reference fit (default auto; prox-newton reaches the lowest objective)")
    ap.add_argument("--also-solvers", type=lambda v: [e for e in v.split(",") if e], default=[],
                    metavar="S1,...", help="also time LinearProbe with these solvers, side by side (e.g. owlqn, "
                    "the plain solver; the default is auto: the working set on this data)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-' for stdout)")
    args = ap.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        train, test = load_split(args.words)
        load_before = os.getloadavg()
        res = {"n_train": len(train), "n_test": len(test), "n_neurons": int(train.X.shape[1]),
               "n_classes": len(train.classes), "threads": args.threads,
               "lambda_l1": args.lambda_l1, "lambda_l2": args.lambda_l2,
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               "torch": torch.__version__, "numpy": np.__version__}
        res["neuronlab"] = bench_neuronlab(train, test, args)
        print(f"neuronlab: {res['neuronlab']['fit_seconds']:.1f} s, objective {res['neuronlab']['objective']:.5f}",
              file=sys.stderr)
        for solver in args.also_solvers:
            r = res.setdefault("neuronlab_solvers", {})[solver] = bench_neuronlab(train, test, args, solver)
            print(f"neuronlab solver={solver}: {r['fit_seconds']:.1f} s, objective {r['objective']:.5f}",
                  file=sys.stderr)
        if not args.no_neurox:
            res["neurox"] = bench_neurox(train, test, args)
            print(f"NeuroX 10 epochs: {res['neurox']['fit_seconds']:.1f} s, objective {res['neurox']['objective']:.5f}",
                  file=sys.stderr)
            res["speedup"] = res["neurox"]["fit_seconds"] / res["neuronlab"]["fit_seconds"]
            res["neurox"]["overlap_with_neuronlab"] = overlaps(res["neurox"]["coef"], res["neuronlab"]["coef"])
            if args.neurox_epochs:
                res["neurox_epochs"] = bench_neurox_epochs(train, test, args, res["neuronlab"])
        if args.reference_iter:
            ref = res["reference"] = bench_reference(train, test, args)
            for r in [res["neuronlab"], *res.get("neuronlab_solvers", {}).values(), res.get("neurox"),
                      *res.get("neurox_epochs", [])]:
                if r is not None:
                    r["overlap_with_reference"] = overlaps(r["coef"], ref["coef"])
        if not args.no_rankers:
            res["rankers"] = bench_rankers(train, args)
        res["load_average"] = {"before": load_before, "after": os.getloadavg()}

    print(f"EWT UPOS, {res['n_train']} train words x {res['n_neurons']} neurons, {res['n_test']} test words, "
          f"{res['n_classes']} classes; {args.threads} threads; load average before {load_before[0]:.2f}, "
          f"after {res['load_average']['after'][0]:.2f}\n")
    print("| method | fit time (s) | test accuracy | notes |")
    print("|---|---|---|---|")
    nl = res["neuronlab"]
    for r in [nl, *res.get("neuronlab_solvers", {}).values()]:
        print(f"| neuronlab LinearProbe (solver {r['solver']}, tol {r['tol']:g}) | {r['fit_seconds']:.2f} | "
              f"{r['accuracy']:.4f} | objective {r['objective']:.5f}; {r['presolve_iterations']} subsample + "
              f"{r['iterations']} iterations, {r['passes']:.1f} full-pass equivalents; best of {args.repeats}: "
              f"{', '.join(f'{t:.2f}' for t in r['all_seconds'])} |")
    if "neurox" in res:
        nx = res["neurox"]
        print(f"| NeuroX 1.0.9 train_logistic_regression_probe | {nx['fit_seconds']:.2f} | {nx['accuracy']:.4f} | "
              f"objective {nx['objective']:.5f}; 10 epochs Adam, batch 32; runs: "
              f"{', '.join(f'{t:.2f}' for t in nx['all_seconds'])} |")
    for name, r in res.get("rankers", {}).items():
        print(f"| {name} ranker | {r['fit_seconds']:.2f} | - | best of {args.repeats} |")
    for r in res.get("neurox_epochs", []):
        print(f"| NeuroX, {r['epochs']} epochs | {r['fit_seconds']:.2f} | {r['accuracy']:.4f} | "
              f"objective {r['objective']:.5f} |")
    if "reference" in res:
        ref = res["reference"]
        print(f"| reference LinearProbe ({ref['solver']}, tol {args.reference_tol:g}, max_iter {args.reference_iter}) | "
              f"{ref['fit_seconds']:.2f} | {ref['accuracy']:.4f} | objective {ref['objective']:.5f}; "
              f"{ref['iterations']} iterations, converged {ref['converged']} |")
        named = [(f"neuronlab ({r['solver']})", r) for r in [nl, *res.get("neuronlab_solvers", {}).values()]]
        named += [(f"NeuroX {r['epochs']} epochs", r) for r in res.get("neurox_epochs", [])]
        for name, r in (*named, ("NeuroX 10 epochs", res.get("neurox"))):
            if r is not None:
                ov = r["overlap_with_reference"]
                print(f"{name} shares {ov['top10']:.2f} of the reference's top 10, {ov['top1pct']:.2f} of its top 1%")
    if "speedup" in res:
        print(f"\nspeed-up neuronlab vs NeuroX (defaults): {res['speedup']:.2f}x, accuracy difference "
              f"{nl['accuracy'] - res['neurox']['accuracy']:+.4f}, objective {nl['objective']:.5f} vs "
              f"{res['neurox']['objective']:.5f}")
    if res.get("neurox_epochs"):
        last = res["neurox_epochs"][-1]
        reached = last["objective"] <= nl["objective"]
        ratio = last["fit_seconds"] / nl["fit_seconds"]
        print(f"equal quality: NeuroX {'reaches' if reached else 'has not reached'} neuronlab's objective "
              f"({nl['objective']:.5f}) {'at' if reached else 'by'} {last['epochs']} epochs "
              f"(objective {last['objective']:.5f}, {last['fit_seconds']:.1f} s): speed-up "
              f"{'' if reached else '>= '}{ratio:.2f}x")
    for name, r in res.get("neuronlab_solvers", {}).items():
        if "speedup" in res:
            nx_s = res["neurox"]["fit_seconds"]
            print(f"speed-up neuronlab solver={name} vs NeuroX: {nx_s / r['fit_seconds']:.2f}x; "
                  f"default vs solver={name}: {r['fit_seconds'] / nl['fit_seconds']:.2f}x")
    for r in [res["neuronlab"], *res.get("neuronlab_solvers", {}).values(), res.get("neurox"), res.get("reference"),
              *res.get("neurox_epochs", [])]:
        if r is not None:
            r.pop("coef", None)  # not for the JSON
    if args.json:
        text = json.dumps(res, indent=1)
        print(text) if args.json == "-" else Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
