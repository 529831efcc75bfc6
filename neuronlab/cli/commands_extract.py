"""CLI commands of the foundation: extract, info, sites, import-neurox, export-neurox."""
from __future__ import annotations

import argparse

import logging
from pathlib import Path

from .registry import command, emit, safe_out

log = logging.getLogger("neuronlab")


def _corpus_from_args(args):
    """The embedded corpus (in memory), or the corpus file read as a stream (never held whole)."""
    from ..corpus import load_embedded_corpus, stream_corpus

    if args.corpus in (None, "embedded"):
        return load_embedded_corpus()
    return stream_corpus(args.corpus, format=args.format, labels=args.labels, label_name=args.label_name,
                         header=args.header)


@command("extract", "Extract per-site activations of a model on a corpus into an HDF5 activation store.")
def _extract(p: argparse.ArgumentParser):
    from ..extraction.config import AGGREGATIONS, POOLINGS

    g = p.add_argument_group("input")
    g.add_argument("--model", default="minilm",
                   help="model alias (minilm), local model directory, or Hugging Face id (needs it cached or network)")
    g.add_argument("--corpus", default="embedded",
                   help="corpus file, or 'embedded' for the concept corpus shipped in data/")
    g.add_argument("--format", choices=["text", "neurox", "conllu", "tsv"], default=None,
                   help="corpus format: text (one sentence per line, whitespace tokens), neurox (.in + .label), "
                        "conllu (UPOS/XPOS/DEPREL/FEATS become concepts upos, xpos, deprel, Tense, Number, ...), "
                        "tsv (label<TAB>sentence); default: from the file suffix")
    g.add_argument("--labels", default=None, help="label file for --format neurox (default: the .in file's .label twin)")
    g.add_argument("--label-name", default="label", help="concept name for neurox/tsv labels")
    h = g.add_mutually_exclusive_group()
    h.add_argument("--header", dest="header", action="store_const", const=True, default=None,
                   help="tsv: the first line is a header (column names). Default: detected when both fields are "
                        "column names such as label, sentiment, sentence, text (a message says so)")
    h.add_argument("--no-header", dest="header", action="store_const", const=False,
                   help="tsv: the first line is data, even if it looks like a header")
    g = p.add_argument_group("what to extract")
    g.add_argument("--sites", default="all",
                   help="comma-separated site names or globs: embeddings, layers.*, layers.*.mlp, layers.3.attn, "
                        "layers.*.attn.heads, encoder.layers.* ... ('*' = one dotted segment, '**' = any); "
                        "`neuronlab sites --model M` lists them")
    g.add_argument("--granularity", choices=["word", "token", "sentence"], default="word",
                   help="one row per word (subwords aggregated), per subword token, or per sentence (pooled)")
    g.add_argument("--aggregation", choices=AGGREGATIONS, default="mean", help="subwords -> word (word granularity)")
    g.add_argument("--pooling", choices=POOLINGS, default="mean", help="tokens -> sentence (sentence granularity)")
    g.add_argument("--special-tokens", action="store_true",
                   help="keep rows for special tokens ([CLS], [SEP], ...) at token granularity and pool over them")
    g = p.add_argument_group("how")
    g.add_argument("--dtype", choices=["float16", "float32"], default="float16", help="storage precision")
    g.add_argument("--compute-dtype", choices=["float32", "tf32", "bfloat16", "float16"], default=None,
                   help="arithmetic of the forward pass (default: float32 on cpu, tf32 on cuda: a GPU run is bound by "
                        "copying activations to the host and disk, and tf32's error is the size of float16 storage "
                        "rounding; tf32 needs a CUDA device)")
    g.add_argument("--engine", choices=["auto", "native", "hf"], default="auto",
                   help="how the model runs: native computes BERT-family encoders (BERT, RoBERTa, XLM-R, ELECTRA, "
                        "DistilBERT) from their weights without padding and without importing transformers; hf runs "
                        "any transformers model with hooks; auto takes native where it applies")
    g.add_argument("--batch-size", type=int, default=None,
                   help="at most this many sequences per forward pass (default: 32 for hf, 128 on cuda; no limit for "
                        "native)")
    g.add_argument("--batch-tokens", type=int, default=None,
                   help="at most this many tokens per forward pass (default: 2048 for native, 16384 on cuda; no limit "
                        "for hf)")
    g.add_argument("--workers", type=int, default=None,
                   help="batches computed at once, each with threads/workers torch threads "
                        "(default: native on CPU min(threads, 4), else 1)")
    g.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps")
    g.add_argument("--max-length", type=int, default=None,
                   help="tokens per model input; longer sentences run in overlapping windows (default: model max)")
    g.add_argument("--window-overlap", type=int, default=None, help="tokens shared by windows (default: max_length/4)")
    g.add_argument("--memory-mb", type=int, default=256, help="memory for one write chunk of activations")
    g.add_argument("--shard", default=None, metavar="I/N",
                   help="extract only shard I of N (from 0): a contiguous share of the run's write chunks, into a "
                        "store that `neuronlab merge` joins with the other shards' stores into the single run's "
                        "store (one process per GPU: see docs/scale.md)")
    g.add_argument("--allow-nonfinite", action="store_true",
                   help="store NaN/inf activations from the model (default: stop with an error naming site and sentence)")
    g = p.add_argument_group("output")
    g.add_argument("--out", required=True, help="the .h5 store to write")
    m = g.add_mutually_exclusive_group()
    m.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists: the new store is written under a temporary name and renamed "
                        "over the old one only when the extraction succeeded (a failure leaves the old store intact)")
    m.add_argument("--resume", action="store_true",
                   help="continue an interrupted run into --out, in place (a fresh run also writes in place, so "
                        "that it can be resumed after a kill)")
    g.add_argument("--json", action="store_true", help="print the result summary as JSON")
    g.add_argument("--quiet", action="store_true", help="no progress bar or log lines")

    def run(args) -> int:
        from ..extraction import ExtractionConfig, Extractor
        from ..extraction.sharding import parse_shard
        from ..store import ActivationStore

        shard = parse_shard(args.shard)  # a malformed --shard is refused before any work
        out = Path(args.out)
        # fresh and resumed runs write in place (resumable after a kill); --overwrite of an existing store
        # writes a temporary store that replaces the old one only on success. All under the output's lock.
        in_place = args.resume or not (out.exists() or out.is_symlink())
        with safe_out(args, _corpus_inputs(args), in_place=in_place) as target:
            config = ExtractionConfig(
                sites=args.sites, granularity=args.granularity, aggregation=args.aggregation, pooling=args.pooling,
                dtype=args.dtype, compute_dtype=args.compute_dtype, batch_size=args.batch_size,
                batch_tokens=args.batch_tokens,
                max_length=args.max_length, window_overlap=args.window_overlap, special_tokens=args.special_tokens,
                device=args.device, memory_mb=args.memory_mb, engine=args.engine, workers=args.workers,
                allow_nonfinite=args.allow_nonfinite,
            )
            corpus = _corpus_from_args(args)
            if not args.quiet:
                if hasattr(corpus, "sentences"):
                    log.info("corpus: %d sentences, %d words from %s", len(corpus), corpus.n_words, corpus.source)
                else:
                    log.info("corpus: %s (%s), read as a stream", corpus.source, corpus.format)
                log.info("loading model %s", args.model)
            ex = Extractor(args.model, config, progress=not args.quiet and not args.json)
            if not args.quiet:
                log.info("engine: %s; sites: %s", ex.engine.name, ", ".join(ex.sites))
            store = ex.extract(corpus, target, resume=args.resume and target.exists(), shard=shard)
            if not in_place:
                store.close()
        if not in_place:
            store = ActivationStore.open(out, allow_incomplete=True)
        summary = store.summary()
        stats = ex.stats
        summary["timing"] = {
            "seconds": round(stats["seconds"], 3),
            "sentences_per_s": round(stats["sentences"] / max(stats["seconds"], 1e-9), 1),
            "tokens_per_s": round(stats["tokens"] / max(stats["seconds"], 1e-9), 1),
        }
        store.close()
        emit(args, summary, _describe(summary))
        return 0

    return run


