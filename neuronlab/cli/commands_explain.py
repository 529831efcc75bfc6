"""CLI command ``explain``: which words of each input led a classifier to its prediction (issue 15).

``neuronlab explain MODEL --text ... | --corpus FILE --method NAME`` runs any explainer of
:data:`neuronlab.explain.EXPLAINERS` (gradient and propagation methods, perturbation and Shapley methods)
and prints each sentence with its top words and a colour-free bar of their scores; ``--json`` for
scripts, ``--store STORE --name NAME`` writes the :class:`~neuronlab.explain.base.Explanation` into the
store's /results, ``--list`` lists the explainers with their family, unit and paper.
"""
from __future__ import annotations

import argparse
import time

from .registry import add_out_arguments, check_out, command, emit, json_output

#: the longest bar (characters) of the text output
BAR_WIDTH = 24


def _entries() -> list:
    """Every registered explainer (the registry imports no torch)."""
    from ..explain import EXPLAINERS

    return EXPLAINERS.values()


def _list_report() -> dict:
    return {"explainers": [{"name": e.name, "family": e.family, "unit": e.unit, "reference": e.reference,
                            "description": e.description, "params": e.param_names} for e in _entries()]}


def _describe_list(r: dict) -> str:
    rows = r["explainers"]
    if not rows:
        return "no explainers are registered"
    w = max(len(e["name"]) for e in rows)
    lines = [f"{'method':<{w}}  {'family':<12} {'unit':<5} paper / description"]
    for e in sorted(rows, key=lambda e: (e["family"], e["name"])):
        lines.append(f"{e['name']:<{w}}  {e['family']:<12} {e['unit']:<5} {e['reference']}: {e['description']}")
    lines.append("parameters: --param NAME=VALUE; `neuronlab explain --help` lists them per method")
    return "\n".join(lines)


def bar(value: float, scale: float, width: int = BAR_WIDTH) -> str:
    """A colour-free bar: ``+`` characters for a positive score, ``-`` for a negative one, proportional to
    ``|value| / scale``.

    >>> bar(0.5, 1.0, 8), bar(-1.0, 1.0, 4), bar(0.0, 0.0, 4)
    ('++++', '----', '')
    """
    if scale <= 0:
        return ""
    n = int(round(width * min(1.0, abs(value) / scale)))
    return ("+" if value >= 0 else "-") * n


def _check_model(live, model: str) -> None:
    from ..errors import InvalidParameterError

    head = live.info.get("head")
    if head not in (None, "sequence-classification"):
        raise InvalidParameterError(
            f"explain needs a sentence classifier (a sequence-classification head; `neuronlab train` makes one); "
            f"{model!r} has the head {head!r}")


def _merge(parts: list):
    """One Explanation from the explanations of consecutive chunks of the inputs."""
    first = parts[0]
    if len(parts) == 1:
        return first
    out = type(first)(method=first.method, target=dict(first.target), config=first.config)
    idx = []
    for p in parts:
        for name in ("words", "tokens", "word_scores", "target_value"):
            getattr(out, name).extend(getattr(p, name))
        idx += list(p.target["index"]) if isinstance(p.target["index"], (list, tuple)) else \
            [p.target["index"]] * len(p.words)
    out.target["index"] = idx
    out.reference_value = None if any(p.reference_value is None for p in parts) else \
        [v for p in parts for v in p.reference_value]
    out.token_scores = None if any(p.token_scores is None for p in parts) else \
        [s for p in parts for s in p.token_scores]
    out.seconds = round(sum(p.seconds for p in parts), 6)
    out.forward_passes = sum(p.forward_passes for p in parts)
    return out


def _report(ex, live, args, source: str, path, seconds: float) -> dict:
    names = getattr(live.model.config, "id2label", None) or {}
    classes = ex.target["index"]
    examples = []
    for i, words in enumerate(ex.words):
        c = int(classes[i] if isinstance(classes, (list, tuple)) else classes)
        ex_i = {"text": " ".join(words), "class": c, "class_name": str(names.get(c, c)), "words": words,
                "scores": ex.word_scores[i], "top": [[w, s] for w, s in ex.top_words(i, args.top_k)],
                "target_value": ex.target_value[i]}
        if ex.reference_value is not None:
            ex_i["reference_value"] = ex.reference_value[i]
            ex_i["sum_of_scores"] = float(sum(ex.word_scores[i]))
        examples.append(ex_i)
    return {"model": args.model, "method": ex.method, "target": {"kind": args.target_kind, "spec": args.target},
            "config": ex.config, "source": source, "n_examples": len(ex.words), "examples": examples,
            "forward_passes": ex.forward_passes, "store": args.store, "result_path": path,
            "seconds": round(seconds, 2)}


def _describe(r: dict) -> str:
    lines = [(f"{r['method']} on {r['model']}: {r['n_examples']} inputs, target {r['target']['kind']} "
              f"({r['target']['spec']}), {r['forward_passes']} forward rows, {r['seconds']} s")]
    for ex in r["examples"]:
        head = f"[{ex['class_name']}] {ex['text'][:70]}  f(x)={ex['target_value']:.4g}"
        if "reference_value" in ex:
            head += f"  f(ref)={ex['reference_value']:.4g}  sum={ex['sum_of_scores']:.4g}"
        lines.append(head)
        scale = max((abs(s) for s in ex["scores"]), default=0.0)
        w = max((len(t) for t, _ in ex["top"]), default=0)
        for word, score in ex["top"]:
            lines.append(f"    {word:<{w}} {score:+.4g}".ljust(w + 17) + bar(score, scale))
    if r["result_path"]:
        lines.append(f"written {r['store']}:{r['result_path']}")
    return "\n".join(lines)


