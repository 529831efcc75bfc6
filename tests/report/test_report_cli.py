"""``neuronlab report``: prints the page's path, --json, default directory, and the output-safety rules."""
from __future__ import annotations

import json

import pytest

from report_stores import study_store

from neuronlab.cli.main import main
from neuronlab.report.sections import SECTIONS


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return study_store(tmp_path_factory.mktemp("cli") / "run.h5", seed=6, rankers=("ap",))


def test_report_prints_the_path_and_writes_the_default_directory(store, capsys):
    out_dir = store.with_name("run_report")
    assert main(["report", str(store)]) == 0
    assert capsys.readouterr().out.strip() == str(out_dir / "index.html")
    assert (out_dir / "index.html").is_file() and (out_dir / "figures" / "probes-probe_accuracy.svg").is_file()


def test_report_json_and_sections(store, tmp_path, capsys):
    assert main(["report", str(store), "--out", str(tmp_path / "r"), "--sections", "provenance,rankings",
                 "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["report"] == str(tmp_path / "r" / "index.html")
    assert payload["sections"] == ["provenance", "rankings"]
    assert payload["figures"] == [str(tmp_path / "r" / "figures" / f"rankings-{stem}.{ext}")
                                  for stem in ("top_sites_0", "agreement_0") for ext in ("png", "svg")]
    html = (tmp_path / "r" / "index.html").read_text()
    assert 'id="probes"' not in html and 'id="rankings"' in html


def test_existing_report_needs_overwrite_and_others_are_never_replaced(store, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", str(store), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["report", str(store), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuronlab: error: ") and "--overwrite" in err and err.count("\n") == 1
    assert main(["report", str(store), "--out", str(out), "--overwrite"]) == 0
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    assert main(["report", str(store), "--out", str(other), "--overwrite"]) == 2
    assert "never replaced" in capsys.readouterr().err and (other / "notes.txt").read_text() == "keep"


@pytest.mark.parametrize("extra, message", [
    (["--sections", "nope"], "unknown report section 'nope'; valid: " + ", ".join(sorted(SECTIONS))),
    (["--out", "STORE"], "is a file; give a directory name"),
])
def test_user_mistakes_are_one_line_errors(store, tmp_path, capsys, extra, message):
    extra = [str(store) if x == "STORE" else x for x in extra]
    if "--out" not in extra:
        extra += ["--out", str(tmp_path / "r")]
    assert main(["report", str(store), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuronlab: error: ") and message in err and "Traceback" not in err


def test_missing_store_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none.h5"), "--out", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
