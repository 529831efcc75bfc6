"""A packed forward pass of a BERT-family classifier, for the many perturbed inputs of the perturbation explainers.

The perturbation and Shapley explainers (:mod:`~neuronlab.explain.perturb`) evaluate thousands of short,
ragged inputs per explanation, and nearly all of their time is the model's forward pass. transformers'
``BertModel.forward`` pads every batch to its longest row, attends over the pads, dispatches each module in
Python and computes every token of the last layer although a classifier reads one. :class:`PackedClassifier`
runs the same computation on the model's own weights with the native extraction engine's building blocks
(:class:`~neuronlab.models.engines.encoder.EncoderEngine`'s fused Q/K/V weights and
:func:`~neuronlab.models.engines.attention.attend`):

- **packed rows**: the token rows of a batch are concatenated, no padding; attention runs once per run of
  equally long sequences (a view, no mask);
- **one query in the last layer**: the head reads one hidden state per sequence ([CLS] for sequence
  classifiers, the explained word for token classifiers), so the last block computes keys and values for every
  token but queries, the output projection, LayerNorms and the feed-forward network for that token only;
- **the model's own head modules** (``pooler`` + ``classifier`` and their activations) are called on those
  rows, so the logits are the head's arithmetic on the same hidden states;
- **worker threads** (:func:`run_batches`): independent batches on ``min(threads, 4)`` threads with one
  intra-op thread each, as the native extraction engine does (small GEMMs split poorly across OpenMP threads,
  and on a busy machine a thread waiting at an OpenMP barrier burns CPU time).

The logits equal transformers' within float32 rounding (tests: 1e-5 on minilm and tiny BERTs, ragged
lengths). :func:`packed_for` decides whether a :class:`~neuronlab.models.live.LiveModel` qualifies and returns
the reason when it does not (family or head without a native path, hooks or patched ``forward`` methods
installed on the model, training mode, non-float32 weights); the explainers then use the transformers forward.

References: the packing (no padding FLOPs) is the "unpadding" of Zeng et al., "Boosting distributed training
performance of the unpadded BERT model", arXiv:2208.08124, 2022, and of Dao et al.'s FlashAttention varlen API.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InvalidParameterError, choices

__all__ = ["HEADS", "Head", "register_head", "PackedClassifier", "packed_for", "why_not_packed", "run_batches",
           "split_batches", "worker_layout", "packed_logits", "ENGINES"]

#: ``engine`` values of the perturbation explainers: ``auto`` packs where :func:`packed_for` allows it,
#: ``native`` insists (and says why it cannot), ``hf`` always runs transformers' forward
ENGINES = ("auto", "native", "hf")


@dataclass(frozen=True)
class Head:
    """How a task model turns the final hidden state of one token into logits.

    Attributes
    ----------
    token_level : bool
        False: the head reads the first token ([CLS], ``<s>``) of each sequence; True: the target's word position.
    logits : callable
        ``(model, hidden (rows, hidden)) -> logits (rows, classes)``, with the model's own modules.
    """

    token_level: bool
    logits: Callable


def _bert_sequence(model, h):
    return model.classifier(model.dropout(model.bert.pooler(h[:, None, :])))


def _roberta_sequence(model, h):
    return model.classifier(h[:, None, :])


def _distilbert_sequence(model, h):
    import torch

    return model.classifier(model.dropout(torch.relu(model.pre_classifier(h))))


def _token(model, h):
    return model.classifier(model.dropout(h))


#: transformers class name -> :class:`Head` (extend with :func:`register_head`)
HEADS: dict[str, Head] = {
    "BertForSequenceClassification": Head(False, _bert_sequence),
    "RobertaForSequenceClassification": Head(False, _roberta_sequence),
    "XLMRobertaForSequenceClassification": Head(False, _roberta_sequence),
    "CamembertForSequenceClassification": Head(False, _roberta_sequence),
    "DistilBertForSequenceClassification": Head(False, _distilbert_sequence),
    "BertForTokenClassification": Head(True, _token),
    "RobertaForTokenClassification": Head(True, _token),
    "XLMRobertaForTokenClassification": Head(True, _token),
    "DistilBertForTokenClassification": Head(True, _token),
}


def register_head(class_name: str, head: Head) -> None:
    """Let the packed forward serve the transformers task class ``class_name``."""
    HEADS[class_name] = head


def _param_key(model) -> tuple:
    """Identity of the current weights: storage and in-place version of every parameter and buffer."""
    return tuple((t.data_ptr(), t._version) for t in list(model.parameters()) + list(model.buffers()))


def why_not_packed(live: Any) -> str | None:
    """None if :class:`PackedClassifier` computes ``live``'s model exactly, else the reason (for messages).

    Checked at every call (cheap): hooks and patched ``forward`` methods (interventions, LRP rules, identity
    blocks) change what transformers' forward computes, and the packed pass would not see them.
    """
    import torch
    import torch.nn.modules.module as M

    from ..models.engines.encoder import native_support

    model = live.model
    name = type(model).__name__
    if name not in HEADS:
        return f"the head {name} has no packed forward (packed: {choices(sorted(HEADS))})"
    why = native_support(model.config.to_dict())
    if why:
        return why
    if model.training:
        return "the model is in training mode (dropout)"
    if any(p.dtype != torch.float32 for p in model.parameters()):
        return "the weights are not float32"
    if M._global_forward_hooks or M._global_forward_pre_hooks:
        return "global forward hooks are installed"
    for mname, m in model.named_modules():
        if m._forward_hooks or m._forward_pre_hooks:
            return f"a forward hook is installed on {mname or 'the model'}"
        if "forward" in m.__dict__:
            return f"the forward method of {mname or 'the model'} is patched"
    return None


_CACHE: "weakref.WeakKeyDictionary[Any, tuple[tuple, PackedClassifier]]" = weakref.WeakKeyDictionary()


def packed_for(live: Any, engine: str = "auto") -> "PackedClassifier | None":
    """The packed forward of ``live`` (cached per model and weight version), or None to use transformers'.

    Parameters
    ----------
    live : LiveModel
    engine : {"auto", "native", "hf"}

    Raises
    ------
    InvalidParameterError
        If ``engine`` is unknown, or ``"native"`` and the model does not qualify (the message says why).
    """
    if engine not in ENGINES:
        raise InvalidParameterError(f"engine must be one of {choices(ENGINES)}; got {engine!r}")
    if engine == "hf":
        return None
    why = why_not_packed(live)
    if why is not None:
        if engine == "native":
            raise InvalidParameterError(f"engine 'native' cannot run this model: {why}; use engine='auto' or 'hf'")
        return None
    key = _param_key(live.model)
    hit = _CACHE.get(live)
    if hit is not None and hit[0] == key:
        return hit[1]
    packed = PackedClassifier(live.model)
    _CACHE[live] = (key, packed)
    return packed


class PackedClassifier:
    """Logits of a BERT-family classifier on packed (unpadded) token rows.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A task model whose class is in :data:`HEADS` and whose encoder the native engine serves
        (:func:`why_not_packed` checks both).

    Examples
    --------
    >>> packed = PackedClassifier(live.model)                            # doctest: +SKIP
    >>> packed.logits([np.array([101, 2204, 3185, 102]), np.array([101, 102])], [0, 0]).shape  # doctest: +SKIP
    torch.Size([2, 2])
    """

    def __init__(self, model) -> None:
        from ..models.engines.encoder import EncoderEngine

        self.model = model
        self.head = HEADS[type(model).__name__]
        base = model.base_model
        device = str(next(model.parameters()).device)
        self.engine = EncoderEngine(model.config.to_dict(), base.state_dict(), None, {}, device=device,
                                    fingerprint="live")
        self.token_level = self.head.token_level
        self.pad_id = getattr(model.config, "pad_token_id", None)

    @property
    def device(self) -> str:
        return self.engine.device

    def check_rows(self, rows: Sequence[np.ndarray]) -> str | None:
        """None if the rows can run packed; models whose positions skip padding tokens (RoBERTa) cannot run
        rows that contain the padding token (mode ``pad``)."""
        if self.engine.pos_offset and self.pad_id is not None and any((r == self.pad_id).any() for r in rows):
            return "RoBERTa-style positions skip padding tokens"
        return None

    def logits(self, rows: Sequence[np.ndarray], query: Sequence[int] | None = None):
        """Logits (n_rows, classes) of the token rows (1-d int arrays, special tokens included).

        ``query[r]`` is the token position whose final hidden state the head reads (token classifiers; default 0,
        the first token, which is what sequence classifiers read).
        """
        import torch
        import torch.nn.functional as F

        from ..models.engines.attention import attend, equal_length_runs, plan_attention

        eng = self.engine
        lengths = [len(r) for r in rows]
        if max(lengths) + eng.pos_offset > eng.pos.shape[0]:
            raise InvalidParameterError(f"a perturbed input of {max(lengths)} tokens exceeds the model's "
                                        f"{eng.max_positions} positions")
        dev = eng.device
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        q = np.zeros(len(rows), dtype=np.int64) if query is None else np.asarray(query, dtype=np.int64)
        with torch.inference_mode():
            ids = torch.from_numpy(np.concatenate(rows).astype(np.int64)).to(dev)
            pos = torch.from_numpy(np.concatenate([np.arange(n) for n in lengths]) + eng.pos_offset).to(dev)
            x = eng.word.index_select(0, ids)
            if eng.type0 is not None:
                x += eng.type0
            x += eng.pos.index_select(0, pos)
            x = F.layer_norm(x, (x.shape[1],), eng.emb_ln[0], eng.emb_ln[1], eng.eps)
            if eng.emb_proj is not None:
                x = torch.addmm(eng.emb_proj[1], x, eng.emb_proj[0].t())
            d, H = eng.hidden, eng.n_heads
            scale = 1.0 / math.sqrt(eng.head_dim)
            plan = plan_attention(lengths, dev, buckets=False)
            for p in eng.layers[:-1]:
                qkv = torch.addmm(p["qkv_b"], x, p["qkv_w"].t())
                ctx = torch.empty((x.shape[0], d), dtype=x.dtype, device=dev)
                attend(qkv, ctx, plan, H, scale)
                del qkv
                r = torch.add(x, p["o_b"]).addmm_(ctx, p["o_w"].t())
                x = F.layer_norm(r, (d,), p["ln1"][0], p["ln1"][1], eng.eps)
                h = eng.act(torch.addmm(p["i_b"], x, p["i_w"].t()))
                r = torch.add(x, p["f_b"]).addmm_(h, p["f_w"].t())
                x = F.layer_norm(r, (d,), p["ln2"][0], p["ln2"][1], eng.eps)
            qrows = torch.from_numpy(starts + q).to(dev)
            x = self._last_layer(x, qrows, equal_length_runs(lengths)) if eng.layers else x.index_select(0, qrows)
            return self.head.logits(self.model, x)

    def _last_layer(self, x, qrows, runs):
        """The last block for one query token per sequence: keys and values of all tokens, the rest for the query."""
        import torch
        import torch.nn.functional as F

        eng = self.engine
        p = eng.layers[-1]
        d, H, dh = eng.hidden, eng.n_heads, eng.head_dim
        kv = torch.addmm(p["qkv_b"][d:], x, p["qkv_w"][d:].t())             # (tokens, 2 hidden): k | v
        xq = x.index_select(0, qrows)
        qv = torch.addmm(p["qkv_b"][:d], xq, p["qkv_w"][:d].t())            # (sequences, hidden)
        ctx = torch.empty_like(xq)
        seq = 0
        for start, b, T in runs:
            blk = kv[start:start + b * T].view(b, T, 2, H, dh)
            k, v = blk[:, :, 0].transpose(1, 2), blk[:, :, 1].transpose(1, 2)
            qq = qv[seq:seq + b].view(b, 1, H, dh).transpose(1, 2)
            o = F.scaled_dot_product_attention(qq, k, v, scale=1.0 / math.sqrt(dh))
            ctx[seq:seq + b] = o.transpose(1, 2).reshape(b, d)
            seq += b
        r = torch.add(xq, p["o_b"]).addmm_(ctx, p["o_w"].t())
        xq = F.layer_norm(r, (d,), p["ln1"][0], p["ln1"][1], eng.eps)
        h = eng.act(torch.addmm(p["i_b"], xq, p["i_w"].t()))
        r = torch.add(xq, p["f_b"]).addmm_(h, p["f_w"].t())
        return F.layer_norm(r, (d,), p["ln2"][0], p["ln2"][1], eng.eps)


#: worker threads at most (as the extractor: more than 4 small batches at once gain nothing on a CPU)
MAX_WORKERS = 4


def worker_layout(n_batches: int, *, device: str = "cpu") -> tuple[int, int]:
    """``(workers, intra-op threads per worker)`` for ``n_batches`` batches: ``min(threads, 4)`` workers on a CPU
    with several torch threads, one otherwise."""
    import torch

    threads = torch.get_num_threads()
    workers = min(threads, MAX_WORKERS)
    if workers <= 1 or n_batches < 1 or not str(device).startswith("cpu"):
        return 1, threads
    return workers, max(1, threads // workers)


def split_batches(batches: Sequence[np.ndarray], lengths: Sequence[int], parts: int) -> list[np.ndarray]:
    """Work units for ``parts`` workers: the batches themselves when there are enough of them, else each batch's
    rows cut into consecutive pieces of about equal tokens (a forward pass shared out by sequences).

    >>> [u.tolist() for u in split_batches([np.arange(4)], [2, 2, 3, 5], 2)]
    [[0, 1, 2], [3]]
    """
    if len(batches) >= parts:
        return list(batches)
    each = -(-parts // max(len(batches), 1))
    units = []
    for b in batches:
        tok = np.cumsum([lengths[r] for r in b])
        cut = np.searchsorted(tok, tok[-1] * np.arange(1, each) / each, side="left") + 1 if len(b) else []
        units.extend(u for u in np.split(np.asarray(b), np.unique(np.clip(cut, 1, len(b)))) if len(u))
    return units


def run_batches(fn: Callable[[Any], Any], batches: Sequence[Any], *, device: str = "cpu") -> list:
    """``[fn(b) for b in batches]``, on worker threads with one intra-op thread each where that helps.

    On a CPU with ``t = torch.get_num_threads() > 1``, ``min(t, 4)`` worker threads (:func:`worker_layout`) each
    run whole batches with ``t // workers`` intra-op threads (a single batch runs on the calling thread with that
    many); results come back in batch order (each batch is computed independently, so they do not depend on the
    number of workers). The calling thread's thread count is restored afterwards.
    """
    import torch

    threads = torch.get_num_threads()
    workers, per = worker_layout(len(batches), device=device)
    workers = min(workers, len(batches))
    try:
        if workers <= 1:
            torch.set_num_threads(per)
            return [fn(b) for b in batches]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="neuronlab-explain",
                                initializer=torch.set_num_threads, initargs=(per,)) as pool:
            return list(pool.map(fn, batches))
    finally:
        torch.set_num_threads(threads)


def packed_logits(packed: PackedClassifier, rows: Sequence[np.ndarray], query: Sequence[int] | None = None):
    """:meth:`PackedClassifier.logits` of one batch, shared out by sequences over the worker threads."""
    import torch

    units = split_batches([np.arange(len(rows))], [len(r) for r in rows], worker_layout(1, device=packed.device)[0])
    q = None if query is None else np.asarray(query)
    parts = run_batches(lambda u: packed.logits([rows[r] for r in u], None if q is None else q[u]), units,
                        device=packed.device)
    return torch.cat(parts)
