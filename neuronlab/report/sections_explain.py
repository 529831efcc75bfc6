"""Report section ``explanations``: input-level explanations as word heatmaps (issue 15 results, issue 14 report).

From ``explanation`` results (:class:`~neuronlab.explain.base.Explanation`, written by ``neuronlab explain ...
--store STORE``): per result, the method, its target and configuration, and each explained input (the first
:data:`MAX_EXAMPLES`) as a heatmap over its words on one diverging colour scale shared by the result's inputs
(the word score in each word's tooltip), with f(x) and, where the method has one, f(reference) and the sum of
the scores (completeness / efficiency at a glance).
"""
from __future__ import annotations

from .data import ReportData
from .heatmap import heatmap_html
from .markup import esc, table
from .sections import Fragment
from .sections_common import missing, note

__all__ = ["explanations_section", "MAX_EXAMPLES"]

#: inputs shown per explanation result
MAX_EXAMPLES = 20


def _caption(ex, i: int) -> str:
    text = f"f(x)={ex.target_value[i]:.4g}" if i < len(ex.target_value) else ""
    ref = ex.reference_value
    if ref is not None and i < len(ref):
        text += f" f(ref)={ref[i]:.4g} sum={sum(ex.word_scores[i]):.4g}"
    return text


def explanations_section(data: ReportData) -> Fragment:
    """Per explanation result: its configuration and its inputs as word heatmaps."""
    results = data.of_kind("explanation")
    frag = Fragment()
    if not results:
        return frag.add(missing("input-level explanations", "neuronlab explain MODEL --text SENTENCE --method NAME "
                                                            "--store STORE"))
    for name, ex in results:
        target = ex.target or {}
        frag.add(f"<h3>{esc(name)}: {esc(ex.method)}</h3>")
        frag.add(table(["method", "target", "inputs", "forward rows", "seconds", "parameters"],
                       [(ex.method, f"{target.get('kind', '')} of class {target.get('index', '')}", len(ex.words),
                         ex.forward_passes, ex.seconds,
                         ", ".join(f"{k}={v}" for k, v in sorted((ex.config or {}).items())))]))
        n = min(MAX_EXAMPLES, len(ex.words))
        frag.add(heatmap_html(ex.words[:n], ex.word_scores[:n], captions=[_caption(ex, i) for i in range(n)]))
        if len(ex.words) > n:
            frag.add(note(f"{len(ex.words) - n} more inputs are in the result {name!r}; read them with "
                          "neuronlab.explain.base.Explanation.from_store."))
    return frag
