"""The native engine for post-LayerNorm encoders: BERT, RoBERTa/XLM-R/CamemBERT, ELECTRA, DistilBERT.

The forward pass is written directly on the checkpoint's tensors, in the form that suits extraction:

- **no padding**: the sequences of a batch are packed row after row (``n_tokens x hidden``), so every
  linear layer multiplies only real tokens; attention runs on each run of equally long sequences as a
  ``(b, heads, T, head_dim)`` view of the packed rows, which needs no mask and no copy of its inputs;
- **fused projections**: query, key and value are one GEMM (``hidden -> 3 hidden``); biases, residual
  adds and activations happen in place on the GEMM outputs where no requested site still needs them;
- **sites are the forward pass's own values**: ``layers.L.attn.heads`` is the attention context,
  ``layers.L.attn`` the output projection before the residual add, ``layers.L.mlp`` the FFN activation,
  ``layers.L`` the block output; nothing after the deepest requested site is computed;
- **thread-safe**: :meth:`EncoderEngine.run` only reads the weights, so the extractor runs several batches
  at once, one per worker thread with its own intra-op threads (on 2 cores: 2 workers x 1 thread, which
  keeps each small GEMM on one core instead of splitting it).

Numerically this is the computation of transformers' ``BertModel`` (``RobertaModel``, ...) in float32,
up to the order of floating-point operations: tests compare every site with transformers' own forward
pass on tiny random models of each family and on the pretrained minilm.

Which checkpoints qualify is decided by :func:`native_support`: the family must be registered in
:data:`ENCODER_SPECS`, use absolute position embeddings, an activation from :data:`ACTIVATIONS`, and
no cross-attention. Anything else runs on the ``hf`` engine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from ...errors import UnknownModelError, choices
from ...sites import parse_site
from .attention import attend, plan_attention
from .base import Engine, block_sites

__all__ = ["EncoderSpec", "ENCODER_SPECS", "register_encoder", "ACTIVATIONS", "native_support", "EncoderEngine"]


# ---------------------------------------------------------------------- activations (in place)
def _gelu_(x):
    import torch

    return torch._C._nn.gelu_(x)


def _gelu_tanh_(x):
    import torch

    return torch._C._nn.gelu_(x, approximate="tanh")


def _relu_(x):
    return x.relu_()


def _silu_(x):
    import torch

    return torch.nn.functional.silu(x, inplace=True)


#: config activation name -> in-place function (the same function as transformers' ACT2FN entry)
ACTIVATIONS: dict[str, Callable] = {
    "gelu": _gelu_,  # exact (erf) GELU, transformers' GELUActivation
    "gelu_new": _gelu_tanh_,  # tanh approximation (NewGELUActivation)
    "gelu_pytorch_tanh": _gelu_tanh_,
    "relu": _relu_,
    "silu": _silu_,
    "swish": _silu_,
}


# ---------------------------------------------------------------------- family specs
@dataclass(frozen=True)
class EncoderSpec:
    """Where a post-LN encoder family keeps its weights and hyper-parameters.

    Attributes
    ----------
    family : str
        Family name recorded in the store (matches the ``hf`` adapter's name).
    model_types : tuple of str
        ``config.model_type`` values.
    prefixes : tuple of str
        Checkpoint key prefixes of task models (``bert.`` in ``BertForMaskedLM``), stripped on load.
    emb : dict
        Embedding tensors: ``word``, ``pos``, optional ``type``, ``ln_w``, ``ln_b``, optional ``proj_w``/``proj_b``.
    layer : dict
        Per-block tensors with ``{L}``: ``q_w q_b k_w k_b v_w v_b o_w o_b ln1_w ln1_b i_w i_b f_w f_b ln2_w ln2_b``.
    config : dict
        Logical hyper-parameter -> ``(config key, default)``: ``hidden``, ``heads``, ``layers``, ``act``,
        ``eps``, ``pad``, ``max_positions``.
    position_offset : callable
        ``config dict -> int``: the position id of the first token (RoBERTa: ``pad_token_id + 1``).
    """

    family: str
    model_types: tuple
    prefixes: tuple
    emb: dict
    layer: dict
    config: dict
    position_offset: Callable[[dict], int] = lambda cfg: 0
    reserved_positions: Callable[[dict], int] = lambda cfg: 0
    extra_checks: tuple = field(default_factory=tuple)

    def get(self, cfg: Mapping, key: str):
        name, default = self.config[key]
        value = cfg.get(name, default)
        return default if value is None else value


_BERT_LAYER = {
    "q_w": "encoder.layer.{L}.attention.self.query.weight", "q_b": "encoder.layer.{L}.attention.self.query.bias",
    "k_w": "encoder.layer.{L}.attention.self.key.weight", "k_b": "encoder.layer.{L}.attention.self.key.bias",
    "v_w": "encoder.layer.{L}.attention.self.value.weight", "v_b": "encoder.layer.{L}.attention.self.value.bias",
    "o_w": "encoder.layer.{L}.attention.output.dense.weight", "o_b": "encoder.layer.{L}.attention.output.dense.bias",
    "ln1_w": "encoder.layer.{L}.attention.output.LayerNorm.weight",
    "ln1_b": "encoder.layer.{L}.attention.output.LayerNorm.bias",
    "i_w": "encoder.layer.{L}.intermediate.dense.weight", "i_b": "encoder.layer.{L}.intermediate.dense.bias",
    "f_w": "encoder.layer.{L}.output.dense.weight", "f_b": "encoder.layer.{L}.output.dense.bias",
    "ln2_w": "encoder.layer.{L}.output.LayerNorm.weight", "ln2_b": "encoder.layer.{L}.output.LayerNorm.bias",
}
_BERT_EMB = {
    "word": "embeddings.word_embeddings.weight", "pos": "embeddings.position_embeddings.weight",
    "type": "embeddings.token_type_embeddings.weight",
    "ln_w": "embeddings.LayerNorm.weight", "ln_b": "embeddings.LayerNorm.bias",
}
_BERT_CONFIG = {
    "hidden": ("hidden_size", 768), "heads": ("num_attention_heads", 12), "layers": ("num_hidden_layers", 12),
    "act": ("hidden_act", "gelu"), "eps": ("layer_norm_eps", 1e-12), "pad": ("pad_token_id", 0),
    "max_positions": ("max_position_embeddings", 512),
}
_ROBERTA_CONFIG = dict(_BERT_CONFIG, pad=("pad_token_id", 1))
_BERT_CHECKS = (
    ("position_embedding_type", ("absolute", None), "relative position embeddings"),
    ("is_decoder", (False, None), "a decoder (causal) BERT"),
    ("add_cross_attention", (False, None), "cross-attention"),
)

#: model_type -> spec
ENCODER_SPECS: dict[str, EncoderSpec] = {}


def register_encoder(spec: EncoderSpec) -> EncoderSpec:
    """Serve ``spec.model_types`` with the native encoder engine."""
    for mt in spec.model_types:
        ENCODER_SPECS[mt] = spec
    return spec


def _roberta_pad(cfg: Mapping) -> int:
    pad = cfg.get("pad_token_id")
    return 1 if pad is None else int(pad)


register_encoder(EncoderSpec("BERT", ("bert",), ("bert.",), _BERT_EMB, _BERT_LAYER, _BERT_CONFIG,
                             extra_checks=_BERT_CHECKS))
register_encoder(EncoderSpec(
    "BERT", ("roberta", "xlm-roberta", "camembert"), ("roberta.",), _BERT_EMB, _BERT_LAYER, _ROBERTA_CONFIG,
    # positions count from padding_idx + 1 (transformers' create_position_ids_from_input_ids)
    position_offset=lambda cfg: _roberta_pad(cfg) + 1,
    reserved_positions=lambda cfg: _roberta_pad(cfg) + 1,  # positions 0..pad are never used
    extra_checks=_BERT_CHECKS,
))
register_encoder(EncoderSpec(
    "ELECTRA", ("electra",), ("electra.",),
    dict(_BERT_EMB, proj_w="embeddings_project.weight", proj_b="embeddings_project.bias"),
    _BERT_LAYER, _BERT_CONFIG, extra_checks=_BERT_CHECKS,
))
register_encoder(EncoderSpec(
    "DistilBERT", ("distilbert",), ("distilbert.",),
    {"word": "embeddings.word_embeddings.weight", "pos": "embeddings.position_embeddings.weight",
     "ln_w": "embeddings.LayerNorm.weight", "ln_b": "embeddings.LayerNorm.bias"},
    {
        "q_w": "transformer.layer.{L}.attention.q_lin.weight", "q_b": "transformer.layer.{L}.attention.q_lin.bias",
        "k_w": "transformer.layer.{L}.attention.k_lin.weight", "k_b": "transformer.layer.{L}.attention.k_lin.bias",
        "v_w": "transformer.layer.{L}.attention.v_lin.weight", "v_b": "transformer.layer.{L}.attention.v_lin.bias",
        "o_w": "transformer.layer.{L}.attention.out_lin.weight",
        "o_b": "transformer.layer.{L}.attention.out_lin.bias",
        "ln1_w": "transformer.layer.{L}.sa_layer_norm.weight", "ln1_b": "transformer.layer.{L}.sa_layer_norm.bias",
        "i_w": "transformer.layer.{L}.ffn.lin1.weight", "i_b": "transformer.layer.{L}.ffn.lin1.bias",
        "f_w": "transformer.layer.{L}.ffn.lin2.weight", "f_b": "transformer.layer.{L}.ffn.lin2.bias",
        "ln2_w": "transformer.layer.{L}.output_layer_norm.weight",
        "ln2_b": "transformer.layer.{L}.output_layer_norm.bias",
    },
    {"hidden": ("dim", 768), "heads": ("n_heads", 12), "layers": ("n_layers", 6), "act": ("activation", "gelu"),
     "eps": ("__fixed_layer_norm_eps__", 1e-12), "pad": ("pad_token_id", 0),
     "max_positions": ("max_position_embeddings", 512)},
))


def native_support(config: Mapping) -> str | None:
    """None if the native engine computes this model exactly, else the reason it does not (for messages)."""
    mt = config.get("model_type")
    spec = ENCODER_SPECS.get(mt)
    if spec is None:
        return f"architecture {mt!r} has no native engine (native: {choices(sorted(ENCODER_SPECS))})"
    act = spec.get(config, "act")
    if act not in ACTIVATIONS:
        return f"activation {act!r} is not one of the native engine's ({choices(ACTIVATIONS)})"
    for key, allowed, what in spec.extra_checks:
        if config.get(key) not in allowed:
            return f"{what} ({key}={config.get(key)!r}) is not supported by the native engine"
    hidden, heads = int(spec.get(config, "hidden")), int(spec.get(config, "heads"))
    if hidden % heads:
        return f"hidden size {hidden} is not a multiple of the number of heads {heads}"
    return None


# ---------------------------------------------------------------------- the engine
class EncoderEngine(Engine):
    """Native forward pass of a post-LN encoder on packed (unpadded) batches.

    Parameters
    ----------
    config : mapping
        The model's ``config.json`` content.
    tensors : mapping of str to torch.Tensor
        The checkpoint's tensors (task-model prefixes such as ``bert.`` are stripped).
    tokenizer : WordTokenizer
    info : dict
        Provenance for the store (name, path, ...); the engine adds family, engine and fingerprint.
    device : str
    compute_dtype : {"float32", "tf32", "bfloat16", "float16"}
        Arithmetic of the forward pass (:mod:`~neuronlab.models.engines.precision`): weights are held in
        that type; ``run`` returns activations in it.
    fingerprint : str, optional
        The weight fingerprint, when the caller already has it.

    Raises
    ------
    UnknownModelError
        If :func:`native_support` rejects the config, or a tensor the family needs is missing.

    See Also
    --------
    neuronlab.models.engines.load_engine : picks this engine or the transformers one.

    Examples
    --------
    >>> from neuronlab.models.engines import load_engine            # doctest: +SKIP
    >>> eng = load_engine("minilm")                                   # doctest: +SKIP
    >>> out = eng.run([[101, 7592, 102]], ["layers.3", "layers.3.mlp"])  # doctest: +SKIP
    >>> out["layers.3.mlp"].shape                                      # doctest: +SKIP
    torch.Size([3, 1536])
    """

    name = "native"

    def __init__(self, config: Mapping, tensors: Mapping, tokenizer, info: Mapping, *, device: str = "cpu",
                 fingerprint: str | None = None, compute_dtype: str = "float32"):
        import torch

        from .precision import check_compute_dtype, weight_dtype

        why = native_support(config)
        if why:
            raise UnknownModelError(f"the native engine cannot run this model: {why}; use engine='hf'")
        spec = ENCODER_SPECS[config["model_type"]]
        self.spec = spec
        self.config = dict(config)
        self.tokenizer = tokenizer
        self.device = device
        #: attention in padded buckets (few calls per layer) instead of one call per sequence length:
        #: on by default on CUDA, where kernel launches, not arithmetic, cost the time (see .attention)
        self.attention_buckets = str(device).startswith("cuda")
        self.compute_dtype = check_compute_dtype(compute_dtype, device)
        wdtype = weight_dtype(compute_dtype)
        self.hidden = int(spec.get(config, "hidden"))
        self.n_heads = int(spec.get(config, "heads"))
        self.head_dim = self.hidden // self.n_heads
        self.eps = float(spec.get(config, "eps"))
        self.act = ACTIVATIONS[spec.get(config, "act")]
        self.pos_offset = spec.position_offset(config)
        tensors = _strip_prefix(tensors, spec.prefixes)
        if fingerprint is None:
            from .checkpoint import tensor_fingerprint

            fingerprint = tensor_fingerprint(tensors)

        def get(name: str, optional: bool = False):
            t = tensors.get(name)
            if t is None:
                t = tensors.get(name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                                            "LayerNorm.beta"))
            if t is None:
                if optional:
                    return None
                raise UnknownModelError(f"the checkpoint has no tensor {name!r}: it is not a {spec.family} model "
                                        "this engine can read; use engine='hf'")
            return t.detach().to(device=device, dtype=wdtype).contiguous()

        e = spec.emb
        self.word = get(e["word"])
        self.pos = get(e["pos"])
        typ = get(e["type"], optional=True) if "type" in e else None
        self.type0 = None if typ is None else typ[0].clone()
        self.emb_ln = (get(e["ln_w"]), get(e["ln_b"]))
        self.emb_proj = None
        if "proj_w" in e and get(e["proj_w"], optional=True) is not None:
            self.emb_proj = (get(e["proj_w"]), get(e["proj_b"]))
        self.n_layers = int(spec.get(config, "layers"))
        self.layers = []
        for L in range(self.n_layers):
            w = {k: get(v.format(L=L)) for k, v in spec.layer.items()}
            self.layers.append({
                "qkv_w": torch.cat([w["q_w"], w["k_w"], w["v_w"]]).contiguous(),
                "qkv_b": torch.cat([w["q_b"], w["k_b"], w["v_b"]]).contiguous(),
                "o_w": w["o_w"], "o_b": w["o_b"], "ln1": (w["ln1_w"], w["ln1_b"]),
                "i_w": w["i_w"], "i_b": w["i_b"], "f_w": w["f_w"], "f_b": w["f_b"], "ln2": (w["ln2_w"], w["ln2_b"]),
            })
        self.ffn = int(self.layers[0]["i_w"].shape[0]) if self.layers else 0
        self._max_positions = int(self.pos.shape[0]) - spec.reserved_positions(config)
        self._sites = block_sites(self.n_layers)
        self.info = dict(info, model_type=config["model_type"], family=spec.family, engine=self.name,
                         weights_sha256=fingerprint, torch_version=torch.__version__)
        self.info.setdefault("class", f"native {spec.family} encoder")

    # ------------------------------------------------------------------ description
    @property
    def sites(self) -> list[str]:
        return self._sites

    @property
    def max_positions(self) -> int | None:
        return self._max_positions

    @property
    def max_workers(self) -> int:
        return 1 if self.device != "cpu" else 64

    def widths(self, sites: Sequence[str]) -> dict[str, int]:
        self._check_resolved(sites, self._sites)
        out = {}
        for s in sites:
            sub = parse_site(s)["sub"]
            out[s] = self.ffn if sub == "mlp" else self.hidden
        return out

    # ------------------------------------------------------------------ the verb
    def run(self, batch, sites):
        from .precision import attention_kernels, matmul_precision

        with matmul_precision(self.compute_dtype), attention_kernels(self.device):
            return self._run(batch, sites)

    def _run(self, batch, sites):
        import torch
        import torch.nn.functional as F

        sites = list(sites)
        self._check_resolved(sites, self._sites)
        want = set(sites)
        deepest = parse_site(self.deepest(sites))
        last_layer = -1 if deepest["embeddings"] else deepest["layer"]
        lengths = [len(x) for x in batch]
        dev = self.device
        if max(lengths) + self.pos_offset > self.pos.shape[0]:  # checked on the host: no device sync
            raise ValueError(f"a sequence of {max(lengths)} tokens exceeds the model's {self.max_positions} positions")
        ids = torch.as_tensor([t for x in batch for t in x], dtype=torch.long).to(dev, non_blocking=True)
        positions = (torch.cat([torch.arange(n) for n in lengths]) + self.pos_offset).to(dev, non_blocking=True)
        out: dict = {}
        with torch.inference_mode():
            x = self.word.index_select(0, ids)
            if self.type0 is not None:
                x += self.type0
            x += self.pos.index_select(0, positions)
            x = F.layer_norm(x, (x.shape[1],), self.emb_ln[0], self.emb_ln[1], self.eps)
            if self.emb_proj is not None:
                x = torch.addmm(self.emb_proj[1], x, self.emb_proj[0].t())
            if "embeddings" in want:
                out["embeddings"] = x
            attn_plan = plan_attention(lengths, dev, buckets=self.attention_buckets)
            d = self.hidden
            scale = 1.0 / math.sqrt(self.head_dim)
            for L in range(last_layer + 1):
                p = self.layers[L]
                name = f"layers.{L}"
                stop_after = deepest["sub"] if L == last_layer else None
                qkv = torch.addmm(p["qkv_b"], x, p["qkv_w"].t())
                ctx = torch.empty((x.shape[0], d), dtype=x.dtype, device=dev)
                attend(qkv, ctx, attn_plan, self.n_heads, scale)
                del qkv
                if f"{name}.attn.heads" in want:
                    out[f"{name}.attn.heads"] = ctx
                if stop_after == "attn.heads":
                    break
                if f"{name}.attn" in want:
                    a = torch.addmm(p["o_b"], ctx, p["o_w"].t())
                    out[f"{name}.attn"] = a
                    r = a + x
                else:  # residual and bias first, then the GEMM accumulates into them: one pass fewer
                    r = torch.add(x, p["o_b"]).addmm_(ctx, p["o_w"].t())
                if stop_after == "attn":
                    break
                x = F.layer_norm(r, (d,), p["ln1"][0], p["ln1"][1], self.eps)
                h = self.act(torch.addmm(p["i_b"], x, p["i_w"].t()))
                if f"{name}.mlp" in want:
                    out[f"{name}.mlp"] = h
                if stop_after == "mlp":
                    break
                r = torch.add(x, p["f_b"]).addmm_(h, p["f_w"].t())
                del h
                x = F.layer_norm(r, (d,), p["ln2"][0], p["ln2"][1], self.eps)
                del r
                if name in want:
                    out[name] = x
        return {s: out[s] for s in sites}


def _strip_prefix(tensors: Mapping, prefixes: Sequence[str]) -> dict:
    """Base-model tensor names: drop a task model's prefix (``bert.``) when the checkpoint has one."""
    for pre in prefixes:
        if any(k.startswith(pre) for k in tensors):
            return {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}
    return dict(tensors)
