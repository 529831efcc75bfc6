"""Attribution benchmark on minilm: neuronlab vs Captum, side by side, interleaved, medians.

1. Conductance of every neuron of ``layers.L`` (384) for a few SST-2-like sentences:
   - neuronlab ``LayerConductance`` in both modes: ``difference`` (``riemann_left``, Captum's scheme) and
     ``exact`` (Gauss-Legendre, forward-mode dy/da; the default);
   - Captum ``LayerConductance`` (``riemann_trapezoid``, the same grid as our ``riemann_left`` difference mode);
   - Captum ``NeuronConductance`` looped over neurons: ``--loop-neurons`` neurons are timed and the time is
     extrapolated to all neurons of the site (the full loop is too slow here; the report says so).
   Same model, inputs, [PAD] baselines, steps. ``--mlp`` adds ``layers.L.mlp`` (1,536 neurons).
2. Greedy ablation of ``k`` neurons among ``--candidates`` of ``layers.L``: neuronlab ``GreedyAblation``
   (batched candidates, blocks below the site cached) vs a loop of single forward passes (one full forward
   pass over the sentences per candidate and step, with an intervention hook); both must choose the same neurons.

Rounds are interleaved (A B C A B C ...) and medians reported, since the machine is shared.

Usage::

    .venv/bin/python benchmarks/bench_attribution.py [--threads 2] [--rounds 3] [--steps 20] [--json]
"""
from __future__ import annotations

import argparse

from _threads import pin_threads  # noqa: E402  (before numpy / torch load BLAS)

_THREADS = pin_threads(offline_hub=True)

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

SENTENCES = [
    "a gorgeous , witty , seductive movie .",
    "the plot is nothing but boilerplate clichés from start to finish .",
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--layer", type=int, default=3)
    ap.add_argument("--loop-neurons", type=int, default=4, help="Captum NeuronConductance calls timed per round")
    ap.add_argument("--mlp", action="store_true", help="also layers.L.mlp (1,536 neurons)")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--candidates", type=int, default=64)
    ap.add_argument("--skip-greedy", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch
    from captum.attr import LayerConductance as CLC
    from captum.attr import NeuronConductance as CNC
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from neuronlab.attribution import LayerConductance
    from neuronlab.attribution._path import baseline_encoded
    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path, _quiet_transformers

    torch.set_num_threads(args.threads)
    _quiet_transformers()
    path = str(_minilm_path())
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).to(args.device).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0, 1.0)
    live = LiveModel(model, AutoTokenizer.from_pretrained(path))
    enc = live.encode(SENTENCES)
    ids, mask = enc.input_ids.to(args.device), enc.attention_mask.to(args.device)
    x = live.activations(enc, "embeddings")
    b = live.activations(baseline_encoded(live, enc), "embeddings")

    def forward(emb, i, m):
        h = model.bert.embeddings.register_forward_hook(lambda mod, a, o: emb)
        try:
            return model(input_ids=i, attention_mask=m).logits
        finally:
            h.remove()

    report: dict = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
                    "device": args.device, "torch": torch.__version__, "n_sentences": len(SENTENCES),
                    "tokens": int(mask.sum()), "steps": args.steps, "rounds": args.rounds}
    sites = [f"layers.{args.layer}"] + ([f"layers.{args.layer}.mlp"] if args.mlp else [])
    for site in sites:
        L = args.layer
        layer = model.bert.encoder.layer[L] if site == f"layers.{L}" else model.bert.encoder.layer[L].output.dense
        io_input = site.endswith(".mlp")
        width = live.width(site)
        T = {"ours_difference": [], "ours_exact": [], "captum_layer": [], "captum_neuron_loop_extrapolated": []}
        # warm-up (thread pools, allocator, the first eager-attention switch), not timed
        LayerConductance(live, site, steps=2, rule="riemann_left",
                         derivative="difference").attribute(SENTENCES, target=1)
        LayerConductance(live, site, steps=2).attribute(SENTENCES, target=1)
        CLC(forward, layer).attribute(x, baselines=b, target=1, n_steps=2, method="riemann_trapezoid",
                                      additional_forward_args=(ids, mask), attribute_to_layer_input=io_input)
        C = {k: [] for k in T}
        runs = {
            "ours_difference": lambda: LayerConductance(live, site, steps=args.steps, rule="riemann_left",
                                                        derivative="difference").attribute(SENTENCES, target=1),
            "ours_exact": lambda: LayerConductance(live, site, steps=args.steps).attribute(SENTENCES, target=1),
            "captum_layer": lambda: CLC(forward, layer).attribute(
                x, baselines=b, target=1, n_steps=args.steps, method="riemann_trapezoid",
                additional_forward_args=(ids, mask), attribute_to_layer_input=io_input),
        }
        nc = CNC(forward, layer)

        def neuron_loop():
            for j in range(args.loop_neurons):
                nc.attribute(x, neuron_selector=(1, j), baselines=b, target=1, n_steps=args.steps,
                             method="riemann_trapezoid", additional_forward_args=(ids, mask),
                             attribute_to_neuron_input=io_input)

        runs["captum_neuron_loop_extrapolated"] = neuron_loop
        names = list(runs)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order every round
                c0 = time.process_time()
                t, out = timed(runs[name])
                c = time.process_time() - c0
                if name == "captum_neuron_loop_extrapolated":
                    t, c = t / args.loop_neurons * width, c / args.loop_neurons * width
                T[name].append(t)
                C[name].append(c)
                if name == "ours_difference":
                    ours = out
                elif name == "captum_layer":
                    ref = out
        ref_np = ref.detach().cpu().numpy() * enc.attention_mask.numpy()[:, :, None]
        maxdiff = float(np.abs(ours.attributions - ref_np).max())
        med = {k: statistics.median(v) for k, v in T.items()}
        report[site] = {
            "width": width, "median_s": med, "all_s": T,
            "median_cpu_s": {k: statistics.median(v) for k, v in C.items()},
            "note": f"Captum NeuronConductance: {args.loop_neurons} neurons (token 1) timed per round, x {width}",
            "max_abs_diff_vs_captum_layer": maxdiff,
            "speedup_vs_neuron_loop": {m: med["captum_neuron_loop_extrapolated"] / med[m]
                                       for m in ("ours_difference", "ours_exact")},
            "speedup_vs_captum_layer": {m: med["captum_layer"] / med[m] for m in ("ours_difference", "ours_exact")},
        }

    # ---------------------------------------------------------------- greedy ablation
    if not args.skip_greedy:
        bench_greedy(args, live, enc, report)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for key, val in report.items():
        if isinstance(val, dict) and "median_s" in val:
            print(f"== {key}")
            for k, v in val.items():
                if k != "all_s":
                    print(f"  {k}: {v}")
        else:
            print(f"{key}: {val}")


