"""HotFlip on minilm (seeded 2-class head): swap verification packed (``engine="auto"``) vs transformers' padded
forward (``engine="hf"``), side by side.

Same model, sentences, target (the logit of the predicted class) and candidates; rounds interleaved and medians
reported, with the process CPU time (``time.process_time``, far less noisy on a shared machine than wall time) and
the forward rows per explanation. ``--old-src CHECKOUT`` adds a ``before`` row: the HotFlip class of an older
checkout's ``neuronlab/explain/perturbation.py`` (loaded into this process next to the current one, so that its
rounds interleave with the others), which verified the swaps example by example with transformers' forward.

Usage::

    .venv/bin/python benchmarks/bench_explain_hotflip.py [--threads 2] [--sentences 2] [--candidates 1 8]
        [--rounds 3] [--batch-size 32] [--old-src /work/main] [--json]
"""
from __future__ import annotations

import argparse

from _threads import THREADS_PARSER as _pre, pin_threads  # noqa: E402  (before numpy / torch load BLAS)

_THREADS = pin_threads(offline_hub=True)

import inspect
import json
import statistics
import sys
import time
from pathlib import Path

SENTENCES = [
    "a gorgeous , witty , seductive movie that nobody should miss",
    "the plot is paper thin and the characters are dull and lifeless",
    "an unbelievably moving story told with grace and a sharp sense of humour",
]


def _old_hotflip(checkout: str):
    """HotFlip of ``checkout``'s perturbation.py, imported as a sibling module of the current package."""
    import importlib.util

    path = Path(checkout) / "neuronlab" / "explain" / "perturbation.py"
    spec = importlib.util.spec_from_file_location("neuronlab.explain._perturbation_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HotFlip


def run(args) -> list[dict]:
    import torch
    from tqdm import tqdm

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers.live_models import minilm_classifier

    from neuronlab.explain.perturbation import HotFlip

    torch.set_num_threads(args.threads)
    live = minilm_classifier()
    words = [s.split() for s in SENTENCES[:args.sentences]]
    classes = {"auto": HotFlip, "hf": HotFlip}
    if args.old_src:
        classes["before"] = _old_hotflip(args.old_src)
    engines = list(classes)
    HotFlip(live, batch_size=args.batch_size).explain(words)  # warm-up (embedding matrix, packed model)
    rows = []
    for cand in args.candidates:
        times = {e: ([], []) for e in engines}
        passes = {}
        for _ in tqdm(range(args.rounds), desc=f"candidates={cand}", leave=False):
            for e in engines:
                kw = {} if "engine" not in inspect.signature(classes[e].__init__).parameters else {"engine": e}
                ex = classes[e](live, batch_size=args.batch_size, candidates=cand, **kw)
                w0, c0 = time.perf_counter(), time.process_time()
                out = ex.explain(words)
                times[e][0].append((time.perf_counter() - w0) / len(words))
                times[e][1].append((time.process_time() - c0) / len(words))
                passes[e] = out.forward_passes / len(words)
        base = statistics.median(times[engines[0]][1])
        for e in engines:
            wall, cpu = statistics.median(times[e][0]), statistics.median(times[e][1])
            rows.append({"candidates": cand, "engine": e, "wall_s": round(wall, 4), "cpu_s": round(cpu, 4),
                         "cpu_ratio_to_first": round(cpu / base, 2), "forward_rows": passes[e]})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], parents=[_pre])
    p.add_argument("--sentences", type=int, default=2)
    p.add_argument("--candidates", type=int, nargs="+", default=[1, 8])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--old-src", default=None, help="an older checkout: adds its HotFlip as the 'before' row")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = run(args)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"HotFlip per explanation, minilm, {args.sentences} sentences, threads={args.threads}, "
          f"batch_size={args.batch_size}, medians of {args.rounds} rounds")
    print(f"{'candidates':>10} {'engine':>7} {'wall s':>8} {'CPU s':>8} {'CPU ratio':>9} {'rows':>6}")
    for r in rows:
        print(f"{r['candidates']:>10} {r['engine']:>7} {r['wall_s']:>8.3f} {r['cpu_s']:>8.3f} "
              f"{r['cpu_ratio_to_first']:>9.2f} {r['forward_rows']:>6.1f}")


if __name__ == "__main__":
    main()
