"""Gaussian probe benchmark: one greedy step, incremental (neuronlab) vs per-candidate re-fit (NeuroX master).

NeuroX 1.0.9 has no Gaussian probe; NeuroX master's ``interpretation/gaussian_probe.py`` (ported from the
paper's code) selects neurons greedily by building, for every candidate neuron and every class, a
``torch.distributions.MultivariateNormal`` on the sliced MAP parameters (a Cholesky factorisation of the
``(k+1) x (k+1)`` covariance), evaluating ``log_prob`` on every training row, adding the log class prior,
normalising with ``logsumexp`` and computing the mutual information. Its fit calls ``torch.eig``, which
today's torch removed, so the baseline here is a faithful re-implementation of that core in torch
(``NeuroXGaussianStep`` below: the same calls per candidate, ``torch.linalg.eigvals`` for the eigenvalue
fix-up of the fit, which never fires on these positive-definite MAP covariances). Both sides get the same
MAP parameters (``neuronlab.concepts.probes.gaussian.map_parameters``) and the same ``k`` selected neurons,
and must pick the same next neuron with the same MI.

neuronlab's step (``GreedyGaussianState``): score every candidate from the per-class Schur complements and
residuals (``O(classes x rows x neurons)``), then one rank-one update of all of them. Synthetic data:
``--rows`` rows, ``--classes`` classes with planted mean shifts, ``n_neurons`` from ``--sizes``.

Reported per size: MAP fit time and peak memory (tracemalloc: numpy allocations), the peak during the greedy
step (MAP parameters + greedy state + temporaries), the greedy state set-up
(``--selected`` adds), one step for each side, and the ratio. neuronlab's step is the median of ``--rounds``;
the baseline runs its whole step up to ``--full-baseline-upto`` neurons (and must pick the same neuron with the
same MI), above that it is timed on ``--baseline-candidates`` random candidates (whose MI must equal
neuronlab's) and extrapolated to all candidates: its cost per candidate does not depend on the number of
neurons.

Usage::

    .venv/bin/python benchmarks/bench_gaussian.py [--threads 2] [--sizes 1000,2000,5000,10000] [--json]
"""
from __future__ import annotations

import argparse

from _threads import pin_threads  # noqa: E402  (before numpy / torch load BLAS)

_THREADS = pin_threads()

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from neuronlab.concepts.probes.gaussian import map_parameters  # noqa: E402
from neuronlab.concepts.probes.gaussian_greedy import GreedyGaussianState  # noqa: E402


class NeuroXGaussianStep:
    """NeuroX master's ``GaussianProbe`` greedy core (``_get_distributions``, ``_compute_probs``, ``_predict``)."""

    def __init__(self, X, y, means, covs):
        import torch

        self.torch = torch
        self.features = torch.tensor(X, dtype=torch.float64)
        self.labels = torch.tensor(y).long()
        self.n_classes = means.shape[0]
        counts = torch.bincount(self.labels, minlength=self.n_classes).double()
        self.categorical = counts / counts.sum()
        self.mu_star = torch.from_numpy(means)
        sigma = torch.from_numpy(covs)  # shares neuronlab's MAP covariances (no second copy of n_neurons^2 floats)
        # NeuroX's fit-up: shift a covariance with a negative eigenvalue (torch.eig there; eigvals here)
        min_eig = torch.stack([torch.linalg.eigvals(s).real.min() for s in sigma]) if sigma.shape[1] <= 2000 \
            else torch.zeros(self.n_classes, dtype=torch.float64)  # (skipped above 2,000: cubic, and PD anyway)
        neg = min_eig < 0
        sigma[neg] -= min_eig.view(-1, 1, 1)[neg] * torch.eye(sigma.shape[1], dtype=torch.float64) * 10
        self.sigma_star = sigma

    def _distributions(self, selected):
        mn = self.torch.distributions.multivariate_normal
        return [mn.MultivariateNormal(self.mu_star[c, selected], self.sigma_star[c, selected][:, selected])
                for c in range(self.n_classes)]

    def _mi(self, selected):
        torch = self.torch
        with torch.no_grad():
            dists = self._distributions(selected)
            log_probs = torch.stack([d.log_prob(self.features[:, selected]) for d in dists], dim=1)
            joint = log_probs + self.categorical.log()
            probs = joint - joint.logsumexp(dim=1).unsqueeze(1)
            entropy = torch.distributions.Categorical(self.categorical).entropy()
            cond = -probs[torch.arange(probs.shape[0]), self.labels].mean()
            return float((entropy - cond) / torch.tensor(2.0).log())

    def step(self, selected, candidates=None):
        """NeuroX's loop over candidates (all, or the given ones): the best neuron and every candidate's MI."""
        best, best_mi, mis = -1, float("-inf"), {}
        for neuron in range(self.features.shape[1]) if candidates is None else candidates:
            if neuron in selected:
                continue
            mi = self._mi(selected + [neuron])
            mis[neuron] = mi
            if mi > best_mi:
                best, best_mi = neuron, mi
        return best, best_mi, mis


