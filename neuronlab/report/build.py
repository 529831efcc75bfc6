"""Build the study report: render every registered section, write figures and one self-contained HTML page.

Layout of the output directory::

    DIR/index.html           the report (CSS, PNG figures, the explorer's script and data inline; opens offline)
    DIR/figures/NAME.png     every figure as PNG ...
    DIR/figures/NAME.svg     ... and as SVG (linked from the page)
    DIR/neurons/*.html       neuron dossiers (where :mod:`neuronlab.report.dossier` is installed), linked from
                             the explorer
    DIR/.neuronlab-report    marker: a directory neuronlab may replace with --overwrite

The directory is written through :func:`neuronlab.outputs.safe_output_dir` (a temporary directory renamed on
success; an existing directory is replaced only with ``overwrite`` and only if it holds the marker).
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from neuronlab.errors import InvalidParameterError

from .data import ReportData
from .explorer import EXPLORER_CSS, explorer_blob, explorer_html, explorer_script, neuron_stats
from .markup import esc, figure_html, page
from .paths import EXPLORER_ANCHOR
from .plots import to_png, to_svg
from .sections import Figure, ordered_sections

__all__ = ["build_report", "render_report", "RenderedReport", "REPORT_MARKER", "REPORT_FILE", "dossier_writer"]

#: marker file in every report directory (lets ``--overwrite`` replace it, and only it)
REPORT_MARKER = ".neuronlab-report"
#: the page's file name inside the report directory
REPORT_FILE = "index.html"
_NAME = re.compile(r"^[a-z0-9_-]+$")


@dataclass
class RenderedReport:
    """The page and its figures, before anything is written.

    Attributes
    ----------
    html : str
    figures : dict
        File stem (``section-name``) -> ``(png bytes, svg bytes)``.
    sections : list of str
        Section names in page order (the explorer is not a registered section).
    explorer : dict or None
        What the explorer holds: ``neurons``, ``rankings``, ``concepts``, ``dossiers`` (None without it).
    """

    html: str
    figures: dict = field(default_factory=dict)
    sections: list = field(default_factory=list)
    explorer: dict | None = None


def render_report(data: ReportData, *, sections: Sequence[str] | None = None, svg: bool = True,
                  explorer: bool = True, dossiers: Mapping[str, Mapping[str, Any]] | None = None,
                  stats: Mapping[str, Any] | None = None) -> RenderedReport:
    """Render the registered sections (or ``sections``) of ``data`` into one page and its figures.

    Parameters
    ----------
    data : ReportData
    sections : sequence of str, optional
        Section names (default: every registered section, in page order).
    svg : bool, default=True
        Also render each figure as SVG.
    explorer : bool, default=True
        Put the interactive explorer (:mod:`neuronlab.report.explorer`) first in the page.
    dossiers : mapping, optional
        Neuron id -> ``{"dossier", "description", "auc"}`` of the dossier pages written beside the page
        (what ``write_dossiers`` returns); the explorer links to them.
    stats : mapping, optional
        :func:`~neuronlab.report.explorer.neuron_stats` of the store, shown by the explorer with each neuron.
    """
    out = RenderedReport(html="")
    blocks = []
    scripts = []
    if explorer:
        blob = explorer_blob(data, dossiers, stats=stats)
        blocks.append((EXPLORER_ANCHOR, "Explorer", explorer_html(blob)))
        scripts.append(explorer_script())
        out.explorer = {"neurons": blob["n_neurons"], "rankings": len(blob["rankings"]),
                        "concepts": len(blob["concepts"]), "dossiers": len(blob["dossiers"]["neuron"])}
    for entry in ordered_sections(list(sections) if sections is not None else None):
        if not _NAME.match(entry.name):
            raise InvalidParameterError(f"report section name {entry.name!r} must match [a-z0-9_-]+")
        parts = []
        for part in entry.render(data).parts:
            if isinstance(part, Figure):
                parts.append(_figure(entry.name, part, out, svg=svg))
            else:
                parts.append(str(part))
        if entry.reference:
            parts.append(f'<p class="ref">Reference: {esc(entry.reference)}</p>')
        blocks.append((entry.name, entry.title, "".join(parts)))
        out.sections.append(entry.name)
    subtitle = f"{data.path} · {data.model.get('name', '?')} · {data.summary['n_neurons']} neurons · " \
               f"{len(data.result_configs)} results"
    out.html = page("neuronlab study report", subtitle, blocks, scripts=scripts,
                    css=EXPLORER_CSS if explorer else "")
    return out


def _figure(section: str, fig: Figure, out: RenderedReport, *, svg: bool) -> str:
    if not _NAME.match(fig.name):
        raise InvalidParameterError(f"figure name {fig.name!r} of section {section!r} must match [a-z0-9_-]+")
    stem = f"{section}-{fig.name}"
    if stem in out.figures:
        raise InvalidParameterError(f"section {section!r} has two figures named {fig.name!r}")
    png = to_png(fig.figure)
    out.figures[stem] = (png, to_svg(fig.figure) if svg else None)
    return figure_html(png, alt=fig.caption or stem, caption=fig.caption,
                       svg_href=f"figures/{stem}.svg" if svg else None)


def default_out_dir(store_path: str | os.PathLike) -> Path:
    """``run.h5`` -> ``run_report`` beside it.

    >>> str(default_out_dir("runs/demo/store.h5"))
    'runs/demo/store_report'
    """
    p = Path(store_path)
    return p.with_name(p.stem + "_report")


def dossier_writer() -> Callable[..., dict] | None:
    """``neuronlab.report.dossier.write_dossiers``, or None where that module is not installed.

    Only the absence of the module itself means "no dossiers"; an import error inside it is raised.
    """
    try:
        from .dossier import write_dossiers
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.dossier":
            raise
        return None
    return write_dossiers


def build_report(store_path: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                 overwrite: bool = False, sections: Sequence[str] | None = None,
                 overwrite_hint: str = "overwrite=True", dossiers: int = 200, model: str | None = None,
                 explorer: bool = True, progress: bool = False) -> dict:
    """Build the report of a store into ``out_dir`` (default: ``<store stem>_report`` beside the store).

    Parameters
    ----------
    store_path : path-like
        A complete activation store; its /results are read (probes, rankings, ...).
    out_dir : path-like, optional
    overwrite : bool, default=False
        Replace an existing report directory (only one that neuronlab wrote).
    sections : sequence of str, optional
        Section names (default: all registered).
    dossiers : int, default=200
        Write the dossier pages of at most this many neurons (``DIR/neurons/``; 0 = none), linked from the
        explorer. Needs :mod:`neuronlab.report.dossier`; without it the report has no dossier pages.
    model : str, optional
        Model (alias, directory or Hugging Face id) whose unembedding gives the dossiers' output effect.
    explorer : bool, default=True
        Put the interactive explorer in the page.
    progress : bool, default=False
        Show a progress bar while the dossiers are written.

    Returns
    -------
    dict
        ``report`` (path of index.html), ``out``, ``sections``, ``figures`` (paths), ``dossiers`` (number of
        dossier pages), ``explorer`` (neurons, rankings, concepts, dossiers it holds; None without it), ``bytes``
        (size of the page), ``seconds``.
    """
    from neuronlab.outputs import safe_output_dir
    from neuronlab.store import ActivationStore

    start = time.perf_counter()
    if isinstance(dossiers, bool) or not isinstance(dossiers, int) or dossiers < 0:
        raise InvalidParameterError(f"dossiers must be a whole number >= 0 (0 = no dossier pages), got {dossiers!r}")
    out = Path(out_dir) if out_dir is not None else default_out_dir(store_path)
    if sections is not None:
        ordered_sections(list(sections))  # unknown names fail before any work
    with safe_output_dir(out, marker=REPORT_MARKER, overwrite=overwrite, inputs=[store_path],
                         overwrite_hint=overwrite_hint) as tmp:
        with ActivationStore.open(store_path) as store:
            data = ReportData(store)
            stats = neuron_stats(store) if explorer else None
        written: dict = {}
        write_dossiers = dossier_writer() if dossiers else None
        if write_dossiers is not None:
            written = dict(write_dossiers(store_path, data, tmp, neurons=None, max_neurons=dossiers, model=model,
                                          progress=progress) or {})
        rendered = render_report(data, sections=sections, explorer=explorer, dossiers=written, stats=stats)
        (tmp / "figures").mkdir()
        figures = []
        for stem, (png, svg) in rendered.figures.items():
            (tmp / "figures" / f"{stem}.png").write_bytes(png)
            figures.append(str(out / "figures" / f"{stem}.png"))
            if svg is not None:
                (tmp / "figures" / f"{stem}.svg").write_bytes(svg)
                figures.append(str(out / "figures" / f"{stem}.svg"))
        (tmp / REPORT_FILE).write_text(rendered.html, encoding="utf-8")
        (tmp / REPORT_MARKER).write_text("written by neuronlab report\n")
    return {"report": str(out / REPORT_FILE), "out": str(out), "sections": rendered.sections, "figures": figures,
            "dossiers": len(written), "explorer": rendered.explorer,
            "bytes": len(rendered.html.encode("utf-8")), "seconds": round(time.perf_counter() - start, 3)}
