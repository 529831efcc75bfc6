"""Neuron ablation on the live model: single neurons, groups, and their effect on a target or a dataset.

Ablating a set of neurons sets their value at a site (every token position) to a baseline: zero, the
dataset mean of the neuron (from an activation store, as in Dalvi et al. 2019), or custom values. The
effect on the target is ``F(x) - F(x with the neurons ablated)``. Many candidate ablations run in one
forward pass (rows = candidates x examples), and the blocks below the site are computed once
(:meth:`~neuronlab.models.live.LiveModel.run_from`).

References
----------
Dalvi, Durrani, Sajjad, Belinkov, Bau & Glass (2019). What is one grain of sand in the desert? Analyzing
individual neurons in deep NLP models. AAAI. Durrani et al. (2021), NAACL tutorial "Fine-grained
interpretation and causation analysis in deep NLP models" (ablation and greedy multi-neuron ablation).
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InvalidParameterError
from ..models.live import LiveModel
from ..models.targets import Target
from ._path import base_config, np32, rows_per_pass

__all__ = ["ablation_values", "NeuronAblation", "ablation_effect", "evaluate_ablations"]


def ablation_values(live: LiveModel, site: str, baseline, *, store=None):
    """The value ablated neurons take, one per neuron of the site (tensor of shape (width,)).

    Parameters
    ----------
    baseline : {"zero", "mean"} or array-like of shape (width,)
        ``mean``: each neuron's mean over the rows of ``store`` (an ActivationStore with this site).
    """
    width = live.width(site)
    if isinstance(baseline, str):
        if baseline == "zero":
            return torch.zeros(width)
        if baseline == "mean":
            if store is None:
                raise InvalidParameterError("baseline 'mean' needs store= (an activation store with the site)")
            if site not in store.sites:
                raise InvalidParameterError(f"baseline 'mean': the store has no site {site!r}; it has "
                                            f"{', '.join(store.sites)}")
            mean = np.nanmean(np.asarray(store[site], dtype=np.float64), axis=0)
            if mean.shape != (width,):
                raise InvalidParameterError(f"baseline 'mean': the store's {site!r} has {mean.shape[0]} neurons, "
                                            f"the model's has {width}: the store comes from another model")
            return torch.as_tensor(mean, dtype=torch.float32)
        raise InvalidParameterError(f"baseline {baseline!r} is unknown; choose zero, mean or give values")
    vals = torch.as_tensor(np.asarray(baseline, dtype=np.float32))
    if vals.shape != (width,):
        raise InvalidParameterError(f"baseline: expected {width} values (one per neuron of {site!r}), "
                                    f"got shape {tuple(vals.shape)}")
    return vals


def evaluate_ablations(live: LiveModel, enc, site: str, masks, base_values, resolved, *, rows_per: int,
                       cache: dict, y=None):
    """Target values for each ablation mask: tensor (n_masks, n_examples).

    ``masks`` is a bool tensor (n_masks, width): True = ablated. Rows (mask x example) run in passes of
    ``rows_per``, each from the cached value of the site.
    """
    y = live.activations(enc, site) if y is None else y
    n_ex = enc.n_examples
    masks = torch.as_tensor(masks, dtype=torch.bool)
    base_values = base_values.to(y.device, y.dtype)
    out = torch.empty(masks.shape[0] * n_ex, dtype=torch.float64)
    for r0 in range(0, masks.shape[0] * n_ex, rows_per):
        r = torch.arange(r0, min(r0 + rows_per, masks.shape[0] * n_ex))
        m, ex = r // n_ex, r % n_ex
        mk = masks[m].to(y.device)[:, None, :]
        vals = torch.where(mk, base_values, y[ex])
        out[r] = live.run_from(enc, site, vals, None, ex, resolved=resolved, cache=cache).double().cpu()
    return out.view(masks.shape[0], n_ex)


class NeuronAblation:
    """Effect of ablating each neuron (or each group of neurons) of a site on the target.

    Parameters
    ----------
    live : LiveModel
    site : str
    baseline : {"zero", "mean"} or array-like of shape (width,)
    store : ActivationStore, optional
        For ``baseline="mean"``.
    memory_mb : float, default 1024
    batch_size : int, optional
        Rows (ablation x example) per forward pass.

    Notes
    -----
    Equals Captum's ``LayerFeatureAblation`` with a layer mask that puts each neuron (group) in one
    feature group across all token positions and ``layer_baselines`` = the baseline values.
    """

    name = "neuron_ablation"

    def __init__(self, live: LiveModel, site: str, *, baseline="zero", store=None, memory_mb: float = 1024,
                 batch_size: int | None = None):
        self.live = live
        self.site = live.site(site)
        self.baseline = baseline
        self.store = store
        self.memory_mb = memory_mb
        self.batch_size = batch_size

    def attribute(self, inputs, *, target, neurons=None, groups=None) -> dict:
        """``F(x) - F(x with the neuron/group ablated)`` per example.

        Parameters
        ----------
        neurons : sequence of int, optional
            Neurons ablated one at a time (default: every neuron of the site).
        groups : sequence of sequence of int, optional
            Groups ablated together (instead of ``neurons``).

        Returns
        -------
        dict
            ``effects`` (n_examples, n_groups), ``groups``, ``f_input`` (n_examples,), ``config``.
        """
        live = self.live
        enc = live.encode(inputs)
        resolved = live.resolve_target(enc, target)
        width = live.width(self.site)
        if groups is None:
            neurons = list(range(width)) if neurons is None else live.check_neurons(self.site, neurons)
            groups = [[j] for j in neurons]
        else:
            groups = [live.check_neurons(self.site, g) for g in groups]
        masks = torch.zeros(len(groups), width, dtype=torch.bool)
        for i, g in enumerate(groups):
            masks[i, g] = True
        base = ablation_values(live, self.site, self.baseline, store=self.store)
        rows = rows_per_pass(live, enc, memory_mb=self.memory_mb, batch_size=self.batch_size)
        cache: dict = {}
        y = live.activations(enc, self.site)
        f_abl = evaluate_ablations(live, enc, self.site, masks, base, resolved, rows_per=rows, cache=cache, y=y)
        fx = live.run_from(enc, self.site, y, None, torch.arange(enc.n_examples), resolved=resolved,
                           cache=cache).double().cpu()
        cfg = base_config(self.name, live, self.site, target, baseline=_baseline_name(self.baseline),
                          rows_per_pass=rows)
        return {"effects": np32(fx[None, :] - f_abl).T, "groups": groups, "f_input": np32(fx), "config": cfg}


def _baseline_name(baseline) -> str:
    return baseline if isinstance(baseline, str) else "custom"


def ablation_effect(live: LiveModel, inputs, labels, *, site: str, neurons, baseline="zero", store=None,
                    memory_mb: float = 1024, batch_size: int | None = None) -> dict:
    """Effect of ablating a set of neurons over a labelled dataset.

    Parameters
    ----------
    inputs : list of str or list of list of str
    labels : sequence of int
        Gold class of each example (sequence classification).
    site : str
    neurons : sequence of int
        Ablated together.

    Returns
    -------
    dict
        For ``before`` and ``after``: mean gold-class ``logit``, mean gold-class ``probability``, mean
        cross-entropy ``loss`` and ``accuracy``; ``change`` (after - before) of each; ``config``.
    """
    enc = live.encode(inputs)
    labels = list(int(v) for v in labels)
    if len(labels) != enc.n_examples:
        raise InvalidParameterError(f"labels: expected {enc.n_examples} (one per input), got {len(labels)}")
    site = live.site(site)
    neurons = live.check_neurons(site, neurons)
    width = live.width(site)
    mask = torch.zeros(1, width, dtype=torch.bool)
    mask[0, neurons] = True
    base = ablation_values(live, site, baseline, store=store)
    rows = rows_per_pass(live, enc, memory_mb=memory_mb, batch_size=batch_size)
    tgt = Target("logit", tuple(labels))
    bound = tgt.resolve(enc)
    n_cls = None

    def scores(out, r):  # the whole score vector of each row, and a check of the labels
        nonlocal n_cls
        bound(out, r)  # validates the labels against the number of classes
        n_cls = out.logits.shape[-1]
        return out.logits

    cache: dict = {}
    y = live.activations(enc, site)
    all_rows = torch.arange(enc.n_examples)
    before = live.run_from(enc, site, y, None, all_rows, resolved=scores, cache=cache)
    after = []
    for r0 in range(0, enc.n_examples, rows):
        r = all_rows[r0: r0 + rows]
        vals = torch.where(mask.to(y.device)[:, None, :], base.to(y.device, y.dtype), y[r])
        after.append(live.run_from(enc, site, vals, None, r, resolved=scores, cache=cache))
    after = torch.cat(after)
    lab = torch.as_tensor(labels)
    out = {"before": _metrics(before, lab), "after": _metrics(after, lab)}
    out["change"] = {k: out["after"][k] - out["before"][k] for k in out["before"]}
    out["config"] = base_config("ablation_effect", live, site, tgt, neurons=neurons,
                                baseline=_baseline_name(baseline), n_examples=enc.n_examples, n_classes=n_cls)
    return out


def _metrics(scores, labels) -> dict:
    s = scores.double().cpu()
    logp = s.log_softmax(-1).gather(1, labels[:, None])[:, 0]
    return {"logit": float(s.gather(1, labels[:, None]).mean()), "probability": float(logp.exp().mean()),
            "loss": float(-logp.mean()), "accuracy": float((s.argmax(-1) == labels).double().mean())}

