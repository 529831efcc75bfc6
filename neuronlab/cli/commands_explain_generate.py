"""CLI command ``explain-generate``: which source and previous output tokens led a language model to each token it
generated (issue 15, inseq-style).

``neuronlab explain-generate MODEL --text PROMPT [--target-text TEXT] --method M --step-target S [--contrast C]``
loads a causal LM (GPT-2, GPT-NeoX, Llama families) or a seq2seq LM (T5, BART), generates (greedily, or as
``--generate-arg`` asks: sampling with ``--seed``, beam search) or forces ``--target-text``, and prints one
table per input: a row per generated token, a column per source and previous target token. ``--json`` for scripts, ``--store STORE`` writes the
:class:`~neuronlab.explain.gen_result.GenerationExplanation` into the store's /results.
"""
from __future__ import annotations

import argparse
import math
import time

from .commands_explain import add_result_arguments
from .registry import check_out, command, emit, json_output


def _lm_head(spec: str) -> str:
    """``causal-lm`` or ``seq2seq-lm`` from the checkpoint's config (before loading the weights)."""
    import transformers

    from ..errors import UnknownModelError
    from ..models.loading import resolve_model_path

    path, _ = resolve_model_path(spec)
    try:
        cfg = transformers.AutoConfig.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - hub/network errors come in many types
        raise UnknownModelError(f"cannot load model {spec!r} ({type(exc).__name__}: {str(exc).splitlines()[0]})") \
            from None
    return "seq2seq-lm" if getattr(cfg, "is_encoder_decoder", False) else "causal-lm"


