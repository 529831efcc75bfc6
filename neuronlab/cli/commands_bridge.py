"""CLI commands connecting concepts and predictions: ``tcav`` (Kim et al. 2018) and ``bridge`` (the concept bridge).

``tcav`` tests whether a class's prediction is sensitive to concepts (text files of concept sentences against
random sentences, or store rows selected by a label) at one or more sites, with t-tests over random runs and a
multiple-testing correction. ``bridge`` measures the share of attribution and the ablation effect of the neurons
a ranking (``neuronlab probe`` / ``neuronlab rank``, read from the store's /results) selected for a concept,
against random neuron sets of the same size and site distribution. Both print one line per finding (or JSON with
``--json``), show a progress bar on stderr, and write their result with its configuration into ``--store``.
"""
from __future__ import annotations

import argparse
import os
import time

from .commands_attribution import (_check_positive, _check_store, _class_index, _classes, _gold, _load_inputs,
                                   _params, same_model)
from .registry import add_out_arguments, check_out, command, emit, json_output

__all__: list[str] = []


def _add_common(p: argparse.ArgumentParser) -> None:
    from ..corpus.readers import READERS

    p.add_argument("model", help="model with its task head: a directory written by `neuronlab train`, any saved "
                                 "transformers classifier, or an alias / Hugging Face id")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", action="append", metavar="SENTENCE", help="an input sentence (repeatable)")
    src.add_argument("--corpus", metavar="FILE", help="inputs: a corpus file (text, tsv, conllu, neurox), embedded, or "
                                                      "store (the sentences of --store)")
    p.add_argument("--format", choices=sorted(READERS), default=None, help="corpus format (default: from the suffix)")
    p.add_argument("--label-name", default=None,
                   help="the corpus's sentence-level labels used as gold classes (default: label, or polarity for "
                        "the embedded corpus)")
    p.add_argument("--max-examples", type=int, default=None, help="use the first N inputs of the corpus")
    p.add_argument("--target-kind", default="logit", choices=["logit", "probability", "log_probability", "loss"],
                   help="the scalar explained for the class")
    p.add_argument("--seed", type=int, default=0, help="random sets and CAV splits")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    p.add_argument("--name", default=None, help="result name in --store (default: tcav_<class> / bridge_<concept>)")
    add_out_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")


def _live(args):
    from ..models.live import load_live

    return load_live(args.model, device=args.device)


def _open_store(args, mode: str):
    from ..store import ActivationStore

    return ActivationStore.open(args.store, mode=mode)


def _context(args, source: str, n: int, seconds: float) -> dict:
    return {"command": args.command, "model": args.model, "inputs": source, "n_inputs": n,
            "store": args.store, "seconds": round(seconds, 2)}


# ------------------------------------------------------------------ tcav
@command("tcav", "TCAV (Kim et al. 2018): is a class's prediction sensitive to a concept? Concept sentences (or "
                 "store rows of a label) vs random ones at each site, t-tests over random runs, corrected p-values.")
