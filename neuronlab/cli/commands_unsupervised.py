"""CLI command of unsupervised concept analysis: ``neuronlab discover`` (NMF, UMAP, latent concepts)."""
from __future__ import annotations

import argparse
import os

from .registry import add_out_arguments, check_out, command, emit, json_output

#: flag -> (driver keyword, methods that take it)
_METHOD_FLAGS = {
    "--n-components": ("n_components", ("nmf",)),
    "--nonnegative": ("nonnegative", ("nmf",)),
    "--solver": ("solver", ("nmf",)),
    "--max-iter": ("max_iter", ("nmf",)),
    "--of": ("of", ("umap",)),
    "--n-neighbors": ("n_neighbors", ("umap",)),
    "--min-dist": ("min_dist", ("umap",)),
    "--max-rows": ("max_rows", ("umap", "latent")),
    "--n-clusters": ("n_clusters", ("latent",)),
    "--max-per-type": ("max_per_type", ("latent",)),
    "--min-type-count": ("min_type_count", ("latent",)),
    "--test-size": ("test_size", ("latent",)),
    "--max-memory-gb": ("max_memory_gb", ("nmf", "latent")),
    "--top-k": ("top_k", ("nmf", "latent")),
}
#: Python parameter -> flag (library errors name the former)
_FLAGS = {kw: flag for flag, (kw, _) in _METHOD_FLAGS.items()} | {"site": "--site", "random_state": "--seed"}


#: parsed value of a cap given as 0 or "none" (no cap), told apart from a flag not given (None)
_NO_CAP = "none"


def _positive_or_none(text: str):
    """An int >= 1, or :data:`_NO_CAP` for 0 / "none"."""
    if text.strip().lower() in ("0", "none"):
        return _NO_CAP
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, 0 or none; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, 0 or none; got {text!r}")
    return value


@command("discover", "Unsupervised discovery on one site: NMF neuron groups with their top tokens (as Ecco), UMAP "
                     "coordinates of neurons or tokens, or latent concepts (Ward clusters of word representations, "
                     "Dalvi et al. 2022) evaluated against a concept; the result is written into the store.")
