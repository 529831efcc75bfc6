"""The tokens a neuron promotes and suppresses through the unembedding: the logit lens of its direction.

nostalgebraist (2020), "interpreting GPT: the logit lens"; Geva et al. (2022), "Transformer Feed-Forward Layers
Build Predictions by Promoting Concepts in the Vocabulary Space". Used by the neuron dossiers
(:mod:`neuronlab.report.dossier`); torch is imported when :func:`output_effect` runs.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from neuronlab.sites import parse_neuron_id, parse_site

__all__ = ["output_effect", "OUTPUT_HEADS"]

#: model_type -> module paths (from the model with its LM head) of the linear maps from the residual stream to the
#: logits, in order: the head's dense transform where it has one, the final norm's scale, the unembedding
OUTPUT_HEADS: dict[str, tuple[str, ...]] = {
    "bert": ("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.decoder"),
    "roberta": ("lm_head.dense", "lm_head.layer_norm", "lm_head.decoder"),
    "distilbert": ("vocab_transform", "vocab_layer_norm", "vocab_projector"),
    "electra": ("generator_predictions.dense", "generator_predictions.LayerNorm", "generator_lm_head"),
    "gpt2": ("transformer.ln_f", "lm_head"),
    "gpt_neox": ("gpt_neox.final_layer_norm", "embed_out"),
    "llama": ("model.norm", "lm_head"),
}


def _apply(module: Any, v: Any) -> Any:
    """The linear part of one module on a float64 direction: a matrix product, or a norm's scale (bias, centring
    and normalisation dropped)."""
    w = module.weight.detach().double()
    if w.dim() == 1:
        return w * v
    if type(module).__name__ == "Conv1D":  # GPT-2's (in, out) weights
        return v @ w
    return w @ v


def output_effect(live: Any, neurons: Sequence[str], *, k: int = 10) -> dict[str, dict]:
    """The tokens each neuron promotes and suppresses through the unembedding (an approximation: the logit lens of
    the neuron's direction).

    The direction is the unit vector of the neuron for a residual-stream site (``embeddings``, ``layers.L``) and the
    neuron's column of the FFN output matrix, ``W_out[:, i]``, normalised, for an ``mlp`` site; it goes through the
    linear maps of :data:`OUTPUT_HEADS` (for BERT-like masked LMs the head's dense layer, the LayerNorm's scale and
    the decoder; for causal LMs the final norm's scale and the unembedding). Nonlinearities, biases and the
    normalisation itself are left out, so the values rank tokens; they are not logits the model computes.

    Parameters
    ----------
    live : LiveModel
        A model with a masked-lm or causal-lm head (:func:`neuronlab.models.load_live`).
    neurons : sequence of str
    k : int
        Tokens per side.

    Returns
    -------
    dict
        Neuron -> ``{"promoted": [(token, value)], "suppressed": [(token, value)]}`` or ``{"note": why not}``.
    """
    import torch

    from neuronlab.models.capture import get_module, site_module

    model = live.model
    paths = OUTPUT_HEADS.get(model.config.model_type)
    if paths is None or model.get_output_embeddings() is None:
        why = (f"the model ({type(model).__name__}) has no output vocabulary head this dossier knows; pass a model "
               f"with a masked-lm or causal-lm head of one of {sorted(OUTPUT_HEADS)}")
        return {n: {"note": why} for n in neurons}
    try:
        head = [get_module(model, p) for p in paths]
    except (AttributeError, IndexError):
        why = f"{type(model).__name__} has no language-model head ({paths[-1]}); load it with head='masked-lm' " \
              "or 'causal-lm'"
        return {n: {"note": why} for n in neurons}
    sites = dict(live._sites)
    out = {}
    with torch.no_grad():
        for nid in neurons:
            site, i = parse_neuron_id(nid)
            p = parse_site(site)
            if site not in sites or p["stack"] is not None or p["sub"] not in (None, "mlp"):
                out[nid] = {"note": f"output effect is computed for residual-stream (layers.L, embeddings) and mlp "
                                    f"sites of a single-stack model, not {site!r}"}
                continue
            if p["sub"] == "mlp":
                down = site_module(model, live.adapter, site, sites[site][1])
                w = down.weight
                v = (w[i, :] if type(down).__name__ == "Conv1D" else w[:, i]).double()
            else:
                width = head[0].weight.shape[-1] if head[0].weight.dim() > 1 else head[0].weight.shape[0]
                if not 0 <= i < width:
                    out[nid] = {"note": f"neuron {i} is outside the model's hidden size {width}"}
                    continue
                v = torch.zeros(width, dtype=torch.float64)
                v[i] = 1.0
            v = v / v.norm().clamp_min(1e-12)
            for m in head:
                v = _apply(m, v)
            vals = v.cpu().numpy()
            order = np.argsort(-vals, kind="stable")
            tok = live.tokenizer.convert_ids_to_tokens
            out[nid] = {"promoted": [(str(tok(int(t))), float(vals[t])) for t in order[:k]],
                        "suppressed": [(str(tok(int(t))), float(vals[t])) for t in order[::-1][:k]]}
    return out
