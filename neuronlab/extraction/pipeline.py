"""The thread pipeline of an extraction: forward passes on worker threads, aggregation and writes on a writer.

Per write chunk: its batches are submitted to the worker pool, each copying its kept token activations
into the chunk's float32 buffers; when they are done, the chunk is handed to the single writer thread,
which aggregates it to words / pools it to sentences, checks that every value is finite and writes it
with :meth:`ActivationStore.write_rows`. The main thread submits chunk k+1's batches before it hands
chunk k to the writer, so the workers never wait for aggregation or HDF5 writes; writes stay in corpus
order and at most one chunk waits for the writer.

The device path (``staged=True``, the default off the CPU) keeps the chunk buffers on the device; the
main thread aggregates and casts there and starts an asynchronous copy into a pinned ring buffer
(:mod:`.staging`), and the writer thread waits for the copy, writes from the ring buffer and returns it.
The ring bounds the chunks in flight; the first failure of a write is re-raised by every later one.

:class:`PipelineHooks` lets tests (and monitors) act at fixed points of the pipeline instead of relying
on timing.
"""
from __future__ import annotations

import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import NonFiniteError, StoreError
from .aggregate import aggregate_rows, aggregate_tensors, group_index
from .feed import ChunkInput
from .heap import trim_heap
from .planning import Plan, chunk_sequences, make_batches
from .staging import HostRing, Staged, Transfer, storage_torch_dtype

__all__ = ["PipelineHooks", "Pipeline"]


def torch_aminmax(t):
    import torch

    return torch.aminmax(t)


@dataclass
class PipelineHooks:
    """Callbacks at fixed points of the pipeline (all optional; exceptions propagate like the pipeline's own).

    Attributes
    ----------
    before_batch : callable (chunk_start, batch_index) -> None
        Called on a worker thread before each forward pass; ``batch_index`` counts within the chunk.
    before_write : callable (chunk_start, chunk_stop) -> None
        Called on the writer thread before a chunk is aggregated and written.
    after_write : callable (chunk_start, chunk_stop) -> None
        Called on the writer thread after a chunk is written and marked.
    """

    before_batch: Callable[[int, int], None] | None = None
    before_write: Callable[[int, int], None] | None = None
    after_write: Callable[[int, int], None] | None = None


@dataclass
class _Chunk:
    """One write chunk in flight: its token buffers, the futures of its batches, where its rows go."""

    s0: int
    s1: int
    buffers: dict
    input: ChunkInput | None = None
    futures: list = field(default_factory=list)
    tok2buf: np.ndarray | None = None  # chunk token position (sentence order) -> buffer row
    suspect: set = field(default_factory=set)  # sites where a batch saw a value that may not store finite