def _corpus_inputs(args) -> list:
    """The files ``extract`` reads (the output may be none of them)."""
    if args.corpus in (None, "embedded"):
        return []
    inputs = [args.corpus, args.labels]
    if args.format == "neurox" or (args.format is None and Path(args.corpus).suffix.lower() == ".in"):
        inputs.append(Path(args.corpus).with_suffix(".label"))
    return inputs


def _describe(s: dict) -> str:
    state = "complete" if s["complete"] else f"INCOMPLETE ({s['sentences_done']}/{s['n_sentences']} sentences)"
    lines = [
        f"store       {s['path']}  ({state})",
        f"model       {s['model'].get('name')}  [{s['model'].get('family')}, {s['model'].get('model_type')}]"
        + ("  RANDOM INIT" if s["model"].get("random_init") else ""),
        f"rows        {s['n_rows']} {s['granularity']} rows, {s['n_sentences']} sentences, {s['dtype']}",
        f"sites       {len(s['sites'])} sites, {s['n_neurons']} neurons",
    ]
    for name, shape in s["sites"].items():
        lines.append(f"  {name:<28} {shape[0]} x {shape[1]}")
    if s["labels"]:
        lines.append("concepts")
        for name, lab in s["labels"].items():
            vocab = ", ".join(lab["vocabulary"][:8]) + (" ..." if lab["n_classes"] > 8 else "")
            lines.append(f"  {name:<16} {lab['level']:<8} {lab['n_classes']:>3} classes, {lab['n_labelled']} labelled: {vocab}")
    if s["results"]:
        lines.append("results     " + ", ".join(s["results"]))
    if s.get("damaged_results"):
        lines.append("DAMAGED     " + "; ".join(f"result {n} {why}" for n, why in s["damaged_results"].items()))
    cfg = s["config"]
    keys = ("engine", "aggregation", "pooling", "max_length", "window_overlap", "special_tokens", "batch_size",
            "batch_tokens", "workers", "corpus")
    lines.append("config      " + "  ".join(f"{k}={cfg.get(k)}" for k in keys if k in cfg))
    if "timing" in s:
        t = s["timing"]
        lines.append(f"time        {t['seconds']} s  ({t['sentences_per_s']} sentences/s, {t['tokens_per_s']} tokens/s)")
    return "\n".join(lines)


