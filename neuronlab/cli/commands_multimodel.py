"""CLI command of multi-model analysis: crossmodel (MaxCorr, MinCorr, LinReg, SVCCA, CKA)."""
from __future__ import annotations

import argparse

from ..concepts.multimodel.study import CROSSMODEL_METHODS
from .registry import add_out_arguments, check_out, command, emit, json_output, speaks_flags

#: Python parameter of the library -> flag of this command (library errors name the former)
_FLAGS = {"sites": "--sites", "max_memory_gb": "--max-memory-gb", "top_k": "--top-k", "chunk_rows": "--chunk-rows"}


@command("crossmodel", "Compare models run on the same corpus: rank neurons that other models share (maxcorr, "
                       "mincorr, linreg), shared directions (svcca) or layer-to-layer similarity (cka); the result is "
                       "written into the first store.")
def _crossmodel(p: argparse.ArgumentParser):
    p.add_argument("stores", nargs="+", metavar="STORE",
                   help="activation stores (.h5) of different models on the same corpus (identical rows); the "
                        "first is the one whose neurons are ranked and into which the result is written")
    p.add_argument("--method", required=True, choices=list(CROSSMODEL_METHODS),
                   help="; ".join(f"{e.name}: {e.description} ({e.reference})" for e in CROSSMODEL_METHODS.values()))
    p.add_argument("--sites", default=None,
                   help="sites compared, names or globs resolved in every store (e.g. layers.5); default: all")
    p.add_argument("--top-k", type=int, default=10, help="neurons (or directions) listed")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="method hyper-parameter (repeatable); per method: " + "; ".join(
                       f"{e.name}: " + (", ".join(f"{q.name} ({q.describe()})" for q in e.params) or "none")
                       for e in CROSSMODEL_METHODS.values()))
    p.add_argument("--chunk-rows", type=int, default=None, help="rows read at a time (default 16384)")
    p.add_argument("--max-memory-gb", type=float, default=None,
                   help="refuse up front if the joint covariance of all compared neurons needs more")
    add_out_arguments(p)
    p.add_argument("--no-write-back", action="store_true",
                   help="do not write the result into the first store (e.g. a read-only store)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    def run(args) -> int:
        import os

        from ..concepts.multimodel.study import cross_model
        from ..errors import InvalidParameterError, StoreError

        params = CROSSMODEL_METHODS[args.method].parse_params(_parse_params(args.param))
        if args.chunk_rows is not None:
            if args.chunk_rows < 1:
                raise InvalidParameterError(f"--chunk-rows must be >= 1; got {args.chunk_rows}")
            params["chunk_rows"] = args.chunk_rows
        if args.top_k < 1:
            raise InvalidParameterError(f"--top-k must be >= 1; got {args.top_k}")
        check_out(args, args.stores)
        first = args.stores[0]
        if not args.no_write_back and os.path.isfile(first) and not os.access(first, os.W_OK):
            raise StoreError(f"{first!r} is read-only, so the result cannot be written into it; pass "
                             "--no-write-back to print it without storing it")
        progress = None
        if not args.quiet and not args.json:
            from tqdm.auto import tqdm

            progress = lambda it: tqdm(it, desc=f"{args.method}: row chunks", unit="chunk",  # noqa: E731
                                       leave=False, dynamic_ncols=True)
        result = cross_model(args.stores, args.method, sites=args.sites, params=params, top_k=args.top_k,
                             max_memory_gb=args.max_memory_gb, progress=progress)
        result.result_path = None if args.no_write_back else _write_back(first, f"crossmodel_{args.method}", result)
        report = result.to_dict()
        with json_output(args, args.stores) as write:
            write(report)
        emit(args, report, _describe(report, args.top_k))
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


def _write_back(store_path, name: str, result) -> str:
    """Write ``result`` into the store; a one-line error if it cannot."""
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


def _describe(r: dict, top_k: int) -> str:
    head = (f"{r['method']} over {len(r['models'])} models ({', '.join(r['models'])}), {r['n_rows']} rows, "
            f"sites {', '.join(r['sites'])} ({r['seconds']} s)")
    lines = [head]
    if r["top"] is not None:
        lines.append(f"top {len(r['top'])} neurons of {r['models'][0]}:")
        for k, item in enumerate(r["top"]):
            text = f"  {k + 1:>4} {item['neuron']:<24} score {item['score']:.4f}"
            if "matches" in item:
                text += "  " + "; ".join(f"{lab}: {m['neuron']} (r={m['r']:+.3f})" for lab, m in item["matches"].items())
            if "errors" in item:
                text += "  error " + "; ".join(f"{lab}: {'n/a' if e is None else f'{e:.4f}'}"
                                              for lab, e in item["errors"].items())
            lines.append(text)
        for lab, top in r["other_top"].items():
            lines.append(f"top {len(top)} of {lab}: " + ", ".join(top))
    if r["pairs"] is not None:
        for pair in r["pairs"]:
            lines.append(f"{pair['models'][0]} vs {pair['models'][1]}: SVCCA similarity {pair['similarity']:.4f} "
                         f"(kept {pair['kept'][0]} and {pair['kept'][1]} dimensions)")
            for k, d in enumerate(pair["top_directions"]):
                lines.append(f"  direction {k + 1:>3} rho {d['rho']:.4f}  largest loadings: "
                             + ", ".join(f"{n} ({w:+.2f})" for n, w in zip(d["neurons"], d["loadings"])))
    if r["blocks"] is not None:
        blocks, sim = r["blocks"], r["similarity"]
        width = max(len(b) for b in blocks)
        lines.append("linear CKA")
        lines.append(" " * (width + 5) + " ".join(f"{i:>5}" for i in range(len(blocks))))
        for i, b in enumerate(blocks):
            lines.append(f"{b:<{width}} {i:>3} " + " ".join(f"{v:5.2f}" for v in sim[i]))
    if r.get("result_path"):
        lines.append(f"written to {r['stores'][0]}:{r['result_path']}")
    return "\n".join(lines)
