"""Contextual decomposition carried through a whole model: the architectures CD supports, by registry.

CD needs the layer structure of the model (it re-runs each layer on the two parts with the rules of
:mod:`~neuronlab.explain.cd_rules`), so it works on the architectures registered in
:data:`CD_ARCHITECTURES` only, keyed by the model class:

==================================== =========== ====================================================
model class                          encoder     classification head
==================================== =========== ====================================================
``BertForSequenceClassification``    ``bert``    pooler (linear + tanh on [CLS]), then ``classifier``
``RobertaForSequenceClassification`` ``roberta`` ``classifier.dense`` + tanh on <s>, ``out_proj``
==================================== =========== ====================================================

(minilm is a BERT.) Both encoders are post-LayerNorm BERT blocks with absolute position embeddings;
other models are refused with a one-line error naming the supported classes. To add one, register a
:class:`CDArchitecture` whose ``encoder`` names the base model attribute (a BERT-style
``embeddings`` + ``encoder.layer``) and whose ``head`` decomposes the final hidden states into logits.

The embedding output (word + position + segment embeddings, LayerNorm) of every token is computed on the
full input and assigned whole to one part: the tokens of the phrase to ``beta``, all other tokens (the
context, [CLS] and [SEP]) to ``gamma``, as CD-T does.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameterError, choices
from .cd_rules import (
    attention_probs,
    prop_activation,
    prop_attention_values,
    prop_layer_norm,
    prop_linear,
    sign_fix,
)

__all__ = [
    "CD_ARCHITECTURES",
    "CDArchitecture",
    "CDRules",
    "cd_architecture",
    "decompose_logits",
    "embeddings",
    "register_cd_architecture",
]


@dataclass(frozen=True)
class CDRules:
    """Options of the propagation: the activation rule and CD-T's sign fix."""

    activation: str = "shapley"
    sign_fix: bool = False

    def fix(self, b, g):
        return sign_fix(b, g) if self.sign_fix else (b, g)


def _bert_head(model, b, g, rules: CDRules):
    pooler = getattr(model.bert, "pooler", None)
    if pooler is None:
        raise InvalidParameterError("contextual decomposition: this BERT classifier has no pooler; CD follows "
                                    "BertForSequenceClassification, which classifies the pooled [CLS] state")
    pb, pg = rules.fix(*prop_linear(b[:, 0], g[:, 0], pooler.dense.weight, pooler.dense.bias))
    pb, pg = prop_activation(pb, pg, pooler.activation, rules.activation)
    return prop_linear(pb, pg, model.classifier.weight, model.classifier.bias)


def _roberta_head(model, b, g, rules: CDRules):
    import torch

    head = model.classifier
    pb, pg = rules.fix(*prop_linear(b[:, 0], g[:, 0], head.dense.weight, head.dense.bias))
    pb, pg = prop_activation(pb, pg, torch.tanh, rules.activation)
    return prop_linear(pb, pg, head.out_proj.weight, head.out_proj.bias)


@dataclass(frozen=True)
class CDArchitecture:
    """A model class CD can decompose.

    Parameters
    ----------
    name : str
        The model class name (``type(model).__name__``).
    encoder : str
        Attribute of the model holding the BERT-style base model (``embeddings``, ``encoder.layer``).
    head : callable
        ``head(model, beta, gamma, rules) -> (beta_logits, gamma_logits)`` from the final hidden states
        (rows, tokens, hidden) to the logits (rows, classes).
    """

    name: str
    encoder: str
    head: Callable


#: model class name -> :class:`CDArchitecture`
CD_ARCHITECTURES: dict[str, CDArchitecture] = {}


def register_cd_architecture(arch: CDArchitecture) -> CDArchitecture:
    """Add a model class to :data:`CD_ARCHITECTURES`."""
    CD_ARCHITECTURES[arch.name] = arch
    return arch


