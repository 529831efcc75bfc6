"""CLI command ``explain-compare``: rank a classifier's explainers on a set of inputs by how far their explanations
can be trusted (issue 15).

``neuronlab explain-compare MODEL --text ... | --corpus FILE --methods a,b,c [--metrics m1,m2,...]`` explains the
inputs with each method for the same target (each input's predicted class, fixed once) and scores each explanation
by the metrics chosen (:data:`neuronlab.explain.compare.METRICS`): ERASER's comprehensiveness and sufficiency, AOPC
and the insertion curve (each next to a random order of the words; the default), infidelity and sensitivity-max
(Yeh et al. 2019), fragility under label-keeping word swaps (Ghorbani et al. 2019), the model- and
data-randomisation sanity checks (Adebayo et al. 2018); with its run time and forward passes
(:func:`neuronlab.explain.compare.compare_explainers`). ``--plot FILE.png`` draws the table, ``--store`` keeps it.
``--generation`` (a language model: each generated token's source tokens) and ``--neurons --site SITE`` (neuron
attribution methods ranked by ablation) are the other levels (:mod:`.commands_explain_compare_more`).
"""
from __future__ import annotations

import argparse
import time

from .commands_explain_compare_more import add_level_arguments, check_level_arguments, run_level
from .commands_explain import add_result_arguments
from .registry import OVERWRITE_FLAG, check_out, command, emit, json_output

_DEFAULT = "comprehensiveness,sufficiency,aopc,insertion"


@command("explain-compare", "Rank explainers of a classifier on the same inputs: ERASER comprehensiveness and "
                            "sufficiency, AOPC and insertion against a random word order, infidelity, "
                            "sensitivity-max, fragility, model and data randomisation; with run time, a table and "
                            "a plot.")
def _explain_compare(p: argparse.ArgumentParser):
    from ..corpus.readers import READERS

    p.add_argument("model", help="a sentence classifier: a directory written by `neuronlab train`, any saved "
                                 "transformers sequence classifier, or a Hugging Face id (with --generation: a "
                                 "causal or seq2seq language model)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", action="append", metavar="SENTENCE",
                     help="an input sentence (repeatable); its words are split at spaces")
    src.add_argument("--corpus", metavar="FILE", help="inputs: a corpus file (text, tsv, conllu, neurox), or embedded")
    p.add_argument("--format", choices=sorted(READERS), default=None, help="corpus format (default: from the suffix)")
    p.add_argument("--max-examples", type=int, default=None, help="use the first N inputs of the corpus")
    p.add_argument("--methods", default=None,
                   help="comma-separated explainers (`neuronlab explain --list`), e.g. gradient,lrp,leave-one-out; "
                        "with --generation: generation methods (default: all four); with --neurons: neuron "
                        "attribution methods (default: grad-x-act,ig,conductance,ablation)")
    p.add_argument("--metrics", default=_DEFAULT,
                   help="comma-separated metrics: comprehensiveness, sufficiency, aopc, insertion (higher/lower/"
                        "higher/higher is better; any of them computes all four), infidelity (lower: how well the "
                        "scores predict the output change when random word subsets are removed), sensitivity "
                        "(lower: largest relative change of the explanation in a small embedding ball), fragility "
                        "(higher: share of the top-k words kept under label-keeping word swaps), sanity-model "
                        "(lower: Spearman after re-initialising the head and top block), sanity-data (lower: "
                        "Spearman against a model trained on permuted labels)")
    p.add_argument("--mode", default="drop", choices=["drop", "mask", "unk", "pad"],
                   help="how a word is removed when an explanation is scored (default: drop its tokens)")
    p.add_argument("--sanity", action="store_true", help="add sanity-model to --metrics (kept for older scripts)")
    p.add_argument("--n-perturb", type=int, default=10,
                   help="infidelity and sensitivity: random perturbations per input (default 10)")
    p.add_argument("--radius", type=float, default=0.02,
                   help="sensitivity: radius of the L-infinity ball around the word embeddings (default 0.02)")
    p.add_argument("--top-k", type=int, default=3, help="fragility and sanity-data: the top-k compared (default 3)")
    p.add_argument("--synonyms", default=None, metavar="FILE",
                   help="fragility: a synonym table (JSON word -> [words], or TSV word<TAB>syn1,syn2); default: the "
                        "nearest whole-word neighbours in the model's input-embedding space")
    p.add_argument("--swaps", default="synonyms", choices=["synonyms", "hotflip"],
                   help="fragility: candidate words from the synonyms/neighbours or HotFlip's first-order swaps")
    p.add_argument("--max-swaps", type=int, default=2, help="fragility: words changed per input at most (default 2)")
    p.add_argument("--train-corpus", default=None, metavar="FILE",
                   help="sanity-data: labelled training data for the permuted-label model (its sentence labels, "
                        "--label-name); default: the inputs with the model's predicted classes")
    p.add_argument("--label-name", default=None, help="sanity-data: the sentence labels of --train-corpus")
    p.add_argument("--train-epochs", type=int, default=3, help="sanity-data: training epochs (default 3)")
    p.add_argument("--train-lr", type=float, default=5e-5, help="sanity-data: learning rate (default 5e-5)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw, the randomisations and training")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="draw one panel per metric and one of the run time into this PNG")
    add_result_arguments(p, "comparison", "explain_compare")
    add_level_arguments(p)

    def run(args) -> int:
        from ..errors import InvalidParameterError
        from ..explain import EXPLAINERS
        from ..explain.compare import check_metrics, compare_explainers
        from ..models.live import load_live
        from .commands_attribution import _check_positive, _check_store, _load_inputs
        from .commands_explain import _check_model

        check_level_arguments(args, _DEFAULT)
        if args.level != "words":
            return run_level(args, [args.corpus, args.store], _write_plot)
        methods = [m.strip() for m in (args.methods or "").split(",") if m.strip()]
        if not methods:
            raise InvalidParameterError("--methods: give at least one explainer")
        for m in methods:
            EXPLAINERS[m]  # unknown names fail here with the valid ones
        metrics = check_metrics([m.strip() for m in args.metrics.split(",") if m.strip()])
        for flag, v in (("--n-perturb", args.n_perturb), ("--top-k", args.top_k), ("--max-swaps", args.max_swaps),
                        ("--train-epochs", args.train_epochs)):
            _check_positive(flag, v)
        if not args.radius > 0 or not args.train_lr > 0:
            raise InvalidParameterError("--radius and --train-lr must be positive")
        if args.plot and not str(args.plot).lower().endswith(".png"):
            raise InvalidParameterError(f"--plot {args.plot!r}: give a .png file name")
        if args.name and not args.store:
            raise InvalidParameterError("--name names the result in --store; give --store STORE too")
        inputs_files = [args.corpus, args.store, args.synonyms, args.train_corpus]
        check_out(args, inputs_files)
        if args.plot:
            from ..outputs import check_output

            check_output(args.plot, overwrite=args.overwrite, inputs=inputs_files + [args.out],
                         overwrite_hint=OVERWRITE_FLAG)
        _check_store(args)
        t0 = time.perf_counter()
        options = _options(args, metrics)
        label_name = args.label_name
        args.label_name = None
        inputs, _, source = _load_inputs(args)
        live = load_live(args.model, device=args.device)
        _check_model(live, args.model)
        if "sanity-data" in metrics and args.train_corpus:
            options["sanity-data"].update(_train_data(args, live, label_name))
        with json_output(args, inputs_files) as write_json:
            table = compare_explainers(live, inputs, methods, sanity=args.sanity, mode=args.mode, seed=args.seed,
                                       metrics=metrics, options=options)
            path = None
            if args.store:
                from ..store import ActivationStore

                with ActivationStore.open(args.store, mode="r+") as st:
                    path = table.to_store(st, args.name or "explain_compare")
            if args.plot:
                _write_plot(args, table, inputs_files)
            report = {"model": args.model, "inputs": source, "n_inputs": len(inputs), **table.to_dict(),
                      "store": args.store, "result_path": path, "plot": args.plot,
                      "seconds": round(time.perf_counter() - t0, 2)}
            write_json(report)
        text = (f"{len(methods)} explainers on {len(inputs)} inputs ({source}), best first "
                f"({_order_text(table.metrics)}):\n" + table.table())
        if path:
            text += f"\nwritten {args.store}:{path}"
        if args.plot:
            text += f"\nplot: {args.plot}"
        emit(args, report, text)
        return 0

    return run


