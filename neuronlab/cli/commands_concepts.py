"""CLI commands of concept analysis: probe, rank."""
from __future__ import annotations

import argparse
import logging

from ..concepts.rankers import RANKERS
from .registry import add_out_arguments, check_out, command, emit, json_output, speaks_flags

log = logging.getLogger("neuronlab")

#: Python parameter of the library -> flag of these commands (library errors name the former)
_FLAGS = {"sites": "--sites", "max_memory_gb": "--max-memory-gb", "scheduler": "--scheduler",
          "granularity": "--granularity", "test_store": "--test", "train_size": "--split", "overwrite": "--overwrite"}



def _write_json(args, payload: dict, inputs) -> None:
    """Write ``payload`` to ``--out`` (if given) through the output-safety layer."""
    with json_output(args, inputs) as write:
        write(payload)


def _write_back(store_path, name: str, result) -> str:
    """Write ``result`` (a :class:`neuronlab.results.Result`) into the store; an error if it cannot."""
    from ..errors import StoreError
    from ..store import ActivationStore

    try:
        with ActivationStore.open(store_path, mode="r+") as st:
            return result.to_store(st, name)
    except OSError as exc:
        if isinstance(exc, StoreError):
            raise
        raise StoreError(f"could not write the result into {store_path} ({exc.strerror or exc}); "
                         "pass --no-write-back to print it without storing it") from None


def _check_outputs(args, inputs, *, write_back: bool = True) -> None:
    """Before any work: ``--out`` can be written (see :mod:`neuronlab.outputs`), and the store too unless
    ``--no-write-back`` (a read-only store is an error)."""
    import os

    from ..errors import StoreError

    check_out(args, inputs)
    if not write_back or args.no_write_back or not os.path.isfile(args.store) or os.access(args.store, os.W_OK):
        return
    raise StoreError(f"{args.store!r} is read-only (no write permission), so the result cannot be written into it; "
                     "pass --no-write-back to print it without storing it (and --out FILE to keep it as JSON)")


def _add_write_back(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-write-back", action="store_true",
                   help="do not write the result into the store (e.g. a read-only store); it is printed "
                        "(and written to --out) only")


def _pct(x) -> str:
    return "   n/a" if x is None else f"{100 * x:6.2f}"


@command("probe", "Train a linear probe for a concept (train -> test) with majority, control-task and random-init "
                  "baselines, selectivity and a neuron ranking; the result is written into the store.")