register_cd_architecture(CDArchitecture("BertForSequenceClassification", "bert", _bert_head))
register_cd_architecture(CDArchitecture("RobertaForSequenceClassification", "roberta", _roberta_head))


def cd_architecture(model: Any) -> CDArchitecture:
    """The registered architecture of ``model``.

    Raises
    ------
    InvalidParameterError
        If the model's class is not supported, or its configuration is not one CD follows (relative
        position embeddings, a decoder).
    """
    name = type(model).__name__
    if name not in CD_ARCHITECTURES:
        raise InvalidParameterError(
            f"contextual decomposition does not support {name}; supported models: {choices(CD_ARCHITECTURES)} "
            "(sentence classifiers with post-LayerNorm BERT blocks; register a CDArchitecture in "
            "neuronlab.explain.cd_models to add one)")
    cfg = model.config
    pos = getattr(cfg, "position_embedding_type", None) or "absolute"
    if pos != "absolute" or getattr(cfg, "is_decoder", False):
        raise InvalidParameterError(
            f"contextual decomposition supports encoders with absolute position embeddings; this {name} has "
            f"position_embedding_type={pos!r}, is_decoder={getattr(cfg, 'is_decoder', False)}")
    return CD_ARCHITECTURES[name]


def embeddings(model: Any, arch: CDArchitecture, input_ids, dtype):
    """The embedding output (rows, tokens, hidden) of the full input, in ``dtype``."""
    import torch

    base = getattr(model, arch.encoder)
    with torch.no_grad():
        return base.embeddings(input_ids=input_ids.to(next(model.parameters()).device)).to(dtype)


def _layer(layer, b, g, mask, rules: CDRules):
    sa, ao = layer.attention.self, layer.attention.output
    probs = attention_probs(b + g, sa.query, sa.key, sa.num_attention_heads, mask)
    cb, cg = rules.fix(*prop_attention_values(b, g, probs, sa.value))
    db, dg = rules.fix(*prop_linear(cb, cg, ao.dense.weight, ao.dense.bias))
    rb, rg = rules.fix(db + b, dg + g)
    ab, ag = rules.fix(*prop_layer_norm(rb, rg, ao.LayerNorm.weight, ao.LayerNorm.bias, ao.LayerNorm.eps))
    inter, out = layer.intermediate, layer.output
    ib, ig = rules.fix(*prop_linear(ab, ag, inter.dense.weight, inter.dense.bias))
    hb, hg = prop_activation(ib, ig, inter.intermediate_act_fn, rules.activation)
    ob, og = rules.fix(*prop_linear(hb, hg, out.dense.weight, out.dense.bias))
    rb, rg = rules.fix(ob + ab, og + ag)
    return rules.fix(*prop_layer_norm(rb, rg, out.LayerNorm.weight, out.LayerNorm.bias, out.LayerNorm.eps))


def decompose_logits(model: Any, arch: CDArchitecture, emb, relevant, mask, rules: CDRules = CDRules()):
    """Decompose the logits of rows of inputs into the part of the relevant tokens and the rest.

    Parameters
    ----------
    model : transformers model of a registered architecture
    arch : CDArchitecture
    emb : torch.Tensor of shape (n_rows, n_tokens, hidden)
        The embedding output of each row's input (rows of one example may repeat).
    relevant : torch.BoolTensor of shape (n_rows, n_tokens)
        The tokens of each row's phrase.
    mask : torch.Tensor of shape (n_rows, n_tokens)
        The attention mask (1: a real token).
    rules : CDRules

    Returns
    -------
    beta, gamma : torch.Tensor of shape (n_rows, n_classes)
        ``beta + gamma`` is the logits.
    """
    import torch

    rel = relevant.to(emb.device)[..., None]
    b = torch.where(rel, emb, torch.zeros_like(emb))
    g = emb - b
    with torch.no_grad():
        for layer in getattr(model, arch.encoder).encoder.layer:
            b, g = _layer(layer, b, g, mask, rules)
        return arch.head(model, b, g, rules)
