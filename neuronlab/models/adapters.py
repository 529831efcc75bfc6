"""Architecture adapters: map site names to modules, per model family, through a registry.

An adapter knows, for each stack of a model (one stack for encoder-only and decoder-only models,
``encoder`` and ``decoder`` for encoder-decoder models), where the embedding output, the blocks,
the attention output projection and the FFN down projection live. Every site is then one of:

==========================  =====================================================================
site                        captured as
==========================  =====================================================================
``embeddings``              output of the embedding module (after its LayerNorm where there is one)
``layers.L``                output of block L (first element of its output tuple)
``layers.L.attn``           output of the self-attention output projection (before the residual add)
``layers.L.attn.heads``     input of that projection (per-head context vectors, heads x head_dim)
``layers.L.mlp``            input of the FFN down projection (hidden units after the activation; for
                            gated FFNs such as Llama's, ``act(gate) * up``)
==========================  =====================================================================

Paths are relative to ``model.base_model`` so that the same adapter serves ``BertModel`` and
``BertForMaskedLM``, ``GPT2Model`` and ``GPT2LMHeadModel``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import UnknownModelError, choices

__all__ = ["Hook", "StackSpec", "Adapter", "ADAPTERS", "register_adapter", "get_adapter"]


@dataclass(frozen=True)
class Hook:
    """Where a site is read: a module path (``{L}`` = layer index) and whether its input or output."""

    path: str
    io: str = "output"  # "output" | "input"


@dataclass(frozen=True)
class StackSpec:
    """Module layout of one stack (the whole model, or its encoder / decoder)."""

    layers: str  # path of the ModuleList of blocks
    embeddings: Hook
    attn: Hook
    heads: Hook
    mlp: Hook
    block: Hook = Hook("{layers}.{L}")


@dataclass(frozen=True)
class Adapter:
    """Site layout of one architecture family.

    Attributes
    ----------
    family : str
        Human-readable family name.
    model_types : tuple of str
        ``config.model_type`` values served by this adapter.
    stacks : dict
        ``None -> StackSpec`` for single-stack models, ``"encoder"``/``"decoder"`` for encoder-decoders.
    tokenizer_kwargs : dict
        Extra arguments for loading the tokenizer (``add_prefix_space`` for byte-level BPE, needed to
        tokenize pre-split words).
    """

    family: str
    model_types: tuple
    stacks: dict
    tokenizer_kwargs: dict = field(default_factory=dict)
    kind: str = "encoder"  # "encoder" | "decoder" | "encoder-decoder"

    @property
    def is_encoder_decoder(self) -> bool:
        return self.kind == "encoder-decoder"


ADAPTERS: dict[str, Adapter] = {}


def register_adapter(adapter: Adapter) -> Adapter:
    """Add an adapter to the registry under each of its ``model_types``."""
    for mt in adapter.model_types:
        ADAPTERS[mt] = adapter
    return adapter


def get_adapter(model_type: str) -> Adapter:
    """The adapter for a ``config.model_type``.

    Raises
    ------
    UnknownModelError
        If no adapter serves that architecture (the message lists the supported ones).
    """
    try:
        return ADAPTERS[model_type]
    except KeyError:
        raise UnknownModelError(
            f"no site adapter for architecture {model_type!r}; supported: {choices(sorted(ADAPTERS))}. "
            "Register one with neuronlab.models.register_adapter (see docs/sites.md)."
        ) from None


# ---------------------------------------------------------------- BERT family
_bert = StackSpec(
    layers="encoder.layer",
    embeddings=Hook("embeddings"),
    attn=Hook("encoder.layer.{L}.attention.output.dense"),
    heads=Hook("encoder.layer.{L}.attention.output.dense", "input"),
    mlp=Hook("encoder.layer.{L}.output.dense", "input"),
)
register_adapter(Adapter("BERT", ("bert", "xlm-roberta", "camembert"), {None: _bert}))
# RoBERTa's byte-level BPE marks a word start with a space ("Ġ"): pre-split words need one added, or every word
# is tokenised as if glued to the previous one. (XLM-R and CamemBERT use SentencePiece, which marks words itself.)
register_adapter(Adapter("RoBERTa", ("roberta",), {None: _bert}, tokenizer_kwargs={"add_prefix_space": True}))
# ELECTRA projects its embeddings (embedding_size, e.g. 128) to the hidden size (e.g. 256) with an optional
# ``embeddings_project`` linear layer outside the embedding module; the residual stream starts at the input
# of block 0, which exists whether or not the projection does.
register_adapter(
    Adapter("ELECTRA", ("electra",), {None: StackSpec(
        layers=_bert.layers, embeddings=Hook("encoder.layer.0", "input"), attn=_bert.attn, heads=_bert.heads,
        mlp=_bert.mlp)})
)
register_adapter(
    Adapter(
        "DistilBERT",
        ("distilbert",),
        {
            None: StackSpec(
                layers="transformer.layer",
                embeddings=Hook("embeddings"),
                attn=Hook("transformer.layer.{L}.attention.out_lin"),
                heads=Hook("transformer.layer.{L}.attention.out_lin", "input"),
                mlp=Hook("transformer.layer.{L}.ffn.lin2", "input"),
            )
        },
    )
)

# ---------------------------------------------------------------- decoder-only
register_adapter(
    Adapter(
        "GPT-2",
        ("gpt2",),
        {
            None: StackSpec(
                layers="h",
                embeddings=Hook("drop"),
                attn=Hook("h.{L}.attn"),
                heads=Hook("h.{L}.attn.c_proj", "input"),
                mlp=Hook("h.{L}.mlp.c_proj", "input"),
            )
        },
        tokenizer_kwargs={"add_prefix_space": True},
        kind="decoder",
    )
)
register_adapter(
    Adapter(
        "GPT-NeoX",
        ("gpt_neox",),
        {
            None: StackSpec(
                layers="layers",
                embeddings=Hook("emb_dropout"),
                attn=Hook("layers.{L}.attention"),
                heads=Hook("layers.{L}.attention.dense", "input"),
                mlp=Hook("layers.{L}.mlp.dense_4h_to_h", "input"),
            )
        },
        tokenizer_kwargs={"add_prefix_space": True},
        kind="decoder",
    )
)
register_adapter(
    Adapter(
        "Llama-style",
        ("llama", "mistral", "qwen2", "gemma"),
        {
            None: StackSpec(
                layers="layers",
                embeddings=Hook("embed_tokens"),
                attn=Hook("layers.{L}.self_attn"),
                heads=Hook("layers.{L}.self_attn.o_proj", "input"),
                mlp=Hook("layers.{L}.mlp.down_proj", "input"),
            )
        },
        kind="decoder",
    )
)

# ---------------------------------------------------------------- encoder-decoder


def _t5_stack(stack: str) -> StackSpec:
    ff = "1" if stack == "encoder" else "2"
    return StackSpec(
        layers=f"{stack}.block",
        embeddings=Hook(f"{stack}.embed_tokens"),
        attn=Hook(f"{stack}.block.{{L}}.layer.0.SelfAttention"),
        heads=Hook(f"{stack}.block.{{L}}.layer.0.SelfAttention.o", "input"),
        mlp=Hook(f"{stack}.block.{{L}}.layer.{ff}.DenseReluDense.wo", "input"),
    )


def _bart_stack(stack: str) -> StackSpec:
    return StackSpec(
        layers=f"{stack}.layers",
        embeddings=Hook(f"{stack}.layernorm_embedding"),
        attn=Hook(f"{stack}.layers.{{L}}.self_attn"),
        heads=Hook(f"{stack}.layers.{{L}}.self_attn.out_proj", "input"),
        mlp=Hook(f"{stack}.layers.{{L}}.fc2", "input"),
    )


register_adapter(
    Adapter("T5", ("t5", "mt5"), {"encoder": _t5_stack("encoder"), "decoder": _t5_stack("decoder")}, kind="encoder-decoder")
)
register_adapter(
    Adapter(
        "BART",
        ("bart", "mbart"),
        {"encoder": _bart_stack("encoder"), "decoder": _bart_stack("decoder")},
        tokenizer_kwargs={"add_prefix_space": True},
        kind="encoder-decoder",
    )
)


# ---------------------------------------------------------------- resolution helpers
def site_hooks(adapter: Adapter, n_layers: dict) -> dict[str, tuple[str | None, Hook]]:
    """All sites of a model: ``site name -> (stack, Hook with the layer index filled in)`` in model order.

    Parameters
    ----------
    adapter : Adapter
    n_layers : dict
        Number of blocks per stack key (``None`` or ``"encoder"``/``"decoder"``).
    """
    out: dict[str, tuple[str | None, Hook]] = {}
    for stack, spec in adapter.stacks.items():
        prefix = f"{stack}." if stack else ""
        out[f"{prefix}embeddings"] = (stack, spec.embeddings)
        for L in range(n_layers[stack]):
            fill: Callable[[Hook], Hook] = lambda h: Hook(h.path.format(L=L, layers=spec.layers), h.io)  # noqa: E731
            out[f"{prefix}layers.{L}.attn.heads"] = (stack, fill(spec.heads))
            out[f"{prefix}layers.{L}.attn"] = (stack, fill(spec.attn))
            out[f"{prefix}layers.{L}.mlp"] = (stack, fill(spec.mlp))
            out[f"{prefix}layers.{L}"] = (stack, fill(spec.block))
    return out
