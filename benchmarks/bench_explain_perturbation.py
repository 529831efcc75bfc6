"""Perturbation explainers on minilm (seeded 2-class head): neuronlab vs Captum, ``lime`` and ``shap``, side by side.

Same model, sentences, target (the logit of the predicted class; probabilities for the ``lime`` package,
which needs them) and number of samples per explanation:

1. LIME: neuronlab ``lime`` (word removal, repeated samples run once, rows sorted by length) vs the ``lime``
   package's ``LimeTextExplainer`` (its classifier function tokenises the strings and runs them in batches of
   ``--batch-size``, once as one padded batch of every sample, as ``explain_instance`` hands them over, and once
   with batches of 1, as a plain ``pipeline`` call does) vs Captum ``Lime`` on the
   word embeddings (feature mask grouping the subwords of each word, [MASK] baseline) with
   ``perturbations_per_eval`` = ``--batch-size`` and = 1 (Captum's default).
2. KernelSHAP: neuronlab ``kernel-shap`` ([MASK] per removed subword) vs the ``shap`` package's
   ``KernelExplainer`` on the same coalition function (a removed word becomes [MASK] tokens in the string,
   tokenised and run in batches of ``--batch-size``, in one padded batch as ``shap_values`` hands them over, or
   one by one) vs Captum ``KernelShap`` as above.
3. Ablation of each word: neuronlab ``leave-one-out`` (mask) vs Captum ``FeatureAblation``.

neuronlab runs twice per group: with ``engine="auto"`` (the packed forward of :mod:`neuronlab.explain.packed` on
worker threads, the default) and with ``engine="hf"`` (transformers' padded forward, the path before issue 15's
session 5), so the table shows what the packed forward adds to the fewer, shorter rows. The ratio columns divide
each tool's time by the first row's (neuronlab, default engine). Each tool's forward rows are counted. Rounds are interleaved (A B C A B C ...) and medians reported; besides wall
time the process CPU time is reported (``time.process_time``), which is far less noisy on a shared machine.

Usage::

    .venv/bin/python benchmarks/bench_explain_perturbation.py [--threads 2] [--samples 200] [--rounds 2]
        [--batch-size 32] [--sentences 3] [--only lime kernel-shap ablation] [--skip-unbatched]
        [--skip-hf-engine] [--json]
"""
from __future__ import annotations

import argparse
import os

from _threads import THREADS_PARSER as _pre, pin_threads  # noqa: E402  (before numpy / torch load BLAS)

_THREADS = pin_threads(offline_hub=True)

import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

SENTENCES = [
    "a gorgeous , witty , seductive movie that nobody should miss",
    "the plot is paper thin and the characters are dull and lifeless",
    "an unbelievably moving story told with grace and a sharp sense of humour",
]


class Counter:
    rows = 0


def _content_forward(live, enc, i, counter):
    """Captum's forward: word embeddings of the content tokens of example i -> logit of its predicted class."""
    import torch

    n = enc.lengths[i]
    full = live.embed(enc, [i])[:, :n]
    with torch.no_grad():
        cls = int(live.forward(enc, [i]).logits.argmax(-1))

    def forward(x):
        counter.rows += x.shape[0]
        emb = torch.cat([full[:, :1].expand(x.shape[0], -1, -1), x, full[:, n - 1:n].expand(x.shape[0], -1, -1)], 1)
        return live.model(inputs_embeds=emb, attention_mask=torch.ones(emb.shape[:2], dtype=torch.long)).logits[:, cls]

    content = full[:, 1:n - 1]
    baseline = live.embed(enc, ids=[[live.tokenizer.mask_token_id]])[0, 0].expand_as(content).contiguous()
    fmask = torch.as_tensor(enc.word_ids[i][1:n - 1])[None, :, None].expand_as(content).contiguous()
    return forward, content, baseline, fmask


def _text_model(live, batch_size, counter, probabilities=False, cls=None):
    """A classifier function over strings, as a user of the lime/shap packages writes it."""
    import torch

    def fn(strings):
        out = []
        step = batch_size or len(strings)  # None: every string in one padded batch, as the packages hand them over
        for b in range(0, len(strings), step):
            part = list(strings[b:b + step])
            counter.rows += len(part)
            enc = live.tokenizer(part, padding=True, return_tensors="pt")
            with torch.no_grad():
                logits = live.model(**enc).logits
            out.append(logits.softmax(-1) if probabilities else logits[:, cls])
        return torch.cat(out).numpy()
    return fn


