"""Sphinx configuration of the neuronlab user guide (``make docs``; built with ``-W`` by tests/test_docs_site.py).

The pages are the markdown files of this folder (read by myst-parser); the API reference is autodoc over the
numpydoc docstrings (napoleon); the "Methods and papers" page is generated at build time from the method
registries (``_ext/methods_page.py``), so it cannot drift from the code.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))          # the neuronlab of this checkout, not an installed one
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # importing the model modules never reaches a hub

import neuronlab  # noqa: E402

project = "neuronlab"
author = "the neuronlab authors"
copyright = "the neuronlab authors"
release = neuronlab.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "methods_page",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
# "--overwrite" stays two hyphens and quotes stay straight: these pages are full of command lines
smartquotes = False
exclude_patterns = ["_build", "_ext", "README.md"]

# markdown: GitHub-style anchors for the existing pages' links (cli.md#train), $...$ stays text
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence", "deflist"]

# docstrings: numpydoc style, read by napoleon
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_default_options = {"show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# "array-like of shape (n_rows, n_neurons)": napoleon turns the words of a type into cross-references, and
# several classes have an attribute n_rows; an ambiguous name in a type is not a broken link
suppress_warnings = ["ref.python"]

try:
    import furo  # noqa: F401

    html_theme = "furo"
except ImportError:  # pragma: no cover - the docs extra installs furo
    html_theme = "alabaster"
html_title = f"neuronlab {release}"
html_static_path: list[str] = []


# sklearn adds set_{fit,score,...}_request to every estimator class; their docstrings refer to sklearn's own site
_SKLEARN_GENERATED = re.compile(r"^set_\w+_request$")
# numpydoc shapes name fitted attributes, "shape (n_clusters_,)"; in reST a word ending in "_" is a link
_SHAPE_ATTRIBUTE = re.compile(r"(?<=[\w])_(?=[,)])")


def _skip_member(app, what, name, obj, skip, options):
    return True if _SKLEARN_GENERATED.match(name) else None


def _escape_shapes(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if "shape (" in line:
            head, _, tail = line.partition("shape (")
            lines[i] = head + "shape (" + _SHAPE_ATTRIBUTE.sub(r"\\_", tail)


_TOCTREE = re.compile(r"```\{toctree\}(.*?)```", re.S)


def _unlisted_pages(index_text: str) -> list[str]:
    """Pages of docs/ that no toctree lists, in the index or in another page (a page added by a later change)."""
    texts = [index_text] + [p.read_text(encoding="utf-8") for p in HERE.glob("*.md") if p.stem != "index"]
    listed = {line.strip() for text in texts for block in _TOCTREE.findall(text) for line in block.splitlines()
              if line.strip() and not line.strip().startswith(":")}
    return sorted(p.stem for p in HERE.glob("*.md") if p.stem not in listed | {"index"})


def _index_lists_every_page(app, docname, source):
    """A page added to docs/ without an edit of index.md still gets into the site (under "More"), instead of
    failing the ``-W`` build with "document isn't included in any toctree"."""
    if docname == "index":
        extra = _unlisted_pages(source[0])
        if extra:
            source[0] += "\n```{toctree}\n:caption: More\n:maxdepth: 1\n\n" + "\n".join(extra) + "\n```\n"


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _escape_shapes)
    app.connect("source-read", _index_lists_every_page)
