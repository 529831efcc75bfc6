"""Peak memory of ``neuronlab extract`` against corpus size: streamed corpora (issue 13, "Streaming on one machine").

Not a test. Writes synthetic corpora of short sentences (one per line, 4-10 words) of each requested size and runs
``neuronlab extract`` on each as a child process, once with this checkout (the corpus file read as a stream) and,
with ``--old-src``, once with an older source tree (e.g. git main, which reads the whole corpus into lists first),
and reports the child's peak RSS (``os.wait4``'s ``ru_maxrss``), wall time and the store's size, side by side, with
the ratio of each peak to the smallest corpus's peak and the old / new ratios of peak RSS and wall time (this
checkout tokenises the corpus once and keeps the tokens in a scratch file beside the output; the largest size
that scratch file reached is reported too). The model is a TINY random BERT built from a config (hidden
32, 2 layers, FFN 48; the embedded MiniLM WordPiece tokenizer), so the model costs little and the corpus handling
shows.

Usage (old source: ``git archive <main commit> neuronlab | tar -x -C /tmp/nl_old``)::

    nice -n 5 .venv/bin/python benchmarks/bench_extract_memory.py --sizes 10000 100000 1000000 \
        --old-src /tmp/nl_old --old-max 100000 --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the a cat dog sat ran on under mat house quickly slowly big small red green we they saw walked "
         "xylophone unbelievably naïve über 42 , .").split()


def build_model(directory: Path) -> Path:
    """A tiny random BERT (about a million parameters, nearly all in the word embeddings) with MiniLM's tokenizer."""
    if (directory / "config.json").exists():
        return directory
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    sys.path.insert(0, str(ROOT))
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=48, max_position_embeddings=128)
    BertModel(config).save_pretrained(directory)
    AutoTokenizer.from_pretrained(str(_minilm_path())).save_pretrained(directory)
    return directory


def build_model_in_child(directory: Path) -> Path:
    """:func:`build_model` in a child process, so that this process never imports torch.

    A child's ``ru_maxrss`` starts at the RSS of the process it was forked from (Linux keeps the high-water mark
    across ``exec``): had this process built the model (torch imported, about 400 MB), every child's peak would
    read at least that, hiding the children's own peaks below it.
    """
    if not (directory / "config.json").exists():
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--build-model", str(directory)], check=True,
                       cwd=directory.parent)
    return directory


def write_corpus(path: Path, n: int, seed: int = 0) -> Path:
    if path.exists():
        return path
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(n):
            fh.write(" ".join(rng.choices(WORDS, k=rng.randint(4, 10))) + "\n")
    return path


def _scratch_bytes(out: Path) -> int:
    """Size of the token cache file(s) of ``out`` (``.<name>.tokens``, also of the CLI's temporary name)."""
    total = 0
    for p in out.parent.glob(f".*{out.name}*.tokens"):
        try:
            total += p.stat().st_size
        except OSError:  # removed while listed
            pass
    return total


def _watch_scratch(out: Path, stop: threading.Event, peak: list) -> None:
    """The largest size of the token cache of ``out`` (polled every 0.2 s) into ``peak[0]``."""
    while not stop.wait(0.2):
        peak[0] = max(peak[0], _scratch_bytes(out))


def run_extract(src: Path, corpus: Path, model: Path, out: Path, args) -> dict:
    """``neuronlab extract`` from the source tree ``src`` as a child process: peak RSS, wall time, store size,
    largest size of the token cache file (0 for a source without one)."""
    env = dict(os.environ, PYTHONPATH=str(src), HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "neuronlab", "extract", "--model", str(model), "--corpus", str(corpus),
           "--sites", args.sites, "--out", str(out), "--overwrite", "--quiet", "--workers", "1",
           "--memory-mb", str(args.memory_mb)]
    t0 = time.perf_counter()
    # cwd: a folder without a neuronlab package, so that ``-m`` imports the one on PYTHONPATH (``src``)
    stop, scratch = threading.Event(), [0]
    watcher = threading.Thread(target=_watch_scratch, args=(out, stop, scratch), daemon=True)
    watcher.start()
    proc = subprocess.Popen(cmd, env=env, cwd=out.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    err = proc.stderr.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}",
                "peak_rss_mb": usage.ru_maxrss / 1024, "seconds": wall}
    return {"peak_rss_mb": usage.ru_maxrss / 1024, "seconds": wall, "store_mb": out.stat().st_size / 2**20,
            "scratch_mb": scratch[0] / 2**20}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--old-src", type=Path, default=None, help="an older source tree to compare with (e.g. git main)")
    p.add_argument("--old-max", type=int, default=None, help="run the old source only up to this many sentences")
    p.add_argument("--sites", default="layers.1", help="sites to extract (default: one, so the store stays small)")
    p.add_argument("--memory-mb", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workdir", type=Path, default=None, help="where corpora, model and stores go (default: a temp dir)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--build-model", type=Path, default=None, help=argparse.SUPPRESS)  # the child of build_model_in_child
    args = p.parse_args(argv)
    if args.build_model is not None:
        build_model(args.build_model)
        return 0
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_extract_memory_"))
    work.mkdir(parents=True, exist_ok=True)
    model = build_model_in_child(work / "tiny-bert")
    load0 = os.getloadavg()[0]
    rows = []
    for n in args.sizes:
        corpus = write_corpus(work / f"corpus{n}.txt", n)
        row = {"sentences": n, "corpus_mb": corpus.stat().st_size / 2**20}
        row["new"] = run_extract(ROOT, corpus, model, work / f"new{n}.h5", args)
        (work / f"new{n}.h5").unlink(missing_ok=True)
        if args.old_src is not None and (args.old_max is None or n <= args.old_max):
            row["old"] = run_extract(args.old_src, corpus, model, work / f"old{n}.h5", args)
            (work / f"old{n}.h5").unlink(missing_ok=True)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    base = {k: rows[0][k]["peak_rss_mb"] for k in ("new", "old") if k in rows[0]}
    result = {"rows": rows, "sites": args.sites, "memory_mb": args.memory_mb, "threads": args.threads,
              "load_before": load0, "load_after": os.getloadavg()[0], "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("| sentences | corpus MB | store MB | new scratch MB | new peak RSS MB (x smallest) | new s | "
          "old peak RSS MB (x smallest) | old s | old / new RSS | old / new s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        new, old = r["new"], r.get("old")
        cells = [f"{r['sentences']:,}", f"{r['corpus_mb']:.1f}", f"{new.get('store_mb', float('nan')):.0f}",
                 f"{new.get('scratch_mb', float('nan')):.1f}",
                 f"{new['peak_rss_mb']:.0f} ({new['peak_rss_mb'] / base['new']:.2f}x)", f"{new['seconds']:.0f}"]
        if old is not None and "error" not in old:
            cells += [f"{old['peak_rss_mb']:.0f} ({old['peak_rss_mb'] / base['old']:.2f}x)", f"{old['seconds']:.0f}",
                      f"{old['peak_rss_mb'] / new['peak_rss_mb']:.2f}", f"{old['seconds'] / new['seconds']:.2f}"]
        else:
            cells += ["-", "-", "-", "-"] if old is None else [old["error"][:40], "-", "-", "-"]
        print("| " + " | ".join(cells) + " |")
    print(f"\nload average {load0:.1f} before, {result['load_after']:.1f} after, {result['cpus']} CPUs (shared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
