"""How well the probe's subsampled Hessian stands for the Hessian on all rows: EWT UPOS, minilm, NeuroX objective.

Proximal Newton (``LinearProbe(solver="prox-newton")``) builds the Hessian of its free set from a row subsample
(``neuronlab.concepts.probes._prox_newton._hessian_rows``). A Newton step with ``H_sub`` in place of the Hessian
``H`` on all rows contracts the error by ``max |1 - lambda|`` over the generalised eigenvalues ``lambda`` of ``(H, H_sub)``; an
eigenvalue of 2 means the full step overshoots that direction twice (the line search then halves the step). This script
fits the default probe on the benchmark's rows (``bench_probe.py``'s data), takes the optimum's free set, builds ``H``
on all rows, and for each share of uniform draws (1.0 = uniform rows, the earlier scheme) and three seeds reports the
eigenvalue range and the contraction.

Usage::

    .venv/bin/python benchmarks/bench_probe_hessian.py [--threads 2] [--shares 0,0.2,0.5,1] [--seeds 3]
"""
from __future__ import annotations

import argparse
import sys

from _threads import pin_threads  # noqa: E402  (before numpy / torch load BLAS)

_THREADS = pin_threads()

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ewt_upos_study import load_split  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2)")
    ap.add_argument("--words", type=int, default=65000, help="training words (first sentences reaching it)")
    ap.add_argument("--shares", type=lambda v: [float(e) for e in v.split(",")], default=[0.0, 0.2, 0.5, 1.0],
                    help="shares of uniform draws to compare (default 0,0.2,0.5,1)")
    ap.add_argument("--seeds", type=int, default=3, help="subsamples per share (default 3)")
    ap.add_argument("--rows", type=float, default=0.25, help="expected subsample size, a fraction of the rows")
    args = ap.parse_args(argv)

    import neuronlab.concepts.probes._prox_newton as pn
    import neuronlab.concepts.probes.linear as linear
    from neuronlab.concepts.probes import LinearProbe

    train, _ = load_split(args.words)
    captured = {}
    solver = linear._SOLVERS["prox-newton"]

    def keep(full, theta0, c, **kw):
        res = solver(full, theta0, c, **kw)
        captured.update(full=full, theta=res.x)
        return res

    linear._SOLVERS["prox-newton"] = keep
    try:
        LinearProbe(lambda_l1=1e-3, lambda_l2=1e-3, solver="prox-newton").fit(train.X, train.y)
    finally:
        linear._SOLVERS["prox-newton"] = solver
    full, theta = captured["full"], captured["theta"]
    nw, n = full.d * full.m, full.X.shape[0]
    free = np.concatenate([np.flatnonzero(theta[:nw] != 0), np.arange(nw, theta.size)])
    exact = pn._RowModel(full, np.arange(n), full.row_weight).hessian(theta, free)
    exact += pn._penalty_hessian(full, theta, free)
    print(f"{n} rows x {full.d} neurons, {full.m} classes; free set of the optimum: {free.size} coordinates")
    print("| uniform share | rows | eigenvalues of H_sub^-1 H (per seed) | contraction max|1 - lambda| |")
    print("|---|---|---|---|")
    default = pn._UNIFORM_SHARE
    try:
        for share in args.shares:
            pn._UNIFORM_SHARE = share
            spans, contraction, size = [], [], 0
            for seed in range(args.seeds):
                rows, weight = pn._hessian_rows(full, theta, int(round(args.rows * n)), seed=seed)
                sub = pn._RowModel(full, rows, weight).hessian(theta, free) + pn._penalty_hessian(full, theta, free)
                lam = scipy.linalg.eigh(exact, sub, eigvals_only=True)
                spans.append(f"{lam.min():.2f}-{lam.max():.2f}")
                contraction.append(f"{np.abs(1 - lam).max():.2f}")
                size = len(rows)
            print(f"| {share:g} | ~{size} | {', '.join(spans)} | {', '.join(contraction)} |")
    finally:
        pn._UNIFORM_SHARE = default


if __name__ == "__main__":
    main()