def _discover(p: argparse.ArgumentParser):
    from ..concepts.unsupervised.discover import DISCOVERY

    p.add_argument("store", help="activation store (.h5)")
    p.add_argument("--method", required=True, choices=list(DISCOVERY),
                   help="; ".join(f"{e.name}: {e.description} ({e.reference})" for e in DISCOVERY.values()))
    p.add_argument("--site", required=True, help="site (or glob of sites) to analyse, e.g. layers.5 or layers.3.mlp; "
                                                 "`neuronlab info STORE` lists them")
    p.add_argument("--concept", default=None,
                   help="concept (label) to describe components by (nmf), colour points by (umap) or evaluate the "
                        "clusters against (latent: B-cubed, NPMI, cluster-id classifier on held-out sentences)")
    g = p.add_argument_group("nmf")
    g.add_argument("--n-components", type=int, default=None, help="number of components (default 10)")
    g.add_argument("--nonnegative", choices=["relu", "shift", "none"], default=None,
                   help="how activations are made non-negative: relu = max(a, 0) as Ecco (default), shift = subtract "
                        "each neuron's minimum, none = data must be non-negative")
    g.add_argument("--solver", choices=["cd", "mu", "minibatch"], default=None,
                   help="cd/mu: scikit-learn NMF in memory (default cd); minibatch: MiniBatchNMF over row chunks "
                        "for stores larger than memory")
    g.add_argument("--max-iter", type=int, default=None, help="iterations (cd/mu, default 500 as Ecco) or passes "
                                                              "over the rows (minibatch)")
    g = p.add_argument_group("umap")
    g.add_argument("--of", choices=["neurons", "tokens"], default=None,
                   help="map neurons (by activation profiles; default) or tokens (coloured by --concept)")
    g.add_argument("--n-neighbors", type=int, default=None, help="UMAP neighbourhood size (default 15)")
    g.add_argument("--min-dist", type=float, default=None, help="UMAP min_dist (default 0.1)")
    g = p.add_argument_group("latent")
    g.add_argument("--n-clusters", type=int, default=None, help="K, the number of latent concepts (default 50; the "
                                                                "paper: 1000 on a large corpus)")
    g.add_argument("--max-per-type", type=_positive_or_none, default=None,
                   help="occurrences kept per word type (default 10, the paper's; 0 = all)")
    g.add_argument("--min-type-count", type=int, default=None, help="leave out rarer word types (default 1)")
    g.add_argument("--test-size", type=float, default=None,
                   help="fraction of sentences held out to score the cluster-id classifier (default 0.2)")
    g = p.add_argument_group("shared")
    g.add_argument("--max-memory-gb", type=float, default=None,
                   help="memory budget, checked before any work: latent, the Ward linkage (8 bytes x n^2 / 2 for n "
                        "clustered rows); nmf cd/mu, the activations in float64 (16 bytes x rows x neurons)")
    g.add_argument("--max-rows", type=_positive_or_none, default=None,
                   help="umap: rows read (points for --of tokens, profile length for neurons; default 5000); "
                        "latent: rows clustered after the per-type cap (default 20000); 0 = all")
    g.add_argument("--top-k", type=int, default=None, help="top neurons/tokens per component, words per cluster "
                                                           "(default 10)")
    p.add_argument("--seed", type=int, default=0, help="random_state of every random choice")
    p.add_argument("--name", default=None, help="name of the result under /results (default discover_METHOD_SITE"
                                                "[_OF][_CONCEPT])")
    add_out_arguments(p)
    p.add_argument("--no-write-back", action="store_true",
                   help="do not write the result into the store; it is printed (and written to --out) only")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")

    def run(args) -> int:
        from ..errors import InvalidParameterError, NeuronlabError, as_cli_flags
        from ..store import ActivationStore

        entry = DISCOVERY[args.method]
        kwargs = {"random_state": args.seed}
        for flag, (kw, methods) in _METHOD_FLAGS.items():
            value = getattr(args, kw)
            if value is None:
                continue
            if args.method not in methods:
                raise InvalidParameterError(f"{flag} applies to --method {' or '.join(methods)}, not {args.method}")
            kwargs[kw] = None if value == _NO_CAP else value
        name = args.name or "_".join(["discover", args.method, args.site] + ([kwargs.get("of", "neurons")]
                                      if args.method == "umap" else []) + ([args.concept] if args.concept else []))
        _check_outputs(args)
        try:
            with ActivationStore.open(args.store) as store:
                with _progress(args, store, kwargs) as bar:
                    result = entry.load()(store, args.site, concept=args.concept, progress=bar.update, **kwargs)
        except NeuronlabError as exc:
            text = _as_flags(as_cli_flags(str(exc), _FLAGS))
            if text == str(exc):
                raise
            raise type(exc)(text) from exc
        if not args.no_write_back:
            result.result_path = _write_back(args.store, name, result)
        report = result.to_dict()
        with json_output(args, [args.store]) as write:
            write(report)
        emit(args, report, _DESCRIBE[args.method](report))
        return 0

    return run


def _as_flags(text: str) -> str:
    """Constraint errors name estimator parameters ("The 'n_clusters' parameter of LatentConcepts ...");
    add the flag."""
    import re

    def sub(m: re.Match) -> str:
        return f"The {_FLAGS[m[1]]} option ({m[1]} of {m[2]})" if m[1] in _FLAGS else m[0]

    return re.sub(r"The '(\w+)' parameter of (\w+)", sub, text)


def _check_outputs(args) -> None:
    """Before any work: ``--out`` can be written, and the store too unless ``--no-write-back``."""
    from ..errors import StoreError

    check_out(args, [args.store])
    if args.no_write_back or not os.path.isfile(args.store) or os.access(args.store, os.W_OK):
        return
    raise StoreError(f"{args.store!r} is read-only (no write permission), so the result cannot be written into it; "
                     "pass --no-write-back to print it without storing it (and --out FILE to keep it as JSON)")