def synthetic(n_rows, n_neurons, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n_rows)
    X = rng.normal(size=(n_rows, n_neurons))
    X += 0.3 * rng.normal(size=(n_classes, n_neurons))[y]
    X[:, : n_neurons // 10] += 0.5 * X[:, [0]]  # some correlated neurons
    return X, y


def median_time(fn, rounds):
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_size(n_neurons, args):
    X, y = synthetic(args.rows, n_neurons, args.classes)
    tracemalloc.start()
    t0 = time.perf_counter()
    means, covs, counts = map_parameters(X, y, args.classes, reg_covar=0.0)
    fit_s = time.perf_counter() - t0
    fit_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    prior = counts / counts.sum()
    t0 = time.perf_counter()
    state = GreedyGaussianState(means, covs, np.log(prior), X, y)
    for _ in range(args.selected):  # the first k greedy steps
        scores = state.candidate_scores(criterion="mi")
        mask = np.ones(n_neurons, dtype=bool)
        mask[state.selected] = False
        state.add(int(np.flatnonzero(mask)[np.argmax(scores[:, 0])]))
    setup_s = time.perf_counter() - t0
    selected = list(state.selected)

    def ours():
        mask = np.ones(n_neurons, dtype=bool)
        mask[state.selected] = False
        cands = np.flatnonzero(mask)
        sc = state.candidate_scores(criterion="mi")  # every unselected neuron, in index order
        best = int(np.argmax(sc[:, 0]))
        return int(cands[best]), float(sc[best, 0])

    ours_s, (ours_pick, ours_mi) = median_time(ours, args.rounds)
    t0 = time.perf_counter()
    state.add(ours_pick)  # the update half of the step
    update_s = time.perf_counter() - t0
    step_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    ours_s += update_s
    import torch

    torch.set_num_threads(args.baseline_threads)
    base = NeuroXGaussianStep(X, y, means, covs)
    n_cands = n_neurons - len(selected)
    full = n_neurons <= args.full_baseline_upto
    if full:
        base_s, (base_pick, base_mi, _) = median_time(lambda: base.step(selected), 1)
        if base_pick != ours_pick or abs(base_mi - ours_mi) > 1e-6 * max(1.0, abs(base_mi)):
            raise SystemExit(f"the two sides disagree at {n_neurons} neurons: {base_pick} ({base_mi}) vs "
                             f"{ours_pick} ({ours_mi})")
    else:  # time a random sample of candidates and extrapolate to all of them
        rng = np.random.default_rng(1)
        pool = np.setdiff1d(np.arange(n_neurons), selected)
        sample = sorted(rng.choice(pool, size=min(args.baseline_candidates, len(pool)), replace=False).tolist())
        t0 = time.perf_counter()
        _, _, mis = base.step(selected, sample)
        base_s = (time.perf_counter() - t0) / len(sample) * n_cands
        # the state already holds ours_pick: check the sample against a state before it (fresh, same k)
        check = GreedyGaussianState(means, covs, np.log(prior), X, y)
        for j in selected:
            check.add(j)
        ours_mis = check.candidate_scores(np.array(sample))[:, 0]
        worst = max(abs(mis[c] - m) for c, m in zip(sample, ours_mis))
        if worst > 1e-6:
            raise SystemExit(f"the two sides disagree at {n_neurons} neurons: MI differs by {worst}")
    torch.set_num_threads(args.threads)
    return {"n_neurons": n_neurons, "rows": args.rows, "classes": args.classes, "selected_before": args.selected,
            "map_fit_s": round(fit_s, 3), "map_fit_peak_mb": round(fit_peak / 2 ** 20, 1),
            "greedy_setup_s": round(setup_s, 3), "neuronlab_step_s": round(ours_s, 4),
            "neuronlab_step_peak_mb": round(step_peak / 2 ** 20, 1), "neurox_step_s": round(base_s, 3),
            "neurox_measured": "full step" if full else f"{args.baseline_candidates} candidates, extrapolated",
            "speedup": round(base_s / ours_s, 1), "picked": ours_pick, "mi_bits": round(ours_mi, 6)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="1000,2000,5000,10000", help="neuron counts, comma-separated")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--selected", type=int, default=5, help="neurons already selected before the timed step")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of neuronlab's step (median)")
    ap.add_argument("--baseline-threads", type=int, default=1,
                    help="torch threads of the re-fit baseline (1 is its fastest for k x k factorisations)")
    ap.add_argument("--full-baseline-upto", type=int, default=1000,
                    help="run the baseline's whole step up to this many neurons (and check the same pick)")
    ap.add_argument("--baseline-candidates", type=int, default=200,
                    help="above that, time this many random candidates and extrapolate to all")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rows = [bench_size(int(s), args) for s in tqdm(args.sizes.split(","), desc="sizes")]
    info = {"threads": args.threads, "machine": platform.processor() or platform.machine(),
            "numpy": np.__version__, "torch": torch.__version__}
    if args.json:
        print(json.dumps({"info": info, "results": rows}, indent=2))
        return
    print(f"Gaussian probe greedy step, {args.rows} rows, {args.classes} classes, {args.selected} neurons selected "
          f"before the step, {args.threads} threads ({info})")
    print(f"{'neurons':>8} {'MAP fit s':>10} {'fit MB':>8} {'step s':>9} {'peak MB':>8} {'NeuroX step s':>14} "
          f"{'ratio':>7}  NeuroX timing")
    for r in rows:
        print(f"{r['n_neurons']:>8} {r['map_fit_s']:>10.2f} {r['map_fit_peak_mb']:>8.0f} {r['neuronlab_step_s']:>9.3f} "
              f"{r['neuronlab_step_peak_mb']:>8.0f} {r['neurox_step_s']:>14.2f} {r['speedup']:>6.1f}x  "
              f"{r['neurox_measured']}")


if __name__ == "__main__":
    main()
