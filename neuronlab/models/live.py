"""The live-model layer: a model with a task head, inputs -> scalar targets, and scoped site hooks.

Attribution, the input-level methods and steering all hold a :class:`LiveModel`. It offers

- :meth:`LiveModel.encode`: sentences (strings) or pre-split words -> an :class:`Encoded` batch (padded
  ids, attention mask, word <-> token alignment as the extractor has it);
- :meth:`LiveModel.target`: the forward function from an encoded batch (or some of its rows, repeated)
  to one scalar per row (a :class:`~neuronlab.models.targets.Target`: class logit, probability,
  log-probability, loss; a word position for token tasks; a start/end span logit);
- scoped hooks by site name (all built on :class:`~neuronlab.models.capture.SiteHooks`, removed in
  ``finally``): :meth:`LiveModel.read` (record), :meth:`LiveModel.replace` (any function of the value),
  :meth:`LiveModel.intervene` (a registered intervention: set neurons, add a direction, scale),
  :meth:`LiveModel.differentiate` (expose the value as a tensor to differentiate against);
- :meth:`LiveModel.run_from`: the target with a site's value replaced, skipping the blocks below the site
  (their output is cached), which is what makes batched ablation and layer IG cheap.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..errors import InvalidParameterError, UnknownModelError, choices
from ..sites import expand_sites, is_attention_probs, parse_site
from .adapters import Adapter, get_adapter
from .capture import SiteCapture, SiteHooks, StopForward, get_module, model_sites
from .targets import as_target

__all__ = ["HEADS", "INTERVENTIONS", "register_intervention", "Encoded", "LiveModel", "load_live"]

log = logging.getLogger(__name__)

#: head name -> transformers auto class
HEADS: dict[str, str] = {
    "base": "AutoModel",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "masked-lm": "AutoModelForMaskedLM",
    "causal-lm": "AutoModelForCausalLM",
    "seq2seq-lm": "AutoModelForSeq2SeqLM",
}
_ARCH_SUFFIX = {"ForSequenceClassification": "sequence-classification",
                "ForTokenClassification": "token-classification",
                "ForQuestionAnswering": "question-answering", "ForMaskedLM": "masked-lm", "ForCausalLM": "causal-lm",
                "LMHeadModel": "causal-lm"}


def _head_of(config) -> str:
    for arch in getattr(config, "architectures", None) or []:
        for suffix, head in _ARCH_SUFFIX.items():
            if arch.endswith(suffix):
                return head
    return "base"


# ------------------------------------------------------------------ interventions
def _neuron_index(neurons, width: int, device):
    import torch

    if neurons is None:
        return slice(None)
    idx = torch.as_tensor(neurons, dtype=torch.long).reshape(-1)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= width):
        bad = int(idx[(idx < 0) | (idx >= width)][0])
        raise InvalidParameterError(f"neuron {bad} is out of range: the site has {width} neurons (0..{width - 1})")
    return idx.to(device)


def _set(value, neurons, arg):
    import torch

    out = value.clone()
    idx = _neuron_index(neurons, value.shape[-1], value.device)
    out[..., idx] = torch.as_tensor(arg, dtype=value.dtype, device=value.device)
    return out


def _add(value, neurons, arg):
    import torch

    out = value.clone()
    idx = _neuron_index(neurons, value.shape[-1], value.device)
    out[..., idx] = out[..., idx] + torch.as_tensor(arg, dtype=value.dtype, device=value.device)
    return out


def _scale(value, neurons, arg):
    import torch

    out = value.clone()
    idx = _neuron_index(neurons, value.shape[-1], value.device)
    out[..., idx] = out[..., idx] * torch.as_tensor(arg, dtype=value.dtype, device=value.device)
    return out


#: name -> fn(value (..., width), neurons (index array or None = all), argument) -> new value
INTERVENTIONS: dict[str, Callable] = {"set": _set, "add": _add, "scale": _scale}


def register_intervention(name: str, fn: Callable) -> None:
    """Add an intervention ``fn(value, neurons, argument) -> new value`` (must not modify ``value`` in place)."""
    INTERVENTIONS[name] = fn


# ------------------------------------------------------------------ inputs
@dataclass
class Encoded:
    """A padded batch of inputs with its word alignment.

    Attributes
    ----------
    input_ids, attention_mask : torch.LongTensor of shape (n_examples, n_tokens)
    word_ids : list of list of int
        Word of each token, -1 for special and padding tokens.
    tokens : list of list of str
        Subword strings (without padding).
    words : list of list of str or None
        The pre-split words, when the inputs were given as words.
    """

    input_ids: Any
    attention_mask: Any
    word_ids: list
    tokens: list
    words: list | None = None

    @property
    def n_examples(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def lengths(self) -> list[int]:
        return [int(x) for x in self.attention_mask.sum(1).tolist()]

    def n_words(self, i: int) -> int:
        return max(self.word_ids[i], default=-1) + 1

    def word_token(self, i: int, word: int, what: str = "position") -> int:
        """Token position of the first subword of ``word`` in example ``i``."""
        n = self.n_words(i)
        if not 0 <= word < n:
            raise InvalidParameterError(f"target {what}: word {word} is out of range for example {i} "
                                        f"({n} words, 0..{n - 1})")
        return self.word_ids[i].index(word)

    def content_mask(self):
        """Bool tensor (n_examples, n_tokens): True at tokens that belong to a word."""
        import torch

        return torch.as_tensor([[w >= 0 for w in ws] for ws in self.word_ids])


def _is_words(inputs) -> bool:
    return bool(inputs) and all(isinstance(x, (list, tuple)) for x in inputs)


# ------------------------------------------------------------------ the live model
class LiveModel:
    """A transformers model (with its task head), its tokenizer and its site adapter, ready to be probed live.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        Any model whose ``config.model_type`` has a site adapter; put in eval mode here.
    tokenizer : transformers tokenizer (fast)
    adapter : Adapter, optional
        Looked up from ``config.model_type`` when omitted.
    info : dict, optional
        Provenance (name, path, weight fingerprint), as :func:`~neuronlab.models.load_model` records it.
    """

    def __init__(self, model, tokenizer, adapter: Adapter | None = None, info: dict | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.adapter = adapter or get_adapter(model.config.model_type)
        self.info = dict(info or {"name": getattr(model.config, "_name_or_path", None),
                                  "model_type": model.config.model_type})
        self._sites = model_sites(model, self.adapter)
        self._probs_sites: dict | None = None
        self._widths: dict[str, int] = {}
        self._skip_ok: dict[str, bool] = {}
        self._block_tuple: bool | None = None

    @classmethod
    def from_loaded(cls, loaded) -> "LiveModel":
        """Wrap a :class:`~neuronlab.models.loading.LoadedModel`."""
        return cls(loaded.model, loaded.tokenizer, loaded.adapter, loaded.info)

    # -------------------------------------------------------------- description
    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def sites(self) -> list[str]:
        return list(self._sites)

    @property
    def attention_sites(self) -> list[str]:
        """The attention-probability sites ``layers.L.attn.probs`` (live only; their units are the heads)."""
        if self._probs_sites is None:
            from .attention_probs import probs_sites

            self._probs_sites = probs_sites(self.model, self.adapter)
        return list(self._probs_sites)

    def site(self, name: str) -> str:
        """Validate one site name (no globs).

        Raises
        ------
        UnknownSiteError
            If the model has no such site (the message lists the valid ones).
        """
        if not isinstance(name, str) or "," in name or "*" in name:
            raise InvalidParameterError(f"site: expected one site name, got {name!r}")
        if is_attention_probs(name):
            return expand_sites([name], self.attention_sites)[0]
        return expand_sites([name], self._sites)[0]

    def width(self, site: str) -> int:
        """Neurons of a site (found by a short forward pass, cached)."""
        site = self.site(site)
        if site not in self._widths:
            enc = self.encode([["hello", "world"]])
            if is_attention_probs(site):  # the units of an attention-probability site are its heads
                self._widths[site] = int(self.attention(enc, site).shape[1])
            else:
                self._widths[site] = int(self.activations(enc, site).shape[-1])
        return self._widths[site]

    def check_neurons(self, site: str, neurons) -> list[int]:
        """Neuron indices as a list of ints, checked against the site's width."""
        import numpy as np

        arr = np.asarray(neurons if neurons is not None else [], dtype=np.int64).reshape(-1)
        w = self.width(site)
        bad = arr[(arr < 0) | (arr >= w)]
        if bad.size:
            raise InvalidParameterError(f"neuron {int(bad[0])} is out of range: site {site!r} has {w} neurons "
                                        f"(0..{w - 1})")
        return arr.tolist()

    # -------------------------------------------------------------- inputs
    def encode(self, inputs) -> Encoded:
        """Tokenise sentences (strings) or pre-split sentences (lists of words) into a padded batch.

        Raises
        ------
        InvalidParameterError
            If ``inputs`` is empty or mixes strings and word lists.
        """
        import torch

        if isinstance(inputs, Encoded):
            return inputs
        if isinstance(inputs, str):
            inputs = [inputs]
        inputs = list(inputs)
        if not inputs:
            raise InvalidParameterError("inputs: no sentences given")
        words = _is_words(inputs)
        if not words and not all(isinstance(x, str) for x in inputs):
            raise InvalidParameterError("inputs: give strings (sentences) or lists of words, not a mixture")
        if words:
            inputs = [[str(w) for w in s] for s in inputs]
            if any(len(s) == 0 for s in inputs):
                raise InvalidParameterError("inputs: an input sentence has no words")
        enc = self.tokenizer(inputs, is_split_into_words=words, padding=True, truncation=True, return_tensors="pt")
        mask = enc["attention_mask"]
        word_ids = [[-1 if w is None else int(w) for w in enc.word_ids(i)] for i in range(len(inputs))]
        tokens = [self.tokenizer.convert_ids_to_tokens(enc["input_ids"][i][mask[i].bool()].tolist())
                  for i in range(len(inputs))]
        return Encoded(enc["input_ids"].to(torch.long), mask.to(torch.long), word_ids, tokens,
                       inputs if words else None)

    # -------------------------------------------------------------- forward
    def forward(self, enc: Encoded, rows=None, *, inputs_embeds=None):
        """The model's output for the examples ``rows`` (repeats allowed; default all), under the caller's hooks.

        With ``inputs_embeds`` (a tensor (n_rows, n_tokens, hidden) of *word* embeddings, as
        :meth:`embed` returns them, possibly perturbed) the model runs from those instead of the token
        ids; position and segment embeddings are added by the model as usual. This is the input of the
        input-level methods (:mod:`neuronlab.explain`): gradients, integrated gradients, SmoothGrad.
        """
        import torch

        dev = self.device
        ids, mask = enc.input_ids, enc.attention_mask
        if rows is not None:
            rows = torch.as_tensor(rows, dtype=torch.long)
            ids, mask = ids[rows], mask[rows]
        if inputs_embeds is not None:
            if tuple(inputs_embeds.shape[:2]) != tuple(ids.shape):
                raise InvalidParameterError(
                    f"inputs_embeds has shape {tuple(inputs_embeds.shape)}; expected ({ids.shape[0]}, {ids.shape[1]}, "
                    "hidden) for these rows")
            return self.model(inputs_embeds=inputs_embeds.to(dev), attention_mask=mask.to(dev))
        return self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev))

    def embedding_matrix(self):
        """The input (word) embedding matrix, a tensor (vocabulary, hidden)."""
        return self.model.get_input_embeddings().weight

    def embed(self, enc: Encoded, rows=None, *, ids=None):
        """Word embeddings of the tokens of ``rows`` (or of the token ids ``ids``), a tensor (n, tokens, hidden).

        No position or segment embedding is added (the model adds them in :meth:`forward`); the result
        is detached.
        """
        import torch

        if ids is None:
            ids = enc.input_ids if rows is None else enc.input_ids[torch.as_tensor(rows, dtype=torch.long)]
        with torch.no_grad():
            return self.model.get_input_embeddings()(torch.as_tensor(ids, dtype=torch.long).to(self.device))

    def special_token_id(self, kind: str) -> int:
        """Id of the tokenizer's ``pad``, ``mask``, ``unk``, ``cls`` or ``sep`` token.

        Raises
        ------
        InvalidParameterError
            If the tokenizer has no such token.
        """
        value = getattr(self.tokenizer, f"{kind}_token_id", None)
        if value is None:
            raise InvalidParameterError(f"the tokenizer has no {kind} token; choose another baseline/replacement")
        return int(value)

    def target(self, enc: Encoded, target, rows=None, *, resolved=None):
        """Target values (shape (n_rows,)) of a forward pass over ``rows`` of ``enc``, under the caller's hooks."""
        resolved = resolved or as_target(target).resolve(enc)
        return resolved(self.forward(enc, rows), rows)

    def resolve_target(self, enc: Encoded, target):
        """Bind a target to a batch (validates positions); returns a callable ``(output, rows) -> values``."""
        return as_target(target).resolve(enc)

    # -------------------------------------------------------------- hooks
    def hooks(self, fns: Mapping[str, Callable]) -> SiteHooks:
        """Scoped hooks: ``{site: fn(value) -> replacement or None}``."""
        return SiteHooks(self.model, self.adapter, {self.site(s): f for s, f in fns.items()})

    def read(self, sites, *, stop_early: bool = False) -> SiteCapture:
        """Scoped recording of ``sites`` (names or globs); values in ``.outputs`` after each forward pass."""
        return SiteCapture(self.model, self.adapter, sites, stop_early=stop_early)

    def replace(self, site: str, fn: Callable) -> SiteHooks:
        """Scoped replacement of a site's value by ``fn(value)``."""
        return self.hooks({site: fn})

    def intervene(self, site: str, kind: str, *, neurons=None, value=0.0) -> SiteHooks:
        """Scoped registered intervention (:data:`INTERVENTIONS`) on ``neurons`` of ``site``.

        Examples
        --------
        >>> with live.intervene("layers.3", "set", neurons=[5, 17], value=0.0):   # doctest: +SKIP
        ...     out = live.forward(enc)
        """
        if kind not in INTERVENTIONS:
            raise InvalidParameterError(f"intervention {kind!r} is unknown; choose one of {choices(INTERVENTIONS)}")
        site = self.site(site)
        if neurons is not None:
            self.check_neurons(site, neurons)
        fn = INTERVENTIONS[kind]
        return self.hooks({site: lambda v: fn(v, neurons, value)})

    @contextlib.contextmanager
    def differentiate(self, site: str, *, cut: bool = True, transform: Callable | None = None):
        """Scoped: expose a site's value as a tensor to take gradients against.

        Yields a :class:`Probe` whose ``value`` is set at each forward pass. With ``cut=True`` the value is
        detached and made a leaf (gradients stop there: cheaper, enough for d target / d site); with
        ``cut=False`` it stays in the graph (for gradients further down, as neuron conductance needs).
        ``transform`` (optional) maps the value before it is exposed (e.g. an interpolation).
        """
        probe = Probe()

        def fn(v):
            if transform is not None:
                v = transform(v)
            if cut:
                v = v.detach().requires_grad_(True)
            probe.value = v
            return v

        with self.hooks({site: fn}):
            yield probe

    def activations(self, enc: Encoded, site: str, rows=None):
        """The value of ``site`` (tensor (n_rows, n_tokens, width), no grad), computing no further than needed."""
        import torch

        site = self.site(site)
        with self.read([site], stop_early=True) as cap, torch.no_grad():
            try:
                self.forward(enc, rows)
            except StopForward:
                pass
            return cap.outputs[site]

    def attention(self, enc: Encoded, site: str, rows=None):
        """Attention probabilities of ``layers.L.attn.probs`` (tensor (n_rows, heads, tokens, tokens), no grad).

        Padded key positions hold 0; rows of padded query positions are meaningless.
        """
        import torch

        site = self.site(site)
        if not is_attention_probs(site):
            raise InvalidParameterError(f"site {site!r} is not an attention-probability site (layers.L.attn.probs)")
        seen = {}

        def record(a):
            seen["a"] = a.detach()

        with self.hooks({site: record}), torch.no_grad():
            self.forward(enc, rows)
        return seen["a"]

    # -------------------------------------------------------------- running from a site
    def _stack_layers(self):
        spec = self.adapter.stacks[None]
        return get_module(self.model.base_model, spec.layers)

    def _skip_plan(self, site: str):
        """``(n_identity_blocks, cache_site)`` for running from ``site``, or None where nothing can be skipped."""
        if self.adapter.kind != "encoder" or None not in self.adapter.stacks:
            return None
        p = parse_site(site)
        if p["embeddings"]:
            return None
        L = p["layer"]
        if p["sub"] is None:
            return (L + 1, None)  # blocks 0..L do nothing; the site hook of block L's output puts the value
        if L == 0:
            return None
        return (L, f"layers.{L - 1}")  # blocks 0..L-1 do nothing; block L-1's output is the cached value

    @contextlib.contextmanager
    def _identity_blocks(self, n: int):
        layers = self._stack_layers()
        as_tuple = bool(self._block_tuple)

        def identity(hidden_states, *args, **kwargs):
            return (hidden_states,) if as_tuple else hidden_states

        patched = []
        try:
            for i in range(n):
                layers[i].forward = identity
                patched.append(layers[i])
            yield
        finally:
            for m in patched:
                del m.forward

    def _learn_block_type(self, enc: Encoded) -> None:
        if self._block_tuple is not None:
            return
        import torch

        seen = {}

        def look(module, args, output):
            seen["t"] = isinstance(output, tuple)

        h = self._stack_layers()[0].register_forward_hook(look)
        try:
            with torch.no_grad():
                self.forward(enc, [0])
        finally:
            h.remove()
        self._block_tuple = seen.get("t", False)

    def run_from(self, enc: Encoded, site: str, values, target, rows, *, resolved=None, cache=None, grad=False):
        """Target values with ``site``'s value replaced by ``values`` (rows x tokens x width), blocks below skipped.

        Parameters
        ----------
        enc : Encoded
        site : str
        values : torch.Tensor of shape (n_rows, n_tokens, width)
            The site's value for each row.
        target : Target or int
        rows : sequence of int
            The example of each row.
        cache : dict, optional
            Reused across calls on the same batch and site (cached activations below the site).
        grad : bool
            Keep the autograd graph (for gradients with respect to ``values``).

        Notes
        -----
        For single-stack encoders the blocks below the site are replaced by identities for the call
        (their output comes from a cache); the first call per site checks the shortcut against a full
        forward pass and falls back to full passes (logged) if they disagree.
        """
        import torch

        site = self.site(site)
        resolved = resolved or as_target(target).resolve(enc)
        rows = torch.as_tensor(rows, dtype=torch.long)
        cache = {} if cache is None else cache
        plan = self._skip_plan(site)
        ctx = torch.enable_grad() if grad else torch.no_grad()
        if plan is not None and self._skip_ok.get(site) is None:
            self._check_skip(enc, site, plan, resolved, cache)
        with ctx:
            if plan is None or not self._skip_ok.get(site):
                with self.replace(site, lambda v: values):
                    return resolved(self.forward(enc, rows), rows)
            return self._run_skipping(enc, site, plan, values, resolved, rows, cache)

    def _run_skipping(self, enc, site, plan, values, resolved, rows, cache):
        n_id, cache_site = plan
        fns = {site: lambda v: values}
        if cache_site is not None:
            if cache_site not in cache:
                cache[cache_site] = self.activations(enc, cache_site)
            below = cache[cache_site][rows.to(cache[cache_site].device)]
            fns[cache_site] = lambda v: below
        with self._identity_blocks(n_id), self.hooks(fns):
            return resolved(self.forward(enc, rows), rows)

    def _check_skip(self, enc, site, plan, resolved, cache) -> None:
        import torch

        self._learn_block_type(enc)
        rows = torch.arange(min(enc.n_examples, 2))
        with torch.no_grad():
            full = resolved(self.forward(enc, rows), rows)
            vals = self.activations(enc, site, rows)
            try:
                fast = self._run_skipping(enc, site, plan, vals, resolved, rows, cache)
                ok = bool(torch.allclose(fast, full, rtol=1e-4, atol=1e-5))
            except Exception as exc:  # noqa: BLE001 - any failure of the shortcut means: do full passes
                log.info("skipping blocks below %s failed (%s); using full forward passes", site, exc)
                ok = False
        if not ok:
            log.info("skipping blocks below %s does not reproduce the full forward pass; using full passes", site)
        self._skip_ok[site] = ok