def _probe(p: argparse.ArgumentParser):
    p.add_argument("store", help="activation store (.h5) holding the concept's labels")
    p.add_argument("--concept", required=True, help="concept (label) name; `neuronlab info STORE` lists them")
    p.add_argument("--sites", default=None, help="sites to probe (names/globs); default: all sites in the store")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--test", default=None, help="held-out store with the same sites (e.g. the test split)")
    g.add_argument("--split", type=float, default=0.8, help="fraction of SENTENCES used for training when no --test")
    p.add_argument("--l1", type=float, default=1e-3,
                   help="lambda_l1 in NeuroX's objective, the one minimised: mean cross-entropy + l1 * ||W||_1 + "
                        "l2 * ||W||_F (Frobenius norm, not squared; weights only, the intercept is not penalised; a "
                        "binary concept is a two-output softmax as in NeuroX). Default 1e-3, the value NeuroX's example "
                        "scripts pass (its functions default to 0)")
    p.add_argument("--l2", type=float, default=1e-3, help="lambda_l2 (see --l1); default 1e-3")
    p.add_argument("--class-weight", choices=["none", "balanced"], default="none", help="class weighting of the loss")
    p.add_argument("--tol", type=float, default=None,
                   help="solver tolerance: stop when the weights change by at most this fraction of the largest "
                        "weight over 3 iterations (default 1e-2, LinearProbe's; rankings at it match the converged "
                        "ones, see docs/benchmarks.md)")
    p.add_argument("--controls", dest="controls", action="store_true", default=True,
                   help="compute the control-task and random-init baselines (default)")
    p.add_argument("--no-controls", dest="controls", action="store_false",
                   help="skip control task and random-init baselines (majority is always reported)")
    p.add_argument("--no-random-init", action="store_true",
                   help="skip only the random-init baseline (it needs the model and one extra extraction, cached)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, control task and random init")
    p.add_argument("--top-fraction", type=float, default=0.05, help="fraction of top neurons summarised per layer")
    p.add_argument("--max-memory-gb", type=float, default=None,
                   help="memory budget in GB: when the activations do not fit, the probes are trained streamed from "
                        "the store in row chunks (same optimum; recorded as config.streamed; default: the memory "
                        "available)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="train the probes on a dask.distributed cluster (tcp://host:8786) or on local:N worker "
                        "processes: loss and gradient per row chunk on the workers (needs pip install "
                        "'neuronlab[dask]')")
    p.add_argument("--evaluate", default="", metavar="LIST",
                   help="comma-separated extra evaluations: layerwise (one probe per site), ablation (keep/zero top, "
                        "bottom, random neurons; retrain on top 10%% vs random), minimal (smallest top-k within 1 point "
                        "of the all-neuron probe, Durrani et al. 2020), or all")
    add_out_arguments(p)
    _add_write_back(p)
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress or log lines")

    def run(args) -> int:
        from ..concepts.probes import LinearProbe
        from ..concepts.study import probe_concept
        from ..store import ActivationStore

        probe = LinearProbe(lambda_l1=args.l1, lambda_l2=args.l2,
                            class_weight=None if args.class_weight == "none" else "balanced")
        if args.tol is not None:
            probe.set_params(tol=args.tol)
        inputs = [args.store, args.test]
        _check_outputs(args, inputs)
        with ActivationStore.open(args.store) as store:
            test = ActivationStore.open(args.test) if args.test else None
            ri = None
            try:
                if args.controls and not args.no_random_init:
                    ri = _random_init(store, test, args)
                result = probe_concept(
                    store, args.concept, sites=args.sites, test_store=test, train_size=args.split, probe=probe,
                    controls=args.controls, random_init_store=ri, random_state=args.seed,
                    top_fraction=args.top_fraction, max_memory_gb=args.max_memory_gb, scheduler=args.scheduler,
                    evaluate=[e.strip() for e in args.evaluate.split(",") if e.strip()],
                )
            finally:
                for s in ([test] if test else []) + (list(ri) if isinstance(ri, tuple) else [ri] if ri else []):
                    s.close()
        result.result_path = None if args.no_write_back else _write_back(
            args.store, f"probe_{args.concept}", result)
        report = result.to_dict()
        _write_json(args, report, inputs)
        emit(args, report, _describe_probe(report, args.out))
        return 0

    return speaks_flags(run, _FLAGS)


def _random_init(store, test, args):
    try:
        from ..extraction.controls import random_init_store
    except ImportError as exc:  # torch/transformers missing
        log.warning("random-init baseline skipped: %s", exc)
        return None
    from ..errors import NeuronlabError

    why = _model_not_loadable(store.model)
    if why:
        log.warning("random-init baseline skipped: %s (pass --no-random-init to skip it silently)", why)
        return None
    try:
        progress = not args.quiet and not args.json
        twin = random_init_store(store, seed=args.seed, progress=progress)
        if test is None:
            return twin
        return twin, random_init_store(test, seed=args.seed, progress=progress)
    except (NeuronlabError, OSError) as exc:
        log.warning("random-init baseline skipped: %s", exc)
        return None


def _model_not_loadable(info: dict) -> str | None:
    """Why the store's model cannot be loaded again for the random-init control (None when it can be tried).

    An imported store (NeuroX) records no model path or hub id: trying its name on the hub would only wait.
    """
    from ..models.loading import ALIASES

    if info.get("path") or info.get("hub_id") or info.get("name") in ALIASES:
        return None
    name = info.get("name") or "?"
    if info.get("imported_from"):
        return f"the store was imported from {info['imported_from']} and records no model to load (model {name!r})"
    return f"the store records no model path or hub id (model {name!r})"


def _describe_probe(r: dict, out: str | None) -> str:
    b, sel = r["baselines"], r["selectivity"]
    lines = [
        f"concept      {r['concept']}  ({len(r['classes'])} classes)  on {r['n_neurons']} neurons of "
        f"{len(r['sites'])} sites",
        f"rows         {r['n_train']} train, {r['n_test']} test ({r['config']['split']})",
    ] + ([
        "unseen       test classes absent from training (scored as errors): "
        + ", ".join(f"{c} ({n} rows)" for c, n in r["unseen_test_classes"].items())
    ] if r.get("unseen_test_classes") else []) + [
        f"accuracy     {_pct(r['accuracy'])} %  (train {_pct(r['train_accuracy'])} %)",
        f"baselines    majority {_pct(b['majority'])} %   control task {_pct(b['control_task'])} %   "
        f"random init {_pct(b['random_init'])} %",
        "selectivity  " + ("n/a" if sel is None else f"{100 * sel:.2f} points (accuracy - control task)"),
        "top neurons  " + ", ".join(r["ranking"][:10]),
        f"top {r['layer_distribution']['k']} by site  "
        + ", ".join(f"{s}: {n}" for s, n in r["layer_distribution"]["counts"].items()),
    ]
    ev = r.get("evaluation") or {}
    if "layerwise" in ev:
        lines.append("per site     " + "  ".join(f"{s} {_pct(a).strip()}" for s, a in ev["layerwise"].items()))
    if "ablation" in ev:
        for c in ev["ablation"]["curves"]:
            pts = "  ".join(f"{100 * f:g}%:{_pct(a).strip()}" for f, a in zip(c["fractions"], c["accuracy"]))
            lines.append(f"{c['mode']:>4} {c['order']:<7} {pts}")
        rt = ev["ablation"]["retrain_top10pct"]
        lines.append(f"retrain      top 10% {_pct(rt.get('selected_accuracy')).strip()} %  vs random "
                     f"{_pct(rt.get('random_accuracy')).strip()} %")
    if "minimal" in ev:
        m = ev["minimal"]
        lines.append(f"minimal      {m['k']} neurons ({100 * m['fraction']:.1f} %, chosen on {m['n_dev']} held-out "
                     f"training rows) reach {_pct(m['accuracy']).strip()} % on test "
                     f"(all neurons {_pct(m['oracle_accuracy']).strip()} %)")
    if r.get("result_path"):
        lines.append(f"written      {r['store']}:{r['result_path']}" + (f" and {out}" if out else ""))
    return "\n".join(lines)


@command("rank", "Rank neurons for a concept with one registered method (see --method); the ranking is written "
                 "into the store.")
def _rank(p: argparse.ArgumentParser):
    p.add_argument("store", help="activation store (.h5)")
    p.add_argument("--concept", required=True, help="concept (label) name")
    p.add_argument("--method", required=True, choices=list(RANKERS),
                   help="; ".join(f"{e.name}: {e.description}" + (f" ({e.reference})" if e.reference else "")
                                  for e in RANKERS.values()))
    p.add_argument("--sites", default=None, help="sites to rank (names/globs); default: all")
    p.add_argument("--top-k", type=int, default=10, help="top neurons listed, overall and for every class")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="method hyper-parameter (repeatable), e.g. --param quantile=0.99; per method: "
                        + "; ".join(f"{e.name}: " + (", ".join(f"{q.name} ({q.describe()})" for q in e.params) or "none")
                                    for e in RANKERS.values()))
    p.add_argument("--max-memory-gb", type=float, default=None, help=("memory budget in GB: a store whose activations do not fit is streamed in blocks "
                         "by the rankers that can (iou, ap, probeless, linear, gaussian; same result) and refused by the "
                         "others (default: the memory available)"))
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help=("run the ranking as a dask map-reduce on a dask.distributed scheduler (tcp://host:8786) or "
                         "on local:N worker processes; iou, ap, probeless, linear and gaussian (same result as one "
                         "process; needs pip install 'neuronlab[dask]')"))
    add_out_arguments(p)
    _add_write_back(p)
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--quiet", action="store_true")

    def run(args) -> int:
        from ..concepts.study import rank_concept
        from ..store import ActivationStore

        params = RANKERS[args.method].parse_params(_parse_params(args.param))
        _check_outputs(args, [args.store])
        with ActivationStore.open(args.store) as store:
            result = rank_concept(store, args.concept, args.method, sites=args.sites, params=params,
                                  top_k=args.top_k, max_memory_gb=args.max_memory_gb, scheduler=args.scheduler)
        result.result_path = None if args.no_write_back else _write_back(
            args.store, f"rank_{args.method}_{args.concept}", result)
        report = result.to_dict()
        _write_json(args, report, [args.store])
        emit(args, report, _describe_rank(report, args.top_k))
        return 0

    return speaks_flags(run, _FLAGS)