def run(args):
    import torch
    from captum.attr import FeatureAblation
    from captum.attr import KernelShap as CKernelShap
    from captum.attr import Lime as CLime

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers.live_models import minilm_classifier

    from neuronlab.explain import EXPLAINERS

    torch.set_num_threads(args.threads)
    live = minilm_classifier()
    sentences = SENTENCES[:args.sentences]
    words = [s.split() for s in sentences]
    enc = live.encode(words)
    with torch.no_grad():
        pred = live.forward(enc).logits.argmax(-1).tolist()
    S, bs = args.samples, args.batch_size
    tools = {}

    def ours(name, **kw):
        def go():
            ex = EXPLAINERS[name](live, batch_size=bs, **kw).explain(words)
            return ex.forward_passes
        return go

    def both(label, name, **kw):
        out = {f"neuronlab {label}": ours(name, **kw)}
        if not args.skip_hf_engine:
            out[f"neuronlab {label} (engine=hf)"] = ours(name, engine="hf", **kw)
        return out

    def captum(cls_, ppe, **kw):
        def go():
            c = Counter()
            for i in range(len(words)):
                fwd, content, base, fmask = _content_forward(live, enc, i, c)
                with torch.no_grad():
                    cls_(fwd).attribute(content, baselines=base, feature_mask=fmask, perturbations_per_eval=ppe, **kw)
            return c.rows
        return go

    def lime_pkg(batch):
        from lime.lime_text import LimeTextExplainer

        def go():
            c = Counter()
            explainer = LimeTextExplainer(random_state=0)
            fn = _text_model(live, batch, c, probabilities=True)
            for i, s in enumerate(sentences):
                explainer.explain_instance(s, fn, labels=(pred[i],), num_samples=S)
            return c.rows
        return go

    def shap_pkg(batch):
        import shap

        def go():
            c = Counter()
            for i, ws in enumerate(words):
                masks = [" ".join(["[MASK]"] * len(live.tokenizer.tokenize(w))) for w in ws]
                fn = _text_model(live, batch, c, cls=pred[i])

                def coalition(X, ws=ws, masks=masks, fn=fn):
                    return fn([" ".join(w if x > 0.5 else m for w, x, m in zip(ws, row, masks)) for row in X])
                np.random.seed(0)
                shap.KernelExplainer(coalition, np.zeros((1, len(ws)))).shap_values(
                    np.ones((1, len(ws))), nsamples=S, l1_reg=False, silent=True)
            return c.rows
        return go

    groups = {
        "lime": {**both("lime", "lime", n_samples=S, mode="drop",
                        target={"kind": "probability", "index": "predicted"}),
                 f"lime package (batches of {bs})": lime_pkg(bs),
                 "lime package (one call, one padded batch)": lime_pkg(None),
                 "lime package (batches of 1)": lime_pkg(1),
                 f"Captum Lime (perturbations_per_eval={bs})": captum(CLime, bs, n_samples=S),
                 "Captum Lime (perturbations_per_eval=1)": captum(CLime, 1, n_samples=S)},
        "kernel-shap": {**both("kernel-shap", "kernel-shap", n_samples=S, mode="mask"),
                        f"shap KernelExplainer (batches of {bs})": shap_pkg(bs),
                        "shap KernelExplainer (one call, one padded batch)": shap_pkg(None),
                        "shap KernelExplainer (batches of 1)": shap_pkg(1),
                        f"Captum KernelShap (perturbations_per_eval={bs})": captum(CKernelShap, bs, n_samples=S),
                        "Captum KernelShap (perturbations_per_eval=1)": captum(CKernelShap, 1, n_samples=S)},
        "ablation": {**both("leave-one-out", "leave-one-out", mode="mask"),
                     f"Captum FeatureAblation (perturbations_per_eval={bs})": captum(FeatureAblation, bs),
                     "Captum FeatureAblation (perturbations_per_eval=1)": captum(FeatureAblation, 1)},
    }
    with torch.no_grad():                      # warm the model up (thread pools, kernels) before any timing
        for _ in range(3):
            live.forward(live.encode(words * (bs // len(words) + 1)))
    for group, fns in groups.items():
        if args.only and group not in args.only:
            continue
        if args.skip_unbatched:
            fns = {k: f for k, f in fns.items() if not k.endswith("1)") and "one call" not in k}
        times = {k: [] for k in fns}
        cpu = {k: [] for k in fns}
        rows = {}
        for _ in range(args.rounds):
            for k, fn in fns.items():
                t, c = time.perf_counter(), time.process_time()
                rows[k] = fn()
                times[k].append(time.perf_counter() - t)
                cpu[k].append(time.process_time() - c)
        first = next(iter(fns))
        base, cbase = statistics.median(times[first]), statistics.median(cpu[first])
        tools[group] = {k: {"seconds_per_explanation": statistics.median(v) / len(words),
                            "cpu_seconds_per_explanation": statistics.median(cpu[k]) / len(words),
                            "forward_rows_per_explanation": rows[k] / len(words),
                            "slower_than_neuronlab": statistics.median(v) / base,
                            "cpu_slower_than_neuronlab": statistics.median(cpu[k]) / cbase}
                        for k, v in times.items()}
    return tools


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], parents=[_pre])
    p.add_argument("--samples", type=int, default=200, help="samples per explanation (LIME, KernelSHAP)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--sentences", type=int, default=len(SENTENCES), help="explain the first N sentences")
    p.add_argument("--only", nargs="*", choices=("lime", "kernel-shap", "ablation"), help="run these groups only")
    p.add_argument("--skip-unbatched", action="store_true",
                   help="leave out the batch-size-1 variants (the slowest runs)")
    p.add_argument("--skip-hf-engine", action="store_true",
                   help="leave out neuronlab with engine='hf' (transformers' padded forward)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    load = os.getloadavg()
    res = run(args)
    load = [round(x, 1) for x in (load[0], os.getloadavg()[0])]
    if args.json:
        print(json.dumps({"samples": args.samples, "batch_size": args.batch_size, "threads": args.threads,
                          "load_average_before_after": load, "results": res}, indent=1))
        return
    print(f"load average (1 min) before / after: {load[0]} / {load[1]} on {os.cpu_count()} CPUs")
    for group, tools in res.items():
        n = min(args.sentences, len(SENTENCES))
        print(f"\n{group} ({args.samples} samples, {n} sentences, {args.threads} threads)")
        print(f"  {'tool':52s} {'s/expl':>8s} {'x nl':>6s} {'cpu s/expl':>10s} {'x nl':>6s} {'rows/expl':>9s}")
        for k, r in tools.items():
            print(f"  {k:52s} {r['seconds_per_explanation']:8.3f} {r['slower_than_neuronlab']:6.2f} "
                  f"{r['cpu_seconds_per_explanation']:10.3f} {r['cpu_slower_than_neuronlab']:6.2f} "
                  f"{r['forward_rows_per_explanation']:9.0f}")


if __name__ == "__main__":
    main()
