"""``explain-compare --level generation | neurons``: rank the explainers of a generation model, or the neuron
attribution methods of a classifier by ablation (issue 15; what ferret cannot: its issues #13 and #50).

- ``neuronlab explain-compare MODEL --generation --text PROMPT [--target-text OUT] --methods gradient,occlusion``:
  a causal or seq2seq LM; every generation step's source tokens are removed (kept) in the order of each method's
  scores (:func:`neuronlab.explain.compare_generation.compare_generation_explainers`).
- ``neuronlab explain-compare MODEL --neurons --site layers.3 --text ... --methods grad-x-act,ig,ablation``: the
  site's neurons ablated (zero or mean) in the order of each method's attribution
  (:func:`neuronlab.explain.compare_neurons.compare_neuron_attributors`).

Both print the same table as the word level (comprehensiveness, sufficiency, AOPC and a random order's, run time),
take ``--json``, ``--plot FILE.png`` and ``--store STORE`` (an ``explain_compare`` result, shown by the report's
``explainer_ranking`` section). This module only adds the options and the run of these two levels to the
``explain-compare`` command (:mod:`.commands_explain_compare`).
"""
from __future__ import annotations

import argparse
import time

from .registry import OVERWRITE_FLAG, check_out, emit, json_output

#: the levels of ``explain-compare``
LEVELS = ("words", "generation", "neurons")
_BINS = "0.01,0.05,0.1,0.2,0.5"


