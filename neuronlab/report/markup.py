"""HTML helpers of the report: escaping, tables, figures and the self-contained page.

Every string that comes from a store (words, sentences, concept and class names, result and file
names, configuration values) goes through :func:`esc` (``html.escape`` with quotes) before it enters
the page, so that a corpus containing ``<script>`` shows it as text. The page has no external
resources: the CSS is inline, the PNG figures are ``data:`` URIs, and a Content-Security-Policy
forbids any network access and every script except the page's own inline scripts, each allowed by its SHA-256
hash (:func:`csp`; the explorer's, see :mod:`neuronlab.report.explorer`); never ``'unsafe-inline'`` for scripts.

Examples
--------
>>> esc('<script>alert("x")</script> &amp;')
'&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;amp;'
>>> table(["a"], [["<i>"], [1.23456]]).split("<tbody>")[1]
'<tr><td>&lt;i&gt;</td></tr><tr><td class="num">1.235</td></tr></tbody></table>'
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any, Iterable, Sequence

__all__ = ["esc", "fmt", "table", "definition_list", "json_block", "figure_html", "page", "csp", "script_hash"]

#: Content-Security-Policy of a page without scripts: no script, no network; images only inline
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def script_hash(source: str) -> str:
    """The CSP source that allows exactly this inline script: ``'sha256-<base64 of its UTF-8 digest>'``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def csp(scripts: Sequence[str] = ()) -> str:
    """The page's Content-Security-Policy: :data:`CSP`, plus ``script-src`` with the hash of each inline script.

    >>> csp()
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    >>> csp(["x"]).endswith("; script-src 'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='")
    True
    """
    if not scripts:
        return CSP
    return CSP + "; script-src " + " ".join(script_hash(s) for s in scripts)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#f7f8fa}
header{background:#1d2430;color:#fff;padding:1rem 2rem}header h1{margin:0;font-size:1.4rem}
header p{margin:.3rem 0 0;color:#c8d0dc;font-size:.9rem;overflow-wrap:anywhere}
nav{padding:.5rem 2rem;background:#e9edf2}nav a{margin-right:1rem;color:#1d4e89}
main{padding:0 2rem 2rem;max-width:1100px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:1rem 1.5rem;margin-top:1.2rem}
h2{margin-top:0;font-size:1.2rem}h3{font-size:1rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #dde2e8;padding:.25rem .6rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f0f3f6;white-space:nowrap}td:nth-child(-n+2){white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555}pre{background:#f4f6f8;padding:.6rem;overflow:auto;font-size:.8rem}
.note{color:#666;font-style:italic}.ref{color:#666;font-size:.85rem}
"""


def esc(value: Any) -> str:
    """``str(value)`` escaped for HTML text and attribute values (``&``, ``<``, ``>``, ``"``, ``'``)."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """A cell value as escaped text: floats rounded, None as an en dash."""
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return esc(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, digits: int = 3) -> str:
    """An HTML table; every header and cell is escaped (numbers right-aligned)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{fmt(v, digits)}</td>' if isinstance(v, (int, float)) and not isinstance(v, bool)
            else f"<td>{fmt(v, digits)}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def definition_list(items: Iterable[tuple[str, Any]]) -> str:
    """A two-column key/value table (both escaped)."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{fmt(v)}</td></tr>" for k, v in items)
    return f"<table>{rows}</table>"


def json_block(value: Any) -> str:
    """``value`` as indented JSON in an escaped ``<pre>``."""
    return f"<pre>{esc(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


def figure_html(png: bytes, *, alt: str, caption: str, svg_href: str | None = None) -> str:
    """A ``<figure>`` with the PNG inlined as a ``data:`` URI and a link to the SVG file."""
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    link = f' <a href="{esc(svg_href)}">SVG</a>' if svg_href else ""
    return (f'<figure><img src="{src}" alt="{esc(alt)}">'
            f"<figcaption>{esc(caption)}{link}</figcaption></figure>")


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]], *, scripts: Sequence[str] = (),
         css: str = "") -> str:
    """The whole document: ``sections`` are ``(id, title, inner html)`` (ids and inner html already safe).

    ``scripts`` are inline JavaScript sources (the project's own, never store text), placed at the end of the body
    and allowed by the CSP through their hashes; ``css`` is appended to the page's style.
    """
    for source in scripts:
        if "</script" in source.lower() or "<!--" in source:
            raise ValueError("an inline script must not contain '</script' or '<!--'")
    nav = "".join(f'<a href="#{esc(sid)}">{esc(t)}</a>' for sid, t, _ in sections)
    body = "".join(f'<section id="{esc(sid)}"><h2>{esc(t)}</h2>{inner}</section>' for sid, t, inner in sections)
    tags = "".join(f"<script>{source}</script>" for source in scripts)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{csp(scripts)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}{css}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{body}</main>{tags}</body></html>\n")
