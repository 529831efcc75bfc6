"""CLI command of redundancy analysis: ``neuronlab redundancy`` (Dalvi et al. 2020)."""
from __future__ import annotations

import argparse

from .registry import add_out_arguments, check_out, command, emit, json_output, speaks_flags

#: Python parameter of the library -> flag of this command (library errors name the former)
_FLAGS = {"sites": "--sites", "max_memory_gb": "--max-memory-gb", "thresholds": "--threshold",
          "threshold": "--threshold", "delta": "--delta", "test_store": "--test", "train_size": "--split",
          "scheduler": "--scheduler"}



def _check_args(args) -> None:
    from ..errors import InvalidParameterError, StoreError

    for t in args.threshold:
        if not 0.0 <= t <= 2.0:
            raise InvalidParameterError(f"--threshold takes distances 1 - |r| in [0, 2]; got {t}")
    if args.ccfs_threshold is not None and not 0.0 <= args.ccfs_threshold <= 2.0:
        raise InvalidParameterError(f"--ccfs-threshold takes a distance 1 - |r| in [0, 2]; got {args.ccfs_threshold}")
    if not 0.0 <= args.delta <= 1.0:
        raise InvalidParameterError(f"--delta is an accuracy loss in [0, 1] (0.01 = one point); got {args.delta}")
    if args.max_memory_gb is not None and not args.max_memory_gb > 0:
        raise InvalidParameterError(f"--max-memory-gb must be a positive number of GiB; got {args.max_memory_gb}")
    if not 0.0 < args.split < 1.0:
        raise InvalidParameterError(f"--split is the fraction of sentences used for training, in (0, 1); got {args.split}")
    if args.concept is None and (args.test or args.ccfs_threshold is not None):
        raise InvalidParameterError("--test and --ccfs-threshold belong to the task-specific part: pass --concept too")
    import os

    if not args.no_write_back and os.path.isfile(args.store) and not os.access(args.store, os.W_OK):
        raise StoreError(f"{args.store!r} is read-only (no write permission), so the result cannot be written into "
                         "it; pass --no-write-back to print it without storing it (and --out FILE to keep it as JSON)")


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


@command("redundancy", "General redundancy of a store's neurons (correlation clustering at several thresholds: "
                       "the share of neurons removable) and, with --concept, CCFS (LayerSelector + clustering + "
                       "probe-ranked minimal set) and task-specific redundancy (Dalvi et al. 2020).")
def _redundancy(p: argparse.ArgumentParser):
    p.add_argument("store", help="activation store (.h5)")
    p.add_argument("--threshold", type=float, nargs="+", default=[0.3, 0.5, 0.7], metavar="T",
                   help="clustering distance thresholds on 1 - |r| (average linkage, as NeuroX): neurons whose "
                        "clusters correlate above 1 - T on average are one cluster, of which one neuron is kept. "
                        "Default: 0.3 0.5 0.7")
    p.add_argument("--sites", default=None, help="sites to analyse (names/globs); default: every site in the store")
    p.add_argument("--concept", default=None,
                   help="a stored concept (label): also run CCFS and the task-specific redundancy on it")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--test", default=None, help="held-out store with the same sites (with --concept)")
    g.add_argument("--split", type=float, default=0.8,
                   help="fraction of SENTENCES used for training when no --test (with --concept)")
    p.add_argument("--ccfs-threshold", type=float, default=None,
                   help="clustering threshold of CCFS (default: the first --threshold)")
    p.add_argument("--delta", type=float, default=0.01,
                   help="accuracy loss allowed to the layer prefix and to the minimal neuron set, absolute "
                        "(0.01 = one point below the oracle)")
    p.add_argument("--no-task", action="store_true",
                   help="with --concept, skip the task-specific redundancy over every neuron (CCFS only)")
    p.add_argument("--max-memory-gb", type=float, default=None,
                   help="memory budget: the n_neurons x n_neurons float64 correlation matrix (8 n^2 bytes) and a "
                        "chunk of rows must fit, or the command stops before any work and says how much it needs "
                        "(default: the memory available)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="compute the correlation matrix on a dask.distributed scheduler (tcp://host:8786) or on "
                        "local:N worker processes, and cluster it here (same clusters; pip install 'neuronlab[dask]')")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, dev splits and cluster representatives")
    add_out_arguments(p)
    p.add_argument("--no-write-back", action="store_true",
                   help="do not write the result into the store's /results (e.g. a read-only store)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")

    def run(args) -> int:
        from ..concepts.redundancy.study import redundancy_study
        from ..store import ActivationStore

        _check_args(args)
        inputs = [args.store, args.test]
        check_out(args, inputs)
        with json_output(args, inputs) as write:
            with ActivationStore.open(args.store) as store:
                test = ActivationStore.open(args.test) if args.test else None
                try:
                    result = redundancy_study(
                        store, sites=args.sites, thresholds=args.threshold, concept=args.concept, test_store=test,
                        train_size=args.split, ccfs_threshold=args.ccfs_threshold, delta=args.delta,
                        task=not args.no_task, max_memory_gb=args.max_memory_gb, random_state=args.seed,
                        progress=not args.quiet and not args.json, scheduler=args.scheduler)
                finally:
                    if test is not None:
                        test.close()
            name = "redundancy" if args.concept is None else f"redundancy_{args.concept}"
            result.result_path = None if args.no_write_back else _write_back(args.store, name, result)
            report = result.to_dict()
            write(report)
        emit(args, report, _describe(report))
        return 0

    return speaks_flags(run, _FLAGS)


def _describe(r: dict) -> str:
    lines = [f"neurons      {r['n_neurons']:,} of {len(r['sites'])} sites over {r['n_rows']:,} rows",
             f"memory       {r['memory']['text']}"]
    if r["constant_neurons"]:
        lines.append(f"constant     {len(r['constant_neurons'])} neurons never change (correlation 0 with all)")
    lines.append("general redundancy (correlation clustering, average linkage on 1 - |r|):")
    for g in r["general"]:
        lines.append(f"  threshold {g['threshold']:.2f}: {g['n_clusters']:6,d} clusters, "
                     f"{100 * g['removable_fraction']:5.1f}% of neurons removable")
    c = r.get("ccfs")
    if c:
        lines += [
            f"CCFS for {r['concept']} (clustering threshold {c['threshold']}, delta {c['delta']}):",
            f"  layers       {', '.join(c['selected_layers'])} ({c['n_after_layers']:,} neurons)",
            f"  clustering   {c['n_after_clustering']:,} neurons",
            f"  selected     {c['n_kept']:,} neurons ({100 * c['kept_fraction']:.1f}% of {c['n_neurons']:,})",
            f"  accuracy     {100 * c['accuracy']:.2f} with them vs {100 * c['oracle_accuracy']:.2f} with all "
            f"neurons (test, {c['n_test']:,} rows)",
        ]
    t = r.get("task")
    if t:
        lines.append(f"task-specific redundancy: {t['n_kept']:,} neurons kept, "
                     f"{100 * t['removable_fraction']:.1f}% removable (accuracy {100 * t['accuracy']:.2f})")
    if r.get("result_path"):
        lines.append(f"written to   {r['result_path']}")
    return "\n".join(lines)
