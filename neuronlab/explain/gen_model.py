"""The model side of generation explanations: tokenising, greedy generation, and batched teacher-forced rows.

A :class:`GenModel` wraps a causal LM (GPT-2, GPT-NeoX, Llama families) or a seq2seq LM (T5, BART) held by
a :class:`~neuronlab.models.live.LiveModel` (anything with ``.model`` and ``.tokenizer`` works). Each
sentence becomes a :class:`Sentence`: its source ids, its decoder prefix (the decoder start token of a
seq2seq model; none for a causal LM) and its target ids, forced (a given text) or generated (greedily, or as
``generate_kwargs`` ask: sampling, beam search).

Every model evaluation is a :class:`Row`: the input embeddings of the first ``K`` columns of a sentence
(source, prefix, target tokens in this order: the prompt and its continuation for a causal LM, the encoder
input and the decoder input for a seq2seq LM) and the generation steps whose logits it provides. Step ``t``
predicts ``y_t`` from the columns ``[0, n_src + n_prefix + t)``; a row of ``n_src + n_prefix + T - 1``
columns provides every step at once (teacher forcing); a row may lack one column (:attr:`Row.drop`: deletion
occlusion), and a sentence with an aligned contrast output gets a contrast row per row (:meth:`GenModel.forward`).
:meth:`GenModel.chunks` packs rows into passes
bounded by rows, padded tokens and an estimate of the memory of a forward and backward pass.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError

__all__ = ["GenModel", "Row", "Sentence", "check_generate_kwargs", "word_ids"]

log = logging.getLogger(__name__)

_MARKS = ("\u0120", "\u2581", " ")  # byte-level BPE (GPT-2), sentencepiece, plain space: a word starts here


def word_ids(tokens: Sequence[str], special: Sequence[bool], scheme: str = "bpe") -> list[int]:
    """The word of each token (-1 for special tokens).

    ``scheme="wordpiece"``: a token starting with ``##`` continues the previous word; ``"bpe"`` (byte-level
    BPE, sentencepiece): a token starting with ``Ġ``, ``▁`` or a space starts a word, any other token
    continues the previous one (the first token after a special token always starts one).

    >>> word_ids(["\u0120the", "\u0120c", "at", ".", "<eos>"], [False, False, False, False, True])
    [0, 1, 1, 1, -1]
    >>> word_ids(["[CLS]", "the", "c", "##at"], [True, False, False, False], "wordpiece")
    [-1, 0, 1, 1]
    """
    out, w, fresh = [], -1, True
    for tok, sp in zip(tokens, special):
        if sp:
            out.append(-1)
            fresh = True
            continue
        if scheme == "wordpiece":
            new = fresh or not tok.startswith("##")
        else:
            new = fresh or tok.startswith(_MARKS)
        w += int(new)
        out.append(w)
        fresh = False
    return out


#: generate() arguments set by the explainer itself (the output explained is one sequence per input)
_RESERVED = {"input_ids": "the input texts", "attention_mask": "the input texts", "inputs": "the input texts",
             "max_new_tokens": "max_new_tokens=", "max_length": "max_new_tokens=",
             "num_return_sequences": "one explained output per input (give the input twice for two samples)",
             "return_dict_in_generate": "the explainer", "output_scores": "the explainer"}


def check_generate_kwargs(kwargs: Any) -> dict:
    """Validated ``generate_kwargs``: names of :class:`transformers.GenerationConfig` (``do_sample``,
    ``top_k``, ``top_p``, ``temperature``, ``num_beams``, ...), none the explainer sets itself.

    Raises
    ------
    InvalidParameterError
        For a name that is no generation argument or that the explainer sets (``max_new_tokens``, ...).
    """
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict):
        raise InvalidParameterError(f"generate_kwargs must be a dict of generation arguments; got {kwargs!r}")
    from transformers import GenerationConfig

    known = GenerationConfig().to_dict()
    for name in kwargs:
        if name in _RESERVED:
            raise InvalidParameterError(f"generate_kwargs: {name!r} is set by {_RESERVED[name]}, not here")
        if name not in known:
            raise InvalidParameterError(f"generate_kwargs: {name!r} is no argument of transformers' generate "
                                        "(e.g. do_sample, top_k, top_p, temperature, num_beams, "
                                        "repetition_penalty)")
    return dict(kwargs)


@dataclass
class Sentence:
    """One sentence to explain: token ids of its column groups, its foils and its contrast input."""

    source: str
    src: list
    prefix: list
    tgt: list
    special: np.ndarray = field(repr=False)
    foil: list | None = None
    contrast_src: list | None = None
    #: aligned contrast output (:mod:`.gen_align`): its token ids and the contrast step of each target step
    #: (-1: unaligned); the foil of step t is then scored in the contrast prefix ``ctgt[:calign[t]]``
    ctgt: list | None = None
    calign: list | None = None

    @property
    def n_src(self) -> int:
        return len(self.src)

    @property
    def n_before(self) -> int:
        """Columns before the first target token (source + prefix)."""
        return len(self.src) + len(self.prefix)

    @property
    def n_steps(self) -> int:
        return len(self.tgt)

    @property
    def n_cols(self) -> int:
        return self.n_before + self.n_steps

    @property
    def n_inputs(self) -> int:
        """Columns a row providing every step needs (the last target token is never an input)."""
        return self.n_cols - 1

    def context(self, t: int) -> int:
        """Columns of step ``t``'s context."""
        return self.n_before + t

    def ids(self) -> list[int]:
        return list(self.src) + list(self.prefix) + list(self.tgt)

    def aligned_steps(self) -> list[int]:
        """The steps with a value: all, or those aligned to a contrast step."""
        return [t for t in range(self.n_steps) if self.calign is None or self.calign[t] >= 0]


