"""Site names: one name per place in a model, used as hook key, HDF5 path, CLI flag and plot label.

Grammar (see docs/sites.md)::

    site      := [stack "."] place
    stack     := "encoder" | "decoder"                 (encoder-decoder models only)
    place     := "embeddings"
               | "layers." L                           output of block L (residual stream)
               | "layers." L ".attn"                   attention sub-layer output before the residual add
               | "layers." L ".attn.heads"             per-head context vectors (heads x head_dim)
               | "layers." L ".mlp"                    FFN hidden units after the activation
               | "layers." L ".attn.probs"             self-attention probabilities (batch, heads, query, key);
                                                       its units are the heads. Live models only (scoped hooks
                                                       through the attention implementation, see
                                                       models/attention_probs.py); never extracted into a store

A neuron is ``site:index`` (``layers.3.mlp:1021``). Patterns may use ``*`` for one dotted segment
(``layers.*`` = every block output, ``layers.*.mlp`` = every FFN) and ``**`` for any number of segments
(``layers.3.**`` = every site of layer 3); several names are comma-separated.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from .errors import InvalidParameterError, UnknownSiteError, choices

__all__ = ["SITE_RE", "parse_site", "expand_sites", "neuron_id", "parse_neuron_id", "site_order_key", "ATTN_PROBS",
           "is_attention_probs"]

SITE_RE = re.compile(
    r"^(?:(?P<stack>encoder|decoder)\.)?"
    r"(?:(?P<emb>embeddings)|layers\.(?P<layer>\d+)(?:\.(?P<sub>attn\.heads|attn\.probs|attn|mlp))?)$"
)

#: the sub-site of attention probabilities (a live-model site whose units are the heads)
ATTN_PROBS = "attn.probs"

_SUB_ORDER = {"attn.probs": -1, "attn.heads": 0, "attn": 1, "mlp": 2, None: 3}


def parse_site(name: str) -> dict:
    """Split a site name into ``stack``, ``layer`` (None for embeddings) and ``sub``.

    Raises
    ------
    UnknownSiteError
        If ``name`` does not follow the site grammar.
    """
    m = SITE_RE.match(name)
    if not m:
        raise UnknownSiteError(
            f"{name!r} is not a site name; expected e.g. 'embeddings', 'layers.3', 'layers.3.attn', "
            "'layers.3.attn.heads', 'layers.3.mlp' (prefixed by 'encoder.'/'decoder.' for encoder-decoder models)"
        )
    layer = m.group("layer")
    return {
        "stack": m.group("stack"),
        "layer": None if layer is None else int(layer),
        "sub": m.group("sub"),
        "embeddings": m.group("emb") is not None,
    }


def is_attention_probs(name: str) -> bool:
    """Whether ``name`` follows the grammar and names attention probabilities (``layers.L.attn.probs``)."""
    m = SITE_RE.match(name)
    return bool(m) and m.group("sub") == ATTN_PROBS


def site_order_key(name: str) -> tuple:
    """Execution order of a site in a forward pass (encoder before decoder, shallow before deep)."""
    p = parse_site(name)
    stack = {None: 0, "encoder": 0, "decoder": 1}[p["stack"]]
    if p["embeddings"]:
        return (stack, -1, 0)
    return (stack, p["layer"], _SUB_ORDER[p["sub"]])


def expand_sites(patterns: str | Sequence[str] | None, available: Iterable[str]) -> list[str]:
    """Resolve names and ``*`` globs against the sites a model (or store) has.

    Parameters
    ----------
    patterns : str or sequence of str or None
        Comma-separated string or list of names/globs; None or ``"all"`` selects every site.
    available : iterable of str
        Valid site names, in model order.

    Returns
    -------
    list of str
        Matching sites in model order, without duplicates.

    Raises
    ------
    UnknownSiteError
        If a name or pattern matches nothing; the message lists the valid sites.
    """
    available = list(available)
    if patterns is None:
        return available
    if isinstance(patterns, str):
        patterns = [p.strip() for p in patterns.split(",")]
    patterns = [p for p in patterns if p]
    if not patterns:
        raise InvalidParameterError("sites: empty selection; give at least one site name or pattern")
    if patterns == ["all"]:
        return available
    chosen: set[str] = set()
    for pat in patterns:
        rx = _glob_regex(pat)
        hits = [s for s in available if rx.match(s)]
        if not hits:
            raise UnknownSiteError(f"site {pat!r} matches no site; valid sites: {choices(available)}")
        chosen.update(hits)
    return [s for s in available if s in chosen]


def _glob_regex(pattern: str) -> "re.Pattern":
    """``*`` matches within one dotted segment (``layers.*`` = blocks only), ``**`` across segments."""
    parts = re.split(r"(\*\*|\*)", pattern)
    rx = "".join("[^.]*" if p == "*" else ".*" if p == "**" else re.escape(p) for p in parts)
    return re.compile(rx + r"\Z")


def neuron_id(site: str, index: int) -> str:
    """Global neuron id ``site:index``."""
    return f"{site}:{int(index)}"


def parse_neuron_id(nid: str) -> tuple[str, int]:
    """Inverse of :func:`neuron_id`."""
    site, sep, idx = nid.rpartition(":")
    if not sep or not idx.isdigit():
        raise InvalidParameterError(f"neuron id {nid!r} is not of the form 'site:index' (e.g. 'layers.3.mlp:1021')")
    parse_site(site)
    return site, int(idx)
