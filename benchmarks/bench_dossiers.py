"""Neuron dossiers: time of the one pass over the rows, of the descriptions and of the pages (with and without the
matplotlib figure), side by side, for the default neuron set of a store (round-robin over its rankings and probes).

    neuronlab extract --model minilm --corpus embedded --out minilm.h5      # 2,688 neurons, 50,675 rows
    neuronlab probe minilm.h5 --concept upos; neuronlab rank minilm.h5 --concept Tense --method probeless ...
    python benchmarks/bench_dossiers.py minilm.h5 --neurons 200 --threads 2

Prints seconds per stage and the ratios; numbers and the exact command in docs/report.md ("Neuron dossiers").
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store")
    p.add_argument("--neurons", type=int, default=200, help="dossiers to write (the default neuron set's size)")
    p.add_argument("--threads", type=int, default=2, help="BLAS threads (set before numpy is imported)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    from neuronlab.report import neurons as nmod
    from neuronlab.report.data import ReportData
    from neuronlab.report.dossier import write_dossiers
    from neuronlab.store import ActivationStore

    t0 = time.perf_counter()
    with ActivationStore.open(args.store) as st:
        data = ReportData(st)
        shape = (st.n_rows, len(st.neuron_ids()))
    t_data = time.perf_counter() - t0
    chosen = nmod.default_neurons(data, args.neurons)
    t0, c0 = time.perf_counter(), time.process_time()
    analysis = nmod.analyse_neurons(args.store, data, neurons=chosen, progress=True)
    t_pass, c_pass = time.perf_counter() - t0, time.process_time() - c0
    out = {"store": args.store, "rows": shape[0], "neurons_in_store": shape[1], "dossiers": len(chosen),
           "threads": args.threads, "load": os.getloadavg()[0], "report_data_s": round(t_data, 2),
           "one_pass_and_descriptions_s": round(t_pass, 2), "one_pass_and_descriptions_cpu_s": round(c_pass, 2)}
    with tempfile.TemporaryDirectory() as tmp:
        for figures in (False, True):
            t0, c0 = time.perf_counter(), time.process_time()
            write_dossiers(args.store, data, Path(tmp) / f"f{int(figures)}", neurons=chosen, figures=figures,
                           progress=True)  # the analysis is cached: this times the pages only
            key = f"pages_{'with' if figures else 'without'}_figures"
            out[key + "_s"] = round(time.perf_counter() - t0, 2)
            out[key + "_cpu_s"] = round(time.process_time() - c0, 2)
        nmod._CACHE.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        res = write_dossiers(args.store, data, Path(tmp) / "all", neurons=chosen)
        out["write_dossiers_total_s"] = round(time.perf_counter() - t0, 2)
        out["write_dossiers_total_cpu_s"] = round(time.process_time() - c0, 2)
        sizes = [(Path(tmp) / "all" / e["dossier"]).stat().st_size for e in res.values()]
    aucs = [e["auc"] for e in res.values() if e["auc"] is not None]
    out.update({"page_kb_mean": round(sum(sizes) / len(sizes) / 1024, 1),
                "ratio_figures_vs_no_figures_cpu": round(out["pages_with_figures_cpu_s"]
                                                         / max(out["pages_without_figures_cpu_s"], 1e-9), 2),
                "ratio_pass_vs_pages_cpu": round(c_pass / max(out["pages_with_figures_cpu_s"], 1e-9), 2),
                "auc_median": round(sorted(aucs)[len(aucs) // 2], 3) if aucs else None,
                "strong_descriptions": sum(d.strong for d in analysis.descriptions),
                "examples": {n: f"{d.text} (AUC {d.auc:.3f})" for n, d in list(zip(chosen, analysis.descriptions))[:8]
                             if d.auc is not None}})
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:32s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