@command("info", "Describe an activation store: model, sites and shapes, rows, concepts, results, config, completeness.")
def _info(p: argparse.ArgumentParser):
    p.add_argument("store", help="the .h5 activation store")
    p.add_argument("--json", action="store_true", help="print as JSON")

    def run(args) -> int:
        from ..store import ActivationStore

        with ActivationStore.open(args.store, allow_incomplete=True) as store:
            summary = store.summary()
        emit(args, summary, _describe(summary))
        return 0 if summary["complete"] else 3

    return run


@command("sites", "List the sites (and their widths) of a model, optionally filtered by names/globs.")
def _sites(p: argparse.ArgumentParser):
    p.add_argument("--model", default="minilm", help="model alias, local directory or Hugging Face id")
    p.add_argument("--sites", default=None, help="filter: names or globs")
    p.add_argument("--engine", choices=["auto", "native", "hf"], default="auto", help="see `extract --help`")
    p.add_argument("--json", action="store_true", help="print as JSON")

    def run(args) -> int:
        from ..extraction import ExtractionConfig, Extractor

        ex = Extractor(args.model, ExtractionConfig(sites=args.sites or "all", engine=args.engine), progress=False)
        widths = ex.site_widths()
        emit(args, {"model": args.model, "sites": widths},
             "\n".join(f"{name:<32} {w}" for name, w in widths.items()))
        return 0

    return run


@command("import-neurox", "Convert a NeuroX activation file (hdf5 or json) into a neuronlab store.")
def _import_neurox(p: argparse.ArgumentParser):
    p.add_argument("source", help="NeuroX .hdf5 or .json activations")
    p.add_argument("--out", required=True, help="the .h5 store to write")
    p.add_argument("--format", choices=["hdf5", "json"], default=None, help="default: from the suffix")
    p.add_argument("--labels", default=None, help="optional NeuroX .label file (becomes concept 'label')")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists, only once the import succeeded (a failure leaves it intact)")
    p.add_argument("--granularity", choices=["word", "token"], default=None,
                   help="what a row is (default: word when every sentence has one row per word, token when none has; "
                        "a mixture is refused)")
    p.add_argument("--allow-nonfinite", action="store_true",
                   help="import NaN/inf values with a warning (default: refuse them, naming the sentence)")
    p.add_argument("--json", action="store_true")

    def run(args) -> int:
        from ..store import ActivationStore
        from ..store.neurox import import_neurox

        with safe_out(args, [args.source, args.labels]) as tmp:
            import_neurox(args.source, tmp, format=args.format, labels=args.labels, granularity=args.granularity,
                          allow_nonfinite=args.allow_nonfinite).close()
        with ActivationStore.open(args.out) as store:
            summary = store.summary()
        emit(args, summary, _describe(summary))
        return 0

    return run


@command("export-neurox", "Write a store's activations in NeuroX's hdf5 or json format.")
def _export_neurox(p: argparse.ArgumentParser):
    p.add_argument("store", help="the .h5 activation store")
    p.add_argument("--out", required=True, help="output file (never the store itself)")
    p.add_argument("--format", choices=["hdf5", "json"], default="hdf5")
    p.add_argument("--sites", default=None, help="sites to export (same width); default: all")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists, only once the export succeeded (a failure leaves it intact)")
    p.add_argument("--json", action="store_true")

    def run(args) -> int:
        from ..store import ActivationStore
        from ..store.neurox import export_neurox

        with safe_out(args, [args.store]) as tmp:
            with ActivationStore.open(args.store) as store:
                export_neurox(store, tmp, format=args.format, sites=args.sites)
        emit(args, {"out": args.out, "format": args.format}, f"wrote {args.out} ({args.format})")
        return 0

    return run


