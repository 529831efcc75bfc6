"""Is an activation store from the live model? Widths, weight fingerprints, and the store's own activations.

A ranking read from a store names neurons of the model that was extracted; explaining another model's
predictions with it is meaningless. :func:`check_store_model` refuses such a store:

1. every site of the neuron set that the store has must have the live model's width;
2. where the store records a weight fingerprint and it equals one of the live model's (whole model, or its
   encoder under either hashing convention), the store is accepted;
3. otherwise (fingerprints differ or are absent) the live model recomputes the first stored sentence at a
   word- or token-granularity store (subwords aggregated as the store's configuration says) and its values
   must equal the stored ones (relative error of the rows below 5e-3, float16 stores included); a store whose granularity cannot
   be recomputed is refused when both fingerprints exist and differ, accepted on widths alone otherwise.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..errors import InvalidParameterError
from ..models.live import LiveModel

__all__ = ["check_store_model", "live_fingerprints"]

#: largest relative error ||recomputed - stored|| / ||stored|| of a store from the same model (float16 rounding is
#: about 5e-4; another engine's float32 arithmetic about 1e-6)
_RTOL = 5e-3


def live_fingerprints(live: LiveModel) -> set[str]:
    """The weight fingerprints a store written from this model (or its encoder) may record."""
    from ..models.engines.checkpoint import tensor_fingerprint
    from ..models.loading import weight_fingerprint

    out = {live.info.get("weights_sha256")}
    base = getattr(live.model, "base_model", None)
    if base is not None:
        out.add(weight_fingerprint(base))
        out.add(tensor_fingerprint(base.state_dict()))
    out.add(weight_fingerprint(live.model))
    out.discard(None)
    return out


def check_store_model(live: LiveModel, store, sites: Iterable[str], *, what: str = "the store") -> str:
    """Raise :class:`InvalidParameterError` if ``store`` was not extracted from ``live``; returns how it was checked.

    Returns
    -------
    str
        ``"fingerprint"``, ``"activations"`` or ``"widths"``.
    """
    sites = [s for s in sites if s in store.sites]
    name = store.model.get("name", "?")
    for s in sites:
        w_store, w_live = int(store[s].shape[1]), live.width(s)
        if w_store != w_live:
            raise InvalidParameterError(f"{what} ({name}) has {w_store} neurons at {s!r}, the live model has "
                                        f"{w_live}: it comes from another model; extract the store with this model")
    fp = store.model.get("weights_sha256")
    if fp and fp in live_fingerprints(live):
        return "fingerprint"
    if sites:
        ok = _same_activations(live, store, sites)
        if ok is True:
            return "activations"
        if ok is False:
            raise InvalidParameterError(f"{what} ({name}) holds other activations than the live model computes for its "
                                        "first sentence: it comes from another model (or other weights); extract it "
                                        "with this model")
    if fp and live.info.get("weights_sha256"):
        raise InvalidParameterError(f"{what} ({name}) records weights {fp[:12]}..., the live model has "
                                    f"{live.info['weights_sha256'][:12]}...: it comes from another model; extract it "
                                    "with this model or pass check_model=False")
    return "widths"


def _same_activations(live: LiveModel, store, sites: list[str]) -> bool | None:
    """Recompute the first finished sentence; None where the store's granularity cannot be recomputed here."""
    cfg = store.config
    gran = store.granularity
    if gran not in ("word", "token") or store.n_done < 1:
        return None
    a, b = int(store.offsets[0]), int(store.offsets[1])
    row_tokens = store.tokens()[a:b]
    text = store.texts()[0]
    if gran == "word":
        enc = live.encode([row_tokens])
    else:
        enc = live.encode([text.split(" ")])
    wid = np.asarray(enc.word_ids[0])
    for s in sites:
        val = live.activations(enc, s)[0].double().cpu().numpy()
        val = val[: len(wid)]
        if gran == "word":
            rows = _aggregate(val, wid, cfg.get("aggregation", "mean"))
        else:
            keep = np.ones(len(wid), bool) if cfg.get("special_tokens") else wid >= 0
            rows = val[keep]
        stored = np.asarray(store[s][a:b], dtype=np.float64)
        if rows.shape != stored.shape:
            return False
        err = float(np.linalg.norm(rows - stored)) / max(float(np.linalg.norm(stored)), 1e-12)
        if not err <= _RTOL:
            return False
    return True


def _aggregate(val: np.ndarray, wid: np.ndarray, mode: str) -> np.ndarray:
    n = int(wid.max()) + 1 if (wid >= 0).any() else 0
    out = np.empty((n, val.shape[1]))
    for w in range(n):
        part = val[wid == w]
        out[w] = {"first": lambda p: p[0], "last": lambda p: p[-1], "max": lambda p: p.max(0)}.get(
            mode, lambda p: p.mean(0))(part)
    return out
