"""Report benchmark: build time, page size and time to open in headless Chromium, for 2,688 and 9,984 neurons.

Two stores, each with 10 concepts ranked (``--methods``, default ``probeless``) and written into ``/results``:

- ``minilm``: the 2,688-neuron minilm store of UD English-EWT test (``embeddings,layers.*``, 25,094 words;
  extracted once by ``ewt_upos_study.ensure_store`` into ``$NEURONLAB_BENCH_DIR``, default /tmp/neuronlab-bench,
  and copied into ``--work`` so the shared cache is never written to), concepts upos, xpos, deprel, Number, Tense,
  Person, VerbForm, PronType, Mood, Degree;
- ``bert-base``: a synthetic BERT-base-sized store (13 sites x 768 = 9,984 neurons, ``--rows`` words) from
  ``tests/report/explorer_stores.ranked_store`` with 10 concepts c0..c9.

For each: ``neuronlab report STORE --json`` in a fresh process (wall clock, as a user waits for it, and the
builder's own ``seconds``), the size of ``index.html`` and of the explorer's JSON, then ``--opens`` fresh loads
in headless Chromium: time from navigation start to the explorer's ``data-ready`` (``performance.now()`` when
the script has rendered its first page of rows) and to the load event, and the time one concept switch takes to
render. Ratios bert-base / minilm are printed beside.

Usage::

    nice -n 5 .venv/bin/python benchmarks/bench_report.py [--threads 2] [--opens 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import os
import sys

from _threads import pin_threads  # noqa: E402  (before numpy / torch load BLAS)

_THREADS = pin_threads()

import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "report"))
from explorer_stores import BERT_BASE_SITES, ranked_store  # noqa: E402

EWT_CONCEPTS = ("upos", "xpos", "deprel", "Number", "Tense", "Person", "VerbForm", "PronType", "Mood", "Degree")


def minilm_store(work: Path, methods) -> Path:
    from ewt_upos_study import ensure_store

    from neuronlab.concepts.study import rank_concept
    from neuronlab.store import ActivationStore

    out = work / "ewt-test-minilm-ranked.h5"
    if out.exists():
        return out
    tmp = out.with_suffix(".part.h5")
    shutil.copyfile(ensure_store("test"), tmp)
    t0 = time.perf_counter()
    with ActivationStore.open(tmp, mode="r+") as st:
        for concept in EWT_CONCEPTS:
            for method in methods:
                rank_concept(st, concept, method).to_store(st, f"rank_{concept}_{method}")
    tmp.rename(out)
    print(f"ranked {len(EWT_CONCEPTS)} concepts x {list(methods)} on minilm in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return out


def bert_store(work: Path, methods, rows: int) -> Path:
    out = work / f"bert-base-{rows}.h5"
    if not out.exists():
        t0 = time.perf_counter()
        ranked_store(out.with_suffix(".part.h5"), sites=BERT_BASE_SITES, methods=methods, n_sentences=rows // 5,
                     seed=0).rename(out)
        print(f"made the bert-base store in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return out


def build(store: Path, out: Path, dossiers: int) -> dict:
    cmd = [str(ROOT / ".venv" / "bin" / "python"), "-m", "neuronlab", "report", str(store), "--out", str(out),
           "--overwrite", "--json", "--quiet", "--dossiers", str(dossiers)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    info = json.loads(proc.stdout)
    html = Path(info["report"]).read_text(encoding="utf-8")
    blob = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', html, re.S).group(1)
    return {"build_wall_s": wall, "build_s": info["seconds"], "html_bytes": info["bytes"],
            "json_bytes": len(blob.encode("utf-8")), "figures": len(info["figures"]), "dossiers": info["dossiers"],
            "explorer": info["explorer"], "report": info["report"]}


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,2000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


SWITCH = """const s = document.getElementById('ex-concept'); s.value = String(arguments[0]);
const t0 = performance.now(); s.dispatchEvent(new Event('change')); return performance.now() - t0;"""


def open_times(driver, report: str, opens: int) -> dict:
    from selenium.webdriver.support.ui import WebDriverWait

    ready, loaded, switch = [], [], []
    for i in range(opens):
        driver.get("about:blank")
        driver.get_log("browser")
        driver.get("file://" + report)
        WebDriverWait(driver, 120).until(lambda d: d.execute_script(
            "return document.getElementById('explorer')?.dataset.ready === 'true' && document.readyState === "
            "'complete'"))
        ready.append(float(driver.execute_script("return document.getElementById('explorer').dataset.readyMs")))
        loaded.append(float(driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd")))
        switch.append(float(driver.execute_script(SWITCH, (i + 1) % 10)))
        errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "WARNING")]
        if errors:
            raise SystemExit(f"console errors in {report}: {errors}")
    return {"ready_ms": min(ready), "ready_first_ms": ready[0], "ready_ms_all": ready, "load_ms": min(loaded), "switch_ms": min(switch)}


def _fmt(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="BLAS threads (set before numpy loads)")
    p.add_argument("--work", default="/tmp/neuronlab-bench-report", help="folder for the stores and reports")
    p.add_argument("--methods", default="probeless", help="rankers per concept, comma-separated")
    p.add_argument("--rows", type=int, default=1000, help="words of the synthetic bert-base store")
    p.add_argument("--dossiers", type=int, default=200, help="`neuronlab report --dossiers N`")
    p.add_argument("--opens", type=int, default=3, help="fresh loads in Chromium per report (best is reported)")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    stores = {"minilm": minilm_store(work, methods), "bert-base": bert_store(work, methods, args.rows)}
    results = {}
    driver = browser()
    try:
        for name, store in stores.items():
            res = build(store, work / f"{name}_report", args.dossiers)
            res.update(open_times(driver, res["report"], args.opens))
            results[name] = res
            print(f"{name}: {res['explorer']['neurons']} neurons, {res['explorer']['rankings']} rankings, "
                  f"{res['figures']} figure files, {res['dossiers']} dossiers", file=sys.stderr)
    finally:
        driver.quit()
    a, b = results["minilm"], results["bert-base"]
    rows = [("neurons", "explorer"), ("build, wall s (fresh process)", "build_wall_s"), ("build, s (builder)", "build_s"),
            ("index.html bytes", "html_bytes"), ("explorer JSON bytes", "json_bytes"),
            ("open: navigation -> explorer ready, ms (best)", "ready_ms"),
            ("open: navigation -> explorer ready, ms (first open)", "ready_first_ms"), ("open: navigation -> load event, ms", "load_ms"),
            ("switch concept, ms", "switch_ms")]
    print("| | 2,688 (minilm, EWT test) | 9,984 (bert-base-sized) | ratio |\n|---|---:|---:|---:|")
    for label, key in rows:
        va = a[key]["neurons"] if key == "explorer" else a[key]
        vb = b[key]["neurons"] if key == "explorer" else b[key]
        print(f"| {label} | {_fmt(va)} | {_fmt(vb)} | {vb / va if va else float('nan'):.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
