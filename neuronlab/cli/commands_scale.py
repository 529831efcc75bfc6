"""CLI commands of the scale area: ``merge`` (the stores of a sharded extraction into one store), ``stats`` (per-neuron
statistics streamed or on dask)."""
from __future__ import annotations

import argparse

from .commands_concepts import _add_write_back, _check_outputs, _write_back
from .registry import add_out_arguments, command, emit, safe_out, speaks_flags


@command("merge", "Join the shard stores of `extract --shard I/N` into the store a single run would have written.")
def _merge(p: argparse.ArgumentParser):
    p.add_argument("out", metavar="OUT", help="the merged .h5 store to write (never one of the shards)")
    p.add_argument("shards", nargs="+", metavar="SHARD", help="the N shard stores, in any order")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUT if it exists, only once the merge succeeded (a failure leaves it intact)")
    p.add_argument("--block-mb", type=int, default=64, help="rows are copied in blocks of at most this many MB")
    p.add_argument("--json", action="store_true", help="print the merged store's summary as JSON")

    def run(args) -> int:
        from ..errors import InvalidParameterError
        from ..store import ActivationStore
        from ..store.merge import merge_stores

        if args.block_mb < 1:
            raise InvalidParameterError(f"--block-mb must be an integer >= 1, got {args.block_mb}")
        with safe_out(args, args.shards) as tmp:
            merge_stores(args.shards, tmp, overwrite=True, block_mb=args.block_mb).close()
        with ActivationStore.open(args.out) as store:
            summary = store.summary()
        summary["merged_from"] = list(args.shards)
        emit(args, summary, f"merged {len(args.shards)} shards into {args.out}: {summary['n_sentences']} sentences, "
                            f"{summary['n_rows']} rows, {len(summary['sites'])} sites")
        return 0

    return run


@command("stats", "Per-neuron statistics of a store (mean, standard deviation, quantiles), streamed in row blocks "
                  "under --max-memory-gb or computed on a dask cluster (--scheduler); the result is written into "
                  "the store.")
def _stats(p: argparse.ArgumentParser):
    p.add_argument("store", help="activation store (.h5)")
    p.add_argument("--sites", default=None, help="sites (names/globs); default: all")
    p.add_argument("--quantile", type=float, action="append", default=None, metavar="Q",
                   help="a per-neuron quantile in [0, 1], exact (repeatable; default 0.995, IoU's threshold)")
    p.add_argument("--max-memory-gb", type=float, default=None,
                   help="memory budget in GB for the row blocks and the quantile buffers (default: 1)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="compute on a dask.distributed scheduler (tcp://host:8786) or on local:N worker processes")
    p.add_argument("--top-k", type=int, default=10, help="neurons listed by standard deviation")
    p.add_argument("--name", default="stats",
                   help="name of the result in the store (/results/NAME; default: stats, replaced by a later run)")
    add_out_arguments(p)
    _add_write_back(p)
    p.add_argument("--json", action="store_true", help="print the full result (every neuron) as JSON")

    def run(args) -> int:
        import time

        import numpy as np

        from ..concepts.rankers.streaming import rows_for_budget
        from ..errors import InvalidParameterError
        from ..scale import stats
        from ..scale.stats_result import NeuronStatsResult
        from ..store import ActivationStore
        from .registry import json_output

        qs = args.quantile or [0.995]
        bad = [q for q in qs if not 0.0 <= q <= 1.0]
        if bad:
            raise InvalidParameterError(f"--quantile must lie in [0, 1]; got {bad[0]}")
        budget = 1.0 if args.max_memory_gb is None else args.max_memory_gb
        if not budget > 0:
            raise InvalidParameterError(f"--max-memory-gb must be > 0; got {args.max_memory_gb}")
        _check_outputs(args, [args.store], write_back=not args.no_write_back)
        t0 = time.perf_counter()
        with json_output(args, [args.store]) as write:
            with ActivationStore.open(args.store) as store:
                view = store.view(sites=args.sites)
                ids = view.neuron_ids
                if args.scheduler is not None:
                    from ..scale.dask_arrays import scheduler, view_array

                    with scheduler(args.scheduler):
                        X = view_array(store, sites=args.sites)
                        mean, var = stats.neuron_moments(X)
                        quant = {q: stats.neuron_quantile(X, q) for q in qs}
                else:
                    chunk = rows_for_budget(len(ids), budget, copies=4.0, itemsize=4)
                    _check_quantile_buffers(qs, view.shape, chunk, budget)
                    mean, var = stats.neuron_moments(view, chunk_rows=chunk)
                    quant = {q: stats.neuron_quantile(view, q, chunk_rows=chunk, budget_gb=budget) for q in qs}
                std = np.sqrt(var)
                order = np.argsort(-std, kind="stable")[:max(1, args.top_k)]
                payload = {"store": str(args.store), "n_rows": int(view.shape[0]), "n_neurons": len(ids),
                           "config": {"sites": args.sites, "quantiles": qs, "max_memory_gb": args.max_memory_gb,
                                      "scheduler": args.scheduler, "streamed": args.scheduler is None},
                           "dead_neurons": [ids[i] for i in np.flatnonzero(std == 0)],
                           "neurons": ids, "mean": mean.tolist(), "std": std.tolist(),
                           "quantiles": {str(q): v.tolist() for q, v in quant.items()}}
            result = NeuronStatsResult(**payload, seconds=round(time.perf_counter() - t0, 3))
            if not args.no_write_back:
                result.result_path = _write_back(args.store, args.name, result)
            payload = result.to_dict()
            write(payload)
        how = f"dask {args.scheduler}" if args.scheduler else "streamed"
        lines = [f"{payload['n_rows']} rows x {len(ids)} neurons ({how})"
                 + (f"; written to {payload['result_path']}" if payload["result_path"] else ""),
                 f"dead neurons (constant): {len(payload['dead_neurons'])}", "largest standard deviation:"]
        lines += [f"  {ids[i]:<24} mean {mean[i]: .4g}  std {std[i]:.4g}  "
                  + "  ".join(f"q{q:g} {quant[q][i]:.4g}" for q in qs) for i in order]
        emit(args, payload, "\n".join(lines))
        return 0

    return speaks_flags(run, {"max_memory_gb": "--max-memory-gb", "sites": "--sites", "scheduler": "--scheduler"})


def _check_quantile_buffers(qs, shape, chunk: int, budget_gb: float) -> None:
    """Refuse up front when an exact quantile's buffer of extreme values does not fit the budget."""
    from ..concepts.rankers.streaming import GIB, quantile_plan
    from ..errors import InvalidParameterError

    for q in qs:
        keep, _ = quantile_plan(shape[0], q)
        need = (keep + chunk) * shape[1] * 4 * 2
        if need > budget_gb * GIB:
            raise InvalidParameterError(
                f"an exact {q:g} quantile of {shape[0]} rows keeps {keep} values per neuron ({need / GIB:.3g} GB with "
                f"work space) but the budget is {budget_gb:g} GB; ask for quantiles nearer 0 or 1, select fewer "
                "sites (--sites), raise --max-memory-gb, or use --scheduler")
