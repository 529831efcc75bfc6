"""CLI command ``explain-compare``: rank a classifier's explainers on a set of inputs by faithfulness (issue 15).

``neuronlab explain-compare MODEL --text ... | --corpus FILE --methods a,b,c`` explains the inputs with each
method for the same target (each input's predicted class, fixed once) and scores each explanation by ERASER's
comprehensiveness and sufficiency, AOPC and the insertion curve, each next to a random order of the words, with
its run time and forward passes (:func:`neuronlab.explain.compare.compare_explainers`); ``--sanity`` adds the
model-randomisation check (Adebayo et al. 2018). Best first.
"""
from __future__ import annotations

import argparse
import time

from .registry import add_out_arguments, check_out, command, emit, json_output


@command("explain-compare", "Rank explainers of a classifier on the same inputs by faithfulness: ERASER "
                            "comprehensiveness and sufficiency, AOPC and insertion against a random word order, run "
                            "time and forward passes, optionally the model-randomisation sanity check.")
def _explain_compare(p: argparse.ArgumentParser):
    from ..corpus.readers import READERS

    p.add_argument("model", help="a sentence classifier: a directory written by `neuronlab train`, any saved "
                                 "transformers sequence classifier, or a Hugging Face id")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", action="append", metavar="SENTENCE",
                     help="an input sentence (repeatable); its words are split at spaces")
    src.add_argument("--corpus", metavar="FILE", help="inputs: a corpus file (text, tsv, conllu, neurox), or embedded")
    p.add_argument("--format", choices=sorted(READERS), default=None, help="corpus format (default: from the suffix)")
    p.add_argument("--max-examples", type=int, default=None, help="use the first N inputs of the corpus")
    p.add_argument("--methods", required=True,
                   help="comma-separated explainers (`neuronlab explain --list`), e.g. gradient,lrp,leave-one-out")
    p.add_argument("--mode", default="drop", choices=["drop", "mask", "unk", "pad"],
                   help="how a word is removed when an explanation is scored (default: drop its tokens)")
    p.add_argument("--sanity", action="store_true",
                   help="also re-initialise the head and the top block and report the Spearman correlation of each "
                        "method's explanation before and after (lower is better: the method depends on the model)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random-order baseline and the randomisation")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    add_out_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")

    def run(args) -> int:
        from ..errors import InvalidParameterError
        from ..explain import EXPLAINERS
        from ..explain.compare import compare_explainers
        from ..models.live import load_live
        from .commands_attribution import _load_inputs
        from .commands_explain import _check_model

        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        if not methods:
            raise InvalidParameterError("--methods: give at least one explainer")
        for m in methods:
            EXPLAINERS[m]  # unknown names fail here with the valid ones
        check_out(args, [args.corpus])
        t0 = time.perf_counter()
        args.label_name = None
        inputs, _, source = _load_inputs(args)
        live = load_live(args.model, device=args.device)
        _check_model(live, args.model)
        with json_output(args, [args.corpus]) as write_json:
            table = compare_explainers(live, inputs, methods, sanity=args.sanity, mode=args.mode, seed=args.seed)
            report = {"model": args.model, "inputs": source, "n_inputs": len(inputs), **table.to_dict(),
                      "seconds": round(time.perf_counter() - t0, 2)}
            write_json(report)
        emit(args, report, f"{len(methods)} explainers on {len(inputs)} inputs ({source}), best first "
                           f"(comprehensiveness - sufficiency):\n" + table.table())
        return 0

    return run