def _param_help() -> str:
    entries = _entries()
    common = [n for n in entries[0].param_names if all(n in e.param_names for e in entries)] if entries else []
    per = "; ".join(f"{e.name}: " + (", ".join(n for n in e.param_names if n not in common) or "no others")
                    for e in entries)
    shared = f"every method: {', '.join(common)}; " if common else ""
    return f"explainer hyper-parameter (repeatable), e.g. --param steps=20; {shared}{per}"


def add_result_arguments(p: argparse.ArgumentParser, result: str, default_name: str, *,
                         listing: str | None = None) -> None:
    """The options every explain command shares: ``--device``, ``--store``/``--name`` (the ``result`` written
    into the store's /results, default name ``default_name``), ``--list`` (when ``listing`` says what it lists),
    ``--out``/``--overwrite``, ``--json`` and ``--quiet``."""
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    p.add_argument("--store", default=None, help=f"activation store: the {result} is written into its /results "
                                                 "(opened r+)")
    p.add_argument("--name", default=None, help=f"result name in the store (default: {default_name})")
    if listing is not None:
        p.add_argument("--list", action="store_true", help=f"list {listing} and exit")
    add_out_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")


@command("explain", "Explain a classifier's predictions by its input words: gradients (saliency, gradient x input, "
                    "SmoothGrad, integrated gradients), propagation (LRP, DeepLIFT, GradientSHAP), perturbation and "
                    "Shapley methods; top words per input with a bar of their scores (--list lists the methods).")
def _explain(p: argparse.ArgumentParser):
    from ..corpus.readers import READERS

    p.add_argument("model", nargs="?", help="a sentence classifier: a directory written by `neuronlab train`, any "
                                            "saved transformers sequence classifier, or a Hugging Face id")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text", action="append", metavar="SENTENCE",
                     help="an input sentence (repeatable); its words are split at spaces")
    src.add_argument("--corpus", metavar="FILE", help="inputs: a corpus file (text, tsv, conllu, neurox), or embedded")
    p.add_argument("--format", choices=sorted(READERS), default=None, help="corpus format (default: from the suffix)")
    p.add_argument("--max-examples", type=int, default=None, help="use the first N inputs of the corpus")
    p.add_argument("--method", default=None, help="the explainer (`--list` shows them all), e.g. "
                                                  "integrated_gradients, gradient, lrp")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=_param_help())
    p.add_argument("--target", default="predicted",
                   help="class explained: predicted (each input's predicted class), an index or a class name")
    p.add_argument("--target-kind", default="logit", choices=["logit", "probability", "log_probability", "loss"],
                   help="the scalar explained for that class")
    p.add_argument("--top-k", type=int, default=5, help="words shown per input")
    p.add_argument("--chunk", type=int, default=16, help="inputs per call (one progress-bar step)")
    add_result_arguments(p, "Explanation", "explain_<method>", listing="the explainers (family, unit, paper)")

    def run(args) -> int:
        from ..errors import InvalidParameterError
        from ..explain import EXPLAINERS
        from .commands_attribution import _check_positive, _check_store, _class_index, _load_inputs, _params

        if args.list:
            report = _list_report()
            emit(args, report, _describe_list(report))
            return 0
        if not args.model:
            raise InvalidParameterError("give the MODEL to explain (or --list to list the explainers)")
        if not args.text and not args.corpus:
            raise InvalidParameterError("give the inputs: --text SENTENCE (repeatable) or --corpus FILE")
        if args.corpus == "store":
            raise InvalidParameterError("--corpus store is not supported by explain; give --text or a corpus file")
        if not args.method:
            raise InvalidParameterError(f"give --method; one of {', '.join(EXPLAINERS.keys())}")
        entry = EXPLAINERS[args.method]
        params = _params(args, entry)
        _check_positive("--top-k", args.top_k)
        _check_positive("--chunk", args.chunk)
        if args.name and not args.store:
            raise InvalidParameterError("--name names the result in --store; give --store STORE too")
        inputs_files = [args.corpus, args.store]
        check_out(args, inputs_files)
        _check_store(args)
        t0 = time.perf_counter()
        args.label_name = None
        inputs, _, source = _load_inputs(args)
        from ..models.live import load_live

        live = load_live(args.model, device=args.device)
        _check_model(live, args.model)
        explainer = entry(live, **params)
        target = args.target if args.target == "predicted" else _class_index(live, args.target, "--target")
        target = {"kind": args.target_kind, "index": target}
        from tqdm.auto import tqdm

        parts = []
        with json_output(args, inputs_files) as write_json, \
                tqdm(total=len(inputs), disable=args.quiet, unit="sent", desc=f"explain {entry.name}",
                     dynamic_ncols=True, leave=False) as progress:
            for c0 in range(0, len(inputs), args.chunk):
                chunk = inputs[c0:c0 + args.chunk]
                parts.append(explainer.explain(chunk, target=target))
                progress.update(len(chunk))
            ex = _merge(parts)
            path = None
            if args.store:
                from ..store import ActivationStore

                with ActivationStore.open(args.store, mode="r+") as st:
                    path = ex.to_store(st, args.name or f"explain_{entry.name}")
            report = _report(ex, live, args, source, path, time.perf_counter() - t0)
            write_json(report)
        emit(args, report, _describe(report))
        return 0

    return run
