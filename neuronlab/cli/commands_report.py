"""CLI command ``report``: the study report of a store (one self-contained HTML page, figures as PNG and SVG)."""
from __future__ import annotations

import argparse

from .registry import OVERWRITE_FLAG, command, emit


@command("report", "Build the study report of a store: one self-contained HTML page (an interactive explorer of "
                   "the neurons, provenance, probe accuracy with baselines, neuron rankings and their agreement) "
                   "plus every figure as PNG and SVG and a dossier page per top neuron, from the results written "
                   "into the store by `probe`, `rank` and the other analyses. The page opens offline.")
def _report(p: argparse.ArgumentParser):
    p.add_argument("store", help="activation store (.h5) with results in /results (see `neuronlab info STORE`)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="report directory: DIR/index.html and DIR/figures/ (default: STORE's name with _report, "
                        "beside it; never the store itself)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace DIR if it exists and is a report neuronlab wrote (only once the new report is "
                        "complete)")
    p.add_argument("--sections", default=None, metavar="LIST",
                   help="only these sections, comma-separated (default: all; e.g. provenance,probes)")
    p.add_argument("--dossiers", type=int, default=200, metavar="N",
                   help="write a dossier page (DIR/neurons/SITE-INDEX.html, linked from the explorer) for at most N "
                        "neurons, the best ranked first (default: 200; 0 = none)")
    p.add_argument("--model", default=None, metavar="SPEC",
                   help="model (alias such as minilm, local directory or Hugging Face id) whose output vocabulary "
                        "gives each dossier the tokens its neuron promotes and suppresses (default: no output effect)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true",
                   help="print the report's path, sections, figures, dossier count, explorer contents, size and "
                        "build time as JSON")

    def run(args) -> int:
        from ..errors import InvalidParameterError
        from ..report import build_report

        sections = [s.strip() for s in args.sections.split(",") if s.strip()] if args.sections else None
        if args.dossiers < 0:
            raise InvalidParameterError(f"--dossiers must be 0 or more (0 = no dossier pages), got {args.dossiers}")
        info = build_report(args.store, args.out, overwrite=args.overwrite, sections=sections,
                            overwrite_hint=OVERWRITE_FLAG, dossiers=args.dossiers, model=args.model,
                            progress=not args.quiet)
        emit(args, info, info["report"])
        return 0

    return run