def _write_back(store_path, name: str, result) -> str:
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


def _progress(args, store, kwargs):
    """A tqdm bar over the rows the method reads (all passes), on stderr; off with --quiet or --json."""
    from tqdm.auto import tqdm

    n = store.n_valid_rows
    if args.method == "nmf":
        passes = 1 + (kwargs.get("nonnegative") == "shift")
        passes += kwargs.get("max_iter", 500) if kwargs.get("solver") == "minibatch" else 1
        total = n * passes
    else:
        total = n
    return tqdm(total=total, disable=args.quiet or args.json, unit="row", desc=f"discover {args.method}",
                dynamic_ncols=True, leave=False)


def _describe_nmf(r: dict) -> str:
    lines = [f"NMF of {r['site']}: {r['n_components']} components over {r['n_rows']} rows x {r['n_neurons']} neurons "
             f"({r['config']['params']['nonnegative']}), relative error {r['relative_err']:.3f}, {r['seconds']:.1f} s"]
    for c in r["components"]:
        lines.append(f"component {c['component']:>2}  {100 * c['mass_share']:5.1f} % of the mass, "
                     f"{c['n_neurons_in_group']} neurons in its group")
        lines.append("  neurons  " + ", ".join(c["top_neurons"][:5]))
        lines.append("  tokens   " + ", ".join(t["token"] for t in c["top_tokens"]))
        if c["top_tokens"]:
            lines.append("  e.g.     " + c["top_tokens"][0]["context"])
        if c.get("top_token_classes"):
            lines.append("  classes  " + ", ".join(f"{k} {v}" for k, v in c["top_token_classes"].items()))
    return "\n".join(lines + _written(r))


def _describe_umap(r: dict) -> str:
    lines = [f"UMAP of the {r['of']} of {r['site']}: {r['n_points']} points"
             + (f" coloured by {r['concept']} ({len(r['classes'])} classes)" if r["concept"] else "")
             + f", {r['n_profile_rows']} rows read, {r['seconds']:.1f} s",
             "coordinates are stored with the result (not printed): read them with "
             "UMAPResult.from_store(store, name)"]
    return "\n".join(lines + _written(r))


def _describe_latent(r: dict) -> str:
    lines = [f"latent concepts of {r['site']}: {r['n_clusters']} Ward clusters of {r['n_clustered']} word "
             f"occurrences (of {r['n_rows']} rows), {r['seconds']:.1f} s"]
    ev = r.get("evaluation")
    if ev:
        b = ev["bcubed"]
        lines.append(f"vs {r['concept']} ({ev['n_gold_classes']} classes): B-cubed P {b['precision']:.3f} "
                     f"R {b['recall']:.3f} F {b['f1']:.3f}; mean NPMI with the majority class "
                     f"{ev['npmi_majority_mean']:.3f}; {100 * ev['aligned_fraction']:.1f} % of clusters "
                     f"aligned at {100 * ev['aligned_threshold']:.0f} %")
        clf = ev.get("classifier")
        if clf:
            lines.append(f"cluster-id classifier: {100 * clf['accuracy']:.2f} % on {clf['n_test']} held-out rows "
                         f"(majority {100 * clf['majority_baseline']:.2f} %)")
    for c in sorted(r["clusters"], key=lambda c: -c["size"])[:15]:
        gold = f"  {c['majority']} {100 * c['purity']:.0f} %" if "majority" in c else ""
        lines.append(f"  cluster {c['cluster']:>4} ({c['size']:>5}){gold}: "
                     + ", ".join(w for w, _ in c["top_words"][:8]))
    return "\n".join(lines + _written(r))


def _written(r: dict) -> list[str]:
    return [f"written  {r['store']}:{r['result_path']}"] if r.get("result_path") else []


_DESCRIBE = {"nmf": _describe_nmf, "umap": _describe_umap, "latent": _describe_latent}
