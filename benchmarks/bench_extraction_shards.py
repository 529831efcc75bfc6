"""Sharded extraction on one device: N ``extract --shard i/N`` processes at once, then ``merge``, vs one run.

Not a test. Reports wall seconds of one single-process extraction, of N shard processes started together
(one device shared, or one GPU each with ``--gpus``), and of the merge; and whether the merged store holds the
single run's values (byte-identical datasets, else the largest absolute difference) next to the
difference between two single runs (a device's own run-to-run noise, e.g. atomics in a GPU reduction).

Usage::

    python3 benchmarks/bench_extraction_shards.py --model DIR --corpus train.conllu --device cuda --shards 2,4 \\
        --workdir /tmp/nlshards --json-out out.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def extract_cmd(args, out: Path, shard: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "neuronlab", "extract", "--model", args.model, "--corpus", str(args.corpus_used),
           "--sites", args.sites, "--dtype", args.dtype, "--device", args.device, "--out", str(out), "--quiet",
           "--overwrite", "--memory-mb", str(args.memory_mb)]
    return cmd + (["--shard", shard] if shard else [])


def compare(a: Path, b: Path) -> dict:
    import numpy as np

    from neuronlab.store import ActivationStore
    from neuronlab.testing import datasets_bytes

    same = datasets_bytes(a) == datasets_bytes(b)
    worst = 0.0
    with ActivationStore.open(a) as x, ActivationStore.open(b) as y:
        for s in x.sites:
            worst = max(worst, float(np.abs(x[s][:].astype(np.float64) - y[s][:]).max()))
    return {"byte_identical": same, "max_abs_diff": worst}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--corpus", required=True, help="a .conllu file")
    p.add_argument("--n-sentences", type=int, default=8000, help="first N sentences (0: all)")
    p.add_argument("--sites", default="embeddings,layers.*")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--device", default="cuda")
    p.add_argument("--shards", default="2,4")
    p.add_argument("--memory-mb", type=int, default=256)
    p.add_argument("--gpus", type=int, default=0, help="one GPU per shard (CUDA_VISIBLE_DEVICES=i mod gpus); 0: share")
    p.add_argument("--workdir", default="/tmp/nlshards")
    p.add_argument("--json-out", default=None)
    args = p.parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    args.corpus_used = args.corpus
    if args.n_sentences:  # the first N sentence blocks of the CoNLL-U file
        blocks = Path(args.corpus).read_text(encoding="utf-8").split("\n\n")
        args.corpus_used = work / "corpus.conllu"
        args.corpus_used.write_text("\n\n".join(b for b in blocks[: args.n_sentences] if b.strip()) + "\n\n",
                               encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    report: dict = {"device": args.device, "n_sentences": args.n_sentences}

    def save():
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(report, indent=1))

    def timed(cmds, envs) -> float:
        t = time.perf_counter()
        procs = [subprocess.Popen(c, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c, e in
                 zip(cmds, envs)]
        for pr in procs:
            if pr.wait() != 0:
                raise RuntimeError(pr.stderr.read().decode()[-800:])
        return round(time.perf_counter() - t, 2)

    single, again = work / "single.h5", work / "again.h5"
    report["single_s"] = timed([extract_cmd(args, single)], [env])
    report["single_again_s"] = timed([extract_cmd(args, again)], [env])
    report["single_vs_single"] = compare(single, again)
    again.unlink()
    print(json.dumps(report), flush=True)
    save()
    for n in [int(x) for x in args.shards.split(",")]:
        parts = [work / f"part{i}of{n}.h5" for i in range(n)]
        envs = [dict(env, CUDA_VISIBLE_DEVICES=str(i % args.gpus)) if args.gpus else env for i in range(n)]
        try:
            res = {"shards_s": timed([extract_cmd(args, parts[i], f"{i}/{n}") for i in range(n)], envs)}
            merged = work / f"merged{n}.h5"
            res["merge_s"] = timed([[sys.executable, "-m", "neuronlab", "merge", str(merged), *map(str, parts),
                                     "--overwrite"]], [env])
            res["merged_vs_single"] = compare(merged, single)
            merged.unlink()
        except Exception as exc:  # noqa: BLE001 - report and go on
            res = {"error": f"{type(exc).__name__}: {exc}"}
        for q in parts:
            q.unlink(missing_ok=True)
        report[f"shards_{n}"] = res
        print(n, json.dumps(res), flush=True)
        save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
