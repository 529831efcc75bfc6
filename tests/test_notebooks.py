"""Notebooks are executed documentation: run every code cell of every notebook, in order, in one namespace."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, capsys):
    pytest.importorskip("torch")
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


def test_there_is_a_notebook():
    assert NOTEBOOKS, "notebooks/ holds no notebook"
