"""How close the perturbation explainers come to the machine's arithmetic bound (issue 15's 3x bar).

A perturbation explainer's cost is the forward passes of its perturbed rows. At equal batching every tool evaluates
the same rows of the same model, so no exact implementation can be faster than the time those rows' multiply-adds
take at the machine's matrix-multiply throughput. This script measures, for KernelSHAP ([MASK] replacement: every
row has the sentence's length, so a padded batch holds no padding) and LIME (word removal: rows of many lengths):

1. the floating-point operations of the rows each tool actually runs (``torch.utils.flop_counter.FlopCounterMode``
   on the model's forward; padding counted where a tool pads);
2. the machine's matrix-multiply throughput: the best of ``--repeats`` timings of a GEMM of the model's
   largest shape (tokens x 384 by 384 x 1,536) at the same thread count;
3. the bound, (1) of the unpadded rows divided by (2): the time any exact implementation needs for those rows;
4. each tool's wall time per explanation (the side-by-side benchmark's tools) divided by the bound.

If the other tool already runs within 3x of the bound, no exact implementation can be 3x faster than it.

Usage::

    .venv/bin/python benchmarks/bench_explain_roofline.py [--threads 2] [--samples 100] [--rounds 3]
        [--sentences 2] [--json PATH]
"""
from __future__ import annotations

import argparse
import os

from _threads import pin_threads  # noqa: E402  (before numpy / torch load BLAS)

_THREADS = pin_threads(offline_hub=True)

import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_explain_perturbation import SENTENCES, Counter, _text_model  # noqa: E402


def model_flops(model, enc) -> int:
    """Floating-point operations of one forward of ``model`` on the tokenised batch ``enc``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**enc)
    return int(counter.get_total_flops())


def gemm_throughput(tokens: int, d_in: int, d_out: int, repeats: int) -> float:
    """FLOP/s of the best of ``repeats`` float32 GEMMs (tokens x d_in) @ (d_in x d_out)."""
    import torch

    a, b = torch.randn(tokens, d_in), torch.randn(d_in, d_out)
    for _ in range(3):
        a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * tokens * d_in * d_out / best


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def recorded_rows(live, sentences, words, pred, samples, kind):
    """The strings each package hands its classifier function (recorded, then not timed)."""
    rows = []

    def record(strings):
        strings = list(strings)
        rows.extend(strings)
        n = len(strings)
        return np.tile(np.array([[0.5, 0.5]]), (n, 1)) if kind == "lime" else np.zeros(n)

    if kind == "lime":
        from lime.lime_text import LimeTextExplainer

        for s in sentences:
            LimeTextExplainer(random_state=0).explain_instance(s, record, labels=(0,), num_samples=samples)
    else:
        import shap

        for ws in words:
            masks = [" ".join(["[MASK]"] * len(live.tokenizer.tokenize(w))) for w in ws]

            def coalition(X, ws=ws, masks=masks):
                return record([" ".join(w if x > 0.5 else m for w, x, m in zip(ws, row, masks)) for row in X])
            np.random.seed(0)
            shap.KernelExplainer(coalition, np.zeros((1, len(ws)))).shap_values(
                np.ones((1, len(ws))), nsamples=samples, l1_reg=False, silent=True)
    return rows


def run(args) -> dict:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers.live_models import minilm_classifier

    from neuronlab.explain import EXPLAINERS

    torch.set_num_threads(args.threads)
    live = minilm_classifier()
    sentences = SENTENCES[:args.sentences]
    words = [s.split() for s in sentences]
    with torch.no_grad():
        pred = live.forward(live.encode(words)).logits.argmax(-1).tolist()
    cfg = live.model.config
    out = {"threads": args.threads, "samples": args.samples, "sentences": len(sentences)}

    groups = {
        "kernel-shap": dict(name="kernel-shap", kw=dict(n_samples=args.samples, mode="mask"), pkg="shap"),
        "lime": dict(name="lime", kw=dict(n_samples=args.samples, mode="drop",
                                          target={"kind": "probability", "index": "predicted"}), pkg="lime"),
    }
    with torch.no_grad():
        for _ in range(3):
            live.forward(live.encode(words * 16))
    for group, g in groups.items():
        strings = recorded_rows(live, sentences, words, pred, args.samples, g["pkg"])
        # the package's rows: one padded batch per sentence (as the package hands them over)
        per_sentence = np.array_split(np.arange(len(strings)), len(sentences))
        padded = unpadded = tokens = 0
        for idx in per_sentence:
            part = [strings[i] for i in idx]
            enc = live.tokenizer(part, padding=True, return_tensors="pt")
            padded += model_flops(live.model, enc)
            for s in part:
                one = live.tokenizer([s], return_tensors="pt")
                tokens += one["input_ids"].shape[1]
                unpadded += model_flops(live.model, one)
        # neuronlab's rows
        ex = EXPLAINERS[g["name"]](live, batch_size=32, **g["kw"]).explain(words)
        peak = max(gemm_throughput(max(tokens // len(sentences), 256), cfg.hidden_size, cfg.intermediate_size,
                                   args.repeats) for _ in range(2))
        bound = unpadded / peak / len(sentences)

        def ours():
            EXPLAINERS[g["name"]](live, batch_size=32, **g["kw"]).explain(words)

        def package():
            c = Counter()
            for i, idx in enumerate(per_sentence):
                fn = _text_model(live, None, c, probabilities=g["pkg"] == "lime", cls=pred[i])
                fn([strings[j] for j in idx])

        times = {"neuronlab": [], "package rows, one padded batch, forward only": []}
        for _ in range(args.rounds):
            for k, fn in zip(times, (ours, package)):
                times[k].append(_timed(fn) / len(sentences))
        res = {"package_rows_per_explanation": len(strings) / len(sentences),
               "neuronlab_rows_per_explanation": ex.forward_passes / len(sentences),
               "tokens_per_explanation": tokens / len(sentences),
               "gflop_per_explanation_unpadded": unpadded / 1e9 / len(sentences),
               "gflop_per_explanation_padded": padded / 1e9 / len(sentences),
               "gemm_gflops": peak / 1e9, "bound_seconds_per_explanation": bound}
        for k, v in times.items():
            t = statistics.median(v)
            res[k] = {"seconds_per_explanation": t, "x_bound": t / bound,
                      "gflops_achieved": (padded if "package" in k else unpadded) / 1e9 / len(sentences) / t}
        out[group] = res
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--sentences", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=20, help="GEMM timings (the best is the throughput)")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    load = os.getloadavg()
    out = run(args)
    out["load_average"] = {"before": load, "after": os.getloadavg()}
    print(f"{args.threads} threads, {args.samples} samples, load average before {load[0]:.2f}, "
          f"after {out['load_average']['after'][0]:.2f}\n")
    print("| group | GFLOP / expl. (unpadded rows) | GEMM GFLOP/s | bound s / expl. | tool | s / expl. | x bound |")
    print("|---|---|---|---|---|---|---|")
    for group in ("kernel-shap", "lime"):
        r = out[group]
        for tool in ("neuronlab", "package rows, one padded batch, forward only"):
            print(f"| {group} | {r['gflop_per_explanation_unpadded']:.2f} | {r['gemm_gflops']:.0f} | "
                  f"{r['bound_seconds_per_explanation']:.3f} | {tool} | {r[tool]['seconds_per_explanation']:.3f} | "
                  f"{r[tool]['x_bound']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
