"""The docs site: `sphinx-build -W` over docs/ (markdown pages, API reference, the generated methods page).

Skips with the install hint where the `docs` extra (sphinx, myst-parser) is missing.
"""
from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytestmark = pytest.mark.slow


def _text(page: Path) -> str:
    """The visible text of an HTML page, entities decoded, whitespace collapsed."""
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    for module in ("sphinx", "myst_parser"):
        pytest.importorskip(module, reason=f"{module} is missing: pip install -e '.[docs]' to build the docs site")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
         "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        capture_output=True, text=True, env=env, cwd=out, timeout=600,
    )
    return proc, out / "html", time.perf_counter() - t0


def test_builds_without_warnings(site):
    proc, html_dir, seconds = site
    assert proc.returncode == 0, f"sphinx-build -W failed ({seconds:.0f} s):\n{proc.stderr[-6000:]}"
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr[-6000:]
    assert (html_dir / "index.html").is_file()


def test_every_markdown_page_is_in_the_site(site):
    _, html_dir, _ = site
    pages = sorted(p.stem for p in DOCS.glob("*.md"))
    missing = [p for p in pages if not (html_dir / f"{p}.html").is_file()]
    assert not missing, f"docs pages not built (add them to a toctree in docs/index.md): {missing}"
    # the user guide and the reference are reachable from the front page
    front = (html_dir / "index.html").read_text(encoding="utf-8")
    for page in ("store", "concepts", "attribution", "report", "methods", "api", "benchmarks", "design"):
        assert f'href="{page}.html"' in front, page


def test_methods_page_lists_every_registered_method_with_its_paper(site):
    from neuronlab.attribution.methods import METHODS
    from neuronlab.concepts.multimodel.study import CROSSMODEL_METHODS
    from neuronlab.concepts.rankers import RANKERS
    from neuronlab.concepts.unsupervised.discover import DISCOVERY

    _, html_dir, _ = site
    text = _text(html_dir / "methods.html")
    for registry in (RANKERS, METHODS, CROSSMODEL_METHODS, DISCOVERY):
        assert len(registry) > 0
        for key, entry in registry.items():
            assert key in text, f"{registry.kind} {key!r} missing from the methods page"
            assert entry.reference, f"{registry.kind} {key!r} has no reference"
            assert re.sub(r"\s+", " ", entry.reference) in text, f"paper of {registry.kind} {key!r} missing"
    # how to call each: the CLI names, e.g. `neuronlab attribute --method ig`
    assert "neuronlab rank --method probeless" in text
    assert "neuronlab attribute --method " + METHODS["layer_integrated_gradients"].short in text


def test_methods_page_follows_a_newly_registered_method(tmp_path):
    """The tables are generated from the registries, not written by hand: a new entry appears."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import methods_page
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    from neuronlab.concepts.rankers import RANKERS, RankerEntry, register_ranker

    register_ranker(RankerEntry("planted_ranker_xyz", "neuronlab.concepts.rankers:ProbelessRanker", "a planted entry",
                                "Planted et al. 2031"))
    try:
        md = methods_page.registries_markdown()
    finally:
        RANKERS.unregister("planted_ranker_xyz")
    row = next(line for line in md.splitlines() if "planted_ranker_xyz" in line)
    assert "Planted et al. 2031" in row and "`neuronlab rank --method planted_ranker_xyz`" in row
    assert "{py:obj}`~neuronlab.concepts.rankers.ProbelessRanker`" in row     # the documented path
    assert "planted_ranker_xyz" not in methods_page.registries_markdown()


def test_method_implementations_link_to_the_api_reference(site):
    _, html_dir, _ = site
    page = (html_dir / "methods.html").read_text(encoding="utf-8")
    refs = re.findall(r'(<a class="reference internal" href="([^"]*)"[^>]*>)?<code class="xref py py-obj[^"]*">'
                      r'<span class="pre">([^<]*)<', page)
    linked = [href for a, href, _ in refs if a and href.startswith("api-")]
    unresolved = [name for a, _, name in refs if not a]
    assert len(linked) >= 30
    assert not unresolved, f"implementations on the methods page without an API entry: {unresolved}"


def test_api_reference_documents_the_public_modules(site):
    _, html_dir, _ = site
    ids = set()
    for page in html_dir.glob("api-*.html"):
        ids |= set(re.findall(r'id="(neuronlab\.[\w.]+)"', page.read_text(encoding="utf-8")))
    for name in ("neuronlab.store.ActivationStore", "neuronlab.extraction.Extractor",
                 "neuronlab.concepts.probes.LinearProbe", "neuronlab.concepts.rankers.ProbelessRanker",
                 "neuronlab.concepts.redundancy.CorrelationClustering", "neuronlab.concepts.multimodel.LinearCKA",
                 "neuronlab.concepts.compositional.CompositionalExplainer",
                 "neuronlab.concepts.corpus_methods.top_contexts", "neuronlab.concepts.unsupervised.ActivationNMF",
                 "neuronlab.attribution.LayerConductance", "neuronlab.attribution.TCAV", "neuronlab.models.LiveModel",
                 "neuronlab.models.Target", "neuronlab.report.build_report", "neuronlab.outputs.safe_output",
                 "neuronlab.registry.Registry", "neuronlab.results.Result"):
        assert name in ids, f"{name} missing from the API reference"
    # the numpydoc sections are rendered (napoleon), not shown as raw underlined text
    store_page = _text(html_dir / "api-store.html")
    assert "Parameters" in store_page and "----------" not in store_page


def test_a_page_missing_from_the_index_is_still_built():
    """A page another change adds to docs/ without editing index.md lands under "More" (not a -W failure)."""
    sys.path.insert(0, str(DOCS))
    try:
        import conf
    finally:
        sys.path.remove(str(DOCS))
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    assert conf._unlisted_pages(index) == []
    assert conf._unlisted_pages(index.replace("\nscale\n", "\n")) == ["scale"]
    source = [index.replace("\nscale\n", "\n")]
    conf._index_lists_every_page(None, "index", source)
    assert source[0].rstrip().endswith("```{toctree}\n:caption: More\n:maxdepth: 1\n\nscale\n```")