def _describe_rank(r: dict, top_k: int) -> str:
    """The top neurons with the quantity that ranked them, then the top ``top_k`` of every class."""
    lines = [f"{r['method']} ranking of {r['n_neurons']} neurons for {r['concept']} ({r['n_rows']} rows, "
             f"{r['seconds']} s)"]
    wm, ap = r.get("weight_mass"), r.get("average_precision")
    if wm:
        lines.append("  rank neuron                       enters at (share of its class's probe weight mass)")
    elif ap:
        lines.append("  rank neuron                       class        AP(a)   AP(-a)  direction (score = larger AP)")
    else:
        lines.append("  rank neuron                       score")
    for i, nid in enumerate(r["ranking"][:top_k]):
        head = f"  {i + 1:>4} {nid:<28}"
        if wm:
            pct = wm["entry_percentage"][i]
            lines.append(head + (" never (zero weight)" if pct is None else f" {100 * pct:5.1f} % of {wm['class'][i]}"))
        elif ap:
            neg = ap["ap_negative"][i] if ap["ap_negative"] is not None else None
            lines.append(head + f" {ap['class'][i]:<12} {ap['ap_positive'][i]:.4f}  "
                         + ("   n/a" if neg is None else f"{neg:.4f}")
                         + ("  + (fires for the class)" if ap["direction"][i] == "+" else "  - (fires against it)"))
        else:
            lines.append(head + f" {r['scores'][i]:.4g}")
    if r["per_class"]:
        lines.append(f"top {top_k} per class:")
        for c, top in r["per_class"].items():
            lines.append(f"  {c:<12} " + ", ".join(top[:top_k]))
    return "\n".join(lines)


