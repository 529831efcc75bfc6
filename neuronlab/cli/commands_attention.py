"""CLI command ``explain-attention``: is attention explanation? (Jain & Wallace 2019; Wiegreffe & Pinter 2019).

``neuronlab explain-attention MODEL --text ... | --corpus FILE`` measures, per layer and head, how well the
attention of the output position agrees with gradient and leave-one-out importance (Kendall tau, Spearman rho),
how much the output changes when attention is permuted or made uniform, and (``--adversarial``) how different an
attention can be while the output stays within epsilon. Each analysis is one typed result
(:mod:`neuronlab.explain.attention_tests`); ``--store`` writes them into the store's /results.
"""
from __future__ import annotations

import argparse
import time

from .registry import add_out_arguments, check_out, command, emit, json_output


def _parse_layers(value: str | None) -> list[int] | None:
    from ..errors import InvalidParameterError

    if value is None or value == "all":
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise InvalidParameterError(f"--layers {value!r}: give comma-separated layer indices (e.g. 0,3,-1) or all") \
            from None


def _fmt(v) -> str:
    return "   nan" if v is None else f"{v:+.3f}"


def _describe(r: dict) -> str:
    lines = [f"explain-attention on {r['model']}: {r['n_examples']} inputs ({r['source']}), {r['seconds']} s"]
    c = r.get("correlation")
    if c:
        lines.append("rank correlation of attention (output position) with word importance, mean over inputs "
                     "(Kendall tau; Jain & Wallace 4.1):")
        heads = [f"h{h}" for h in range(c["n_heads"])] + ["mean"]
        lines.append(f"  {'method':<14} {'layer':>5}  " + " ".join(f"{h:>6}" for h in heads))
        for m in c["methods"]:
            for li, layer in enumerate(c["layers"]):
                lines.append(f"  {m:<14} {layer:>5}  " + " ".join(_fmt(v) for v in c["kendall_mean"][m][li]))
    for key, title in (("permuted", "permuted attention (Jain & Wallace 4.2.1)"),
                       ("uniform", "uniform attention (Wiegreffe & Pinter 3.1)")):
        res = r.get(key)
        if res:
            lines.append(f"{title}: mean over inputs of the median output change (TVD), share of flipped predictions")
            for name, t, f in zip(res["settings"], res["mean_median_tvd"], res["flipped"]):
                lines.append(f"  {name:<16} TVD {t:<10.3g} flipped {f:.2f}")
    a = r.get("adversarial")
    if a:
        lines.append(f"adversarial attention at layer {a['layer']} (Jain & Wallace 4.2.2, TVD <= "
                     f"{a['config']['epsilon']}): mean JSD {a['mean_jsd']:.4f} (max ln 2 = 0.693); per input "
                     "JSD / max attention:")
        lines.append("  " + "  ".join(f"{j:.3f}/{m:.2f}" for j, m in zip(a["jsd"], a["max_attention"])))
    for name, path in r["result_paths"].items():
        lines.append(f"written {r['store']}:{path}")
    return "\n".join(lines)


@command("explain-attention", "Is attention explanation? Per layer and head: rank correlation of attention with "
                              "gradient and leave-one-out importance, the output change under permuted and uniform "
                              "attention, and adversarial attention (Jain & Wallace 2019; Wiegreffe & Pinter 2019).")
