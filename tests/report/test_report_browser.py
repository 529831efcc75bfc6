"""The report in a real browser (headless system Chromium through Selenium, one driver for the module): no console
error, every image decoded, every section and table rendered, the explorer used as a reader would (find a neuron by
concept, page, filter by site, open its dossier, compare two), store text shown as text and never run as script,
and a 9,984-neuron BERT-base-sized report that opens without freezing.

Screenshots are saved in each test's pytest ``tmp_path`` (``/tmp/pytest-of-$USER/pytest-N/<test name>0/*.png``).
Skips, saying how to install, where Chromium, its driver or Selenium are missing.
"""
from __future__ import annotations

import re
import shutil

import pytest

from explorer_stores import BERT_BASE_SITES, fake_write_dossiers, ranked_store
from report_stores import SCRIPT, study_store

from neuronlab.concepts.results import RankingResult
from neuronlab.report import SECTIONS, build_report
from neuronlab.report.build import dossier_writer
from neuronlab.report.explorer import neuron_stats
from neuronlab.report.paths import dossier_path
from neuronlab.store import ActivationStore

INSTALL = ("needs the system Chromium and its driver and Selenium: `apt-get install chromium chromium-driver` and "
           "`pip install selenium` (or `pip install -e .[test]`)")
#: console levels that fail a test (errors, CSP violations, uncaught exceptions, failed loads)
FAILING_LEVELS = ("SEVERE", "WARNING")
TITLE = "neuronlab study report"


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason=INSTALL)
    from selenium.webdriver.chrome.service import Service

    chromium = _binary("chromium", "chromium-browser")
    driver_path = _binary("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip(INSTALL)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,3000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _errors(driver) -> list:
    """Console entries since the last call that fail a test."""
    return [e for e in driver.get_log("browser") if e.get("level") in FAILING_LEVELS]


def _wait(driver, script: str, *args, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script, *args))


def _open(driver, report: str, *, explorer: bool = True) -> list:
    driver.get_log("browser")  # drop what an earlier page logged
    driver.get("file://" + report)
    _wait(driver, "return document.readyState === 'complete'")
    if explorer:
        _wait(driver, "const e = document.getElementById('explorer'); return e && e.dataset.ready === 'true'")
    return _errors(driver)


def _check_rendered(driver, n_images: int) -> None:
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(images) == n_images
    for complete, width, height in images:
        assert complete and width > 0 and height > 0
    for name in ["explorer", *SECTIONS]:
        visible = driver.execute_script(
            "const s = document.getElementById(arguments[0]); return s && s.offsetHeight > 0", name)
        assert visible, name
    assert driver.execute_script("return document.querySelectorAll('section table').length") >= 4


def _table(driver, selector: str) -> list[list[str]]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'))"
        ".map(r => Array.from(r.cells).map(c => c.textContent))", selector)


def _type(driver, text: str, *, enter: bool = True) -> None:
    """Type into the explorer's search box (with Enter the matches render at once, without it after a pause)."""
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element("id", "ex-search")
    box.clear()
    box.send_keys(text + (Keys.ENTER if enter else ""))
    _wait(driver, "return document.getElementById('ex-matches').childElementCount > 0")


def _click(driver, selector: str, index: int = 0) -> None:
    driver.find_elements("css selector", selector)[index].click()