@command("compare", "Agreement between the neuron rankings of several methods (top-k overlap, Spearman correlation).")
def _compare(p: argparse.ArgumentParser):
    p.add_argument("store", help="activation store (.h5)")
    p.add_argument("--concept", required=True, help="concept (label) name")
    p.add_argument("--methods", default="linear,probeless,ap,iou",
                   help="comma-separated registered methods (`neuronlab rank --help` lists them)")
    p.add_argument("--sites", default=None, help="sites (names/globs); default: all")
    p.add_argument("--top-k", type=int, default=50, help="size of the top sets compared")
    add_out_arguments(p, "write the result as JSON to this file")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quiet", action="store_true")

    def run(args) -> int:
        from ..concepts.study import compare_rankings
        from ..store import ActivationStore

        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        _check_outputs(args, [args.store], write_back=False)
        with ActivationStore.open(args.store) as store:
            report = compare_rankings(store, args.concept, methods, sites=args.sites, k=args.top_k)
        _write_json(args, report, [args.store])
        w = max(len(m) for m in methods) + 2
        lines = [f"top-{args.top_k} overlap (upper) and Spearman rank correlation (lower) for {args.concept}",
                 " " * w + "".join(f"{m:>{w}}" for m in methods)]
        for i, a in enumerate(methods):
            cells = [report["overlap"][i][j] if j >= i else report["spearman"][i][j] for j in range(len(methods))]
            lines.append(f"{a:<{w}}" + "".join(f"{c:>{w}.3f}" for c in cells))
        emit(args, report, "\n".join(lines))
        return 0

    return speaks_flags(run, _FLAGS)


def _parse_params(items: list[str]) -> dict[str, str]:
    """``--param NAME=VALUE`` items -> ``{NAME: VALUE}`` strings (the registry entry types them)."""
    from ..errors import InvalidParameterError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidParameterError(f"--param expects NAME=VALUE, got {item!r}")
        out[name] = value
    return out
