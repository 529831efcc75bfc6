"""Extract per-site activations of a transformers model into an activation store.

Pipeline per write chunk (a run of consecutive sentences whose float32 activations fit in
``memory_mb``): sentences -> sequences (windows for long ones) sorted by length -> padded batches
-> one forward pass each, stopped after the deepest requested site -> token activations gathered
into the chunk buffer -> aggregated to words / pooled to sentences -> written to the store, then the
chunk is marked done. Chunk boundaries depend only on the corpus and the configuration, so a
resumed run computes exactly the batches an uninterrupted run would have.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence as Seq

import numpy as np

from ..corpus.base import Corpus
from ..errors import InvalidParameterError, StoreError
from ..models.capture import SiteCapture, StopForward, model_sites
from ..models.loading import LoadedModel, load_model
from ..sites import expand_sites
from ..store.store import ActivationStore
from .aggregate import aggregate_rows
from .config import ExtractionConfig
from .tokenize import Sequence, TokenizedSentence, make_sequences, tokenize_sentences

__all__ = ["Extractor", "extract"]

log = logging.getLogger("neuronlab.extraction")


@dataclass
class _Plan:
    tokenized: list[TokenizedSentence]
    offsets: np.ndarray  # row offsets per sentence
    row_tokens: list[str]
    row_words: np.ndarray | None
    chunks: list[tuple[int, int]]  # sentence ranges [start, stop)


class Extractor:
    """Extract activations of ``model`` at ``config.sites`` into an :class:`ActivationStore`.

    Parameters
    ----------
    model : LoadedModel or str
        A loaded model or a model spec (alias, path, Hugging Face id) to load.
    config : ExtractionConfig, optional
    progress : bool
        Show a progress bar (tqdm, on stderr).

    Examples
    --------
    >>> from neuronlab.corpus import load_embedded_corpus            # doctest: +SKIP
    >>> ex = Extractor("minilm", ExtractionConfig(sites="layers.*"))  # doctest: +SKIP
    >>> store = ex.extract(load_embedded_corpus(), "minilm.h5")       # doctest: +SKIP
    """

    def __init__(self, model: LoadedModel | str, config: ExtractionConfig | None = None, *, progress: bool = True):
        self.config = config or ExtractionConfig()
        self.loaded = model if isinstance(model, LoadedModel) else load_model(model, device=self.config.device)
        self.progress = progress
        m = self.loaded.model
        self.all_sites = model_sites(m, self.loaded.adapter)
        self.sites = expand_sites(self.config.sites, self.all_sites)
        self.max_length = self._max_length()
        self.overlap = self.config.window_overlap if self.config.window_overlap is not None else self.max_length // 4
        self.stats: dict = {}

    # ------------------------------------------------------------------ setup
    def _max_length(self) -> int:
        if self.config.max_length is not None:
            return self.config.max_length
        cfg = self.loaded.model.config
        for attr in ("max_position_embeddings", "n_positions", "max_length"):
            v = getattr(cfg, attr, None)
            if isinstance(v, int) and v > 0:
                # BERT-style position tables: RoBERTa reserves 2 positions for the padding offset
                return v - 2 if getattr(cfg, "model_type", "") in ("roberta", "xlm-roberta", "camembert") else v
        tok_max = getattr(self.loaded.tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 100_000:
            return tok_max
        return 512

    def site_widths(self) -> dict[str, int]:
        """Neurons per requested site, found by one forward pass on a two-word input."""
        import torch

        tok = tokenize_sentences(self.loaded.tokenizer, [["hello", "world"]])[0]
        with SiteCapture(self.loaded.model, self.loaded.adapter, self.sites) as cap:
            self._forward(cap, [tok.ids], torch)
            return {s: int(cap.outputs[s].shape[-1]) for s in self.sites}

    def _plan(self, corpus: Corpus) -> _Plan:
        cfg = self.config
        tokenized = tokenize_sentences(self.loaded.tokenizer, corpus.sentences)
        tok = self.loaded.tokenizer
        row_words = None
        if cfg.granularity == "word":
            lengths = np.array([len(s) for s in corpus.sentences], dtype=np.int64)
            row_tokens = [w for s in corpus.sentences for w in s]
        elif cfg.granularity == "sentence":
            lengths = np.ones(len(corpus), dtype=np.int64)
            row_tokens = corpus.texts()
        else:
            row_tokens, rw, lens = [], [], []
            for ts in tokenized:
                keep = np.arange(ts.n_tokens) if cfg.special_tokens else np.flatnonzero(ts.word_ids >= 0)
                pieces = tok.convert_ids_to_tokens([ts.ids[i] for i in keep])
                row_tokens.extend(pieces)
                rw.append(ts.word_ids[keep])
                lens.append(keep.size)
            lengths = np.array(lens, dtype=np.int64)
            row_words = np.concatenate(rw).astype(np.int32) if rw else np.zeros(0, np.int32)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        # chunking: bounded float32 token buffer across all requested sites
        width = sum(self._widths.values())
        budget_tokens = max(1, (cfg.memory_mb << 20) // max(1, 4 * width * 2))
        chunks, start, acc = [], 0, 0
        for i, ts in enumerate(tokenized):
            if acc and acc + ts.n_tokens > budget_tokens:
                chunks.append((start, i))
                start, acc = i, 0
            acc += ts.n_tokens
        if start < len(tokenized):
            chunks.append((start, len(tokenized)))
        return _Plan(tokenized, offsets, row_tokens, row_words, chunks)

    # ------------------------------------------------------------------ model calls
    def _forward(self, cap: SiteCapture, batch_ids: list[list[int]], torch) -> None:
        model = self.loaded.model
        pad = self.loaded.tokenizer.pad_token_id
        pad = 0 if pad is None else pad
        T = max(len(x) for x in batch_ids)
        ids = torch.full((len(batch_ids), T), pad, dtype=torch.long)
        mask = torch.zeros((len(batch_ids), T), dtype=torch.long)
        for i, x in enumerate(batch_ids):
            ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[i, : len(x)] = 1
        dev = next(model.parameters()).device
        ids, mask = ids.to(dev), mask.to(dev)
        cap.clear()
        with torch.inference_mode():
            if self.loaded.adapter.is_encoder_decoder:
                cap.phase = "encoder"
                enc_out = None
                try:
                    enc_out = model.get_encoder()(input_ids=ids, attention_mask=mask)
                except StopForward:
                    pass
                if "decoder" in cap.stacks:
                    cap.phase = "decoder"
                    start = model.config.decoder_start_token_id
                    start = pad if start is None else start
                    dec = torch.cat([torch.full_like(ids[:, :1], start), ids[:, :-1]], dim=1)
                    try:
                        model.get_decoder()(
                            input_ids=dec, attention_mask=mask,
                            encoder_hidden_states=enc_out[0], encoder_attention_mask=mask,
                        )
                    except StopForward:
                        pass
            else:
                try:
                    model(input_ids=ids, attention_mask=mask)
                except StopForward:
                    pass

    # ------------------------------------------------------------------ main loop
    def extract(
        self,
        corpus: Corpus,
        out: str | Path,
        *,
        overwrite: bool = False,
        resume: bool = False,
        stop_after_chunks: int | None = None,
    ) -> ActivationStore:
        """Run the extraction and return the (complete) store, opened read/write.

        Parameters
        ----------
        corpus : Corpus
        out : path-like
            The ``.h5`` file to write.
        overwrite : bool
            Replace an existing file.
        resume : bool
            Continue an interrupted run of the same configuration on the same corpus.
        stop_after_chunks : int, optional
            Testing aid: stop (leaving an incomplete store) after this many chunks.

        Raises
        ------
        StoreError
            If ``out`` exists and neither ``overwrite`` nor ``resume`` is set, or if resuming a store made
            with a different model, corpus or configuration.
        """
        import torch

        if len(corpus) == 0:
            raise InvalidParameterError("the corpus is empty: nothing to extract")
        out = Path(out)
        if out.exists() and not (overwrite or resume):
            raise StoreError(f"{str(out)!r} exists; pass --overwrite to replace it or --resume to continue it")
        t0 = time.perf_counter()
        self._widths = self.site_widths()
        plan = self._plan(corpus)
        config = dict(self.config.to_dict(), sites=",".join(self.sites), max_length=self.max_length,
                      window_overlap=self.overlap, corpus=corpus.source, n_sentences=len(corpus))
        if resume and out.exists():
            store = self._reopen_for_resume(out, corpus, config)
        else:
            store = ActivationStore.create(
                out, sites=self._widths, offsets=plan.offsets, texts=corpus.texts(), tokens=plan.row_tokens,
                granularity=self.config.granularity, dtype=self.config.dtype, model=self.loaded.info,
                config=config, row_words=plan.row_words, overwrite=overwrite,
            )
            self._write_labels(store, corpus, plan)
        replaced = sum(ts.replaced_words for ts in plan.tokenized)
        if replaced:
            log.warning("%d words produced no subword token and were extracted as the unknown token", replaced)
        done = store.n_done
        todo = [c for c in plan.chunks if c[0] >= done]
        n_tokens = sum(ts.n_tokens for ts in plan.tokenized[done:])
        bar = _progress(self.progress, total=len(corpus), initial=done, desc=f"extract {out.name}")
        t_fwd = 0.0
        # chunk k is written by a background thread while chunk k+1 is computed (torch releases the GIL
        # in its kernels); writes stay in corpus order and each marks its chunk done only after its flush
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neuronlab-writer")
        pending = None
        try:
            with SiteCapture(self.loaded.model, self.loaded.adapter, self.sites) as cap:
                for k, (s0, s1) in enumerate(todo):
                    if stop_after_chunks is not None and k >= stop_after_chunks:
                        break
                    rows, dt = self._run_chunk(cap, plan, s0, s1, torch)
                    t_fwd += dt
                    if pending is not None:
                        pending.result()  # re-raises a failed write
                    pending = writer.submit(self._write_chunk, store, s0, s1, rows, bar)
            if pending is not None:
                pending.result()
        finally:
            writer.shutdown(wait=True)
            bar.close()
        self.stats = {
            "seconds": time.perf_counter() - t0,
            "forward_seconds": t_fwd,
            "sentences": len(corpus) - done,
            "tokens": n_tokens,
            "rows": int(plan.offsets[-1] - plan.offsets[done]),
        }
        return store

    @staticmethod
    def _write_chunk(store: ActivationStore, s0: int, s1: int, rows: dict, bar) -> None:
        store._write_rows(s0, s1, rows)
        bar.update(s1 - s0)

    def _reopen_for_resume(self, out: Path, corpus: Corpus, config: dict) -> ActivationStore:
        store = ActivationStore.open(out, mode="r+", allow_incomplete=True)
        old = store.config
        diffs = [k for k in ("sites", "granularity", "aggregation", "pooling", "dtype", "max_length",
                             "window_overlap", "special_tokens", "memory_mb", "n_sentences") if old.get(k) != config.get(k)]
        if store.model.get("weights_sha256") != self.loaded.info.get("weights_sha256"):
            diffs.append("model weights")
        if store.n_sentences != len(corpus) or store.texts() != corpus.texts():
            diffs.append("corpus")
        if diffs:
            store.close()
            raise StoreError(
                f"cannot resume {str(out)!r}: it was written with a different {', '.join(diffs)}; "
                "use --overwrite to start again"
            )
        return store

    def _write_labels(self, store: ActivationStore, corpus: Corpus, plan: _Plan) -> None:
        gran = self.config.granularity
        for name, per_sent in corpus.sentence_labels.items():
            vocab, codes = _encode_labels(per_sent)
            store.write_label(name, codes, vocab, level="sentence")
        if gran == "sentence":
            return
        for name, per_word in corpus.word_labels.items():
            if name in corpus.sentence_labels:
                continue
            flat = [lab for sent in per_word for lab in sent]
            vocab, codes = _encode_labels(flat)
            if gran == "token":
                word_offsets = np.concatenate([[0], np.cumsum([len(s) for s in corpus.sentences])])
                sent_of_row = np.repeat(np.arange(len(corpus)), np.diff(plan.offsets))
                rw = plan.row_words.astype(np.int64)
                gidx = word_offsets[sent_of_row] + rw
                codes = np.where(rw >= 0, codes[np.clip(gidx, 0, max(0, len(codes) - 1))], -1).astype(np.int32)
            store.write_label(name, codes, vocab, level="row")

    def _run_chunk(self, cap: SiteCapture, plan: _Plan, s0: int, s1: int, torch):
        cfg = self.config
        toks = plan.tokenized
        tok_off = np.concatenate([[0], np.cumsum([toks[i].n_tokens for i in range(s0, s1)])]).astype(np.int64)
        n_tok = int(tok_off[-1])
        seqs: list[Sequence] = []
        for i in range(s0, s1):
            seqs.extend(make_sequences(i - s0, toks[i], self.max_length, self.overlap))
        order = sorted(range(len(seqs)), key=lambda j: (-len(seqs[j].ids), j))
        buffers = {s: torch.empty((n_tok, w), dtype=torch.float32) for s, w in self._widths.items()}
        dt = 0.0
        for b in range(0, len(order), cfg.batch_size):
            batch = [seqs[j] for j in order[b: b + cfg.batch_size]]
            t = time.perf_counter()
            self._forward(cap, [s.ids for s in batch], torch)
            dt += time.perf_counter() - t
            bi = np.concatenate([np.full(s.take_pos.size, k) for k, s in enumerate(batch)])
            pos = np.concatenate([s.take_pos for s in batch])
            dst = np.concatenate([tok_off[s.sentence] + s.take_tok for s in batch])
            dst_t = torch.from_numpy(dst.astype(np.int64))
            flat_t: dict = {}  # per (device, sequence length): positions in the flattened (batch * seq) activations
            for site in self.sites:
                act = cap.outputs[site]
                key = (act.device, act.shape[1])
                if key not in flat_t:
                    flat_t[key] = torch.from_numpy((bi * act.shape[1] + pos).astype(np.int64)).to(act.device)
                # index_select/index_copy_ on flat rows: several times faster than advanced indexing on CPU
                picked = act.reshape(-1, act.shape[-1]).index_select(0, flat_t[key])
                buffers[site].index_copy_(0, dst_t, picked.to("cpu", torch.float32))
        rows = aggregate_rows(
            buffers, [toks[i] for i in range(s0, s1)], tok_off, cfg, out_dtype=np.dtype(cfg.dtype)
        )
        expected = int(plan.offsets[s1] - plan.offsets[s0])
        for site, arr in rows.items():
            if arr.shape[0] != expected:
                raise StoreError(f"internal: chunk {s0}:{s1} produced {arr.shape[0]} rows, expected {expected}")
        return rows, dt


def _encode_labels(values: Seq) -> tuple[list[str], np.ndarray]:
    present = sorted({str(v) for v in values if v is not None})
    index = {v: i for i, v in enumerate(present)}
    codes = np.array([-1 if v is None else index[str(v)] for v in values], dtype=np.int32)
    return present, codes


def _progress(enabled: bool, **kw):
    from tqdm.auto import tqdm

    return tqdm(disable=not enabled, unit="sent", dynamic_ncols=True, leave=False, **kw)


def extract(model, corpus: Corpus, out, *, config: ExtractionConfig | None = None, overwrite: bool = False,
            resume: bool = False, progress: bool = True) -> ActivationStore:
    """Functional shortcut for ``Extractor(model, config).extract(corpus, out)``."""
    return Extractor(model, config, progress=progress).extract(corpus, out, overwrite=overwrite, resume=resume)
