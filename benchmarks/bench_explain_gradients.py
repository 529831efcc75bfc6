"""Wall time per explanation of neuronlab's gradient explainers vs Captum's equivalents on minilm (issue 15).

Same model (minilm with a seeded 2-class head), same sentences (one explanation per sentence, as one
calls Captum), same steps / samples and rows per forward pass, the predicted class explained. Prints
seconds per explanation and the ratio Captum / neuronlab (> 1: neuronlab is faster), and the same for
the whole corpus in one neuronlab call against a Captum loop over its sentences.

    python benchmarks/bench_explain_gradients.py --threads 2 --sentences 8 --steps 50 --samples 20

Captum's DeepLift and GradientShap need a module; the wrapper below is the one the tests use.
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

SENTENCES = [
    "the film was a delight from start to finish",
    "nobody in the audience laughed at a single joke",
    "a quiet , moving portrait of a family in crisis",
    "the plot makes no sense and the acting is wooden",
    "it is the best thing the director has made in years",
    "two hours of my life i will never get back",
    "charming , funny and surprisingly sad",
    "the soundtrack is loud but the story is thin",
    "an ambitious mess that never finds its footing",
    "i loved every minute of this strange little movie",
]


def _load(seed: int):
    import torch

    from neuronlab.models.live import load_live

    live = load_live("minilm", head="sequence-classification", num_labels=2, seed=seed)
    with torch.no_grad():
        live.model.classifier.weight.normal_(0, 1.0, generator=torch.Generator().manual_seed(seed))
    return live


def _captum(name: str, live, enc, resolved, x, args):
    """Captum's equivalent of our method ``name`` on one encoded sentence: per-dimension attributions."""
    import torch
    from captum import attr as ca

    def f(emb):
        rows = torch.zeros(emb.shape[0], dtype=torch.long)
        return resolved(live.forward(enc, rows, inputs_embeds=emb), rows)

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = live.model

        def forward(self, emb):
            return f(emb)

    from neuronlab.explain.gradients import baseline_embeddings

    if name == "gradient":
        return ca.Saliency(f).attribute(x, abs=True)
    if name == "gradient_x_input":
        return ca.InputXGradient(f).attribute(x)
    if name == "smoothgrad":
        from neuronlab.explain.gradients import noise_sigma

        sigma = noise_sigma(x, enc.attention_mask, 0.15)[0]
        return ca.NoiseTunnel(ca.Saliency(f)).attribute(x, nt_type="smoothgrad", nt_samples=args.samples,
                                                        nt_samples_batch_size=args.batch_size, stdevs=sigma,
                                                        abs=False)
    if name == "integrated_gradients":
        mask = enc.attention_mask

        def f_ids(ids):
            rows = torch.zeros(ids.shape[0], dtype=torch.long)
            return resolved(live.model(input_ids=ids, attention_mask=mask.expand(ids.shape[0], -1)), rows)

        base = torch.where(enc.content_mask(), torch.full_like(enc.input_ids, live.tokenizer.pad_token_id),
                           enc.input_ids)
        lig = ca.LayerIntegratedGradients(f_ids, live.model.get_input_embeddings())
        return lig.attribute(enc.input_ids, baselines=base, n_steps=args.steps, method="gausslegendre",
                             internal_batch_size=args.batch_size)
    if name == "deeplift":
        return ca.DeepLift(Wrapped()).attribute(x, baselines=baseline_embeddings(live, enc, "pad"))
    if name == "gradient_shap":
        refs = torch.cat([baseline_embeddings(live, enc, k) for k in ("pad", "mask", "zero", "unk")])
        return ca.GradientShap(f).attribute(x, baselines=refs, n_samples=args.samples)
    return None


def _ours(name: str, live, args):
    from neuronlab.explain import EXPLAINERS

    params = {"batch_size": args.batch_size}
    if name == "integrated_gradients":
        params.update(steps=args.steps, baseline="pad")
    if name in ("smoothgrad", "gradient_shap"):
        params.update(n_samples=args.samples)
    if name == "gradient_shap":
        params.update(baselines="pad,mask,zero,unk", reference=args.gradient_shap_reference)
    return EXPLAINERS[name](live, **params)


METHODS = ["gradient", "gradient_x_input", "smoothgrad", "integrated_gradients", "deeplift", "gradient_shap", "lrp"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sentences", type=int, default=8)
    p.add_argument("--steps", type=int, default=50, help="integrated-gradients steps")
    p.add_argument("--samples", type=int, default=20, help="SmoothGrad / GradientSHAP samples")
    p.add_argument("--batch-size", type=int, default=32, help="rows per forward pass (both libraries)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per sentence (the minimum is kept)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--no-gradient-shap-reference", dest="gradient_shap_reference", action="store_false",
                   help="gradient_shap without its reference value f(x') (Captum computes none)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall: perf_counter; cpu: process_time (CPU seconds of this process, less sensitive to other "
                        "jobs on a shared machine; use with --threads 1)")
    args = p.parse_args()

    import torch
    from tqdm.auto import tqdm

    from neuronlab.explain.base import Explainer

    warnings.filterwarnings("ignore")
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    torch.set_num_threads(args.threads)
    live = _load(0)
    texts = [s.split() for s in SENTENCES[: args.sentences]]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    print(f"minilm + seeded head, {len(texts)} sentences, one explanation per sentence, {args.threads} threads, "
          f"steps {args.steps}, samples {args.samples}, {args.batch_size} rows per pass; min of {args.repeats}; "
          f"{args.clock} seconds")
    print("per sentence: one explanation of one sentence (the predicted class: Captum's time includes the forward "
          "pass that finds it)")
    print(f"corpus: all {len(texts)} sentences in one neuronlab call (batched, padding trimmed per chunk) vs a Captum "
          "loop over them")
    print(f"{'method':<22}{'neuronlab s':>13}{'captum s':>11}{'ratio':>8}{'corpus nl s':>13}{'captum s':>11}"
          f"{'ratio':>8}")
    for name in tqdm(methods, desc="methods", leave=False):
        ours_t, cap_t = [], []
        explainer = _ours(name, live, args)
        explainer.explain([texts[0]])  # warm-up (first-call costs: attention implementation, allocator)
        corpus_ours = []
        for _ in range(args.repeats):  # interleaved, the minimum kept: robust to other jobs on a shared machine
            per_ours, per_cap = [], []
            for words in texts:
                t0 = clock()
                explainer.explain([words])
                per_ours.append(clock() - t0)
                t0 = clock()
                enc = live.encode([words])
                _, resolved = Explainer(live).resolve(enc)  # the predicted class: one forward pass
                res = _captum(name, live, enc, resolved, live.embed(enc), args)
                per_cap.append(clock() - t0)
            ours_t.append(per_ours)
            if res is not None:
                cap_t.append(per_cap)
            t0 = clock()
            explainer.explain(texts)
            corpus_ours.append(clock() - t0)
        ours_t = [min(r[i] for r in ours_t) for i in range(len(texts))]
        cap_t = [min(r[i] for r in cap_t) for i in range(len(texts))] if cap_t else []
        corpus = min(corpus_ours)
        o = statistics.mean(ours_t)
        c = statistics.mean(cap_t) if cap_t else None
        ratio = f"{c / o:8.2f}" if c else "     n/a"
        cratio = f"{sum(cap_t) / corpus:8.2f}" if c else "     n/a"
        print(f"{name:<22}{o:13.4f}{(c or float('nan')):11.4f}{ratio}{corpus:13.4f}"
              f"{(sum(cap_t) if c else float('nan')):11.4f}{cratio}", flush=True)


if __name__ == "__main__":
    main()