def _tcav(p: argparse.ArgumentParser):
    _add_common(p)
    p.add_argument("--site", required=True, help="site(s) to test at: names or globs, comma-separated (layers.3,"
                                                 "layers.5 or layers.*); `neuronlab sites` lists them")
    p.add_argument("--target", required=True,
                   help="the class k whose sensitivity is tested (an index or a class name); give inputs of class k")
    p.add_argument("--concept", action="append", required=True, metavar="NAME=FILE | LABEL:CLASS",
                   help="a concept (repeatable): NAME=FILE, a text file with one concept sentence per line, or "
                        "LABEL:CLASS (e.g. upos:ADJ), the rows of --store with that label")
    p.add_argument("--random", default=None, metavar="FILE",
                   help="text concepts: a file of random sentences the random sets are drawn from (at least twice "
                        "a concept's size); store concepts draw from the store's other rows")
    p.add_argument("--runs", type=int, default=10, help="concept-vs-random runs (and as many random-vs-random ones)")
    p.add_argument("--correction", default="bonferroni", choices=["bonferroni", "bh", "none"],
                   help="multiple-testing correction over every (concept, site) pair")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the corrected p-values")
    p.add_argument("--classifier", default="logistic", choices=["logistic", "sgd"], help="the CAV's linear classifier")
    p.add_argument("--pooling", default="mean", choices=["mean", "tokens"],
                   help="text concepts: one example per sentence (mean of its words' rows) or one per word token")
    p.add_argument("--positions", default="all", choices=["all", "words"],
                   help="token positions where the CAV direction is applied")
    p.add_argument("--n-examples", type=int, default=None, help="concept units per run (default: all)")
    p.add_argument("--store", default=None,
                   help="activation store of the same model: concept rows (LABEL:CLASS), the CAV cache and the "
                        "result (opened r+; a store from another model is refused)")

    def run(args) -> int:
        from ..attribution.tcav import TCAV
        from ..errors import InvalidParameterError
        from ..models.targets import Target

        if args.runs < 2:
            raise InvalidParameterError(f"--runs must be at least 2 (10 or more as in the paper), got {args.runs}")
        _check_positive("--n-examples", args.n_examples)
        text, rows = _split_concepts(args.concept)
        if rows and not args.store:
            raise InvalidParameterError(f"--concept {rows[0]!r} selects store rows; give --store STORE (or use "
                                        "NAME=FILE for a text concept)")
        if text and rows:
            raise InvalidParameterError("--concept: give text concepts (NAME=FILE) or store concepts (LABEL:CLASS), "
                                        "not both in one call")
        if text and not args.random:
            raise InvalidParameterError("text concepts need --random FILE (random sentences to draw the random sets "
                                        "from)")
        files = [args.corpus, args.store, args.random] + list(text.values())
        check_out(args, files)
        _check_store(args)
        t0 = time.perf_counter()
        concepts = {n: _read_lines(f, f"--concept {n}=") for n, f in text.items()} if text else rows
        random = _read_lines(args.random, "--random ") if args.random else None
        inputs, _, source = _load_inputs(args)
        live = _live(args)
        k = _class_index(live, args.target, "--target")
        tcav = TCAV(live, args.site, n_runs=args.runs, classifier=args.classifier,
                    pooling=args.pooling, positions=args.positions, n_examples=args.n_examples,
                    correction=args.correction, alpha=args.alpha, random_state=args.seed)
        target = Target(args.target_kind, k)
        with json_output(args, files) as write_json:
            if args.store:
                with _open_store(args, "r+") as st:
                    same_model(st, live, None, args.store)
                    res = tcav.attribute(inputs, target=target, concepts=concepts, random=random,
                                         store=st if rows else None, cache=st, progress=not args.quiet)
                    res.config.update(cli=_context(args, source, len(inputs), time.perf_counter() - t0))
                    path = res.to_store(st, args.name or f"tcav_{k}")
            else:
                res = tcav.attribute(inputs, target=target, concepts=concepts, random=random, progress=not args.quiet)
                res.config.update(cli=_context(args, source, len(inputs), time.perf_counter() - t0))
                path = None
            report = dict(res.to_dict(), class_name=_name(live, k), result_path=path)
            write_json(report)
        emit(args, report, _describe_tcav(report))
        return 0

    return run


def _split_concepts(specs) -> tuple[dict, list]:
    from ..errors import InvalidParameterError

    text, rows = {}, []
    for spec in specs:
        if "=" in spec:
            name, _, path = spec.partition("=")
            if not name or not path:
                raise InvalidParameterError(f"--concept {spec!r}: expected NAME=FILE or LABEL:CLASS")
            if name in text:
                raise InvalidParameterError(f"--concept: the name {name!r} is given twice")
            text[name] = path
        elif ":" in spec:
            rows.append(spec)
        else:
            raise InvalidParameterError(f"--concept {spec!r}: expected NAME=FILE (a text file) or LABEL:CLASS (store "
                                        "rows, e.g. upos:ADJ)")
    return text, rows


