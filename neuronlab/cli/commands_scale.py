"""CLI commands of the scale area: ``merge`` (the stores of a sharded extraction into one store)."""
from __future__ import annotations

import argparse

from .registry import command, emit, safe_out


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
