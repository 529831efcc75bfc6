"""The report in a real browser (headless system Chromium through Selenium): no console error, every image
decoded, every section and table rendered, store text shown as text and never run as script.

Skips, saying how to install, where Chromium, its driver or Selenium are missing.
"""
from __future__ import annotations

import shutil

import pytest

from report_stores import SCRIPT, XSS_CONCEPT, study_store

from neuronlab.report import SECTIONS, build_report

INSTALL = ("needs the system Chromium and its driver and Selenium: `apt-get install chromium chromium-driver` and "
           "`pip install selenium` (or `pip install -e .[test]`)")


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


def _open(driver, report: str) -> list:
    driver.get("file://" + report)
    driver.execute_script("return document.readyState")
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _check_rendered(driver, n_images: int) -> None:
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(images) == n_images
    for complete, width, height in images:
        assert complete and width > 0 and height > 0
    for entry in SECTIONS.values():
        visible = driver.execute_script(
            "const s = document.getElementById(arguments[0]); return s && s.offsetHeight > 0", entry.name)
        assert visible, entry.name
    assert driver.execute_script("return document.querySelectorAll('section table').length") >= 4


def test_report_opens_without_errors(browser, tmp_path):
    store = study_store(tmp_path / "study.h5", seed=4)
    info = build_report(store, tmp_path / "report")
    errors = _open(browser, info["report"])
    assert errors == [], errors
    _check_rendered(browser, 5)
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_store_text_is_shown_as_text_and_never_runs(browser, tmp_path):
    words = [SCRIPT, '"quoted"', "&amp;", "<b>bold</b>", "plain"]
    store = study_store(tmp_path / "<i>&amp;'q'.h5", seed=5, concept=XSS_CONCEPT, classes=(SCRIPT, "B"),
                        words=words, result_prefix="<b>x")
    info = build_report(store, tmp_path / "report")
    errors = _open(browser, info["report"])  # an alert() that ran would fail here (unexpected alert open)
    assert errors == [], errors
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.querySelectorAll('b, section img:not([src^=\"data:\"])')"
                                  ".length") == 0
    text = browser.find_element("tag name", "body").text
    assert SCRIPT in text and XSS_CONCEPT in text and "&amp;" in text and '"quoted"' in text
    assert "<i>&amp;'q'.h5" in text
    _check_rendered(browser, 5)
    browser.save_screenshot(str(tmp_path / "hostile.png"))