def _read_lines(path: str, what: str) -> list[str]:
    from ..errors import InvalidParameterError

    if not os.path.isfile(path):
        raise InvalidParameterError(f"{what}{path!r} is not a file (one sentence per line)")
    with open(path, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    if not lines:
        raise InvalidParameterError(f"{what}{path!r} holds no sentences")
    return lines


def _name(live, k: int) -> str:
    names = getattr(live.model.config, "id2label", None) or {}
    return str(names.get(k, k))


def _describe_tcav(r: dict) -> str:
    lines = [f"TCAV for class {r['class_name']} of {r['config']['cli']['model']}: {r['config']['n_inputs']} inputs, "
             f"{r['config']['n_runs']} runs, {r['config']['correction']} correction over {len(r['rows'])} tests, "
             f"{r['config']['cli']['seconds']} s"]
    for row in r["rows"]:
        lines.append(f"  {row['concept']} at {row['site']}: score {row['score']:.2f} (random {row['random_score']:.2f}),"
                     f" p = {row['p_value']:.2g}, adjusted {row['p_adjusted']:.2g}"
                     f"{' significant' if row['significant'] else ''}; CAV accuracy {row['cav_accuracy']:.2f}")
    if r["result_path"]:
        lines.append(f"written {r['config']['cli']['store']}:{r['result_path']}")
    return "\n".join(lines)


# ------------------------------------------------------------------ bridge
@command("bridge", "The concept bridge: share of a prediction's attribution carried by a concept's neurons (from a "
                   "ranking in the store) and the effect of ablating them, against random neurons of the same sites.")
def _bridge(p: argparse.ArgumentParser):
    from ..attribution.methods import LAYER_ATTRIBUTORS

    _add_common(p)
    p.add_argument("--store", default=None,
                   help="activation store of this model holding the ranking (`neuronlab probe` / `rank` results); "
                        "also the neurons' means for --baseline mean; the result is written into it")
    sel = p.add_mutually_exclusive_group(required=True)
    sel.add_argument("--ranking", metavar="RESULT", help="the ranking or probe result under the store's /results")
    sel.add_argument("--neurons", metavar="IDS", help="neuron ids instead of a ranking: site:index, comma-separated "
                                                      "(layers.3:5,layers.3:17)")
    top = p.add_mutually_exclusive_group()
    top.add_argument("--top-k", type=int, default=None, help="the first K neurons of the ranking")
    top.add_argument("--top-fraction", type=float, default=None, help="the first fraction of the ranking (0..1]")
    p.add_argument("--concept", default=None, help="concept name for the report (default: the ranking's)")
    p.add_argument("--target", default=None,
                   help="class explained: an index or class name, predicted, or gold (default: gold with labels, "
                        "else predicted)")
    p.add_argument("--method", default="conductance", choices=sorted(LAYER_ATTRIBUTORS.values()),
                   help="the attributor of the share")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="attributor hyper-parameter (repeatable), e.g. --param steps=20")
    p.add_argument("--attribution", default="absolute", choices=["absolute", "signed"],
                   help="share of |attribution| (default) or of the signed attribution")
    p.add_argument("--random-sets", type=int, default=100, help="random neuron sets of the same size per site")
    p.add_argument("--baseline", default="zero", choices=["zero", "mean"],
                   help="value of an ablated neuron: zero, or its mean over the rows of --store")
    p.add_argument("--no-ablation", action="store_true", help="the attribution share only")
    p.add_argument("--no-model-check", action="store_true",
                   help="apply another model's ranking on purpose (e.g. the base model's concept neurons on its "
                        "fine-tuned classifier); use --baseline zero then")

    def run(args) -> int:
        from ..attribution.bridge import ConceptBridge
        from ..attribution.methods import METHODS
        from ..attribution.neuron_sets import concept_neurons
        from ..errors import InvalidParameterError

        _check_positive("--random-sets", args.random_sets)
        _check_positive("--top-k", args.top_k)
        if args.ranking and not args.store:
            raise InvalidParameterError("--ranking reads a result of --store; give --store STORE")
        if args.baseline == "mean" and not args.store:
            raise InvalidParameterError("--baseline mean reads each neuron's mean from --store; give --store STORE")
        method = next(k for k, v in LAYER_ATTRIBUTORS.items() if v == args.method)
        params = _params(args, METHODS[method])
        files = [args.corpus, args.store]
        check_out(args, files)
        _check_store(args)
        t0 = time.perf_counter()
        inputs, labels, source = _load_inputs(args)
        live = _live(args)
        gold = _gold(live, labels)
        target = None
        if args.target is not None:
            from ..models.targets import Target

            if args.target == "gold" and gold is None:
                raise InvalidParameterError("--target gold needs a corpus whose every sentence has a label "
                                            "(--corpus FILE.tsv, or --label-name)")
            target = Target(args.target_kind, tuple(_classes(live, args, inputs, labels)))
        elif args.target_kind != "logit":
            raise InvalidParameterError("--target-kind needs --target (a class, predicted or gold)")
        with json_output(args, files) as write_json:
            st = _open_store(args, "r+") if args.store else None
            try:
                if st is not None and not args.no_model_check:
                    same_model(st, live, None, args.store)
                if args.ranking:
                    neurons = concept_neurons(st, args.ranking, top_k=args.top_k, top_fraction=args.top_fraction)
                else:
                    ids = [x.strip() for x in args.neurons.split(",") if x.strip()]
                    neurons = concept_neurons(ids, top_k=args.top_k, top_fraction=args.top_fraction)
                bridge = ConceptBridge(live, method=method, method_params=params, attribution=args.attribution,
                                       n_random=args.random_sets, baseline=args.baseline, ablation=not args.no_ablation,
                                       store=st, check_model=not args.no_model_check, random_state=args.seed)
                res = bridge.attribute(inputs, neurons=neurons, target=target, labels=gold, concept=args.concept,
                                       progress=not args.quiet)
                res.config.update(cli=_context(args, source, len(inputs), time.perf_counter() - t0))
                name = args.name or f"bridge_{res.concept or 'neurons'}"
                path = res.to_store(st, _safe_name(name)) if st is not None else None
            finally:
                if st is not None:
                    st.close()
            report = dict(res.to_dict(), sentence=res.describe(), result_path=path)
            write_json(report)
        emit(args, report, _describe_bridge(report))
        return 0

    return run


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _describe_bridge(r: dict) -> str:
    lines = [r["sentence"],
             f"  {len(r['neurons'])} neurons ({', '.join(f'{s}: {n}' for s, n in r['site_counts'].items())}), "
             f"{r['n_examples']} inputs, {r['n_random']} random sets, model check: {r['model_check']}, "
             f"{r['config']['cli']['seconds']} s"]
    if r["result_path"]:
        lines.append(f"written {r['config']['cli']['store']}:{r['result_path']}")
    return "\n".join(lines)