def _explain_attention(p: argparse.ArgumentParser):
    from ..corpus.readers import READERS

    p.add_argument("model", help="a sentence classifier: a directory written by `neuronlab train`, any saved "
                                 "transformers sequence classifier, or a Hugging Face id")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text", action="append", metavar="SENTENCE",
                     help="an input sentence (repeatable); its words are split at spaces")
    src.add_argument("--corpus", metavar="FILE", help="inputs: a corpus file (text, tsv, conllu, neurox), or embedded")
    p.add_argument("--format", choices=sorted(READERS), default=None, help="corpus format (default: from the suffix)")
    p.add_argument("--max-examples", type=int, default=None, help="use the first N inputs of the corpus")
    p.add_argument("--layers", default="all", help="layers analysed: comma-separated indices (negative from the top) "
                                                   "or all (default); permutation and uniform attention also change "
                                                   "all of them at once")
    p.add_argument("--target", default="predicted",
                   help="class explained by the importance methods: predicted (default), an index or a class name")
    p.add_argument("--methods", default="gradient,leave-one-out",
                   help="importance compared with attention: comma-separated explainers (default gradient,"
                        "leave-one-out); none skips the correlation")
    p.add_argument("--permutations", type=int, default=10, help="random permutations per input and layer "
                                                                "(0 skips the permutation test)")
    p.add_argument("--no-uniform", action="store_true", help="skip the uniform-attention baseline")
    p.add_argument("--adversarial", action="store_true", help="also search adversarial attention (gradient steps per "
                                                              "batch; slower)")
    p.add_argument("--adversarial-layer", type=int, default=-1, help="layer of the adversarial search (default -1)")
    p.add_argument("--epsilon", type=float, default=0.01, help="largest output change (TVD) an adversary may cause")
    p.add_argument("--steps", type=int, default=100, help="optimisation steps of the adversarial search")
    p.add_argument("--seed", type=int, default=0, help="seed of the permutations and the adversarial start")
    p.add_argument("--batch-size", type=int, default=32, help="forward rows per pass")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    p.add_argument("--store", default=None, help="activation store: each analysis is written into its /results "
                                                 "(opened r+)")
    p.add_argument("--name", default="attention", help="prefix of the result names in the store "
                                                       "(<name>_correlation, _permuted, _uniform, _adversarial)")
    add_out_arguments(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    def run(args) -> int:
        from ..errors import InvalidParameterError
        from .commands_attribution import _check_positive, _check_store, _class_index, _load_inputs
        from .commands_explain import _check_model

        if not args.text and not args.corpus:
            raise InvalidParameterError("give the inputs: --text SENTENCE (repeatable) or --corpus FILE")
        if args.corpus == "store":
            raise InvalidParameterError("--corpus store is not supported by explain-attention; give --text or a file")
        layers = _parse_layers(args.layers)
        methods = [] if args.methods.strip() == "none" else [m.strip() for m in args.methods.split(",") if m.strip()]
        from ..explain import EXPLAINERS

        for m in methods:
            EXPLAINERS[m]  # an unknown name is a one-line error listing the valid ones
        _check_positive("--batch-size", args.batch_size)
        _check_positive("--steps", args.steps)
        if args.permutations < 0:
            raise InvalidParameterError(f"--permutations must be >= 0, got {args.permutations}")
        if args.epsilon < 0:
            raise InvalidParameterError(f"--epsilon must be >= 0, got {args.epsilon}")
        check_out(args, [args.corpus, args.store])
        _check_store(args)
        t0 = time.perf_counter()
        args.label_name = None
        inputs, _, source = _load_inputs(args)
        from ..explain import attention_tests as at
        from ..models.live import load_live

        live = load_live(args.model, device=args.device)
        _check_model(live, args.model)
        target = args.target if args.target == "predicted" else _class_index(live, args.target, "--target")
        at._layers(live, layers)  # out-of-range layers fail before any work
        at._layers(live, [args.adversarial_layer])
        common = {"target": target, "batch_size": args.batch_size}
        jobs = []
        if methods:
            jobs.append(("correlation", lambda: at.attention_correlations(live, inputs, layers=layers, methods=methods,
                                                                          **common)))
        if args.permutations:
            jobs.append(("permuted", lambda: at.permuted_attention(live, inputs, layers=layers, seed=args.seed,
                                                                   n_permutations=args.permutations, **common)))
        if not args.no_uniform:
            jobs.append(("uniform", lambda: at.uniform_attention(live, inputs, layers=layers, **common)))
        if args.adversarial:
            jobs.append(("adversarial", lambda: at.adversarial_attention(
                live, inputs, layer=args.adversarial_layer, epsilon=args.epsilon, steps=args.steps, seed=args.seed,
                **common)))
        if not jobs:
            raise InvalidParameterError("nothing to do: every analysis is switched off (--methods none, "
                                        "--permutations 0, --no-uniform, no --adversarial)")
        from tqdm.auto import tqdm

        results, paths = {}, {}
        with json_output(args, [args.corpus, args.store]) as write_json:
            with tqdm(total=len(jobs), disable=args.quiet, unit="analysis", desc="explain-attention",
                      dynamic_ncols=True, leave=False) as progress:
                for key, job in jobs:
                    progress.set_postfix_str(key)
                    results[key] = job()
                    progress.update(1)
            if args.store:
                from ..store import ActivationStore

                with ActivationStore.open(args.store, mode="r+") as st:
                    for key, res in results.items():
                        paths[key] = res.to_store(st, f"{args.name}_{key}")
            report = {"model": args.model, "source": source, "n_examples": len(inputs), "target": args.target,
                      **{k: r.to_dict() for k, r in results.items()}, "store": args.store, "result_paths": paths,
                      "seconds": round(time.perf_counter() - t0, 2)}
            write_json(report)
        emit(args, report, _describe(report))
        return 0

    return run
