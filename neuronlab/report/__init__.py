"""The study report: one self-contained HTML page (plus PNG and SVG figures) built from a store and its results.

Each analysis contributes a section through the registry :data:`SECTIONS`
(:mod:`neuronlab.report.sections`); :func:`build_report` renders them all. Importing this package does not
import matplotlib; the plots load it when they are made.
"""
from .build import REPORT_MARKER, build_report, render_report
from .sections import SECTIONS, Figure, Fragment, SectionEntry

__all__ = ["build_report", "render_report", "REPORT_MARKER", "SECTIONS", "SectionEntry", "Fragment", "Figure"]
