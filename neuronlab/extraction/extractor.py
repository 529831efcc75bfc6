"""Extract per-site activations of a transformers model into an activation store.

Pipeline per write chunk (a run of consecutive sentences whose float32 activations fit in
``memory_mb``): sentences -> sequences (windows for long ones) sorted by length -> batches bounded by
sequences and tokens -> the engine's forward pass, stopped after the deepest requested site, several
batches at once on worker threads -> token activations copied into the chunk buffer -> aggregated to
words / pooled to sentences and written to the store by a writer thread, then the chunk is marked done.

One module per responsibility: :mod:`.planning` (rows, chunks, batches, windows), :mod:`.pipeline` (the
worker and writer threads), :mod:`.labels` (label encoding, row tokens), :mod:`.resume` (same-run checks,
where to restart), :mod:`.heap` (returning freed memory); this module runs them in order.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..corpus.base import Corpus
from ..errors import InvalidParameterError, StoreError
from ..models.engines import Engine, engine_from_loaded, load_engine
from ..models.loading import LoadedModel
from ..store.store import ActivationStore
from .config import ExtractionConfig
from .feed import ChunkFeed, sentence_data
from .labels import label_schema
from .pipeline import Pipeline, PipelineHooks
from .planning import Plan, label_vocabularies, plan_extraction, window_overlap
from .resume import chunks_to_do, reopen_for_resume
from .sharding import parse_shard, shard_chunks
from .token_cache import TokenCache

__all__ = ["Extractor", "extract", "PipelineHooks"]

log = logging.getLogger("neuronlab.extraction")

#: engine defaults: (sequences per batch, tokens per batch); on a GPU larger batches keep the chip busy
_BATCH_DEFAULTS = {"hf": (32, None), "native": (None, 2048)}
_GPU_BATCH_DEFAULTS = {"hf": (128, None), "native": (None, 16384)}
_MAX_DEFAULT_WORKERS = 4


class Extractor:
    """Extract activations of a model at ``config.sites`` into an :class:`ActivationStore`.

    Parameters
    ----------
    model : Engine, LoadedModel or str
        An engine, a loaded transformers model, or a model spec (alias, path, Hugging Face id) to load
        with ``config.engine``.
    config : ExtractionConfig, optional
    progress : bool
        Show a progress bar (tqdm, on stderr).
    hooks : PipelineHooks, optional
        Callbacks at fixed points of the pipeline (tests use them instead of timing).
    staged : bool, optional
        The device path of the pipeline (aggregation and storage cast on the device, asynchronous copies
        into a ring of pinned host buffers, see :mod:`.staging`). None: on for CUDA devices, off on the
        CPU (where it computes the same bytes; tests turn it on there).

    Attributes
    ----------
    engine : Engine
        What runs the model (``engine.name`` is ``"native"`` or ``"hf"``).
    sites : list of str
        The requested sites, resolved, in model order.
    stats : dict
        After :meth:`extract`: seconds, forward seconds (summed over workers), sentences, tokens, rows.

    Examples
    --------
    >>> from neuronlab.corpus import load_embedded_corpus            # doctest: +SKIP
    >>> ex = Extractor("minilm", ExtractionConfig(sites="layers.*"))  # doctest: +SKIP
    >>> store = ex.extract(load_embedded_corpus(), "minilm.h5")       # doctest: +SKIP
    """

    def __init__(self, model: Engine | LoadedModel | str, config: ExtractionConfig | None = None, *,
                 progress: bool = True, hooks: PipelineHooks | None = None, staged: bool | None = None):
        self.config = config or ExtractionConfig()
        cfg = self.config
        if isinstance(model, Engine):
            if cfg.engine not in ("auto", model.name):
                raise InvalidParameterError(f"config.engine is {cfg.engine!r} but a {model.name!r} engine was given")
            self.engine = model
        elif isinstance(model, LoadedModel):
            self.engine = engine_from_loaded(model, engine=cfg.engine, compute_dtype=cfg.compute_dtype)
        else:
            self.engine = load_engine(model, engine=cfg.engine, device=cfg.device, compute_dtype=cfg.compute_dtype)
        on_gpu = str(self.engine.device).startswith("cuda")
        self.staged = on_gpu if staged is None else bool(staged)
        self.progress = progress
        self.hooks = hooks or PipelineHooks()
        self.sites = self.engine.resolve(cfg.sites)
        limit = self.engine.max_positions
        if cfg.max_length is not None and limit is not None and cfg.max_length > limit:
            raise InvalidParameterError(
                f"max_length {cfg.max_length} exceeds the {limit} positions the model has; use --max-length {limit} "
                "or less (longer sentences are processed in overlapping windows)")
        self.max_length = cfg.max_length or limit or 512
        self.overlap = window_overlap(self.engine.tokenizer, self.max_length, cfg.window_overlap)
        defaults = _GPU_BATCH_DEFAULTS if on_gpu else _BATCH_DEFAULTS
        default_seqs, default_tokens = defaults.get(self.engine.name, (32, None))
        self.batch_size = cfg.batch_size if cfg.batch_size is not None else default_seqs
        self.batch_tokens = cfg.batch_tokens if cfg.batch_tokens is not None else default_tokens
        self.stats: dict = {}

    @property
    def loaded(self) -> LoadedModel | None:
        """The transformers model behind an ``hf`` engine (None for the native engine)."""
        return getattr(self.engine, "loaded", None)

    def site_widths(self) -> dict[str, int]:
        """Neurons per requested site."""
        return self.engine.widths(self.sites)

    def worker_layout(self) -> tuple[int, int]:
        """``(workers, intra-op threads per worker)`` that :meth:`extract` will use."""
        import torch

        threads = max(1, torch.get_num_threads())
        limit = max(1, int(getattr(self.engine, "max_workers", 1)))
        if self.config.workers is not None:
            workers = min(self.config.workers, limit)
        else:
            workers = min(threads, limit, _MAX_DEFAULT_WORKERS)
        return workers, max(1, threads // workers)

    # ------------------------------------------------------------------ planning
    def _plan(self, corpus, widths: dict[str, int], cache: TokenCache | None = None) -> Plan:
        return plan_extraction(self.engine.tokenizer, corpus, self.config, widths, cache=cache)

    def plan_chunks(self, corpus) -> list[tuple[int, int]]:
        """The write chunks (sentence ranges) :meth:`extract` computes on ``corpus``, in order."""
        return self._plan(corpus, self.site_widths()).chunks

    def plan_batches(self, corpus) -> list[list[list[int]]]:
        """The token ids of every forward pass :meth:`extract` makes on ``corpus``, in order (for benchmarks)."""
        plan = self._plan(corpus, self.site_widths())
        pipe = self._pipeline(plan)
        feed = ChunkFeed(corpus, plan, self.engine.tokenizer)
        out = []
        for s0, s1 in plan.chunks:
            seqs, batches = pipe.chunk_batches(feed.take(s0, s1))
            out.extend([seqs[j].ids for j in b] for b in batches)
        return out

    def _pipeline(self, plan: Plan) -> Pipeline:
        return Pipeline(self.engine, self.sites, self.config, plan, max_length=self.max_length,
                        overlap=self.overlap, batch_size=self.batch_size, batch_tokens=self.batch_tokens,
                        hooks=self.hooks, staged=self.staged)

    # ------------------------------------------------------------------ main loop
    def extract(
        self,
        corpus,
        out: str | Path,
        *,
        overwrite: bool = False,
        resume: bool = False,
        stop_after_chunks: int | None = None,
        shard: tuple[int, int] | str | None = None,
        token_cache: bool = True,
    ) -> ActivationStore:
        """Run the extraction and return the (complete) store, opened read/write.

        The corpus is read twice, block by block, and tokenised once: a planning pass that tokenises it,
        keeps the token and row counts of each sentence and writes the tokens to a scratch file beside
        ``out`` (:func:`.planning.plan_extraction`, :class:`.token_cache.TokenCache`), and the pass that
        writes the texts, row tokens and labels when the store is created; the extraction pass reads each
        write chunk's tokens back from the scratch file (:class:`.feed.ChunkFeed`), which is removed
        when the run ends, successful or not. Memory holds a few chunks, never the corpus: a
        :class:`~neuronlab.corpus.stream.CorpusStream` of any size is extracted in flat memory.

        Parameters
        ----------
        corpus : Corpus or CorpusStream
            The sentences (in memory), or a corpus file read as a stream
            (:func:`neuronlab.corpus.stream_corpus`); both give the same store.
        out : path-like
            The ``.h5`` file to write.
        overwrite : bool
            Replace an existing file.
        resume : bool
            Continue an interrupted run of the same configuration on the same corpus: from the start of
            the write chunk that holds the first sentence not written.
        stop_after_chunks : int, optional
            Testing aid: stop (leaving an incomplete store) after this many chunks.
        shard : (int, int) or "I/N", optional
            Extract only shard I of N (counted from 0): a contiguous share of the whole run's write chunks
            (:mod:`.sharding`), into a store of those sentences that
            :func:`neuronlab.store.merge.merge_stores` joins with the other shards' stores.
        token_cache : bool
            Keep the planning pass's tokens on disk (``.<out name>.tokens`` beside ``out``, about 8 bytes
            per token) for the extraction pass. False: tokenise the corpus again in the extraction pass
            instead (the same store; for a disk without room for the tokens).

        Raises
        ------
        StoreError
            If ``out`` exists and neither ``overwrite`` nor ``resume`` is set, or if resuming a store made
            with a different model, corpus or configuration.
        NonFiniteError
            If the model produces NaN or infinite activations (unless ``config.allow_nonfinite``); the
            chunks before stay written, the store incomplete.
        """
        if isinstance(corpus, Corpus):  # cheap checks first; a stream is checked by the planning pass
            if len(corpus) == 0:
                raise InvalidParameterError("the corpus is empty: nothing to extract")
            empty = next((i for i, s in enumerate(corpus.sentences) if len(s) == 0), None)
            if empty is not None:
                raise InvalidParameterError(f"sentence {empty} of the corpus has no words; remove it or give it "
                                            "words")
        elif not hasattr(corpus, "blocks"):
            raise InvalidParameterError(f"corpus must be a Corpus or a CorpusStream (neuronlab.corpus.stream_corpus); "
                                        f"got {type(corpus).__name__}")
        out = Path(out)
        if out.exists() and not (overwrite or resume):
            raise StoreError(f"{str(out)!r} exists; pass overwrite=True to replace it or resume=True to continue it")
        shard = parse_shard(shard)
        cache = TokenCache.next_to(out) if token_cache else None
        try:
            return self._extract(corpus, out, overwrite=overwrite, resume=resume, stop_after_chunks=stop_after_chunks,
                                 shard=shard, cache=cache)
        finally:
            if cache is not None:
                cache.delete()

    def _extract(self, corpus, out: Path, *, overwrite: bool, resume: bool, stop_after_chunks: int | None,
                 shard: tuple[int, int] | None, cache: TokenCache | None) -> ActivationStore:
        """The body of :meth:`extract`, with the token cache (or None) that the caller removes."""
        t0 = time.perf_counter()
        widths = self.site_widths()
        plan = self._plan(corpus, widths, cache)
        workers, threads = self.worker_layout()
        config = dict(self.config.to_dict(), sites=",".join(self.sites), max_length=self.max_length,
                      window_overlap=self.overlap, corpus=getattr(corpus, "source", ""), n_sentences=plan.n_sentences,
                      engine=self.engine.name, batch_size=self.batch_size, batch_tokens=self.batch_tokens,
                      workers=workers, compute_dtype=getattr(self.engine, "compute_dtype", "float32"))
        base = 0
        if shard is not None:
            plan, config, base = self._shard(corpus, plan, config, *shard)
        store = (reopen_for_resume(out, corpus, config, self.engine.info, base=base, offsets=plan.offsets)
                 if resume and out.exists() else None)
        todo = chunks_to_do(plan.chunks, store.n_done if store is not None else 0)
        first = todo[0][0] if todo else plan.n_sentences
        if stop_after_chunks is not None:
            todo = todo[:stop_after_chunks]
        n_tokens = int(plan.lengths[first:].sum())
        cfg = self.config
        schema = label_schema(plan.word_labels, plan.sentence_labels, cfg.granularity)
        tokenizer = self.engine.tokenizer

        feed = ChunkFeed(corpus, plan, tokenizer, base=base, start=first, cache=cache)
        pipe = self._pipeline(plan)
        self._fwd_seconds = pipe.fwd_seconds
        pool = ThreadPoolExecutor(workers, thread_name_prefix="neuronlab-worker", initializer=_set_threads,
                                  initargs=(threads,))
        writer = ThreadPoolExecutor(1, thread_name_prefix="neuronlab-writer", initializer=_set_threads,
                                    initargs=(threads,))
        written: Future | None = None
        bar = None
        failed = False
        try:
            # the workers start while the store is made
            prev = pipe.submit(pool, feed.take(*todo[0]), widths) if todo else None
            if store is None:
                fill = sentence_data(corpus, plan, tokenizer, schema, cfg, base=base, cache=cache)
                store = self._create_store(out, plan, widths, config, overwrite, schema, fill)
            if plan.replaced_words:
                log.warning("%d words produced no subword token and were extracted as the unknown token",
                            plan.replaced_words)
            t_setup = time.perf_counter()
            bar = _progress(self.progress, total=plan.n_sentences, initial=first, desc=f"extract {out.name}")
            for s0, s1 in todo[1:]:
                chunk = pipe.submit(pool, feed.take(s0, s1), widths)
                written = pipe.hand_over(writer, store, prev, written, bar)
                prev = chunk
            if prev is not None:
                written = pipe.hand_over(writer, store, prev, written, bar)
            t_computed = time.perf_counter()
            if written is not None:
                written.result()
        except BaseException:
            failed = True
            raise
        finally:
            feed.close()
            pool.shutdown(wait=True, cancel_futures=True)
            if written is not None and not written.done():
                try:  # the chunk being written completes and is marked done: a resume skips it
                    written.result()
                except BaseException:  # noqa: BLE001 - the first error is the one raised
                    pass
            writer.shutdown(wait=True, cancel_futures=True)
            if bar is not None:
                bar.close()
            if failed and store is not None:
                store.close()
        t_end = time.perf_counter()
        self.stats = {
            "seconds": t_end - t0,
            "setup_seconds": t_setup - t0,  # planning pass, creating the store
            "drain_seconds": t_end - t_computed if todo else 0.0,  # the last chunk's aggregation and write
            "forward_seconds": float(sum(pipe.fwd_seconds)),  # summed over workers
            "sentences": plan.n_sentences - first,
            "tokens": n_tokens,
            "rows": int(plan.offsets[-1] - plan.offsets[first]),
            "bytes": int(plan.offsets[-1] - plan.offsets[first]) * sum(widths.values())
            * (2 if self.config.dtype == "float16" else 4),  # activation bytes written to the store
            "workers": workers,
            "threads_per_worker": threads,
        }
        return store

    def _shard(self, corpus, plan: Plan, config: dict, index: int, count: int):
        """The shard's plan (the whole run's chunks, shifted; the classes present in its sentences), its
        config (with the shard keys) and its first sentence in the corpus."""
        chunks = shard_chunks(plan.chunks, index, count)
        s0, s1 = chunks[0][0], chunks[-1][1]
        sub = plan.sub(s0, s1, chunks)
        sub.word_labels, sub.sentence_labels = label_vocabularies(
            corpus, s0, s1, concepts=(plan.word_labels, plan.sentence_labels))
        config = dict(config, n_sentences=s1 - s0, shard=f"{index}/{count}", shard_sentences=[s0, s1],
                      corpus_sentences=plan.n_sentences)
        return sub, config, s0

    def _create_store(self, out: Path, plan: Plan, widths: dict, config: dict, overwrite: bool,
                      schema: dict, fill) -> ActivationStore:
        """The store with every dataset allocated, its texts, tokens and labels written block by block from
        ``fill`` before it is renamed into place; the rows are written chunk by chunk afterwards."""
        cfg = self.config
        return ActivationStore.create(
            out, sites=widths, offsets=plan.offsets, texts=None, tokens=None,
            granularity=cfg.granularity, dtype=cfg.dtype, model=self.engine.info,
            config=config, row_words=cfg.granularity == "token" or None, overwrite=overwrite, labels=schema,
            fill=fill,
        )


def _set_threads(n: int) -> None:
    """Intra-op threads of the calling worker thread (OpenMP and MKL settings are per thread)."""
    import torch

    torch.set_num_threads(n)


def _progress(enabled: bool, **kw):
    from tqdm.auto import tqdm

    return tqdm(disable=not enabled, unit="sent", dynamic_ncols=True, leave=False, **kw)


def extract(model, corpus: Corpus, out, *, config: ExtractionConfig | None = None, overwrite: bool = False,
            resume: bool = False, progress: bool = True, shard=None) -> ActivationStore:
    """Functional shortcut for ``Extractor(model, config).extract(corpus, out)``."""
    return Extractor(model, config, progress=progress).extract(corpus, out, overwrite=overwrite, resume=resume,
                                                               shard=shard)
