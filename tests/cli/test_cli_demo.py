"""``neuronlab demo``: the study on the embedded default, ending in the report (issue 14)."""
from __future__ import annotations

import json
import shlex

import pytest

from cli_helpers import assert_user_error, cli, digest


def _steps(*extra) -> list[list[str]]:
    rc, out, err = cli("demo", "--dry-run", "--json", *extra)
    assert rc == 0, err
    return [shlex.split(line) for line in json.loads(out)["steps"]]


@pytest.mark.parametrize("quick", [[], ["--quick"]], ids=["full", "quick"])
def test_every_step_is_a_valid_command_line(quick, tmp_path):
    """The plan is made of real command lines: each parses with the command's own parser (no drift)."""
    from neuronlab.cli.main import build_parser

    lines = _steps("--out", str(tmp_path / "d"), *quick)
    assert lines[0][0] == "(extract)"
    commands = [line[1:] for line in lines[1:]]
    assert commands[-1][0] == "report" and commands[-1][-2:] == ["--out", str(tmp_path / "d" / "report")]
    names = [c[0] for c in commands]
    assert names.count("probe") >= 1 and names.count("rank") >= 1
    parser = build_parser()
    for argv in commands:
        argv = [a.replace("{top_upos}", "layers.1:0") for a in argv]
        args = parser.parse_args(argv)
        assert args.command == argv[0]
    assert not list(tmp_path.iterdir()), "--dry-run wrote something"


def test_full_plan_feeds_the_report_plots():
    """Probes of upos and Number with the evaluations the report plots, and two rankers per concept."""
    commands = [" ".join(line[1:]) for line in _steps()[1:]]
    probes = [c for c in commands if c.startswith("probe ")]
    assert any("--concept upos" in c and "layerwise" in c and "ablation" in c for c in probes)
    assert any("--concept Number" in c and "minimal" in c for c in probes)
    for concept in ("upos", "Number"):
        assert sum(c.startswith("rank ") and f"--concept {concept} " in c for c in commands) >= 2
    assert any(c.startswith("redundancy ") for c in commands)
    assert any(c.startswith("describe ") and "compositional" in c for c in commands)


@pytest.mark.slow
def test_quick_demo_ends_in_the_report(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "demo"
    rc, stdout, err = cli("demo", "--quick", "--out", out, "--quiet")
    assert rc == 0, err
    index = out / "report" / "index.html"
    assert stdout.strip().splitlines()[-1] == str(index)
    html = index.read_text(encoding="utf-8")
    assert "Probe results" in html and "Number" in html and "<img" in html

    from neuronlab.store import ActivationStore

    with ActivationStore.open(out / "minilm.h5") as store:
        assert store.n_sentences == 200 and store.sites == ["layers.2", "layers.5"]
        assert {"probe_Number", "rank_probeless_Number"} <= set(store.result_names())

    # a second run needs --overwrite, and is refused before any work (the store is untouched)
    before = digest(out / "minilm.h5")
    assert_user_error(cli("demo", "--quick", "--out", out, "--quiet"), "--overwrite")
    assert digest(out / "minilm.h5") == before


def test_json_summary(tmp_path, monkeypatch):
    """--json: the store, the report and every step with its command line and time (steps stubbed: fast)."""
    from neuronlab.cli import commands_demo

    calls = []
    monkeypatch.setattr(commands_demo, "_extract", lambda out, plan, overwrite: calls.append("extract") or "x")
    monkeypatch.setattr(commands_demo, "_run_command", lambda argv: calls.append(argv[0]) or f"{argv[0]} ok")
    rc, out, err = cli("demo", "--quick", "--out", tmp_path / "d", "--json")
    assert rc == 0, err
    payload = json.loads(out)
    assert payload["report"] == str(tmp_path / "d" / "report" / "index.html")
    assert payload["store"] == str(tmp_path / "d" / "minilm.h5")
    assert [s["step"] for s in payload["steps"]][0] == "extract minilm"
    assert calls == ["extract", "probe", "rank", "report"]
    assert all(s["seconds"] >= 0 and s["command"] for s in payload["steps"])


def test_out_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("keep")
    assert_user_error(cli("demo", "--quick", "--out", f), "is a file")
    assert f.read_text() == "keep"


def test_existing_report_needs_overwrite(tmp_path):
    (tmp_path / "d" / "report").mkdir(parents=True)
    assert_user_error(cli("demo", "--quick", "--out", tmp_path / "d"), "--overwrite")


def test_a_failing_step_names_itself_in_one_line(tmp_path, monkeypatch):
    from neuronlab.cli import commands_demo
    from neuronlab.errors import InvalidParameterError

    def fail(argv):
        if argv[0] == "rank":
            raise InvalidParameterError("unknown concept 'Number'")
        return ""

    monkeypatch.setattr(commands_demo, "_extract", lambda out, plan, overwrite: "x")
    monkeypatch.setattr(commands_demo, "_run_command", fail)
    line = assert_user_error(cli("demo", "--quick", "--out", tmp_path / "d", "--quiet"),
                             "demo step 3/4 (rank Number (probeless)) failed: unknown concept 'Number'",
                             "to repeat it alone: neuronlab rank ")
    assert str(tmp_path / "d" / "minilm.h5") in line
