"""The command line starts fast: building every command's parser (what `neuronlab --help`, `neuronlab CMD --help` and
every argument error do) imports none of the heavy libraries; a command imports them when it runs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "sklearn", "scipy", "matplotlib", "pandas", "dask")

_PROBE = """
import json, sys
from neuronlab.cli.main import build_parser
parser = build_parser()
commands = sorted(parser._subparsers._group_actions[0].choices)
print(json.dumps({"commands": commands, "loaded": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def test_building_every_parser_imports_no_heavy_library():
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["commands"]) > 20  # every command module was loaded
    assert out["loaded"] == [], f"the CLI's start imports {out['loaded']}: import them inside the command's run()"
