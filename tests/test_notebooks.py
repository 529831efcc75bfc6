"""Notebooks are executed documentation: run every code cell of every notebook, in order, in one namespace.

Each runs in a fresh temporary working directory (a notebook must not write into the repository), and the committed
files carry no outputs (they would go stale and bloat diffs).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, capsys, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    before = _repository_files()
    nb = json.loads(path.read_text())
    namespace: dict = {"__name__": "__notebook__"}
    n_code = 0
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        n_code += 1
        source = "".join(cell["source"])
        try:
            exec(compile(source, f"{path.name}[cell {i}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the failure message is the point
            raise AssertionError(f"{path.name}, cell {i} failed: {type(exc).__name__}: {exc}\n{source}") from exc
    assert n_code > 0
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert _repository_files() == before, f"{path.name} wrote into the repository: " \
        f"{sorted(_repository_files() ^ before)}"


def _repository_files() -> set[str]:
    """Files under the repository's notebooks/, data/ and docs/ and at its top level (where a notebook could write
    by a relative path), with their sizes and modification times."""
    root = NOTEBOOKS[0].parents[1] if NOTEBOOKS else Path(__file__).resolve().parents[1]
    paths = [p for d in ("notebooks", "data", "docs") for p in (root / d).rglob("*")] + list(root.glob("*"))
    return {f"{p.relative_to(root)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths if p.is_file()}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_outputs_are_cleared(path):
    nb = json.loads(path.read_text())
    stale = [i for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not stale, f"{path.name}: clear the outputs of cells {stale} before committing (jupyter nbconvert " \
        "--clear-output --inplace, or Edit > Clear outputs of all cells)"


def test_there_is_a_notebook():
    assert NOTEBOOKS, "notebooks/ holds no notebook"