def _select(driver, element_id: str, text: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_visible_text(text)


def test_report_opens_without_errors(browser, tmp_path):
    store = study_store(tmp_path / "study.h5", seed=4)
    real_dossiers = dossier_writer() is not None  # neuronlab.report.dossier is installed (merged)
    info = build_report(store, tmp_path / "report", dossiers=2)
    errors = _open(browser, info["report"])
    assert errors == [], errors
    n_images = browser.execute_script("return document.images.length")
    _check_rendered(browser, n_images if real_dossiers else 5)  # other sections may add figures
    assert n_images >= 5
    assert len(_table(browser, "#ex-table")) == 14  # the explorer's first ranking, all 14 neurons
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if real_dossiers:  # the real dossier pages: linked from the explorer, open without errors, name their neuron
        assert info["dossiers"] == 2 == info["explorer"]["dossiers"]
        links = browser.find_elements("css selector", "#ex-table a.ex-dossier-link")
        assert links, "no dossier link in the first page of the explorer"
        nid = links[0].find_element("xpath", "./ancestor::tr/td[2]").text
        links[0].click()
        _wait(browser, "return document.readyState === 'complete' && location.pathname.includes('/neurons/')")
        assert nid in browser.find_element("tag name", "body").text
        assert _errors(browser) == []
        browser.save_screenshot(str(tmp_path / "real-dossier.png"))


@pytest.fixture(scope="module")
def explorer_report(tmp_path_factory, browser):
    """A 140-neuron store with three concepts ranked by two methods, and fake dossier pages for the top two of each
    ranking (until the dossier branch lands)."""
    d = tmp_path_factory.mktemp("explorer")
    store = ranked_store(d / "three.h5", sites={"embeddings": 40, "layers.0": 40, "layers.0.mlp": 60},
                         concepts=("tense", "number", "polarity"), methods=("probeless", "iou"), seed=11)
    with ActivationStore.open(store) as st:
        results = [RankingResult.from_store(st, name) for name in st.result_names()]
    rankings = {(r.concept, r.method): list(r.ranking) for r in results}
    # the class each neuron scores highest for, per ranking (what the explorer's class filter selects)
    best_class = {(r.concept, r.method): {nid: r.classes[int(r.class_scores[:, j].argmax())]
                                          for j, nid in enumerate(r.neuron_ids)} for r in results}
    calls: list = []
    with pytest.MonkeyPatch.context() as mp:
        fake = fake_write_dossiers(calls)
        mp.setattr("neuronlab.report.build.dossier_writer", lambda: fake)
        info = build_report(store, d / "report", sections=["provenance", "rankings"])
    assert len(calls) == 1 and info["dossiers"] == len({n for r in rankings.values() for n in r[:2]})
    with ActivationStore.open(store) as st:
        stats = neuron_stats(st)
        stats["column"] = {nid: j for j, nid in enumerate(st.neuron_ids())}
    stats["best_class"] = best_class
    return info, rankings, stats


def test_explorer_finds_a_neuron_by_concept_pages_and_filters_by_site(browser, explorer_report, tmp_path):
    info, rankings, stats = explorer_report
    assert _open(browser, info["report"]) == []
    _type(browser, "NUMB", enter=False)  # case-insensitive concept search, as one types
    chips = browser.find_elements("css selector", "#ex-matches button[data-action=concept]")
    assert [c.text for c in chips] == ["number"]
    chips[0].click()
    _select(browser, "ex-method", "iou")
    ranking = rankings[("number", "iou")]
    rows = _table(browser, "#ex-table")
    assert len(rows) == 50  # one page, not 140 rows
    assert [r[:3] for r in rows] == [[str(i + 1), nid, nid.rpartition(":")[0]] for i, nid in
                                     enumerate(ranking[:50])]
    assert browser.find_element("id", "ex-title").text == "number · iou"
    assert browser.find_element("id", "ex-range").text == "rows 1–50 of 140 (page 1 of 3)"
    _click(browser, "#ex-next")
    _click(browser, "#ex-next")
    assert [r[1] for r in _table(browser, "#ex-table")] == ranking[100:]
    assert browser.find_element("id", "ex-next").get_attribute("disabled") is not None
    _select(browser, "ex-site", "layers.0.mlp (60)")
    rows = _table(browser, "#ex-table")
    in_site = [(i + 1, nid) for i, nid in enumerate(ranking) if nid.startswith("layers.0.mlp:")]
    assert [(int(r[0]), r[1]) for r in rows] == in_site[:50]
    assert browser.find_element("id", "ex-range").text == "rows 1–50 of 60 (page 1 of 2)"
    browser.save_screenshot(str(tmp_path / "explorer-site.png"))
    # search by class: a class button picks the concept and filters the ranked neurons by their best class
    _type(browser, "K2")
    chips = browser.find_elements("css selector", "#ex-matches button[data-action=class]")
    assert [c.text for c in chips] == ["tense · k2", "number · k2", "polarity · k2"]
    chips[2].click()
    _select(browser, "ex-method", "probeless")
    assert browser.execute_script("return document.getElementById('ex-class').value") == "k2"
    classes = stats["best_class"][("polarity", "probeless")]
    expected = [(i + 1, nid) for i, nid in enumerate(rankings[("polarity", "probeless")])
                if nid.startswith("layers.0.mlp:") and classes[nid] == "k2"]
    rows = _table(browser, "#ex-table")
    assert 0 < len(rows) < 60 and [(int(r[0]), r[1]) for r in rows] == expected[:50]
    assert {r[4] for r in rows} == {"k2"}
    assert browser.find_element("id", "ex-title").text == "polarity · probeless · layers.0.mlp · class k2"
    _select(browser, "ex-class", "all classes")
    assert len(_table(browser, "#ex-table")) == 50
    assert _errors(browser) == []


def _expected_profile(rankings: dict, nid: str) -> list[list[str]]:
    return [[c, m, str(r.index(nid) + 1), str(len(r))] for (c, m), r in rankings.items()]


def test_explorer_opens_a_dossier_and_compares_two_neurons(browser, explorer_report, tmp_path):
    info, rankings, stats = explorer_report
    assert _open(browser, info["report"]) == []
    _select(browser, "ex-concept", "polarity")
    _select(browser, "ex-method", "probeless")
    ranking = rankings[("polarity", "probeless")]
    first, second = ranking[:2]
    # the inline summary: ranks of the neuron in every ranking, and the link to its page
    _click(browser, "#ex-table button[data-action=detail]")
    assert browser.find_element("css selector", "#ex-dossier h3").text == f"Neuron {first}"
    assert [r[:4] for r in _table(browser, "#ex-dossier")] == _expected_profile(rankings, first)
    assert browser.find_element("css selector", "#ex-dossier .ex-desc").text == f"fires for {first} (detection " \
                                                                                  "AUC 0.75)"
    line = browser.find_element("css selector", "#ex-dossier .ex-stats").text
    assert line.startswith(f"Activation over the first {stats['rows']} rows: mean ")
    shown = [float(x) for x in re.findall(r"(?:mean|std|min|max) (\S+?)[,.]?(?:\s|$)", line)]
    j = stats["column"][first]
    assert shown == [stats[k][j] for k in ("mean", "std", "min", "max")]
    # compare: the first two rows, side by side
    _click(browser, "#ex-table button[data-action=compare]", 0)
    _click(browser, "#ex-table button[data-action=compare]", 1)
    assert browser.find_element("css selector", "#ex-compare h3").text == f"Compare A = {first} and B = {second}"
    got = [r[:4] for r in _table(browser, "#ex-compare table:nth-of-type(1)")]
    assert got == [[c, m, str(r.index(first) + 1), str(r.index(second) + 1)] for (c, m), r in rankings.items()]
    ja, jb = stats["column"][first], stats["column"][second]
    assert [[r[0], float(r[1]), float(r[2])] for r in _table(browser, "#ex-compare table:nth-of-type(2)")] == [
        [k, stats[k][ja], stats[k][jb]] for k in ("mean", "std", "min", "max")]
    assert got[list(rankings).index(("polarity", "probeless"))][2:] == ["1", "2"]
    browser.save_screenshot(str(tmp_path / "explorer-compare.png"))
    # a neuron by id, without a dossier page: the inline mini-dossier says so
    plain = next(n for n in ranking[::-1] if not any(n in r[:2] for r in rankings.values()))
    _type(browser, plain)
    assert browser.find_element("css selector", "#ex-dossier h3").text == f"Neuron {plain}"
    assert "No dossier page" in browser.find_element("id", "ex-dossier").text
    assert [r[:4] for r in _table(browser, "#ex-dossier")] == _expected_profile(rankings, plain)
    assert _errors(browser) == []
    # a link to a neuron opens it: index.html#explorer/<id> (the page's explorer_link)
    browser.get("file://" + info["report"] + "#explorer/" + second)
    _wait(browser, "return document.querySelector('#ex-dossier h3')?.textContent === arguments[0]",
          f"Neuron {second}")
    browser.get("file://" + info["report"])
    _wait(browser, "return document.getElementById('explorer')?.dataset.ready === 'true'")
    _select(browser, "ex-concept", "polarity")
    _select(browser, "ex-method", "probeless")
    # follow the dossier link of the best neuron: its page loads without errors and names the neuron
    link = browser.find_elements("css selector", "#ex-table a.ex-dossier-link")[0]
    assert link.get_attribute("href").endswith("/" + dossier_path(first))
    link.click()
    _wait(browser, "return document.readyState === 'complete' && location.pathname.includes('/neurons/')")
    assert browser.find_element("tag name", "h1").text == f"Neuron {first}"
    browser.save_screenshot(str(tmp_path / "dossier.png"))
    assert _errors(browser) == []
    browser.back()
    _wait(browser, "return document.getElementById('explorer')?.dataset.ready === 'true'")


#: payloads that would mark the page if they ran as script
PWN_CONCEPT = '<img src=x onerror="window.pwned=1;document.title=\'pwned\'"> &amp; \'q\''
PWN_CLASS = "<script>window.pwned=2;document.title='pwned'</script>"
PWN_WORD = '"><script>window.pwned=3</script>'


def test_store_text_is_shown_as_text_and_never_runs(browser, tmp_path, monkeypatch):
    words = [SCRIPT, PWN_WORD, '"quoted"', "&amp;", "<b>bold</b>", "plain"]
    store = study_store(tmp_path / "<img src=x onerror=window.pwned=4>&amp;'q'.h5", seed=5, concept=PWN_CONCEPT,
                        classes=(PWN_CLASS, "&amp;"), words=words, result_prefix="<b>x")
    fake = fake_write_dossiers([], description='<img src=x onerror="window.pwned=5"> {nid} &amp;')
    monkeypatch.setattr("neuronlab.report.build.dossier_writer", lambda: fake)
    info = build_report(store, tmp_path / "report")
    errors = _open(browser, info["report"])  # an alert() that ran would fail here (unexpected alert open)
    assert errors == [], errors
    assert browser.execute_script("return document.scripts.length") == 2  # the explorer's data and its code
    assert browser.execute_script("return [window.pwned, document.title]") == [None, TITLE]
    assert browser.execute_script("return document.querySelectorAll('b, img:not([src^=\"data:\"])').length") == 0
    text = browser.find_element("tag name", "body").text
    assert PWN_CONCEPT in text and PWN_CLASS in text and SCRIPT in text and '"quoted"' in text
    assert "<img src=x onerror=window.pwned=4>&amp;'q'.h5" in text and "<b>xrank_ap" in text
    _check_rendered(browser, 5)
    # in the explorer: the concept in the picker and the search, the class in the table, the description
    assert browser.execute_script("return document.getElementById('ex-concept').options[0].textContent") == \
        PWN_CONCEPT
    _type(browser, "onerror")
    assert [c.text for c in browser.find_elements("css selector", "#ex-matches button")] == [PWN_CONCEPT]
    _type(browser, "pwned=2")
    chips = browser.find_elements("css selector", "#ex-matches button")
    assert [c.text for c in chips] == [f"{PWN_CONCEPT} · {PWN_CLASS}"]
    chips[0].click()
    assert browser.execute_script("return document.getElementById('ex-class').value") == PWN_CLASS
    assert {r[4] for r in _table(browser, "#ex-table")} == {PWN_CLASS}
    _select(browser, "ex-class", "all classes")
    _click(browser, "#ex-table button[data-action=detail]")
    desc = browser.find_element("css selector", "#ex-dossier .ex-desc").text
    assert desc.startswith('<img src=x onerror="window.pwned=5">') and desc.endswith("&amp; (detection AUC 0.75)")
    assert browser.execute_script("return [window.pwned, document.title]") == [None, TITLE]
    assert browser.execute_script("return document.querySelectorAll('b, img:not([src^=\"data:\"])').length") == 0
    assert _errors(browser) == []
    browser.save_screenshot(str(tmp_path / "hostile.png"))


def test_bert_base_sized_report_opens_without_freezing(browser, tmp_path):
    """9,984 neurons (13 sites x 768), 10 concepts: the explorer renders one page of rows and stays responsive."""
    store = ranked_store(tmp_path / "bert.h5", sites=BERT_BASE_SITES, n_sentences=10, seed=3)
    info = build_report(store, tmp_path / "report", sections=["provenance"], dossiers=0)
    assert info["explorer"] == {"neurons": 9984, "rankings": 10, "concepts": 10, "dossiers": 0}
    assert _open(browser, info["report"]) == []
    assert browser.execute_script("return document.querySelectorAll('#explorer tr').length") < 60  # lazy
    _select(browser, "ex-concept", "c9")
    _select(browser, "ex-site", "layers.11 (768)")
    _click(browser, "#ex-next")
    rows = _table(browser, "#ex-table")
    assert len(rows) == 50 and all(r[2] == "layers.11" for r in rows)
    _type(browser, "layers.11:767")
    assert browser.find_element("css selector", "#ex-dossier h3").text == "Neuron layers.11:767"
    assert len(_table(browser, "#ex-dossier")) == 10
    _type(browser, "layers.1")  # a prefix of many ids: the first 20 and a count, not 9,984 buttons
    assert len(browser.find_elements("css selector", "#ex-matches button")) == 20
    assert _errors(browser) == []
    browser.save_screenshot(str(tmp_path / "bert-base.png"))


def test_explorer_of_a_store_without_results_says_how_to_get_them(browser, tmp_path):
    from neuronlab.testing import synthetic_store

    synthetic_store(tmp_path / "bare.h5", [["a", "b"], ["c"]], sites={"embeddings": 3, "layers.0": 2})
    info = build_report(tmp_path / "bare.h5", tmp_path / "report", sections=["provenance"])
    assert _open(browser, info["report"]) == []
    assert _table(browser, "#ex-table") == []
    assert "No rankings in this store: run `neuronlab rank STORE" in browser.find_element("id", "ex-range").text
    _type(browser, "layers.0:1")
    assert browser.find_element("css selector", "#ex-dossier h3").text == "Neuron layers.0:1"
    assert "No rankings in this store." in browser.find_element("id", "ex-dossier").text
    assert _errors(browser) == []
