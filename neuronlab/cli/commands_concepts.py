"""CLI commands of concept analysis: probe, rank."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from .main import command, emit

log = logging.getLogger("neuronlab")


def _write_json(path: str | None, payload: dict) -> None:
    if path:
        from .main import _json_default

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")


def _write_back(store_path, name: str, arrays: dict, config: dict, kind: str) -> str | None:
    from ..errors import StoreError
    from ..store import ActivationStore

    try:
        with ActivationStore.open(store_path, mode="r+") as st:
            return st.write_result(name, arrays, config=config, kind=kind)
    except (StoreError, OSError) as exc:
        log.warning("could not write the result into %s (%s); the JSON output has it", store_path, exc)
        return None


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
    p.add_argument("--max-memory-gb", type=float, default=None, help="memory budget for the in-memory fit")
    p.add_argument("--evaluate", default="", metavar="LIST",
                   help="comma-separated extra evaluations: layerwise (one probe per site), ablation (keep/zero top, "
                        "bottom, random neurons; retrain on top 10%% vs random), minimal (smallest top-k within 1 point "
                        "of the all-neuron probe, Durrani et al. 2020), or all")
    p.add_argument("--out", default=None, help="write the full result as JSON to this file")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress or log lines")

    def run(args) -> int:
        from ..concepts.probes import LinearProbe
        from ..concepts.probing import probe_concept
        from ..store import ActivationStore

        probe = LinearProbe(lambda_l1=args.l1, lambda_l2=args.l2,
                            class_weight=None if args.class_weight == "none" else "balanced")
        if args.tol is not None:
            probe.set_params(tol=args.tol)
        with ActivationStore.open(args.store) as store:
            test = ActivationStore.open(args.test) if args.test else None
            ri = None
            try:
                if args.controls and not args.no_random_init:
                    ri = _random_init(store, test, args)
                report, arrays = probe_concept(
                    store, args.concept, sites=args.sites, test_store=test, train_size=args.split, probe=probe,
                    controls=args.controls, random_init_store=ri, random_state=args.seed,
                    top_fraction=args.top_fraction, max_memory_gb=args.max_memory_gb,
                    evaluate=[e.strip() for e in args.evaluate.split(",") if e.strip()],
                )
            finally:
                for s in ([test] if test else []) + (list(ri) if isinstance(ri, tuple) else [ri] if ri else []):
                    s.close()
        report["result_path"] = _write_back(args.store, f"probe_{args.concept}", arrays, report["config"], "probe")
        _write_json(args.out, report)
        emit(args, report, _describe_probe(report, args.out))
        return 0

    return run


def _random_init(store, test, args):
    try:
        from ..extraction.controls import random_init_store
    except ImportError as exc:  # torch/transformers missing
        log.warning("random-init baseline skipped: %s", exc)
        return None
    from ..errors import NeuronlabError

    try:
        progress = not args.quiet and not args.json
        twin = random_init_store(store, seed=args.seed, progress=progress)
        if test is None:
            return twin
        return twin, random_init_store(test, seed=args.seed, progress=progress)
    except (NeuronlabError, OSError) as exc:
        log.warning("random-init baseline skipped: %s", exc)
        return None


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


@command("rank", "Rank neurons for a concept with one method (linear, rf, iou, ap, probeless, expert); the ranking "
                 "is written into the store.")
def _rank(p: argparse.ArgumentParser):
    p.add_argument("store", help="activation store (.h5)")
    p.add_argument("--concept", required=True, help="concept (label) name")
    p.add_argument("--method", required=True, choices=["linear", "rf", "iou", "ap", "probeless", "expert"],
                   help="linear: probe weight mass (Dalvi et al. 2019); rf: random-forest Gini importance; "
                        "iou: thresholded-activation IoU with the concept mask (Bau et al. 2017); ap: per-neuron "
                        "average precision; probeless: class-mean differences (Antverg & Belinkov 2022); expert: "
                        "sentence-level AP of max-pooled activations (Suau et al. 2020)")
    p.add_argument("--sites", default=None, help="sites to rank (names/globs); default: all")
    p.add_argument("--top-k", type=int, default=10, help="top neurons listed, overall and for every class")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="method hyper-parameter, e.g. --param quantile=0.99 --param n_estimators=200 (repeatable)")
    p.add_argument("--max-memory-gb", type=float, default=None, help="memory budget")
    p.add_argument("--out", default=None, help="write the full result as JSON to this file")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--quiet", action="store_true")

    def run(args) -> int:
        from ..concepts.probing import rank_concept
        from ..store import ActivationStore

        params = _parse_params(args.param)
        with ActivationStore.open(args.store) as store:
            report, arrays = rank_concept(store, args.concept, args.method, sites=args.sites, params=params,
                                          top_k=args.top_k, max_memory_gb=args.max_memory_gb)
        report["result_path"] = _write_back(args.store, f"rank_{args.method}_{args.concept}", arrays,
                                            report["config"], "ranking")
        _write_json(args.out, report)
        emit(args, report, _describe_rank(report, args.top_k))
        return 0

    return run


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
                   help="comma-separated methods among linear, rf, iou, ap, probeless, expert")
    p.add_argument("--sites", default=None, help="sites (names/globs); default: all")
    p.add_argument("--top-k", type=int, default=50, help="size of the top sets compared")
    p.add_argument("--out", default=None, help="write the result as JSON to this file")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quiet", action="store_true")

    def run(args) -> int:
        from ..concepts.probing import compare_rankings
        from ..store import ActivationStore

        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        with ActivationStore.open(args.store) as store:
            report = compare_rankings(store, args.concept, methods, sites=args.sites, k=args.top_k)
        _write_json(args.out, report)
        w = max(len(m) for m in methods) + 2
        lines = [f"top-{args.top_k} overlap (upper) and Spearman rank correlation (lower) for {args.concept}",
                 " " * w + "".join(f"{m:>{w}}" for m in methods)]
        for i, a in enumerate(methods):
            cells = [report["overlap"][i][j] if j >= i else report["spearman"][i][j] for j in range(len(methods))]
            lines.append(f"{a:<{w}}" + "".join(f"{c:>{w}.3f}" for c in cells))
        emit(args, report, "\n".join(lines))
        return 0

    return run


def _parse_params(items: list[str]) -> dict:
    from ..errors import InvalidParameterError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidParameterError(f"--param expects NAME=VALUE, got {item!r}")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out
