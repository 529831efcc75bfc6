"""The concept bridge: do the neurons that encode a concept carry the prediction? (attribution share + ablation).

For a set ``S`` of neurons (the top of a concept ranking from ``neuronlab probe``/``rank``, or given ids
``site:index``, possibly at several sites) and a dataset (or one prediction), the bridge reports

* the **attribution share** of ``S``: with ``A[e, j]`` the attribution of neuron ``j`` for example ``e``
  summed over token positions (layer conductance by default, or any registered layer attributor), and
  ``v = |A|`` (``attribution="absolute"``, default) or ``v = A`` (``"signed"``),

  .. math::
      \\mathrm{share}(S) = \\frac{\\sum_e \\sum_{j \\in S} v[e, j]}{\\sum_e \\sum_{j \\in \\mathrm{sites}(S)} v[e, j]}

  (a ratio of sums over the dataset; the denominator runs over every neuron of the sites ``S`` touches,
  each site attributed once);
* the **ablation effect** of ``S``: the drop of the mean target (and, with gold labels, of the accuracy)
  when every neuron of ``S`` is set to its baseline (zero, or its dataset mean from the store) at every
  token position;
* both against ``n_random`` random sets with as many neurons *at each site* as ``S``, with the empirical
  p-value ``(1 + #{random >= observed}) / (1 + n_random)``: one-sided for the share and the accuracy drop,
  on ``|target change|`` for the target.

This is the "connecting concept analysis and neuron causation analysis" of Durrani, Sajjad & Dalvi (2021),
NAACL tutorial *Fine-grained interpretation and causation analysis in deep NLP models*; conductance is
Dhamdhere et al. (2018), ablation Dalvi et al. (2019), the p-value Phipson & Smyth (2010).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InvalidParameterError, choices
from ..models.live import LiveModel
from ..models.targets import Target, as_target
from ..results import Result, array_field
from ._path import rows_per_pass
from .ablation import ablation_values
from .methods import LAYER_ATTRIBUTORS
from .neuron_sets import concept_neurons, empirical_p_value, parse_neuron_ids, random_like
from .store_check import check_store_model

__all__ = ["ConceptBridge", "BridgeResult", "concept_neurons", "LAYER_ATTRIBUTORS", "ATTRIBUTIONS"]

#: how per-neuron attributions enter the share
ATTRIBUTIONS = ("absolute", "signed")


@dataclass
class BridgeResult(Result):
    """What :meth:`ConceptBridge.attribute` returns (JSON report + arrays; :meth:`describe` for one sentence).

    Attributes
    ----------
    concept : str or None
    source : dict
        Where the neurons come from (``kind`` ranking/probe/ids, ``name``, ``method``, ``top_k``, ...).
    neurons : list of str
        The concept's neuron ids.
    site_counts : dict
        Site -> number of the concept's neurons there (the random sets have the same).
    n_examples, n_random : int
    method, attribution : str
        Layer attributor and ``absolute``/``signed``.
    target : dict
        The explained target (a Target's fields) and ``description``.
    share, share_p_value : float
    random_share_mean, random_share_std : float
    ablation : dict or None
        ``baseline``, ``target_before``, ``target_after``, ``target_effect`` (before - after),
        ``random_target_effect_mean``, ``target_p_value``; with labels also ``accuracy_before``,
        ``accuracy_after``, ``accuracy_drop``, ``random_accuracy_drop_mean``, ``accuracy_p_value``.
    model_check : str
        How the store was checked against the live model (fingerprint, activations, widths, none).
    config : dict
    share_per_example : ndarray (n_examples,)
    random_shares, random_target_effects, random_accuracy_drops : ndarray (n_random,)
    random_sets : ndarray of str (n_random, n_neurons)
    """

    kind = "bridge"

    concept: str | None
    source: dict
    neurons: list
    site_counts: dict
    n_examples: int
    n_random: int
    method: str
    attribution: str
    target: dict
    share: float
    share_p_value: float
    random_share_mean: float
    random_share_std: float
    ablation: dict | None
    model_check: str
    config: dict
    share_per_example: np.ndarray = array_field(default=None)
    random_shares: np.ndarray = array_field(default=None)
    random_target_effects: np.ndarray = array_field(default=None)
    random_accuracy_drops: np.ndarray = array_field(default=None)
    random_sets: np.ndarray = array_field(default=None)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"neuron_ids": np.array(self.neurons, dtype=object),
               "share_per_example": np.asarray(self.share_per_example, dtype=np.float64),
               "random_shares": np.asarray(self.random_shares, dtype=np.float64),
               "random_sets": np.asarray(self.random_sets, dtype=object)}
        for k in ("random_target_effects", "random_accuracy_drops"):
            if getattr(self, k) is not None:
                out[k] = np.asarray(getattr(self, k), dtype=np.float64)
        return out

    def describe(self) -> str:
        """One sentence: share and ablation effect of the concept's neurons against random ones.

        e.g. "the top 20 ADJ neurons carry 38% of the positive-class conductance at layer 4 (random neurons of
        the same size: 6%, p = 0.01), and ablating them costs 11 points of accuracy, against 1 point for random
        neurons of the same size (p = 0.01)".
        """
        k = len(self.neurons)
        who = (f"the top {k} {self.concept} neurons" if self.concept
               else f"the {k} given neuron{'s' if k != 1 else ''}")
        verb = "carries" if k == 1 and not self.concept else "carry"
        what = LAYER_ATTRIBUTORS.get(self.method, self.method)
        if self.attribution == "signed":
            what = f"signed {what}"
        where = _sites_prose(list(self.site_counts))
        s = (f"{who} {verb} {_pct(self.share)} of the {self.target['description']} {what} at {where} "
             f"(random neurons of the same size: {_pct(self.random_share_mean)}, p = {self.share_p_value:.2g})")
        ab = self.ablation
        if ab is None:
            return s
        them = "it" if k == 1 else "them"
        if "accuracy_drop" in ab:
            pts, rnd = 100 * ab["accuracy_drop"], 100 * ab["random_accuracy_drop_mean"]
            s += (f", and ablating {them} costs {_points(pts)} of accuracy, against {_points(rnd)} for random "
                  f"neurons of the same size (p = {ab['accuracy_p_value']:.2g})")
        else:
            s += (f", and ablating {them} lowers the mean {self.target['description']} "
                  f"{self.target['kind'].replace('_', ' ')} by {ab['target_effect']:.3g}, against "
                  f"{ab['random_target_effect_mean']:.3g} for random neurons of the same size "
                  f"(p = {ab['target_p_value']:.2g})")
        return s


def _pct(x: float) -> str:
    return "nan%" if not np.isfinite(x) else f"{100 * x:.0f}%"


def _points(x: float) -> str:
    v = round(x)
    return f"{v:.0f} point{'s' if abs(v) != 1 else ''}" if abs(x - v) < 0.05 or abs(x) >= 10 else f"{x:.1f} points"


def _sites_prose(sites: list[str]) -> str:
    def one(s: str) -> str:
        parts = s.split(".")
        if len(parts) == 2 and parts[0] == "layers":
            return f"layer {parts[1]}"
        return s

    return ", ".join(one(s) for s in sites)


class ConceptBridge:
    """Attribution share and ablation effect of a concept's neurons against random neurons of the same sites.

    Parameters
    ----------
    live : LiveModel
    method : str, default "layer_conductance"
        A key of :data:`LAYER_ATTRIBUTORS` (registered layer attributors), or a class with the same
        ``(live, site, **method_params).attribute(inputs, *, target)`` interface.
    method_params : dict, optional
        Hyper-parameters of the attributor (``steps``, ``rule``, ``batch_size``, ...).
    attribution : {"absolute", "signed"}, default "absolute"
        Share of ``|A|`` (how much of the attribution mass the set carries, whatever its sign) or of ``A``
        (for block outputs the signed total is ``F(x) - F(baseline)`` by completeness).
    n_random : int, default 100
        Random neuron sets of the same size and site distribution.
    baseline : {"zero", "mean"} or dict of site -> values, default "zero"
        Value ablated neurons take; ``mean`` is each neuron's mean over ``store``.
    ablation : bool, default True
        Compute the ablation effect (``n_random + 1`` ablated passes over the dataset).
    store : ActivationStore, optional
        For ``baseline="mean"`` and the model check; give the store the ranking was read from.
    check_model : bool, default True
        Refuse a store that was not extracted from the live model (see :mod:`.store_check`).
    random_state : int, default 0
    memory_mb : float, default 1024
    batch_size : int, optional
        Rows (random set x example) per ablated forward pass.

    Examples
    --------
    >>> ids, src = concept_neurons(store, "rank_ADJ", top_k=20)                          # doctest: +SKIP
    >>> res = ConceptBridge(live, store=store).attribute(dev_texts, neurons=(ids, src),
    ...                                                  target=1, labels=dev_labels)     # doctest: +SKIP
    >>> res.describe()                                                                  # doctest: +SKIP
    'the top 20 ADJ neurons carry 38% of the class-1 conductance at layer 4 (...), and ablating them costs ...'
    """

    name = "concept_bridge"

    def __init__(self, live: LiveModel, *, method="layer_conductance", method_params: dict | None = None,
                 attribution: str = "absolute", n_random: int = 100, baseline="zero", ablation: bool = True,
                 store=None, check_model: bool = True, random_state: int | None = 0, memory_mb: float = 1024,
                 batch_size: int | None = None):
        self.live = live
        self.method = method
        self.method_params = dict(method_params or {})
        self.attribution = attribution
        self.n_random = n_random
        self.baseline = baseline
        self.ablation = ablation
        self.store = store
        self.check_model = check_model
        self.random_state = random_state
        self.memory_mb = memory_mb
        self.batch_size = batch_size
        if attribution not in ATTRIBUTIONS:
            raise InvalidParameterError(f"attribution {attribution!r} is unknown; choose one of "
                                        f"{choices(ATTRIBUTIONS)}")
        self._method_class()

    def _method_class(self):
        if isinstance(self.method, str):
            from . import METHODS

            if self.method not in LAYER_ATTRIBUTORS:
                raise InvalidParameterError(f"method {self.method!r} is not a layer attributor; choose one of "
                                            f"{choices(LAYER_ATTRIBUTORS)} or give a class")
            return METHODS[self.method]
        if not callable(self.method):
            raise InvalidParameterError(f"method: expected a name or a class, got {type(self.method).__name__}")
        return self.method

    def _method_name(self) -> str:
        return self.method if isinstance(self.method, str) else getattr(self.method, "name", self.method.__name__)

    # ------------------------------------------------------------------ the verb
    def attribute(self, inputs, *, neurons, target=None, labels=None, concept: str | None = None,
                  progress: bool = False) -> BridgeResult:
        """Share and ablation effect of ``neurons`` on ``inputs`` against random sets.

        Parameters
        ----------
        inputs : str, list of str, list of list of str, or Encoded
            One prediction or a dataset.
        neurons : sequence of str, or (ids, source_info) from :func:`~.neuron_sets.concept_neurons`
            Neuron ids ``site:index``.
        target : Target or int, optional
            The explained scalar. Default: the gold-class logit when ``labels`` are given, else the
            predicted class's logit.
        labels : sequence of int, optional
            Gold classes (sequence classification): adds the accuracy drop under ablation.
        concept : str, optional
            For the report (default: the ranking's concept).
        progress : bool
            A progress bar (tqdm, on stderr): one step per attributed site and per ablated pass.

        Returns
        -------
        BridgeResult
        """
        live = self.live
        source = {"kind": "ids"}
        if isinstance(neurons, tuple) and len(neurons) == 2 and isinstance(neurons[1], dict):
            neurons, source = neurons
        ids = [str(n) for n in ([neurons] if isinstance(neurons, str) else neurons)]
        by_site = parse_neuron_ids(ids)
        by_site = {live.site(s): idx for s, idx in by_site.items()}
        for s, idx in by_site.items():
            live.check_neurons(s, idx)
        widths = {s: live.width(s) for s in by_site}
        for s, idx in by_site.items():
            if len(idx) >= widths[s] and self.n_random:
                raise InvalidParameterError(f"the set covers all {widths[s]} neurons of {s!r}: random sets of the same "
                                            "size would be the same set; select fewer neurons")
        model_check = "none"
        if self.store is not None and self.check_model:
            model_check = check_store_model(live, self.store, by_site)
        enc = live.encode(inputs)
        if labels is not None:
            labels = [int(v) for v in labels]
            if len(labels) != enc.n_examples:
                raise InvalidParameterError(f"labels: expected {enc.n_examples} (one per input), got {len(labels)}")
        target, t_desc = self._target(enc, target, labels)
        rand = random_like(by_site, widths, self.n_random, random_state=self.random_state)

        # attribution: each site once, every set's share from the same arrays
        from tqdm.auto import tqdm

        self._bar = tqdm(total=len(by_site), disable=not progress, unit="step", desc="bridge", leave=False)
        try:
            per_site = self._attributions(enc, target, by_site)
            ablation, r_t, r_acc = None, None, None
            if self.ablation:
                ablation, r_t, r_acc = self._ablation(enc, target, labels, by_site, rand)
        finally:
            self._bar.close()
        total = sum(v.sum(axis=1) for v in per_site.values())  # (n_examples,)
        set_sum = sum(per_site[s][:, idx].sum(axis=1) for s, idx in by_site.items())
        share = _ratio(set_sum.sum(), total.sum())
        r_shares = np.array([_ratio(sum(per_site[s][:, r[s]].sum() for s in by_site), total.sum()) for r in rand])
        cfg = {"method": self._method_name(), "method_params": self.method_params, "attribution": self.attribution,
               "n_random": self.n_random, "random_state": self.random_state,
               "baseline": self.baseline if isinstance(self.baseline, str) else "custom",
               "ablation": self.ablation, "check_model": self.check_model,
               "store": str(getattr(self.store, "path", "")) or None,
               "model": {k: live.info.get(k) for k in ("name", "path", "model_type", "class", "weights_sha256")}}
        return BridgeResult(
            concept=concept or source.get("concept"), source=source, neurons=ids,
            site_counts={s: len(i) for s, i in by_site.items()}, n_examples=enc.n_examples, n_random=self.n_random,
            method=self._method_name(), attribution=self.attribution, target=_target_dict(target, t_desc),
            share=share, share_p_value=empirical_p_value(share, r_shares),
            random_share_mean=float(np.mean(r_shares)), random_share_std=float(np.std(r_shares)),
            ablation=ablation, model_check=model_check, config=cfg,
            share_per_example=np.array([_ratio(a, b) for a, b in zip(set_sum, total)]), random_shares=r_shares,
            random_target_effects=r_t, random_accuracy_drops=r_acc,
            random_sets=np.array([[f"{s}:{j}" for s in by_site for j in r[s]] for r in rand], dtype=object))

    # ------------------------------------------------------------------ parts
    def _target(self, enc, target, labels) -> tuple[Target, str]:
        if target is not None:
            t = as_target(target)
            return t, _class_name(self.live, t.index) if isinstance(t.index, int) else "per-example"
        if labels is not None:
            return Target("logit", tuple(labels)), "gold-class"
        with torch.no_grad():
            out = self.live.forward(enc)
        logits = getattr(out, "logits", None)
        if logits is None or logits.dim() != 2:
            raise InvalidParameterError("target: the model has no per-sequence logits; give target= (a Target)")
        return Target("logit", tuple(int(i) for i in logits.argmax(-1).tolist())), "predicted-class"

    def _attributions(self, enc, target, by_site) -> dict[str, np.ndarray]:
        cls = self._method_class()
        out = {}
        for s in by_site:
            res = cls(self.live, s, **self.method_params).attribute(enc, target=target)
            a = np.asarray(res.attributions, dtype=np.float64)
            if a.ndim != 3:
                raise InvalidParameterError(f"method {self._method_name()!r} does not attribute neurons of a site")
            a = a.sum(axis=1)
            out[s] = np.abs(a) if self.attribution == "absolute" else a
            self._bar.update(1)
        return out

    def _baselines(self, by_site) -> dict:
        if isinstance(self.baseline, dict):
            missing = [s for s in by_site if s not in self.baseline]
            if missing:
                raise InvalidParameterError(f"baseline: no values for site(s) {', '.join(missing)}")
            return {s: ablation_values(self.live, s, self.baseline[s]) for s in by_site}
        return {s: ablation_values(self.live, s, self.baseline, store=self.store) for s in by_site}

    def _ablation(self, enc, target, labels, by_site, rand):
        live = self.live
        base = self._baselines(by_site)
        sets = [{s: np.asarray(i) for s, i in by_site.items()}] + rand
        masks = {}
        for s in by_site:
            m = torch.zeros(len(sets), live.width(s), dtype=torch.bool)
            for k, st in enumerate(sets):
                m[k, torch.as_tensor(st[s], dtype=torch.long)] = True
            masks[s] = m
        resolved = live.resolve_target(enc, target)
        n_ex = enc.n_examples
        rows_per = rows_per_pass(live, enc, memory_mb=self.memory_mb, batch_size=self.batch_size)
        before = _run(live, enc, None, None, torch.arange(n_ex), resolved)
        vals = torch.empty(len(sets) * n_ex, before.shape[1], dtype=torch.float64)
        run = _run if len(by_site) > 1 else _SingleSite(live, enc, next(iter(by_site)))
        self._bar.total += -(-len(sets) * n_ex // rows_per)
        for r0 in range(0, len(sets) * n_ex, rows_per):
            r = torch.arange(r0, min(r0 + rows_per, len(sets) * n_ex))
            vals[r] = run(live, enc, {s: masks[s][r // n_ex] for s in by_site}, base, r % n_ex, resolved)
            self._bar.update(1)
        vals = vals.view(len(sets), n_ex, -1)
        t_before, t_after = before[:, 0].mean().item(), vals[:, :, 0].mean(1).numpy()
        t_eff = t_before - t_after
        out = {"baseline": self.baseline if isinstance(self.baseline, str) else "custom",
               "target_before": t_before, "target_after": float(t_after[0]), "target_effect": float(t_eff[0]),
               "random_target_effect_mean": float(t_eff[1:].mean()),
               "target_p_value": empirical_p_value(abs(t_eff[0]), np.abs(t_eff[1:]))}
        r_acc = None
        if labels is not None:
            if before.shape[1] < 2:
                raise InvalidParameterError("labels: the model has no per-sequence logits to compute accuracy from")
            lab = torch.as_tensor(labels)
            n_cls = before.shape[1] - 1
            if int(lab.min()) < 0 or int(lab.max()) >= n_cls:
                raise InvalidParameterError(f"labels: class {int(lab[(lab < 0) | (lab >= n_cls)][0])} is out of "
                                            f"range: the model has {n_cls} classes (0..{n_cls - 1})")
            acc_b = float((before[:, 1:].argmax(-1) == lab).double().mean())
            acc_a = (vals[:, :, 1:].argmax(-1) == lab[None]).double().mean(1).numpy()
            drop = acc_b - acc_a
            out.update(accuracy_before=acc_b, accuracy_after=float(acc_a[0]), accuracy_drop=float(drop[0]),
                       random_accuracy_drop_mean=float(drop[1:].mean()),
                       accuracy_p_value=empirical_p_value(float(drop[0]), drop[1:]))
            r_acc = drop[1:]
        return out, t_eff[1:], r_acc


def _target_dict(target: Target, description: str) -> dict:
    d = {k: list(v) if isinstance(v, tuple) else v for k, v in target.to_dict().items()}
    return dict(d, description=description)


def _ratio(a, b) -> float:
    a, b = float(a), float(b)
    return a / b if b != 0 else float("nan")


def _class_name(live: LiveModel, index: int) -> str:
    names = getattr(live.model.config, "id2label", None) or {}
    name = names.get(index, names.get(str(index)))
    if not name or str(name).upper().startswith("LABEL_"):
        return f"class-{index}"
    return f"{name}-class"


def _outputs(out, t):
    logits = getattr(out, "logits", None)
    parts = [t.double()[:, None]]
    if logits is not None and logits.dim() == 2:
        parts.append(logits.double())
    return torch.cat(parts, 1).cpu()


class _SingleSite:
    """Ablated rows at one site from the site's cached value, blocks below skipped (:meth:`LiveModel.run_from`)."""

    def __init__(self, live: LiveModel, enc, site: str):
        self.site = site
        self.y = live.activations(enc, site)
        self.cache: dict = {}

    def __call__(self, live, enc, masks, base, rows, resolved):
        y = self.y[rows.to(self.y.device)]
        vals = torch.where(masks[self.site].to(y.device)[:, None, :], base[self.site].to(y.device, y.dtype), y)
        return live.run_from(enc, self.site, vals, None, rows, cache=self.cache,
                             resolved=lambda out, r: _outputs(out, resolved(out, r)))


def _run(live: LiveModel, enc, masks, base, rows, resolved):
    """Target and logits (n_rows, 1 + n_classes) with ``masks[site][row]`` neurons set to ``base[site]``."""
    fns = {}
    if masks:
        for s, m in masks.items():
            def fn(v, m=m, b=base[s]):
                return torch.where(m.to(v.device)[:, None, :], b.to(v.device, v.dtype), v)
            fns[s] = fn
    with torch.no_grad(), live.hooks(fns):
        out = live.forward(enc, rows)
        return _outputs(out, resolved(out, rows))