class Pipeline:
    """Computes and writes the chunks of one :class:`~neuronlab.extraction.planning.Plan`.

    Parameters
    ----------
    engine : Engine
    sites : list of str
    config : ExtractionConfig
    plan : Plan
    texts : list of str, optional
        Unused (kept for compatibility): errors name the sentence from its chunk's input.
    max_length, overlap, batch_size, batch_tokens : int or None
        The resolved values the extractor uses.
    hooks : PipelineHooks
    staged : bool
        The device path (chunk buffers on the engine's device, aggregation and cast there, asynchronous
        copies through a ring of ``ring_slots`` host buffers). Off by default on the CPU, where it gives
        the same bytes as the host path (tests run it there).
    ring_slots : int
        Host buffers of the device path; each holds the largest chunk's rows in the storage dtype.
    """

    def __init__(self, engine, sites, config, plan: Plan, texts=None, *, max_length: int, overlap: int,
                 batch_size, batch_tokens, hooks: PipelineHooks, staged: bool = False, ring_slots: int = 3):
        self.engine, self.sites, self.config, self.plan = engine, sites, config, plan
        self.max_length, self.overlap = max_length, overlap
        self.batch_size, self.batch_tokens = batch_size, batch_tokens
        self.hooks = hooks
        self._limit = float(np.finfo(np.dtype(config.dtype)).max)  # largest value the storage type holds
        self.fwd_seconds: list[float] = []  # appended by the workers (list.append is atomic)
        self.staged = staged
        self.ring_slots = ring_slots
        self.transfer: Transfer | None = None  # made on first use (pinned memory is allocated then)
        self._error: BaseException | None = None  # the first failed write of the device path

    def chunk_batches(self, chunk: ChunkInput):
        """``(sequences, batches)`` of a chunk (sequence sentences count from the chunk's first)."""
        seqs = chunk_sequences(chunk.tokens, 0, len(chunk.tokens), self.max_length, self.overlap)
        return seqs, make_batches(seqs, self.batch_size, self.batch_tokens, packed=self.engine.name == "native")

    def submit(self, pool: ThreadPoolExecutor, data: ChunkInput, widths: dict) -> _Chunk:
        """Cut the chunk into batches and submit them; each writes its kept rows into the chunk buffer."""
        import torch

        s0 = data.s0
        seqs, batches = self.chunk_batches(data)
        tok_off = data.tokens.offsets.astype(np.int64)
        n_tok = int(tok_off[-1])
        dev = self.engine.device if self.staged else "cpu"
        chunk = _Chunk(s0, data.s1, {s: torch.empty((n_tok, w), dtype=torch.float32, device=dev)
                                     for s, w in widths.items()}, data)
        chunk.tok2buf = np.empty(n_tok, dtype=np.int64)
        row = 0
        for k, b in enumerate(batches):
            batch = [seqs[j] for j in b]
            keep = None
            if not all(s.keeps_all for s in batch):
                starts = np.concatenate([[0], np.cumsum([len(s.ids) for s in batch])[:-1]])
                keep = torch.from_numpy(np.concatenate([st + s.take_pos for st, s in zip(starts, batch)]))
            r0 = row
            for s in batch:
                n = s.take_tok.size
                chunk.tok2buf[tok_off[s.sentence] + s.take_tok] = np.arange(row, row + n)
                row += n
            chunk.futures.append(pool.submit(self.run_batch, [s.ids for s in batch], keep, chunk.buffers, r0, row,
                                             (s0, k), None if self.staged else chunk.suspect))
        return chunk

    def run_batch(self, ids: list, keep, buffers: dict, r0: int, r1: int, where: tuple[int, int] = (0, 0),
                  suspect: set | None = None) -> None:
        """One forward pass; its kept rows go to ``buffers[site][r0:r1]``.

        Sites whose kept values are NaN, infinite or beyond the storage type's range are added to
        ``suspect`` (one min/max reduction per site, on the worker thread), so that the writer scans only
        those chunks for the exact place.
        """
        if self.hooks.before_batch is not None:
            self.hooks.before_batch(*where)
        t = time.perf_counter()
        acts = self.engine.run(ids, self.sites)
        self.fwd_seconds.append(time.perf_counter() - t)
        for site, act in acts.items():
            if keep is not None:
                act = act.index_select(0, keep.to(act.device))
            buffers[site][r0:r1].copy_(act)
            if suspect is not None and act.numel():
                lo, hi = (float(x) for x in torch_aminmax(act))
                if not (math.isfinite(lo) and math.isfinite(hi)) or max(-lo, hi) > self._limit:
                    suspect.add(site)

    def hand_over(self, writer: ThreadPoolExecutor, store, chunk: _Chunk, written: Future | None, bar) -> Future:
        """Wait for the chunk's batches, then queue its aggregation and write (after the previous write)."""
        for f in chunk.futures:
            f.result()  # re-raises a failed batch
        if self.staged:
            return self._hand_over_staged(writer, store, chunk, written, bar)
        if written is not None:
            written.result()  # writes stay in corpus order; at most one chunk waits for the writer
        return writer.submit(self.write_chunk, store, chunk, bar)

    def write_chunk(self, store, chunk: _Chunk, bar) -> None:
        """Aggregate a computed chunk, check it is finite, write it and mark its sentences written."""
        cfg, plan = self.config, self.plan
        if self.hooks.before_write is not None:
            self.hooks.before_write(chunk.s0, chunk.s1)
        pos, grp, n = group_index(chunk.input.tokens, 0, chunk.s1 - chunk.s0, plan.offsets[chunk.s0: chunk.s1 + 1],
                                  cfg)
        rows = aggregate_rows(chunk.buffers, chunk.tok2buf[pos], grp, n, cfg, out_dtype=np.dtype(cfg.dtype),
                              buffer_rows=chunk.tok2buf.size)
        expected = int(plan.offsets[chunk.s1] - plan.offsets[chunk.s0])
        for site, arr in rows.items():
            if arr.shape[0] != expected:
                raise StoreError(f"internal: chunk {chunk.s0}:{chunk.s1} produced {arr.shape[0]} rows, "
                                 f"expected {expected}")
        chunk.buffers.clear()
        if chunk.suspect and not getattr(cfg, "allow_nonfinite", False):
            self._check_finite(rows, chunk.input, store)
        store.write_rows(chunk.s0, chunk.s1, rows)
        del rows
        trim_heap()
        if self.hooks.after_write is not None:
            self.hooks.after_write(chunk.s0, chunk.s1)
        bar.update(chunk.s1 - chunk.s0)

    # ------------------------------------------------------------------ the device path
    def _ring(self) -> Transfer:
        if self.transfer is None:
            offs, chunks = self.plan.offsets, self.plan.chunks
            max_rows = max((int(offs[b] - offs[a]) for a, b in chunks), default=0)
            width = sum(self.engine.widths(self.sites).values())
            nbytes = max_rows * width * np.dtype(self.config.dtype).itemsize
            pin = str(self.engine.device).startswith("cuda")
            self.transfer = Transfer(self.engine.device, HostRing(self.ring_slots, nbytes, pin=pin))
        return self.transfer

    def _hand_over_staged(self, writer, store, chunk: _Chunk, written: Future | None, bar) -> Future:
        """Aggregate and cast on the device, start the copy to a ring buffer, queue the write.

        Blocks only when every ring buffer is still being written (the bound on chunks in flight).
        """
        if written is not None and written.done() and written.exception() is not None:
            written.result()  # a failed write stops the run before more is computed
        cfg, plan = self.config, self.plan
        transfer = self._ring()
        pos, grp, n = group_index(chunk.input.tokens, 0, chunk.s1 - chunk.s0, plan.offsets[chunk.s0: chunk.s1 + 1],
                                  cfg)
        dtype = storage_torch_dtype(cfg.dtype)
        rows = aggregate_tensors(chunk.buffers, chunk.tok2buf[pos], grp, n, cfg, out_dtype=dtype,
                                 buffer_rows=chunk.tok2buf.size)
        expected = int(plan.offsets[chunk.s1] - plan.offsets[chunk.s0])
        for site, arr in rows.items():
            if arr.shape[0] != expected:
                raise StoreError(f"internal: chunk {chunk.s0}:{chunk.s1} produced {arr.shape[0]} rows, "
                                 f"expected {expected}")
        staged = transfer.stage(chunk.s0, chunk.s1, rows, dtype)
        del rows
        chunk.buffers.clear()  # the copy's source is kept alive by ``staged`` until its event
        return writer.submit(self._write_staged, store, staged, bar, chunk.input)

    def _write_staged(self, store, staged: Staged, bar, data: ChunkInput) -> None:
        """Writer thread: wait for the copy, check finiteness, write, mark, give the buffer back."""
        try:
            self.transfer.finish(staged)
            if self._error is not None:
                raise self._error
            if self.hooks.before_write is not None:
                self.hooks.before_write(staged.s0, staged.s1)
            arrays = staged.arrays()
            if bool(staged.nonfinite.any()) and not getattr(self.config, "allow_nonfinite", False):
                self._check_finite(arrays, data, store)
            store.write_rows(staged.s0, staged.s1, arrays)
            del arrays
            if self.hooks.after_write is not None:
                self.hooks.after_write(staged.s0, staged.s1)
            bar.update(staged.s1 - staged.s0)
        except BaseException as exc:
            if self._error is None:
                self._error = exc
            raise
        finally:
            self.transfer.release(staged)

    def _check_finite(self, rows: dict, data: ChunkInput, store) -> None:
        """NonFiniteError naming the first site and sentence with a NaN or infinite value (its text from the
        chunk's corpus, or from the store when the chunk's tokens came from the token cache)."""
        s0 = data.s0
        for site in self.sites:
            arr = rows[site]
            bad = ~np.isfinite(arr).all(axis=1)
            if not bad.any():
                continue
            r = int(np.flatnonzero(bad)[0]) + int(self.plan.offsets[s0])
            sent = int(np.searchsorted(self.plan.offsets, r, side="right") - 1)
            text = (" ".join(data.corpus.sentences[sent - s0]) if data.corpus is not None
                    else store.texts(sent, sent + 1)[0])
            text = text if len(text) <= 60 else text[:57] + "..."
            hint = (" float16 holds values up to 65504 only: extract with dtype='float32' if the model's activations "
                    "are that large;" if self.config.dtype == "float16" else "")
            raise NonFiniteError(
                f"the model produced non-finite activations (NaN or inf) at site {site}, sentence {sent} ({text!r}):"
                f"{hint} check the model's weights, or pass allow_nonfinite=True to store them anyway")
