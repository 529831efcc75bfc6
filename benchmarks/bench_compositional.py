"""Compositional explanations: throughput (neurons/s at formula length 3) of the bit-packed beam search, side by side
with the same beam search on boolean masks (one mask and two reductions per candidate formula, the way the authors'
code, jayelm/compexp nli/code/analyze.py, evaluates formulas); both must give the same formulas and IoUs.

Usage::

    .venv/bin/python benchmarks/bench_compositional.py                       # EWT test store if cached, else synthetic
    .venv/bin/python benchmarks/bench_compositional.py --store S.h5 --site layers.3 --neurons 64 --reference 8
    .venv/bin/python benchmarks/bench_compositional.py --synthetic --rows 25000

Prints the store, atoms, threshold, both throughputs and their ratio (``--json`` for a machine-readable line).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from neuronlab.concepts.compositional import Atoms, CompositionalExplainer
from neuronlab.concepts.compositional.bitmask import unpack
from neuronlab.concepts.compositional.formula import OPERATORS, Formula

EWT = Path("/tmp/neuronlab-bench/ewt-test-minilm.h5")


def reference_search(ex: CompositionalExplainer, X: np.ndarray, atoms: Atoms):
    """The same beam search on boolean masks: every candidate formula is built and reduced (no packing)."""
    concept = unpack(atoms.masks, atoms.n_rows)

    def mask_of(a):
        return concept[a] if a < atoms.n_concept_atoms else atoms.word_ids == a - atoms.n_concept_atoms

    thresholds = np.quantile(X, ex.quantile, axis=0)
    out = []
    for j in range(X.shape[1]):
        N = X[:, j] > thresholds[j]
        if not N.any():
            out.append((None, 0.0))
            continue
        cand = ex.candidates(N, atoms)

        def iou(m, N=N):
            return (m & N).sum() / (m | N).sum()

        scored = [(iou(mask_of(a)), 1, i, Formula(int(a)), mask_of(a)) for i, a in enumerate(cand)]
        beam = _keep(scored, ex.beam_size)
        for _ in range(ex.max_length - 1):
            scored = [(s, len(f), i, f, m) for i, (s, _, _, f, m) in enumerate(beam)]
            k = len(beam)
            for b, (_, _, _, f, m) in enumerate(beam):
                for op in ex.operators:
                    for a in cand:
                        if int(a) in f.atoms:
                            k += 1
                            continue
                        nm = OPERATORS[op][1](m, mask_of(a))
                        scored.append((iou(nm), len(f) + 1, k, f.extend(op, int(a)), nm))
                        k += 1
            beam = _keep(scored, ex.beam_size)
        out.append((beam[0][3], float(beam[0][0])))
    return out


def _keep(scored, size):
    scored = sorted(scored, key=lambda t: (-t[0], t[1], t[2]))
    seen, kept = set(), []
    for entry in scored:
        key = np.packbits(entry[4]).tobytes()
        if key in seen:
            continue
        seen.add(key)
        kept.append(entry)
        if len(kept) == size:
            break
    return kept


def load(args):
    if not args.synthetic and (args.store or EWT.exists()):
        from neuronlab.store import ActivationStore

        path = args.store or EWT
        with ActivationStore.open(path) as st:
            atoms = Atoms.from_store(st)
            X = np.asarray(st[args.site][:, :args.neurons], dtype=np.float32)
        return f"{path} ({args.site})", X, atoms
    rng = np.random.default_rng(0)
    n = args.rows
    words = rng.zipf(1.5, size=n) % 5000
    concepts = {"upos": rng.integers(0, 17, size=n), "xpos": rng.integers(0, 45, size=n),
                "deprel": rng.integers(0, 40, size=n)}
    X = rng.normal(size=(n, args.neurons)).astype(np.float32)
    X += (concepts["upos"][:, None] == rng.integers(0, 17, size=args.neurons)) * 2.0
    return f"synthetic ({n} rows)", X, Atoms.from_arrays(words=[f"w{w}" for w in words],
                                                        concepts={k: v.tolist() for k, v in concepts.items()})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", default=None, help="activation store (default: the cached EWT test store if present)")
    p.add_argument("--site", default="layers.3")
    p.add_argument("--neurons", type=int, default=64, help="neurons timed with the packed search")
    p.add_argument("--reference", type=int, default=8, help="of those, neurons timed with the boolean reference")
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--rows", type=int, default=25000, help="rows of the synthetic data")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    what, X, atoms = load(args)
    ex = CompositionalExplainer(max_length=3, beam_size=10, n_word_atoms=10)
    t = time.perf_counter()
    ex.fit(X, atoms)
    packed_s = time.perf_counter() - t
    r = min(args.reference, X.shape[1])
    t = time.perf_counter()
    ref = reference_search(ex, X[:, :r], atoms)
    ref_s = time.perf_counter() - t
    same = all((f == ex.formulas_[j]) and abs(i - ex.iou_[j]) < 1e-12 for j, (f, i) in enumerate(ref))
    out = {"data": what, "rows": int(X.shape[0]), "concept_atoms": atoms.n_concept_atoms,
           "word_types": len(atoms.vocabulary), "beam": 10, "max_length": 3, "word_atoms_per_neuron": 10,
           "packed_neurons": int(X.shape[1]), "packed_s": round(packed_s, 3),
           "packed_neurons_per_s": round(X.shape[1] / packed_s, 2),
           "reference_neurons": r, "reference_s": round(ref_s, 3), "reference_neurons_per_s": round(r / ref_s, 3),
           "speedup": round((X.shape[1] / packed_s) / (r / ref_s), 1), "same_formulas_and_iou": bool(same),
           "mean_iou": round(float(ex.iou_.mean()), 4), "mean_atomic_iou": round(float(ex.atomic_iou_.mean()), 4),
           "load_average": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(out))
        return
    for k, v in out.items():
        print(f"{k:>26}: {v}")


if __name__ == "__main__":
    main()