class Probe:
    """Holds the value a :meth:`LiveModel.differentiate` hook saw at the last forward pass."""

    value: Any = None


def load_live(spec: str, *, head: str = "auto", device: str = "cpu", num_labels: int | None = None,
              seed: int = 0, torch_dtype: str = "float32") -> LiveModel:
    """Load a model with its task head for live analysis.

    Parameters
    ----------
    spec : str
        Alias (``minilm``), local directory or Hugging Face id (see :func:`~neuronlab.models.load_model`).
    head : str
        ``auto`` (the head the checkpoint's ``config.architectures`` names, else ``base``) or a key of
        :data:`HEADS`. A head the checkpoint lacks is initialised at random from ``seed``.
    device : str
    num_labels : int, optional
        Classes of a new classification head.
    seed : int
    torch_dtype : str

    Raises
    ------
    UnknownModelError
        If the model cannot be resolved, its architecture has no adapter, or the head is unknown.
    """
    import torch
    import transformers

    from .loading import _auto_config, _first_line, _quiet_transformers, check_device, resolve_model_path
    from .loading import weight_fingerprint

    check_device(device)
    _quiet_transformers()
    path, local = resolve_model_path(spec)
    try:
        config = _auto_config(transformers, path, local)
    except Exception as exc:  # noqa: BLE001 - hub/network errors come in many types
        raise UnknownModelError(f"cannot load model {spec!r} ({type(exc).__name__}: {_first_line(exc)})") from None
    adapter = get_adapter(config.model_type)
    head = _head_of(config) if head == "auto" else head
    if head not in HEADS:
        raise UnknownModelError(f"head {head!r} is unknown; choose auto or one of {choices(HEADS)}")
    kwargs: dict = {"torch_dtype": getattr(torch, torch_dtype)}
    if num_labels is not None:
        kwargs["num_labels"] = int(num_labels)
    torch.manual_seed(seed)
    model = getattr(transformers, HEADS[head]).from_pretrained(path, **kwargs)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, **adapter.tokenizer_kwargs)
    model.eval().to(device)
    info = {"name": spec, "path": path if local else None, "model_type": config.model_type, "head": head,
            "class": type(model).__name__, "seed": seed, "weights_sha256": weight_fingerprint(model)}
    return LiveModel(model, tokenizer, adapter, info)
