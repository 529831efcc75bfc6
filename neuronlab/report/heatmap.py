"""Activation heatmaps over text: one neuron, many sentences, one colour scale.

Like NeuroX's visualiser (Dalvi et al. 2019, "NeuroX: A Toolkit for Analyzing Individual Neurons in Neural
Networks"), but across a corpus: every word is an HTML ``<span>`` whose background colour shows the neuron's
activation on it, on **one** scale shared by all the sentences shown (:class:`ColourScale`), so that a pale word in
one sentence and a pale word in another mean the same. Positive activations are red, negative ones blue; the
opacity is ``|value| / vmax``, so the word with the largest ``|value|`` among all the sentences gets the strongest
colour. The value is in each span's ``title`` (shown on hover), the sentence's maximum word is bold and underlined,
and an optional focus word (the row a context was chosen for) is outlined.

Every word is escaped (:func:`~neuronlab.report.markup.esc`): a corpus holding ``<script>``, quotes or ``&amp;``
shows them as text. The styles are inline attributes, so the HTML works in a report page (whose
Content-Security-Policy allows inline styles but no script), in a notebook (``IPython.display.HTML``) or anywhere.

Examples
--------
>>> scale = ColourScale(2.0)
>>> scale.colour(2.0), scale.colour(-1.0), scale.colour(0.0)
('rgba(214,39,40,1.000)', 'rgba(31,119,180,0.500)', 'rgba(214,39,40,0.000)')
>>> html = sentence_html(["a", "<b>"], [0.5, 2.0], scale)
>>> "&lt;b&gt;" in html and "<b>" not in html
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from .markup import esc

__all__ = ["ColourScale", "sentence_html", "heatmap_html", "legend_html", "store_heatmap"]

#: RGB of positive and negative activations (matplotlib's tab:red and tab:blue)
POSITIVE = (214, 39, 40)
NEGATIVE = (31, 119, 180)
#: opacity above which the word is written in white
_WHITE_TEXT = 0.6


@dataclass(frozen=True)
class ColourScale:
    """A symmetric colour scale: ``value -> rgba`` with opacity ``min(1, |value| / vmax)``.

    Parameters
    ----------
    vmax : float
        The ``|value|`` that gets full opacity (> 0; a scale of all-zero values uses 1).
    """

    vmax: float

    def __post_init__(self) -> None:
        if not (isinstance(self.vmax, (int, float)) and math.isfinite(self.vmax) and self.vmax > 0):
            object.__setattr__(self, "vmax", 1.0)

    @classmethod
    def for_values(cls, values: Iterable[Any]) -> "ColourScale":
        """The scale whose ``vmax`` is the largest finite ``|value|`` of ``values`` (nested sequences allowed)."""
        arrays = [np.abs(np.asarray(v, dtype=np.float64)).ravel() for v in values]
        flat = np.concatenate(arrays) if arrays else np.zeros(0)
        flat = flat[np.isfinite(flat)]
        return cls(float(flat.max()) if flat.size else 1.0)

    def alpha(self, value: float) -> float:
        """Opacity of ``value`` in ``[0, 1]`` (0 for a non-finite value)."""
        v = float(value)
        return min(1.0, abs(v) / self.vmax) if math.isfinite(v) else 0.0

    def colour(self, value: float) -> str:
        """CSS ``rgba(...)`` of ``value``."""
        r, g, b = NEGATIVE if float(value) < 0 else POSITIVE
        return f"rgba({r},{g},{b},{self.alpha(value):.3f})"


def _span(word: str, value: float, scale: ColourScale, *, is_max: bool, is_focus: bool) -> str:
    a = scale.alpha(value)
    style = [f"background:{scale.colour(value)}", "padding:0 .15em", "border-radius:3px"]
    if a > _WHITE_TEXT:
        style.append("color:#fff")
    classes = ["hm"]
    if is_max:
        classes.append("hm-max")
        style += ["font-weight:bold", "text-decoration:underline"]
    if is_focus:
        classes.append("hm-focus")
        style.append("outline:2px solid #1d2430")
    title = f"{float(value):.4g}" + (" (max of the sentence)" if is_max else "")
    return (f'<span class="{" ".join(classes)}" style="{";".join(style)}" title="{esc(title)}" '
            f'data-value="{float(value):.6g}">{esc(word)}</span>')


def sentence_html(words: Sequence[str], values: Sequence[float], scale: ColourScale, *,
                  focus: int | None = None, mark_max: bool = True) -> str:
    """One sentence as coloured word spans.

    Parameters
    ----------
    words : sequence of str
        The words (or tokens) of the sentence; escaped here.
    values : sequence of float
        The neuron's activation on each word.
    scale : ColourScale
        The scale shared by every sentence shown together.
    focus : int, optional
        Index of a word to outline (the row the sentence was chosen for).
    mark_max : bool, default=True
        Bold and underline the word with the largest activation.
    """
    vals = np.asarray(values, dtype=np.float64)
    if len(words) != vals.size:
        raise ValueError(f"sentence_html: {len(words)} words but {vals.size} values")
    top = int(np.nanargmax(vals)) if mark_max and vals.size and np.isfinite(vals).any() else -1
    spans = [_span(str(w), float(v), scale, is_max=i == top, is_focus=i == focus)
             for i, (w, v) in enumerate(zip(words, vals))]
    return f'<div class="hm-sentence" style="line-height:1.9;margin:.2em 0">{" ".join(spans)}</div>'


def legend_html(scale: ColourScale, *, steps: int = 9, label: str = "activation") -> str:
    """A legend of ``scale``: swatches from ``-vmax`` to ``+vmax`` with their values."""
    values = np.linspace(-scale.vmax, scale.vmax, steps)
    swatches = "".join(
        f'<span class="hm-swatch" style="display:inline-block;min-width:3.2em;text-align:center;'
        f'background:{scale.colour(v)};{"color:#fff;" if scale.alpha(v) > _WHITE_TEXT else ""}'
        f'font-size:.75rem">{v:.3g}</span>' for v in values)
    return (f'<div class="hm-legend" style="margin:.4em 0">{esc(label)} (one scale for every sentence on this '
            f"page): {swatches}</div>")


def heatmap_html(sentences: Sequence[Sequence[str]], values: Sequence[Sequence[float]], *,
                 scale: ColourScale | None = None, focus: Sequence[int | None] | None = None,
                 captions: Sequence[str] | None = None, legend: bool = True) -> str:
    """Many sentences as activation heatmaps of one neuron on one shared colour scale.

    Parameters
    ----------
    sentences : sequence of sequence of str
        The words of each sentence.
    values : sequence of sequence of float
        The neuron's activation on each word of each sentence.
    scale : ColourScale, optional
        Default: :meth:`ColourScale.for_values` of ``values`` (the largest ``|value|`` is the full colour).
    focus : sequence of int or None, optional
        Per sentence, the word to outline.
    captions : sequence of str, optional
        Per sentence, a short text shown before it (escaped).
    legend : bool, default=True

    Returns
    -------
    str
        Safe HTML (every word and caption escaped).
    """
    if len(sentences) != len(values):
        raise ValueError(f"heatmap_html: {len(sentences)} sentences but {len(values)} value lists")
    scale = scale or ColourScale.for_values(values)
    parts = [legend_html(scale)] if legend else []
    for i, (words, vals) in enumerate(zip(sentences, values)):
        cap = f'<span class="hm-caption" style="color:#666;font-size:.8rem">{esc(captions[i])}</span> ' \
            if captions is not None else ""
        parts.append(cap + sentence_html(words, vals, scale, focus=None if focus is None else focus[i]))
    return f'<div class="hm-block">{"".join(parts)}</div>'


def store_heatmap(store: Any, neuron: str, sentences: Sequence[int], *, legend: bool = True) -> str:
    """Heatmap of one neuron over some sentences of an activation store (reads only their rows and column).

    Parameters
    ----------
    store : ActivationStore
        An open store.
    neuron : str
        ``site:index``.
    sentences : sequence of int
        Sentence indices, shown in this order.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from neuronlab.store import ActivationStore
    >>> from neuronlab.testing import synthetic_store
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
    >>> _ = synthetic_store(p, [["a", "b"], ["<i>"]], data={"layers.0": np.array([[1.], [2.], [-4.]])})
    >>> with ActivationStore.open(p) as st:
    ...     html = store_heatmap(st, "layers.0:0", [1, 0])
    >>> html.count("data-value="), "&lt;i&gt;" in html, "rgba(31,119,180,1.000)" in html
    (3, True, True)
    """
    from neuronlab.sites import parse_neuron_id

    site, index = parse_neuron_id(neuron)
    arr = store[site]
    if not 0 <= index < arr.shape[1]:
        raise ValueError(f"neuron {neuron!r}: site {site!r} has {arr.shape[1]} neurons")
    offsets = store.offsets
    tokens = store.tokens()
    words, values = [], []
    for s in sentences:
        r0, r1 = int(offsets[int(s)]), int(offsets[int(s) + 1])
        words.append(tokens[r0:r1])
        values.append(np.asarray(arr[r0:r1], dtype=np.float64)[:, index])
    return heatmap_html(words, values, legend=legend)
