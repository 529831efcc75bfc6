"""Extraction benchmark: neuronlab vs NeuroX's own extractor, and neuronlab vs the machine's limit.

Not a test: prints a markdown table (and JSON with ``--json``) of the bars from the extraction issue,
all measured on the embedded model ``minilm`` and UD English-EWT sentences:

1. whole-command wall time (model loading included) of ``neuronlab extract`` vs NeuroX
   ``transformers_extractor.extract_representations`` (hdf5, average, all layers, float32), both as
   subprocesses with the same number of torch threads; target neuronlab >= 2.5x faster;
2. forward throughput as a fraction of the machine's fp32 matmul limit (target >= 85%) and the
   aggregation + storage overhead of the extractor over a bare batched forward loop on the same
   batches (target <= 15%);
3. early stop: ``embeddings,layers.0,layers.1`` vs all layers (target well under 1/2);
4. peak RSS of ``neuronlab extract`` for N and 4N sentences (must not grow with the corpus).

The machine is shared, so short measurements are interleaved and the best of ``--repeats`` is kept;
the load average is recorded before and after.

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


def neuronlab_cmd(corpus: Path, out: Path, sites: str = "embeddings,layers.*") -> list[str]:
    return [str(Path(sys.executable).with_name("neuronlab")), "extract", "--model", "minilm", "--corpus", str(corpus),
            "--format", "text", "--aggregation", "mean", "--sites", sites, "--dtype", "float32",
            "--out", str(out), "--overwrite", "--quiet"]


# ---------------------------------------------------------------------- in-process measurements
def matmul_flops(torch, n: int = 2048, reps: int = 10, best_of: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(best_of):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * reps / best


def flops_per_token(model, seq_lengths) -> tuple[float, dict]:
    """2 x non-embedding parameters + attention scores and context (4 * T * d per layer and token).

    T is the token-weighted mean sequence length sum(T_i^2) / sum(T_i): a token of a sequence of
    length T_i attends over T_i positions.
    """
    cfg = model.config
    layer_params = sum(p.numel() for p in model.encoder.parameters())
    t_mean = sum(t * t for t in seq_lengths) / max(1, sum(seq_lengths))
    attn = 4 * t_mean * cfg.hidden_size * cfg.num_hidden_layers
    return 2 * layer_params + attn, {"layer_params": layer_params, "mean_attended_length": round(t_mean, 2),
                                     "attention_flops_per_token": round(attn)}


def batches_like_extractor(ex, corpus):
    """The exact (sorted, chunked) batches the extractor builds, as lists of id lists."""
    from neuronlab.extraction.tokenize import make_sequences

    ex._widths = ex.site_widths()
    plan = ex._plan(corpus)
    out = []
    for s0, s1 in plan.chunks:
        seqs = [q for i in range(s0, s1) for q in make_sequences(i - s0, plan.tokenized[i], ex.max_length, ex.overlap)]
        seqs.sort(key=lambda q: -len(q.ids))
        bs = ex.config.batch_size
        out.extend([[q.ids for q in seqs[b: b + bs]] for b in range(0, len(seqs), bs)])
    return out


def bare_forward(torch, model, batches, pad: int) -> float:
    t = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            T = max(len(x) for x in batch)
            ids = torch.full((len(batch), T), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), T), dtype=torch.long)
            for i, x in enumerate(batch):
                ids[i, : len(x)] = torch.tensor(x)
                mask[i, : len(x)] = 1
            model(input_ids=ids, attention_mask=mask)
    return time.perf_counter() - t


def in_process(sentences, threads: int, repeats: int, tmp: Path) -> dict:
    import torch

    torch.set_num_threads(threads)
    from neuronlab.corpus.base import Corpus
    from neuronlab.extraction import ExtractionConfig, Extractor
    from neuronlab.models.loading import load_model

    t = time.perf_counter()
    lm = load_model("minilm")
    load_s = time.perf_counter() - t
    corpus = Corpus(sentences=sentences, source="ewt")
    full = Extractor(lm, ExtractionConfig(sites="embeddings,layers.*", dtype="float32"), progress=False)
    early = Extractor(lm, ExtractionConfig(sites="embeddings,layers.0,layers.1", dtype="float32"), progress=False)
    batches = batches_like_extractor(full, corpus)
    n_tokens = sum(len(x) for b in batches for x in b)
    pad = lm.tokenizer.pad_token_id or 0
    flops = matmul_flops(torch)
    fpt, fpt_detail = flops_per_token(lm.model, [len(x) for b in batches for x in b])
    res = {"bare": [], "extract": [], "forward": [], "early": []}
    bare_forward(torch, lm.model, batches[:4], pad)  # warm-up
    for _ in range(repeats):  # interleaved so that load changes hit all of them alike
        res["bare"].append(bare_forward(torch, lm.model, batches, pad))
        full.extract(corpus, tmp / "full.h5", overwrite=True).close()
        res["extract"].append(full.stats["seconds"])
        res["forward"].append(full.stats["forward_seconds"])
        early.extract(corpus, tmp / "early.h5", overwrite=True).close()
        res["early"].append(early.stats["seconds"])
        flops = max(flops, matmul_flops(torch))
    best = {k: min(v) for k, v in res.items()}
    limit = flops / fpt
    return {
        "load_model_s": round(load_s, 2),
        "tokens": n_tokens,
        "matmul_gflops": round(flops / 1e9, 1),
        "flops_per_token_m": round(fpt / 1e6, 3),
        **fpt_detail,
        "limit_tokens_per_s": round(limit),
        "bare_forward_s": round(best["bare"], 3),
        "bare_tokens_per_s": round(n_tokens / best["bare"]),
        "extract_s": round(best["extract"], 3),
        "extract_forward_s": round(best["forward"], 3),
        "forward_tokens_per_s": round(n_tokens / best["forward"]),
        "extract_tokens_per_s": round(n_tokens / best["extract"]),
        "fraction_of_limit": round(n_tokens / best["forward"] / limit, 3),
        "overhead_vs_bare": round(best["extract"] / best["bare"] - 1, 3),
        "early_stop_s": round(best["early"], 3),
        "early_stop_ratio": round(best["early"] / best["extract"], 3),
        "all_runs": {k: [round(x, 3) for x in v] for k, v in res.items()},
    }


# ---------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-sentences", type=int, default=2000, help="EWT sentences (first N of train)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch/OMP threads for every run")
    p.add_argument("--repeats", type=int, default=3, help="best of R for the short measurements")
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
    out: dict = {"machine": {"nproc": os.cpu_count(), "cpu": cpu, "torch": torch.__version__, "threads": args.threads,
                             "python": platform.python_version()},
                 "n_sentences": N, "n_words": n_words, "load_before": round(load(), 2)}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        txt = tmp / "sents.txt"
        write_sentences(sents, txt)
        # bar 2 + 3 (in process)
        out["inproc"] = in_process(sents, args.threads, args.repeats, tmp)
        # bar 1 + 4 (subprocesses)
        nl = [run_measured(neuronlab_cmd(txt, tmp / "nl.h5"), env) for _ in range(args.repeats)]
        out["neuronlab_wall_s"] = round(min(r["wall"] for r in nl), 2)
        out["neuronlab_walls"] = [round(r["wall"], 2) for r in nl]
        out["neuronlab_maxrss_mb"] = round(min(r["maxrss_kb"] for r in nl) / 1024)
        out["neuronlab_words_per_s"] = round(n_words / out["neuronlab_wall_s"])
        if not args.skip_neurox:
            nx = run_measured([sys.executable, "-c", _NEUROX, str(_minilm_path()), str(txt), str(tmp / "nx.hdf5"),
                               str(args.threads)], env)
            out["neurox_wall_s"] = round(nx["wall"], 2)
            out["neurox_maxrss_mb"] = round(nx["maxrss_kb"] / 1024)
            out["neurox_words_per_s"] = round(n_words / nx["wall"])
            out["speedup_vs_neurox"] = round(nx["wall"] / out["neuronlab_wall_s"], 2)
        if not args.skip_rss:
            big = tmp / "big.txt"
            write_sentences([[w.replace(" ", "_") for w in s] for s in ewt.sentences[: 4 * N]], big)
            r = run_measured(neuronlab_cmd(big, tmp / "big.h5"), env)
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
        ("machine", f"{m['nproc']} cores, {m['cpu']}, torch {m['torch']}, {m['threads']} threads", ""),
        ("corpus", f"{o['n_sentences']} EWT sentences, {o['n_words']} words, {ip['tokens']} tokens", ""),
        ("load average before / after", f"{o['load_before']} / {o['load_after']}", ""),
        ("neuronlab extract, whole command", f"{o['neuronlab_wall_s']} s ({o['neuronlab_words_per_s']} words/s)", ""),
    ]
    if "neurox_wall_s" in o:
        rows.append(("NeuroX extract_representations", f"{o['neurox_wall_s']} s ({o['neurox_words_per_s']} words/s)", ""))
        rows.append(("1. speed-up vs NeuroX", f"{o['speedup_vs_neurox']}x", "PASS" if o["speedup_vs_neurox"] >= 2.5 else "FAIL"))
    rows += [
        ("fp32 matmul", f"{ip['matmul_gflops']} GFLOP/s", ""),
        ("minilm FLOPs / token", f"{ip['flops_per_token_m']} M (attended length {ip['mean_attended_length']})", ""),
        ("limit", f"{ip['limit_tokens_per_s']} tokens/s", ""),
        ("bare forward loop", f"{ip['bare_forward_s']} s ({ip['bare_tokens_per_s']} tokens/s)", ""),
        ("neuronlab forward", f"{ip['extract_forward_s']} s ({ip['forward_tokens_per_s']} tokens/s)", ""),
        ("2a. forward / limit", f"{ip['fraction_of_limit']:.0%}", "PASS" if ip["fraction_of_limit"] >= 0.85 else "FAIL"),
        ("neuronlab extraction after loading", f"{ip['extract_s']} s ({ip['extract_tokens_per_s']} tokens/s)", ""),
        ("2b. overhead vs bare forward", f"{ip['overhead_vs_bare']:+.0%}", "PASS" if ip["overhead_vs_bare"] <= 0.15 else "FAIL"),
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
