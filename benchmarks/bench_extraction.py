"""Extraction benchmark: neuronlab vs NeuroX's own extractor, and neuronlab vs the machine's limit.

Not a test: prints a markdown table (and JSON with ``--json``) of the bars from the extraction issue,
all measured on the embedded model ``minilm`` and UD English-EWT sentences:

1. whole-command wall time (model loading included) of ``neuronlab extract`` vs NeuroX
   ``transformers_extractor.extract_representations`` (hdf5, average, all layers, float32), both as
   subprocesses with the same number of torch threads; target neuronlab >= 2.5x faster;
2. (a) forward throughput as a fraction of the machine's limit: measured fp32 matmul FLOP/s (2048^2 GEMM,
   all threads) / the model's FLOPs per token (target >= 85%); (b) the aggregation + storage overhead of
   the extractor over a bare batched forward pass with the same engine, batches and worker threads
   (target <= 15%);
3. early stop: ``embeddings,layers.0,layers.1`` vs all layers (target well under 1/2);
4. peak RSS of ``neuronlab extract`` for N and 4N sentences (must not grow with the corpus).

For reference it also times a plain transformers loop (``BertModel`` on padded batches of 32 sorted
sentences, no hooks), the loop a user would write without neuronlab.

The machine is shared, so measurements are interleaved, the best of ``--repeats`` is kept, and the load
average is recorded before and after.

Usage::

    .venv/bin/python benchmarks/bench_extraction.py --n-sentences 2000 --json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EWT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ud-english-ewt" / "en_ewt-ud-train.conllu"
ROOT = Path(__file__).resolve().parents[1]
SITES = "embeddings,layers.*"

# runs a command and reports that child's peak RSS (KiB) and wall time: RUSAGE_CHILDREN of a fresh wrapper
_WRAP = (
    "import json,resource,subprocess,sys,time;t=time.perf_counter();"
    "r=subprocess.run(sys.argv[2:]);w=time.perf_counter()-t;"
    "open(sys.argv[1],'w').write(json.dumps({'rc':r.returncode,'wall':w,"
    "'maxrss_kb':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"
)

_NEUROX = (
    "import sys,torch;torch.set_num_threads(int(sys.argv[4]));"
    "from neurox.data.extraction.transformers_extractor import extract_representations as e;"
    "e(sys.argv[1],sys.argv[2],sys.argv[3],aggregation='average',output_type='hdf5')"
)


def load() -> float:
    return os.getloadavg()[0]


def run_measured(cmd: list[str], env: dict) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".json") as f:
        subprocess.run([sys.executable, "-c", _WRAP, f.name, *cmd], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = json.loads(Path(f.name).read_text())
    if res["rc"] != 0:
        raise RuntimeError(f"command failed (rc={res['rc']}): {' '.join(cmd)}")
    return res


def write_sentences(sentences, path: Path) -> int:
    with open(path, "w", encoding="utf-8") as f:
        for s in sentences:
            # the text format splits on whitespace: words containing spaces (rare in EWT) are joined
            f.write(" ".join(w.replace(" ", "_") for w in s) + "\n")
    return sum(len(s) for s in sentences)


def neuronlab_cmd(corpus: Path, out: Path, engine: str, device: str) -> list[str]:
    return [str(Path(sys.executable).with_name("neuronlab")), "extract", "--model", "minilm", "--corpus", str(corpus),
            "--format", "text", "--aggregation", "mean", "--sites", SITES, "--dtype", "float32",
            "--engine", engine, "--device", device, "--out", str(out), "--overwrite", "--quiet"]


# ---------------------------------------------------------------------- in-process measurements
def matmul_flops(torch, device: str, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync()
    return 2 * n**3 * reps / (time.perf_counter() - t)


def flops_per_token(engine, seq_lengths) -> tuple[float, dict]:
    """2 x block parameters (every weight is one multiply-add per token) + attention scores and context.

    Attention costs 4 * T * d per layer and token (QK^T and AV), T being the token-weighted mean sequence
    length sum(T_i^2) / sum(T_i): a token of a sequence of length T_i attends over T_i positions.
    """
    layer_params = sum(t.numel() for p in engine.layers for v in p.values()
                       for t in (v if isinstance(v, tuple) else (v,)))
    t_mean = sum(t * t for t in seq_lengths) / max(1, sum(seq_lengths))
    attn = 4 * t_mean * engine.hidden * engine.n_layers
    return 2 * layer_params + attn, {"layer_params": layer_params, "mean_attended_length": round(t_mean, 2),
                                     "attention_flops_per_token": round(attn)}


def bare_engine(engine, batches, sites, workers: int, threads: int) -> float:
    """The same batches through the same engine and worker threads, keeping nothing."""
    from concurrent.futures import ThreadPoolExecutor

    from neuronlab.extraction.extractor import _set_threads

    with ThreadPoolExecutor(workers, initializer=_set_threads, initargs=(threads,)) as pool:
        t = time.perf_counter()
        for _ in pool.map(lambda b: engine.run(b, sites), batches):
            pass
        return time.perf_counter() - t


def bare_transformers(torch, model, batches, pad: int, device: str) -> float:
    """A plain transformers loop: padded batches of up to 32 sorted sequences, no hooks."""
    seqs = [x for b in batches for x in b]
    t = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(seqs), 32):
            batch = seqs[i: i + 32]
            T = max(len(x) for x in batch)
            ids = torch.full((len(batch), T), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), T), dtype=torch.long)
            for j, x in enumerate(batch):
                ids[j, : len(x)] = torch.tensor(x)
                mask[j, : len(x)] = 1
            model(input_ids=ids.to(device), attention_mask=mask.to(device))
    return time.perf_counter() - t


def in_process(sentences, args, tmp: Path) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from neuronlab.corpus.base import Corpus
    from neuronlab.extraction import ExtractionConfig, Extractor
    from neuronlab.models.engines import load_engine
    from neuronlab.models.loading import load_model

    t = time.perf_counter()
    engine = load_engine("minilm", engine=args.engine, device=args.device)
    load_s = time.perf_counter() - t
    corpus = Corpus(sentences=sentences, source="ewt")
    cfg = dict(dtype="float32", device=args.device, engine=args.engine)
    full = Extractor(engine, ExtractionConfig(sites=SITES, **cfg), progress=False)
    early = Extractor(engine, ExtractionConfig(sites="embeddings,layers.0,layers.1", **cfg), progress=False)
    batches = full.plan_batches(corpus)
    workers, threads = full.worker_layout()
    n_tokens = sum(len(x) for b in batches for x in b)
    native = engine.name == "native"
    fpt, fpt_detail = flops_per_token(engine if native else load_engine("minilm", engine="native"),
                                      [len(x) for b in batches for x in b])
    hf = load_model("minilm", device=args.device)
    pad = hf.tokenizer.pad_token_id or 0
    res: dict = {"bare": [], "transformers": [], "extract": [], "early": [], "matmul": []}
    bare_engine(engine, batches[:4], full.sites, workers, threads)  # warm-up
    for _ in range(args.repeats):  # interleaved so that load changes hit all of them alike
        res["matmul"].append(matmul_flops(torch, args.device))
        res["bare"].append(bare_engine(engine, batches, full.sites, workers, threads))
        full.extract(corpus, tmp / "full.h5", overwrite=True).close()
        res["extract"].append(full.stats["seconds"])
        early.extract(corpus, tmp / "early.h5", overwrite=True).close()
        res["early"].append(early.stats["seconds"])
        res["transformers"].append(bare_transformers(torch, hf.model, batches, pad, args.device))
    best = {k: (max(v) if k == "matmul" else min(v)) for k, v in res.items()}
    limit = best["matmul"] / fpt
    return {
        "engine": engine.name,
        "workers": workers,
        "threads_per_worker": threads,
        "load_engine_s": round(load_s, 3),
        "tokens": n_tokens,
        "batches": len(batches),
        "matmul_gflops": round(best["matmul"] / 1e9, 1),
        "flops_per_token_m": round(fpt / 1e6, 3),
        **fpt_detail,
        "limit_tokens_per_s": round(limit),
        "bare_forward_s": round(best["bare"], 3),
        "bare_tokens_per_s": round(n_tokens / best["bare"]),
        "fraction_of_limit": round(n_tokens / best["bare"] / limit, 3),
        "extract_s": round(best["extract"], 3),
        "extract_tokens_per_s": round(n_tokens / best["extract"]),
        "extract_fraction_of_limit": round(n_tokens / best["extract"] / limit, 3),
        "overhead_vs_bare": round(best["extract"] / best["bare"] - 1, 3),
        "transformers_loop_s": round(best["transformers"], 3),
        "transformers_tokens_per_s": round(n_tokens / best["transformers"]),
        "early_stop_s": round(best["early"], 3),
        "early_stop_ratio": round(best["early"] / best["extract"], 3),
        "all_runs": {k: [round(x / 1e9 if k == "matmul" else x, 3) for x in v] for k, v in res.items()},
    }


# ---------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-sentences", type=int, default=2000, help="EWT sentences (first N of train)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch/OMP threads for every run")
    p.add_argument("--repeats", type=int, default=3, help="best of R for every measurement")
    p.add_argument("--engine", default="auto", choices=["auto", "native", "hf"], help="neuronlab's engine")
    p.add_argument("--device", default="cpu", help="torch device for neuronlab (NeuroX runs on its default)")
    p.add_argument("--skip-neurox", action="store_true", help="do not run NeuroX (bar 1)")
    p.add_argument("--skip-rss", action="store_true", help="do not run the RSS pair (bar 4)")
    p.add_argument("--quick", action="store_true", help="300 sentences, 1 repeat (a smoke run)")
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.n_sentences, args.repeats = min(args.n_sentences, 300), 1
    if not EWT.exists():
        print(f"EWT not found at {EWT}", file=sys.stderr)
        return 2
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    os.environ.update({k: env[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "HF_HUB_OFFLINE")})

    import torch
    from neuronlab.corpus import read_corpus
    from neuronlab.models.loading import _minilm_path

    ewt = read_corpus(EWT)
    N = args.n_sentences
    sents = [[w.replace(" ", "_") for w in s] for s in ewt.sentences[:N]]
    n_words = sum(len(s) for s in sents)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?") \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    if args.device.startswith("cuda"):
        cpu += f" + {torch.cuda.get_device_name(0)}"
    out: dict = {"machine": {"nproc": os.cpu_count(), "cpu": cpu, "torch": torch.__version__, "threads": args.threads,
                             "python": platform.python_version(), "device": args.device},
                 "n_sentences": N, "n_words": n_words, "load_before": round(load(), 2)}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        txt = tmp / "sents.txt"
        write_sentences(sents, txt)
        # bars 2 + 3 (in process)
        out["inproc"] = in_process(sents, args, tmp)
        # bars 1 + 4 (subprocesses, interleaved)
        nl, nx = [], []
        for _ in range(args.repeats):
            nl.append(run_measured(neuronlab_cmd(txt, tmp / "nl.h5", args.engine, args.device), env))
            if not args.skip_neurox:
                nx.append(run_measured([sys.executable, "-c", _NEUROX, str(_minilm_path()), str(txt),
                                        str(tmp / "nx.hdf5"), str(args.threads)], env))
        out["neuronlab_wall_s"] = round(min(r["wall"] for r in nl), 2)
        out["neuronlab_walls"] = [round(r["wall"], 2) for r in nl]
        out["neuronlab_maxrss_mb"] = round(min(r["maxrss_kb"] for r in nl) / 1024)
        out["neuronlab_words_per_s"] = round(n_words / out["neuronlab_wall_s"])
        if nx:
            out["neurox_wall_s"] = round(min(r["wall"] for r in nx), 2)
            out["neurox_walls"] = [round(r["wall"], 2) for r in nx]
            out["neurox_maxrss_mb"] = round(min(r["maxrss_kb"] for r in nx) / 1024)
            out["neurox_words_per_s"] = round(n_words / out["neurox_wall_s"])
            out["speedup_vs_neurox"] = round(out["neurox_wall_s"] / out["neuronlab_wall_s"], 2)
        if not args.skip_rss:
            big = tmp / "big.txt"
            write_sentences([[w.replace(" ", "_") for w in s] for s in ewt.sentences[: 4 * N]], big)
            r = run_measured(neuronlab_cmd(big, tmp / "big.h5", args.engine, args.device), env)
            out["rss_4n_sentences"] = min(4 * N, len(ewt))
            out["neuronlab_maxrss_4n_mb"] = round(r["maxrss_kb"] / 1024)
            out["neuronlab_wall_4n_s"] = round(r["wall"], 2)
    out["load_after"] = round(load(), 2)
    print(table(out))
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


def table(o: dict) -> str:
    ip = o["inproc"]
    m = o["machine"]
    rows = [
        ("machine", f"{m['nproc']} cores, {m['cpu']}, torch {m['torch']}, {m['threads']} threads, {m['device']}", ""),
        ("corpus", f"{o['n_sentences']} EWT sentences, {o['n_words']} words, {ip['tokens']} tokens", ""),
        ("load average before / after", f"{o['load_before']} / {o['load_after']}", ""),
        ("engine", f"{ip['engine']}, {ip['workers']} worker(s) x {ip['threads_per_worker']} thread(s), "
                   f"{ip['batches']} batches", ""),
        ("neuronlab extract, whole command", f"{o['neuronlab_wall_s']} s ({o['neuronlab_words_per_s']} words/s)", ""),
    ]
    if "neurox_wall_s" in o:
        rows.append(("NeuroX extract_representations", f"{o['neurox_wall_s']} s ({o['neurox_words_per_s']} words/s)", ""))
        rows.append(("1. speed-up vs NeuroX", f"{o['speedup_vs_neurox']}x", "PASS" if o["speedup_vs_neurox"] >= 2.5 else "FAIL"))
    rows += [
        ("fp32 matmul (2048^2)", f"{ip['matmul_gflops']} GFLOP/s", ""),
        ("minilm FLOPs / token", f"{ip['flops_per_token_m']} M (attended length {ip['mean_attended_length']})", ""),
        ("limit", f"{ip['limit_tokens_per_s']} tokens/s", ""),
        ("bare forward (same engine, batches, workers)", f"{ip['bare_forward_s']} s ({ip['bare_tokens_per_s']} tokens/s)", ""),
        ("2a. forward / limit", f"{ip['fraction_of_limit']:.0%}", "PASS" if ip["fraction_of_limit"] >= 0.85 else "FAIL"),
        ("neuronlab extraction after loading", f"{ip['extract_s']} s ({ip['extract_tokens_per_s']} tokens/s, "
                                               f"{ip['extract_fraction_of_limit']:.0%} of the limit)", ""),
        ("2b. overhead vs bare forward", f"{ip['overhead_vs_bare']:+.0%}", "PASS" if ip["overhead_vs_bare"] <= 0.15 else "FAIL"),
        ("plain transformers loop (padded, 32 per batch)", f"{ip['transformers_loop_s']} s "
                                                          f"({ip['transformers_tokens_per_s']} tokens/s)", ""),
        ("3. early stop (emb, layers 0-1) / all", f"{ip['early_stop_s']} s = {ip['early_stop_ratio']:.2f}",
         "PASS" if ip["early_stop_ratio"] < 0.5 else "FAIL"),
        ("4. peak RSS", f"{o['neuronlab_maxrss_mb']} MB ({o['n_sentences']} sent.)"
         + (f", {o['neuronlab_maxrss_4n_mb']} MB ({o['rss_4n_sentences']} sent.)" if "neuronlab_maxrss_4n_mb" in o else ""),
         ""),
    ]
    if "neurox_maxrss_mb" in o:
        rows.append(("NeuroX peak RSS", f"{o['neurox_maxrss_mb']} MB", ""))
    lines = ["| measure | value | bar |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