def add_level_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the generation and neuron levels."""
    g = p.add_argument_group("generation and neuron levels")
    lv = g.add_mutually_exclusive_group()
    lv.add_argument("--level", choices=LEVELS, default="words",
                    help="what is explained: words of a classifier's input (default), each generated token of a "
                         "language model (generation), or the neurons of a site (neurons)")
    lv.add_argument("--generation", dest="level", action="store_const", const="generation",
                    help="same as --level generation: MODEL is a causal or seq2seq LM; --methods among gradient, "
                         "gradient_x_input, integrated_gradients, occlusion (`neuronlab explain-generate --list`)")
    lv.add_argument("--neurons", dest="level", action="store_const", const="neurons",
                    help="same as --level neurons: rank neuron attribution methods (grad-x-act, ig, conductance, "
                         "ablation) by ablating the --site's neurons in their order")
    g.add_argument("--target-text", action="append", metavar="OUTPUT",
                   help="generation: the output explained for each --text (repeatable, one per --text); default: "
                        "the greedy output of --max-new-tokens")
    g.add_argument("--max-new-tokens", type=int, default=10, help="generation: tokens generated (default 10)")
    g.add_argument("--step-target", default="probability",
                   help="generation: the value of each step explained and evaluated: probability (default), "
                        "log_probability, logit, entropy")
    g.add_argument("--site", default=None, help="neurons: the site whose neurons are ranked (e.g. layers.3, "
                                                "layers.3.mlp)")
    g.add_argument("--ablation", default="zero", choices=["zero", "mean"],
                   help="neurons: an ablated neuron is set to zero (default) or to its mean (over --store's "
                        "activations of the site when it has them, else over the inputs' tokens)")
    g.add_argument("--rank", default="signed", choices=["signed", "abs"],
                   help="neurons: order by the signed attribution (default, as ERASER) or by its magnitude")
    g.add_argument("--aopc-points", type=int, default=20,
                   help="neurons: AOPC over this many evenly spaced numbers of ablated neurons (default 20)")
    g.add_argument("--bins", default=_BINS,
                   help=f"generation and neurons: shares of the tokens (neurons) removed or kept for "
                        f"comprehensiveness and sufficiency (default {_BINS})")
    g.add_argument("--batch-size", type=int, default=32, help="generation and neurons: model rows per pass")
    g.add_argument("--steps", type=int, default=None,
                   help="generation and neurons: interpolation steps of integrated gradients and conductance")


def _bins(text: str) -> list[float]:
    from ..errors import InvalidParameterError
    from ..explain.compare_generation import check_bins

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidParameterError(f"--bins expects comma-separated shares in (0, 1], e.g. 0.1,0.5; got "
                                    f"{text!r}") from None
    return check_bins(values)


def check_level_arguments(args, default_metrics: str) -> None:
    """One-line errors for options given to the wrong level (before any model is loaded)."""
    from ..errors import InvalidParameterError
    from .commands_attribution import _check_positive

    level = args.level
    if level == "words":
        for flag, given in (("--target-text", args.target_text), ("--site", args.site)):
            if given:
                raise InvalidParameterError(f"{flag} is for --generation / --neurons; the word level compares a "
                                            "classifier's explainers")
        return
    if args.metrics != default_metrics or args.sanity:
        raise InvalidParameterError(f"--metrics and --sanity are for the word level; --{level} compares "
                                    "comprehensiveness, sufficiency and AOPC")
    for flag, value in (("--max-new-tokens", args.max_new_tokens), ("--batch-size", args.batch_size),
                        ("--aopc-points", args.aopc_points), ("--steps", args.steps)):
        _check_positive(flag, value)
    if level == "generation":
        if args.site:
            raise InvalidParameterError("--site is for --neurons")
        if args.target_text is not None and (not args.text or len(args.target_text) != len(args.text)):
            raise InvalidParameterError("give one --target-text per --text")
    if level == "neurons":
        if not args.site:
            raise InvalidParameterError("--neurons needs --site SITE (e.g. layers.3); `neuronlab sites MODEL` "
                                        "lists them")
        if args.target_text:
            raise InvalidParameterError("--target-text is for --generation")


def _methods(args, level: str) -> list[str]:
    from ..explain.compare_generation import DEFAULT_GENERATION_METHODS
    from ..explain.compare_neurons import NEURON_METHODS

    if args.methods:
        return [m.strip() for m in args.methods.split(",") if m.strip()]
    if level == "generation":
        return list(DEFAULT_GENERATION_METHODS)
    from ..attribution.methods import METHODS

    return [METHODS[k].short for k in NEURON_METHODS]


def run_level(args, inputs_files: list, write_plot) -> int:
    """Run ``explain-compare`` at the generation or neuron level (the options are checked)."""
    from ..errors import InvalidParameterError
    from .commands_attribution import _check_store, _load_inputs

    level = args.level
    methods = _methods(args, level)
    if not methods:
        raise InvalidParameterError("--methods: give at least one method")
    bins = _bins(args.bins)
    if args.plot and not str(args.plot).lower().endswith(".png"):
        raise InvalidParameterError(f"--plot {args.plot!r}: give a .png file name")
    if args.name and not args.store:
        raise InvalidParameterError("--name names the result in --store; give --store STORE too")
    check_out(args, inputs_files)
    if args.plot:
        from ..outputs import check_output

        check_output(args.plot, overwrite=args.overwrite, inputs=inputs_files + [args.out],
                     overwrite_hint=OVERWRITE_FLAG)
    t0 = time.perf_counter()
    args.label_name = None
    if level == "generation":
        from ..explain.generation import GENERATION_METHODS

        for m in methods:
            GENERATION_METHODS[m]  # the registry's one-line error with the valid names
        if args.text:
            sources, source = list(args.text), f"{len(args.text)} --text"
        else:
            words, _, source = _load_inputs(args)
            sources = [" ".join(w) for w in words]
        _check_store(args)
        from ..models.live import load_live
        from .commands_explain_generate import _lm_head

        live = load_live(args.model, head=_lm_head(args.model), device=args.device)
        params = {} if args.steps is None else {m: {"steps": args.steps} for m in methods
                                                if m == "integrated_gradients"}
        from ..explain.compare_generation import compare_generation_explainers

        def run():
            return compare_generation_explainers(
                live, sources, methods, step_target=args.step_target, target_texts=args.target_text,
                max_new_tokens=args.max_new_tokens, bins=bins, seed=args.seed, batch_size=args.batch_size,
                params=params, progress=not args.quiet)

        n_inputs = len(sources)
    else:
        from ..explain.compare_neurons import _method_key

        keys = {m: _method_key(m) for m in methods}
        inputs, _, source = _load_inputs(args)
        _check_store(args)
        from ..models.live import load_live
        from .commands_explain import _check_model

        live = load_live(args.model, device=args.device)
        _check_model(live, args.model)
        params = {} if args.steps is None else {m: {"steps": args.steps} for m, k in keys.items()
                                                if k in ("layer_integrated_gradients", "layer_conductance")}
        from ..explain.compare_neurons import compare_neuron_attributors

        def run():
            kw = {"site": args.site, "bins": bins, "seed": args.seed, "aopc_points": args.aopc_points,
                  "batch_size": args.batch_size, "rank": args.rank, "params": params, "progress": not args.quiet}
            if args.store and args.ablation == "mean":  # the store's mean of the site, when it has the site
                from ..store import ActivationStore

                with ActivationStore.open(args.store) as st:
                    return compare_neuron_attributors(live, inputs, methods, ablation="mean", store=st, **kw)
            return compare_neuron_attributors(live, inputs, methods, ablation=args.ablation, **kw)
        n_inputs = len(inputs)
    with json_output(args, inputs_files) as write_json:
        table = run()
        path = None
        if args.store:
            from ..store import ActivationStore

            with ActivationStore.open(args.store, mode="r+") as st:
                path = table.to_store(st, args.name or f"explain_compare_{level}")
        if args.plot:
            write_plot(args, table, inputs_files)
        report = {"model": args.model, "level": level, "inputs": source, "n_inputs": n_inputs, **table.to_dict(),
                  "store": args.store, "result_path": path, "plot": args.plot,
                  "seconds": round(time.perf_counter() - t0, 2)}
        write_json(report)
    what = "generation explainers" if level == "generation" else f"neuron attributors of {table.config['site']}"
    text = (f"{len(table.rows)} {what} on {n_inputs} inputs ({source}), best first "
            f"(comprehensiveness - sufficiency):\n" + table.table())
    if path:
        text += f"\nwritten {args.store}:{path}"
    if args.plot:
        text += f"\nplot: {args.plot}"
    emit(args, report, text)
    return 0