def _order_text(metrics) -> str:
    from ..explain.compare import METRICS

    if "comprehensiveness" in metrics and "sufficiency" in metrics:
        return "comprehensiveness - sufficiency"
    return f"{metrics[0]}, {METRICS[metrics[0]].better} is better"


def _options(args, metrics) -> dict:
    from ..models.training import TrainConfig

    options: dict = {}
    if "infidelity" in metrics:
        options["infidelity"] = {"n_perturb": args.n_perturb}
    if "sensitivity" in metrics:
        options["sensitivity"] = {"n_perturb": args.n_perturb, "radius": args.radius}
    if "fragility" in metrics:
        frag = {"k": args.top_k, "candidates": args.swaps, "max_swaps": args.max_swaps}
        if args.synonyms:
            from ..explain.fragility import load_synonyms

            frag["synonyms"] = load_synonyms(args.synonyms)
        options["fragility"] = frag
    if "sanity-data" in metrics:
        options["sanity-data"] = {"k": args.top_k, "config": TrainConfig(epochs=args.train_epochs, lr=args.train_lr,
                                                                         seed=args.seed)}
    return options


def _train_data(args, live, label_name) -> dict:
    """``--train-corpus``: its sentences and their class indices in the model's label order."""
    import os

    from ..corpus.readers import read_corpus
    from ..errors import InvalidParameterError
    from .commands_attribution import _class_index

    if not os.path.isfile(args.train_corpus):
        raise InvalidParameterError(f"--train-corpus {args.train_corpus!r} is not a file")
    corpus = read_corpus(args.train_corpus, format=None)
    name = label_name or "label"
    labels = corpus.sentence_labels.get(name)
    if labels is None:
        raise InvalidParameterError(f"--train-corpus {args.train_corpus!r} has no sentence labels {name!r} "
                                    f"(--label-name); it has {', '.join(sorted(corpus.sentence_labels)) or '(none)'}")
    return {"texts": [list(s) for s in corpus.sentences],
            "labels": [_class_index(live, str(v), "--train-corpus label") for v in labels]}


def _write_plot(args, table, inputs_files) -> None:
    from ..explain.compare import comparison_plot
    from ..outputs import safe_output
    from ..report.plots import to_png

    png = to_png(comparison_plot(table))
    with safe_output(args.plot, overwrite=args.overwrite, inputs=inputs_files + [args.out],
                     overwrite_hint=OVERWRITE_FLAG) as tmp:
        tmp.write_bytes(png)