@dataclass
class Row:
    """One model evaluation: the input embeddings of a sentence's first ``K`` columns and the steps it gives."""

    sent: int
    emb: Any
    steps: list
    key: Any = None
    #: a column *removed* from the sentence (deletion occlusion): ``emb`` lacks it and the positions shift
    drop: int | None = None

    def shift(self, col: int) -> int:
        """1 if the dropped column lies before column ``col`` of the full sentence (its index moves left)."""
        return int(self.drop is not None and self.drop < col)


class GenModel:
    """A causal or seq2seq LM seen as a function of the input embeddings of its columns.

    Parameters
    ----------
    live : LiveModel or any object with ``.model`` (a transformers LM) and ``.tokenizer``
    """

    def __init__(self, live: Any) -> None:
        self.live = live
        self.model = live.model
        self.tokenizer = live.tokenizer
        cfg = self.model.config
        self.seq2seq = bool(getattr(cfg, "is_encoder_decoder", False))
        self.forward_passes = 0
        if not hasattr(self.model, "get_output_embeddings") or self.model.get_output_embeddings() is None:
            raise InvalidParameterError(
                "generation explanations need a language model with its LM head (a causal LM such as GPT-2, or a "
                "seq2seq LM such as T5/BART); this model has none: load it with head causal-lm / seq2seq-lm")

    # -------------------------------------------------------------- description
    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def kind(self) -> str:
        return "seq2seq" if self.seq2seq else "causal"

    def scheme(self) -> str:
        """The tokenizer's subword scheme for :func:`word_ids`: ``wordpiece`` or ``bpe``."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        name = type(getattr(backend, "model", None)).__name__
        return "wordpiece" if name == "WordPiece" else "bpe"

    def tokens(self, ids: Sequence[int]) -> list[str]:
        return list(self.tokenizer.convert_ids_to_tokens([int(i) for i in ids]))

    def _specials(self) -> set:
        return set(getattr(self.tokenizer, "all_special_ids", []) or [])

    # -------------------------------------------------------------- sentences
    def _source_ids(self, text: str) -> list[int]:
        ids = list(self.tokenizer(text)["input_ids"])
        if not ids:
            raise InvalidParameterError(f"the input {text!r} has no tokens; give a non-empty text")
        return ids

    def _target_ids(self, text: str) -> list[int]:
        if self.seq2seq:
            ids = list(self.tokenizer(text_target=text)["input_ids"])
        else:
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if not ids:
            raise InvalidParameterError(f"the target text {text!r} has no tokens; give a non-empty text")
        return ids

    def _prefix(self) -> list[int]:
        if not self.seq2seq:
            return []
        start = getattr(self.model.config, "decoder_start_token_id", None)
        if start is None:
            start = getattr(getattr(self.model, "generation_config", None), "decoder_start_token_id", None)
        if start is None:
            raise InvalidParameterError("the seq2seq model has no decoder_start_token_id in its config")
        return [int(start)]

    def generate(self, src: list[int], max_new_tokens: int, generate_kwargs: dict | None = None,
                 seed: int | None = None) -> list[int]:
        """Continuation of ``src`` (without the prompt / decoder start token), up to ``max_new_tokens``.

        Greedy unless ``generate_kwargs`` (checked by :func:`check_generate_kwargs`) ask transformers'
        ``generate`` for sampling (``do_sample``, ``top_k``, ``top_p``, ``temperature``) or beam search
        (``num_beams``); the single returned sequence is the one explained. ``seed`` seeds torch's generator
        just before this call (in a forked RNG state: the caller's global state is left as it was), so a
        sentence's sample does not depend on the other sentences.
        """
        import torch

        ids = torch.as_tensor([src], dtype=torch.long, device=self.device)
        pad = getattr(self.tokenizer, "pad_token_id", None)
        if pad is None:
            pad = getattr(self.tokenizer, "eos_token_id", None)
        kw = {"min_new_tokens": 1, "do_sample": False, "num_beams": 1, "pad_token_id": pad,
              **(generate_kwargs or {})}
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(int(seed))
            try:
                out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                          max_new_tokens=int(max_new_tokens), **kw)
            except (TypeError, ValueError) as exc:
                raise InvalidParameterError(f"generate rejected the generation arguments {generate_kwargs}: "
                                            f"{str(exc).splitlines()[0]}") from None
        seq = out[0].tolist()
        seq = seq[len(self._prefix()):] if self.seq2seq else seq[len(src):]
        self.forward_passes += len(seq) * int(kw.get("num_beams") or 1)
        return [int(i) for i in seq]

    def sentences(self, sources: Sequence[str], *, targets: Sequence[str] | None = None,
                  contrast: Sequence[str] | None = None, contrast_kind: str | None = None,
                  max_new_tokens: int = 20, generate_kwargs: dict | None = None, seed: int | None = None,
                  contrast_alignments: Any = None) -> list[Sentence]:
        """Tokenise the inputs; generate where no target text is given (greedy, or as ``generate_kwargs``).

        ``contrast_alignments`` (alternative outputs only): None (position by position, foils in the target's
        context; the alternative must have as many tokens as the target), ``"auto"`` (difflib,
        :func:`~neuronlab.explain.gen_align.auto_alignment`) or one list of ``(t, t')`` pairs per input.

        Raises
        ------
        InvalidParameterError
            If the numbers of sources, targets, contrasts and alignments differ, or an alternative output of
            another length comes without an alignment.
        """
        from .gen_align import auto_alignment, step_alignment

        sources = [sources] if isinstance(sources, str) else list(sources)
        if not sources:
            raise InvalidParameterError("no input texts given")
        if contrast_alignments is not None and contrast_kind != "output":
            raise InvalidParameterError("contrast_alignments aligns an alternative output: it is for "
                                        "contrast_prob_diff with contrast= (an alternative output text)")
        auto = isinstance(contrast_alignments, str)
        if auto and contrast_alignments != "auto":
            raise InvalidParameterError(f"contrast_alignments must be 'auto' or one list of (t, t') pairs per "
                                        f"input; got {contrast_alignments!r}")
        for name, other in (("targets", targets), ("contrast", contrast),
                            ("contrast_alignments", None if auto else contrast_alignments)):
            if other is not None and len(other) != len(sources):
                raise InvalidParameterError(f"{name}: give one per input ({len(sources)}); got {len(other)}")
        prefix, specials = self._prefix(), self._specials()
        out = []
        for i, text in enumerate(sources):
            src = self._source_ids(text)
            tgt = self._target_ids(targets[i]) if targets is not None else \
                self.generate(src, max_new_tokens, generate_kwargs, seed)
            ids = src + prefix + tgt
            special = np.array([x in specials for x in ids], dtype=bool)
            special[len(src):len(src) + len(prefix)] = True
            s = Sentence(text, src, list(prefix), tgt, special)
            if contrast is not None and contrast_kind == "output":
                foil = self._target_ids(contrast[i])
                if contrast_alignments is not None:
                    pairs = auto_alignment(self.tokens(tgt), self.tokens(foil)) if auto else contrast_alignments[i]
                    s.ctgt, s.calign = foil, step_alignment(pairs, len(tgt), len(foil))
                    s.foil = [foil[max(a, 0)] for a in s.calign]
                elif len(foil) != len(tgt):
                    raise InvalidParameterError(
                        f"the alternative output {contrast[i]!r} has {len(foil)} tokens, the target {len(tgt)} "
                        f"({self.tokens(tgt)}); give an alternative of {len(tgt)} tokens (compared position by "
                        "position) or contrast_alignments='auto' / (t, t') pairs (--contrast-alignment)")
                else:
                    s.foil = foil
            elif contrast is not None and contrast_kind == "input":
                s.contrast_src = self._source_ids(contrast[i])
            out.append(s)
        return out

    # -------------------------------------------------------------- embeddings
    def _embedders(self):
        enc = self.model.get_input_embeddings()
        if not self.seq2seq:
            return enc, enc
        dec = getattr(self.model.get_decoder(), "embed_tokens", None) or enc
        return enc, dec

    def embed(self, s: Sentence, *, src: list | None = None):
        """Input embeddings (n_inputs, hidden) of a sentence's columns (detached); ``src`` replaces the source."""
        import torch

        src = s.src if src is None else src
        enc, dec = self._embedders()
        dev = self.device
        with torch.no_grad():
            a = enc(torch.as_tensor(src, dtype=torch.long, device=dev))
            rest = torch.as_tensor((list(s.prefix) + list(s.tgt))[:-1], dtype=torch.long, device=dev)
            b = (dec if self.seq2seq else enc)(rest)
        return torch.cat([a, b]).detach()

    def baseline(self, s: Sentence, how: str, x: Any):
        """Reference embeddings (n_inputs, hidden): every non-special column replaced by ``how`` (``zero``,
        ``pad``, ``unk``, ``mask``, ``eos``, ``bos`` or any vocabulary token); special columns keep ``x``."""
        import torch

        if how == "zero":
            ref = torch.zeros_like(x)
        else:
            tid = self.token_id(how)
            enc, dec = self._embedders()
            with torch.no_grad():
                ids = torch.full((x.shape[0],), tid, dtype=torch.long, device=x.device)
                ref = torch.cat([enc(ids[:s.n_src]), (dec if self.seq2seq else enc)(ids[s.n_src:])])
        keep = torch.as_tensor(s.special[:x.shape[0]], device=x.device)[:, None]
        return torch.where(keep, x, ref.to(x.dtype))

    def token_id(self, how: str) -> int:
        """Token id of a special-token name (``pad``, ``unk``, ``mask``, ``eos``, ``bos``) or a vocabulary token."""
        if how in ("pad", "unk", "mask", "eos", "bos"):
            tid = getattr(self.tokenizer, f"{how}_token_id", None)
            if tid is None:
                raise InvalidParameterError(f"the tokenizer has no {how} token; choose another baseline (zero, "
                                            "unk, eos, or a vocabulary token)")
            return int(tid)
        tid = self.tokenizer.convert_tokens_to_ids(how)
        unk = getattr(self.tokenizer, "unk_token_id", None)
        if tid is None or (tid == unk and how != getattr(self.tokenizer, "unk_token", None)):
            raise InvalidParameterError(f"baseline {how!r} is neither zero, pad, unk, mask, eos, bos nor a token of "
                                        "the model's vocabulary")
        return int(tid)

    # -------------------------------------------------------------- rows
    def forward(self, sents: Sequence[Sentence], rows: Sequence[Row], *, with_contrast: bool = False):
        """Logits (sum of len(row.steps), vocab) of every (row, step) in order, one padded pass over all rows
        (under the caller's grad mode).

        A row with a dropped column (:attr:`Row.drop`) is the shortened sequence: the positions after the
        gap move left by one. ``with_contrast`` (sentences with an aligned contrast output): each row also
        gets a *contrast row*, its source (and decoder prefix) columns followed by the contrast output, in
        the same pass; the result is then ``(logits, contrast_logits)``, the latter at each step's aligned
        contrast step (rows of unaligned steps: any position, the caller masks them).
        """
        import torch
        from torch.nn.utils.rnn import pad_sequence

        dev = self.device
        seqs, n_enc, pos = [], [], []
        for r in rows:
            s = sents[r.sent]
            seqs.append(r.emb)
            n_enc.append(s.n_src - r.shift(s.n_src) if self.seq2seq else 0)
            pos.append([s.context(t) - 1 - r.shift(s.context(t)) - n_enc[-1] for t in r.steps])
        n_main = len(seqs)
        if with_contrast:
            _, dec = self._embedders()
            for k, r in enumerate(rows):
                s = sents[r.sent]
                head = s.n_before - r.shift(s.n_before)
                with torch.no_grad():
                    tail = dec(torch.as_tensor(s.ctgt[:-1], dtype=torch.long, device=r.emb.device))
                seqs.append(torch.cat([r.emb[:head], tail.to(r.emb.dtype)]))
                n_enc.append(n_enc[k])
                pos.append([head + max(s.calign[t], 0) - 1 - n_enc[k] for t in r.steps])
        lens = [int(e.shape[0]) for e in seqs]
        self.forward_passes += len(seqs)

        def mask(ls):
            n = max(ls)
            return (torch.arange(n, device=dev)[None, :] < torch.as_tensor(ls, device=dev)[:, None]).long()

        # the LM head runs only at the positions whose logits are needed (one per step of each row), not over
        # the whole sequence: the vocabulary projection dominates the cost of small models and of long rows
        width = max(len(p) for p in pos)
        gather = torch.as_tensor([p + [p[-1]] * (width - len(p)) for p in pos], dtype=torch.long, device=dev)

        def only_needed(module, args):
            h = args[0]
            return (h[torch.arange(h.shape[0], device=h.device)[:, None], gather],) + tuple(args[1:])

        handle = self.model.get_output_embeddings().register_forward_pre_hook(only_needed)
        try:
            if not self.seq2seq:
                x = pad_sequence(seqs, batch_first=True).to(dev)
                logits = self.model(inputs_embeds=x, attention_mask=mask(lens), use_cache=False).logits
            else:
                e = pad_sequence([x[:n] for x, n in zip(seqs, n_enc)], batch_first=True).to(dev)
                d = pad_sequence([x[n:] for x, n in zip(seqs, n_enc)], batch_first=True).to(dev)
                logits = self.model(inputs_embeds=e, attention_mask=mask(n_enc), decoder_inputs_embeds=d,
                                    decoder_attention_mask=mask([a - b for a, b in zip(lens, n_enc)]),
                                    use_cache=False).logits
        finally:
            handle.remove()
        ks = torch.as_tensor([k for k, p in enumerate(pos) for _ in p], dtype=torch.long, device=logits.device)
        js = torch.as_tensor([j for p in pos for j in range(len(p))], dtype=torch.long, device=logits.device)
        out = logits[ks, js]  # one gather: per-row slices would each back-propagate a full zero tensor
        if not with_contrast:
            return out
        n = sum(len(p) for p in pos[:n_main])
        return out[:n], out[n:]

    def step_values(self, sents: Sequence[Sentence], rows: Sequence[Row], logits: Any, fn: Any,
                    contrast: dict | None = None, contrast_logits: Any = None):
        """The step target of every (row, step) from :meth:`forward`'s logits, one flat tensor in row order.

        With ``contrast_logits`` (aligned contrast outputs) the foil is scored there (``fn(...,
        contrast_logits=)``) and the steps without an aligned contrast step are NaN.
        """
        import torch

        dev = logits.device
        z = logits
        tok = torch.as_tensor([sents[r.sent].tgt[t] for r in rows for t in r.steps], dtype=torch.long, device=dev)
        foil = None
        if all(sents[r.sent].foil is not None for r in rows):
            foil = torch.as_tensor([sents[r.sent].foil[t] for r in rows for t in r.steps], dtype=torch.long,
                                   device=dev)
        q = None
        if contrast:
            q = torch.stack([contrast[r.sent][t] for r in rows for t in r.steps]).to(dev)
        if contrast_logits is None:
            return fn(z, tok, foil, q)
        vals = fn(z, tok, foil, q, contrast_logits=contrast_logits)
        aligned = torch.as_tensor([sents[r.sent].calign[t] >= 0 for r in rows for t in r.steps], device=dev)
        return torch.where(aligned, vals, torch.full_like(vals, float("nan")))

    def contrast_logprobs(self, sents: Sequence[Sentence]) -> dict:
        """Log step distributions (n_steps, vocab) on each sentence's contrast input, same target prefix."""
        import torch

        out = {}
        with torch.no_grad():
            for i, s in enumerate(sents):
                alt = Sentence(s.source, s.contrast_src, s.prefix, s.tgt, s.special)
                row = Row(0, self.embed(s, src=s.contrast_src), list(range(s.n_steps)))
                out[i] = self.forward([alt], [row]).float().log_softmax(-1)
        return out

    # -------------------------------------------------------------- packing
    def bytes_per_row(self, n_tokens: int, n_steps: int = 1) -> float:
        """Estimated bytes of a forward and backward pass of one row of ``n_tokens`` tokens giving ``n_steps``
        steps (float32): activations per token and layer, attention matrices, and the logits of the steps."""
        c = self.model.config
        h = getattr(c, "hidden_size", None) or getattr(c, "n_embd", None) or getattr(c, "d_model", 512)
        f = getattr(c, "n_inner", None) or getattr(c, "intermediate_size", None) or getattr(c, "d_ff", None) or \
            getattr(c, "decoder_ffn_dim", None) or 4 * h
        layers = (getattr(c, "num_hidden_layers", None) or getattr(c, "n_layer", None) or
                  getattr(c, "num_layers", None) or 12)
        if self.seq2seq:
            layers += getattr(c, "num_decoder_layers", None) or getattr(c, "decoder_layers", None) or layers
        heads = getattr(c, "num_attention_heads", None) or getattr(c, "n_head", None) or getattr(c, "num_heads", 12)
        per_token = layers * (34 * h + 4 * f)
        return 4.0 * (n_tokens * (per_token + 3 * layers * heads * n_tokens) + 3 * c.vocab_size * n_steps)

    def chunks(self, rows: Sequence[Row], *, batch_size: int, max_batch_tokens: int | None = None,
               max_bytes: float | None = None) -> Iterator[list[Row]]:
        """Consecutive rows packed into passes of at most ``batch_size`` rows, ``max_batch_tokens`` padded
        tokens and ``max_bytes`` estimated memory; a row over a bound alone runs alone (logged)."""
        cur: list[Row] = []
        longest = steps = 0
        for r in rows:
            n, st = int(r.emb.shape[0]), len(r.steps)
            k, m, ms = len(cur) + 1, max(longest, n), max(steps, st)
            over = k > batch_size or (max_batch_tokens is not None and k * m > max_batch_tokens) or \
                (max_bytes is not None and k * self.bytes_per_row(m, ms) > max_bytes)
            if cur and over:
                yield cur
                cur, m, ms = [], n, st
            if not cur and ((max_batch_tokens is not None and n > max_batch_tokens) or
                            (max_bytes is not None and self.bytes_per_row(n, st) > max_bytes)):
                log.warning("a row of %d tokens exceeds the memory bound; running it alone", n)
            cur.append(r)
            longest, steps = m, ms
        if cur:
            yield cur