def bench_greedy(args, live, enc, report) -> None:
    import torch

    from neuronlab.attribution import GreedyAblation

    site = f"layers.{args.layer}"
    cands = list(range(args.candidates))
    rows = torch.arange(enc.n_examples)
    resolved = live.resolve_target(enc, 1)

    def loop_greedy():
        chosen, remaining = [], list(cands)
        for _ in range(args.k):
            means = []
            for c in remaining:
                with live.intervene(site, "set", neurons=chosen + [c], value=0.0), torch.no_grad():
                    means.append(float(live.target(enc, None, rows, resolved=resolved).mean()))
            chosen.append(remaining.pop(int(np.argmin(means))))
        return chosen

    G: dict = {"ours_batched": [], "loop_single_passes": []}
    GreedyAblation(live, site, k=1).attribute(SENTENCES, target=1, candidates=cands[:4])  # warm-up
    for _ in range(args.rounds):
        t, ours_g = timed(lambda: GreedyAblation(live, site, k=args.k).attribute(SENTENCES, target=1,
                                                                                  candidates=cands)["neurons"])
        G["ours_batched"].append(t)
        t, loop_g = timed(loop_greedy)
        G["loop_single_passes"].append(t)
    med = {k: statistics.median(v) for k, v in G.items()}
    report["greedy_ablation"] = {"site": site, "k": args.k, "candidates": len(cands), "median_s": med, "all_s": G,
                                 "same_choice": ours_g == loop_g, "neurons": ours_g,
                                 "speedup": med["loop_single_passes"] / med["ours_batched"]}


if __name__ == "__main__":
    main()