def _value(text: str):
    """A ``--generate-arg`` value: true/false, none, an int, a float, or the string itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _generate_args(items: list[str]) -> dict:
    """``--generate-arg NAME=VALUE`` items -> typed generate() keyword arguments."""
    from ..errors import InvalidParameterError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidParameterError(f"--generate-arg expects NAME=VALUE (e.g. do_sample=true, top_k=50); got "
                                        f"{item!r}")
        out[name.strip()] = _value(value)
    return out


def _alignments(items: list[str] | None, n: int):
    """``--contrast-alignment`` values -> None, ``"auto"`` or one list of (t, t') pairs per input."""
    from ..errors import InvalidParameterError

    if not items:
        return None
    if items == ["auto"]:
        return "auto"
    if len(items) != n:
        raise InvalidParameterError(f"give --contrast-alignment auto, or one per --text ({n}); got {len(items)}")
    out = []
    for item in items:
        pairs = []
        for part in filter(None, (p.strip() for p in item.split(","))):
            a, sep, b = part.partition(":")
            if not sep or not a.strip().isdigit() or not b.strip().isdigit():
                raise InvalidParameterError(f"--contrast-alignment expects auto or T:T' token-index pairs separated "
                                            f"by commas (e.g. 0:0,1:2); got {item!r}")
            pairs.append((int(a), int(b)))
        out.append(pairs)
    return out


def _finite(m) -> list:
    return [[None if (isinstance(v, float) and math.isnan(v)) else round(float(v), 6) for v in row] for row in m]


def _report(ex, args, path, seconds: float) -> dict:
    examples = []
    for i in range(len(ex.sources)):
        e = {"source": ex.sources[i], "source_tokens": ex.source_tokens[i], "prefix_tokens": ex.prefix_tokens[i],
             "target_tokens": ex.target_tokens[i], "step_values": ex.step_values[i],
             "scores": _finite(ex.scores[i].tolist())}
        if ex.reference_values is not None:
            e["reference_values"] = ex.reference_values[i]
        examples.append(e)
    return {"model": args.model, "method": ex.method, "step_target": ex.step_target, "config": ex.config,
            "contrast": ex.contrast, "view": args.view, "n_examples": len(ex.sources), "examples": examples,
            "forward_passes": ex.forward_passes, "store": args.store, "result_path": path,
            "seconds": round(seconds, 2)}


def _describe(ex, r: dict) -> str:
    lines = [(f"{r['method']} / {r['step_target']} on {r['model']} ({ex.config.get('kind')}): {r['n_examples']} "
              f"inputs, {r['forward_passes']} forward rows, {r['seconds']} s")]
    for i in range(len(ex.sources)):
        lines.append(f"\n{ex.sources[i]!r} -> {' '.join(ex.target_tokens[i])!r}")
        lines.append(ex.table(i))
    if r["result_path"]:
        lines.append(f"written {r['store']}:{r['result_path']}")
    return "\n".join(lines)


def _list_report() -> dict:
    from ..explain.gen_targets import STEP_TARGETS
    from ..explain.generation import GENERATION_METHODS

    return {"methods": [{"name": e.name, "reference": e.reference, "description": e.description,
                         "params": e.param_names} for e in GENERATION_METHODS.values()],
            "step_targets": [{"name": e.name, "contrast": e.contrast, "reference": e.reference,
                              "description": e.description} for e in STEP_TARGETS.values()]}


def _describe_list(r: dict) -> str:
    lines = ["methods:"]
    lines += [f"  {e['name']:<22} {e['reference']}: {e['description']} (params: {', '.join(e['params'])})"
              for e in r["methods"]]
    lines.append("step targets:")
    lines += [f"  {e['name']:<22} {e['description']}" + (f" [--contrast: an alternative {e['contrast']}]"
                                                         if e["contrast"] else "") for e in r["step_targets"]]
    return "\n".join(lines)


@command("explain-generate", "Explain a language model's generated text: score every source and previous output "
                             "token for each generated token (gradient, gradient x input, integrated gradients, "
                             "occlusion) with a step target (probability, log-probability, entropy, contrastive "
                             "probability difference, KL divergence); causal LMs and seq2seq LMs.")
def _explain_generate(p: argparse.ArgumentParser):
    p.add_argument("model", nargs="?", help="a causal LM (GPT-2, GPT-NeoX, Llama families) or a seq2seq LM (T5, "
                                            "BART): a local directory or a Hugging Face id")
    p.add_argument("--text", action="append", metavar="TEXT", help="a prompt / source text (repeatable)")
    p.add_argument("--target-text", action="append", metavar="TEXT",
                   help="force this output instead of generating (repeatable: one per --text)")
    p.add_argument("--method", default="integrated_gradients",
                   help="gradient, gradient_x_input, integrated_gradients or occlusion (--list describes them)")
    p.add_argument("--step-target", default="log_probability",
                   help="the scalar of each step: logit, probability, log_probability, entropy, contrast_prob_diff "
                        "(needs --contrast: an alternative output), kl_divergence (needs --contrast: a contrast "
                        "input)")
    p.add_argument("--contrast", action="append", metavar="TEXT",
                   help="one per --text: the alternative output of contrast_prob_diff (as many tokens as the "
                        "target, its t-th token is step t's foil; or of another length with --contrast-alignment) "
                        "or the contrast input of kl_divergence")
    p.add_argument("--contrast-alignment", action="append", metavar="auto|T:T',...",
                   help="contrast_prob_diff with an alternative output of another length: 'auto' (difflib on the "
                        "tokens) or, one per --text, target:contrast token-index pairs such as 0:0,1:2; step t is "
                        "then p(y_t) - p(y'_t') with the contrast side in its own prefix; unaligned steps are NaN")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="method parameter (repeatable), e.g. --param steps=64 --param baseline=unk; --list shows "
                        "them per method")
    p.add_argument("--max-new-tokens", type=int, default=20, help="tokens generated without --target-text")
    p.add_argument("--generate-arg", action="append", default=[], metavar="NAME=VALUE",
                   help="argument of transformers' generate (repeatable), e.g. --generate-arg do_sample=true "
                        "--generate-arg top_p=0.9 --generate-arg temperature=0.7, or num_beams=4 (beam search); "
                        "greedy without; the chosen output is explained by teacher forcing")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the sampling (each input is generated from this seed; without it, one is drawn "
                        "and recorded in the config)")
    p.add_argument("--batch-size", type=int, default=32, help="rows (input x step x node) per forward/backward pass")
    p.add_argument("--max-batch-tokens", type=int, default=None,
                   help="bound on rows x padded length per pass (long inputs are split over more passes)")
    p.add_argument("--max-memory-gb", type=float, default=None,
                   help="bound on the estimated memory of one forward and backward pass")
    p.add_argument("--view", choices=["tokens", "words"], default="tokens",
                   help="show subword tokens, or words (subword scores summed, the steps of a word summed)")
    add_result_arguments(p, "GenerationExplanation", "generate_<method>", listing="the methods and step targets")

    def run(args) -> int:
        from ..errors import InvalidParameterError
        from ..explain.gen_targets import STEP_TARGETS
        from ..explain.generation import GENERATION_METHODS
        from .commands_attribution import _check_positive, _check_store, _params

        if args.list:
            report = _list_report()
            emit(args, report, _describe_list(report))
            return 0
        if not args.model:
            raise InvalidParameterError("give the MODEL to explain (or --list to list the methods)")
        if not args.text:
            raise InvalidParameterError("give the inputs: --text TEXT (repeatable)")
        entry = GENERATION_METHODS[args.method]
        STEP_TARGETS[args.step_target]
        params = _params(args, entry)
        for flag, value in (("--max-new-tokens", args.max_new_tokens), ("--batch-size", args.batch_size),
                            ("--max-batch-tokens", args.max_batch_tokens)):
            _check_positive(flag, value)
        if args.max_memory_gb is not None and not args.max_memory_gb > 0:
            raise InvalidParameterError(f"--max-memory-gb must be > 0, got {args.max_memory_gb}")
        for flag, values in (("--target-text", args.target_text), ("--contrast", args.contrast)):
            if values is not None and len(values) != len(args.text):
                raise InvalidParameterError(f"give one {flag} per --text ({len(args.text)}); got {len(values)}")
        from ..explain.gen_model import check_generate_kwargs

        generate_kwargs = check_generate_kwargs(_generate_args(args.generate_arg))
        alignments = _alignments(args.contrast_alignment, len(args.text))
        if alignments is not None and args.step_target != "contrast_prob_diff":
            raise InvalidParameterError("--contrast-alignment aligns the alternative output of --step-target "
                                        "contrast_prob_diff")
        if args.seed is not None and args.seed < 0:
            raise InvalidParameterError(f"--seed must be a non-negative int, got {args.seed}")
        if args.name and not args.store:
            raise InvalidParameterError("--name names the result in --store; give --store STORE too")
        check_out(args, [args.store])
        _check_store(args)
        t0 = time.perf_counter()
        from ..models.live import load_live

        live = load_live(args.model, head=_lm_head(args.model), device=args.device)
        params = {"batch_size": args.batch_size, "max_batch_tokens": args.max_batch_tokens,
                  "max_new_tokens": args.max_new_tokens, **params}
        explainer = entry.load()(live, step_target=args.step_target, max_memory_gb=args.max_memory_gb,
                                 generate_kwargs=generate_kwargs, seed=args.seed, **params)
        with json_output(args, [args.store]) as write_json:
            ex = explainer.explain(args.text, targets=args.target_text, contrast=args.contrast,
                                   contrast_alignments=alignments, progress=not args.quiet)
            path = None
            if args.store:
                from ..store import ActivationStore

                with ActivationStore.open(args.store, mode="r+") as st:
                    path = ex.to_store(st, args.name or f"generate_{entry.name}")
            if args.view == "words":
                from ..explain.views import to_words

                ex = to_words(ex)
            report = _report(ex, args, path, time.perf_counter() - t0)
            write_json(report)
        emit(args, report, _describe(ex, report))
        return 0

    return run
