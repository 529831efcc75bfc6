"""UPOS probing study on UD English-EWT with the embedded minilm (train -> test).

Reports, for a linear probe (Dalvi et al. 2019) trained on EWT train and tested on EWT test:
accuracy per site (each of the 7 sites alone) and over all sites, with the baselines a probe
number needs -- majority class, control task and selectivity (Hewitt & Liang 2019), the same probe
on a randomly initialised minilm -- the distribution of the top 5% neurons over layers, and the
minimal neuron subset within one point of the oracle (Durrani et al. 2020).

Stores are extracted once (word level, mean over subwords, float16, sites ``embeddings,layers.*``)
into ``$NEURONLAB_BENCH_DIR`` (default ``/tmp/neuronlab-bench``) and reused afterwards; the real data
is read from ``$NEURONLAB_SHARED_DATA/ud-english-ewt`` (default ``../shared/data`` beside the repo).

Usage::

    .venv/bin/python benchmarks/ewt_upos_study.py                 # full study, markdown to stdout
    .venv/bin/python benchmarks/ewt_upos_study.py --json out.json # also the raw numbers
    .venv/bin/python benchmarks/ewt_upos_study.py --train-words 65000 --no-minimal  # quicker
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SITES = "embeddings,layers.*"
SITE_NAMES = ["embeddings"] + [f"layers.{i}" for i in range(6)]
CONCEPT = "upos"


def bench_dir() -> Path:
    d = Path(os.environ.get("NEURONLAB_BENCH_DIR", "/tmp/neuronlab-bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def ewt_dir() -> Path:
    d = Path(os.environ.get("NEURONLAB_SHARED_DATA", ROOT.parent / "shared" / "data")) / "ud-english-ewt"
    if not d.exists():
        sys.exit(f"EWT not found at {d}; set NEURONLAB_SHARED_DATA to the folder holding ud-english-ewt/")
    return d


def store_path(split: str, random_init: bool = False) -> Path:
    return bench_dir() / f"ewt-{split}-minilm{'-random-init-seed0' if random_init else ''}.h5"


def ensure_store(split: str, *, random_init: bool = False) -> Path:
    """Extract EWT ``split`` with minilm (or its random-init twin) unless a complete store exists."""
    from neuronlab.errors import StoreError
    from neuronlab.store.store import ActivationStore

    out = store_path(split, random_init)
    if out.exists():
        try:
            ActivationStore.open(out).close()
            return out
        except StoreError:
            print(f"{out} is incomplete: extracting again", file=sys.stderr)
    corpus = ewt_dir() / f"en_ewt-ud-{split}.conllu"
    t0 = time.perf_counter()
    if not random_init:
        cmd = [str(ROOT / ".venv" / "bin" / "neuronlab"), "extract", "--model", "minilm", "--corpus", str(corpus),
               "--format", "conllu", "--sites", SITES, "--granularity", "word", "--aggregation", "mean",
               "--dtype", "float16", "--out", str(out), "--overwrite", "--quiet"]
        print("$", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
    else:
        from neuronlab.corpus.readers import read_corpus
        from neuronlab.extraction import ExtractionConfig, Extractor
        from neuronlab.models import load_model

        loaded = load_model("minilm", random_init=True, seed=0)
        cfg = ExtractionConfig(sites=SITES, granularity="word", aggregation="mean", dtype="float16")
        Extractor(loaded, cfg, progress=False).extract(read_corpus(corpus, format="conllu"), out,
                                                        overwrite=True).close()
    print(f"extracted {out.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return out


def first_words(data, n_words: int | None):
    """The rows of the first sentences (in corpus order) that reach ``n_words`` labelled words."""
    if n_words is None or n_words >= len(data):
        return data
    sentences, counts = np.unique(data.groups, return_counts=True)
    last = int(np.searchsorted(np.cumsum(counts), n_words))
    return data.subset(data.groups <= sentences[min(last, len(sentences) - 1)])


def load_split(n_train_words: int | None, *, random_init: bool = False):
    """``(train, test)`` ConceptData of UPOS over all 7 sites, in memory (float32), test classes aligned."""
    from neuronlab.concepts.data import align_classes, load_concept
    from neuronlab.store.store import ActivationStore

    tr = ActivationStore.open(ensure_store("train", random_init=random_init))
    te = ActivationStore.open(ensure_store("test", random_init=random_init))
    train = first_words(load_concept(tr, CONCEPT, sites=SITES), n_train_words)
    test = align_classes(train, load_concept(te, CONCEPT, sites=SITES))
    return train.load(), test.load()


def site_columns(neuron_ids) -> dict[str, np.ndarray]:
    from neuronlab.concepts.evaluation.layerwise import site_of

    sites = list(dict.fromkeys(site_of(i) for i in neuron_ids))
    return {s: np.array([j for j, i in enumerate(neuron_ids) if site_of(i) == s]) for s in sites}


def fit_score(probe, Xtr, ytr, Xte, yte) -> tuple[float, float, int]:
    from sklearn.base import clone

    t0 = time.perf_counter()
    p = clone(probe).fit(Xtr, ytr)
    return float(p.score(Xte, yte)), time.perf_counter() - t0, int(p.n_iter_)


def run(args) -> dict:
    from neuronlab.concepts.evaluation.layerwise import layer_distribution
    from neuronlab.concepts.evaluation.minimal import minimal_neuron_subset
    from sklearn.base import clone

    from neuronlab.concepts.probes import ControlTask, LinearProbe, selectivity
    from neuronlab.concepts.rankers.linear import neuron_ordering, probe_weights

    t_load = time.perf_counter()
    train, test = load_split(args.train_words)
    t_load = time.perf_counter() - t_load
    probe = LinearProbe(lambda_l1=args.lambda_l1, lambda_l2=args.lambda_l2, max_iter=args.max_iter)
    if args.tol is not None:
        probe.set_params(tol=args.tol)
    cols = site_columns(train.neuron_ids)
    groups = {**{s: c for s, c in cols.items()}, "all sites": np.arange(len(train.neuron_ids))}
    majority = float(np.mean(test.y == np.bincount(train.y).argmax()))
    ct = ControlTask(random_state=0).fit(train.words, train.y)
    c_tr, c_te = ct.transform(train.words), ct.transform(test.words)
    ri = None
    if not args.no_random_init:
        ri_train, ri_test = load_split(args.train_words, random_init=True)
        if not np.array_equal(ri_train.rows, train.rows) or not np.array_equal(ri_test.rows, test.rows):
            sys.exit("the random-init stores do not match the trained model's stores row for row")
        ri = (ri_train.X, ri_test.X)
    rows = []
    full_probe = None
    for name, c in groups.items():
        sl = (lambda X: X) if name == "all sites" else (lambda X, c=c: np.ascontiguousarray(X[:, c]))
        Xtr, Xte = sl(train.X), sl(test.X)
        t0 = time.perf_counter()
        fitted = clone(probe).fit(Xtr, train.y)
        secs = time.perf_counter() - t0
        acc = float(fitted.score(Xte, test.y))
        if name == "all sites":
            full_probe = fitted
        ctl, ctl_s, _ = fit_score(probe, Xtr, c_tr, Xte, c_te)
        row = {"site": name, "n_neurons": int(len(c)), "accuracy": acc, "train_accuracy": float(fitted.score(Xtr, train.y)),
               "control": ctl, "selectivity": selectivity(acc, ctl), "iterations": int(fitted.n_iter_),
               "fit_seconds": round(secs, 2), "control_fit_seconds": round(ctl_s, 2)}
        if ri is not None:
            row["random_init"], row["random_init_fit_seconds"], _ = fit_score(probe, sl(ri[0]), train.y, sl(ri[1]), test.y)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    ordering = neuron_ordering(probe_weights(full_probe))
    k = max(1, int(round(0.05 * len(train.neuron_ids))))
    dist = layer_distribution(ordering, train.neuron_ids, k)
    out = {
        "n_train": len(train), "n_test": len(test), "n_train_sentences": int(np.unique(train.groups).size),
        "n_test_sentences": int(np.unique(test.groups).size), "classes": list(train.classes),
        "majority": majority, "rows": rows, "top5pct": {"k": k, "counts": dist},
        "probe": {"lambda_l1": args.lambda_l1, "lambda_l2": args.lambda_l2, "tol": probe.tol, "max_iter": args.max_iter},
        "load_seconds": round(t_load, 1), "threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_average": os.getloadavg(),
    }
    out["variants"] = []
    for spec in args.variant or []:
        params = parse_variant(spec)
        acc, secs, it = fit_score(clone(probe).set_params(**params), train.X, train.y, test.X, test.y)
        out["variants"].append({"variant": spec, "accuracy": acc, "fit_seconds": round(secs, 1), "iterations": it})
        print(json.dumps(out["variants"][-1]), file=sys.stderr)
    if not args.no_minimal:
        t0 = time.perf_counter()
        m = minimal_neuron_subset(probe, train.X, train.y, test.X, test.y, ordering, delta=0.01, groups=train.groups,
                                  random_state=0)
        out["minimal"] = {"k": int(m.k), "fraction": float(m.fraction), "accuracy": float(m.accuracy),
                          "oracle_accuracy": float(m.oracle_accuracy), "delta": 0.01, "n_dev": int(m.n_dev),
                          "dev_accuracy": float(m.dev_accuracy), "dev_oracle_accuracy": float(m.dev_oracle_accuracy),
                          "distribution": layer_distribution(ordering, train.neuron_ids, int(m.k)),
                          "tried": [[int(a), float(b)] for a, b in m.tried],
                          "seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps(out["minimal"]), file=sys.stderr)
    return out


def parse_variant(spec: str) -> dict:
    """``"lambda=1e-4,tol=1e-5,standardize=1"`` -> LinearProbe parameters (``lambda`` sets both penalties)."""
    params = {}
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key == "lambda":
            params["lambda_l1"] = params["lambda_l2"] = float(value)
        elif key in ("standardize",):
            params[key] = value not in ("0", "false", "False")
        elif key == "max_iter":
            params[key] = int(value)
        else:
            params[key] = float(value)
    return params


def markdown(res: dict) -> str:
    ri = "random_init" in res["rows"][0]
    head = "| site | neurons | test acc | train acc | control acc | selectivity |" + (" random-init acc |" if ri else "") \
        + " iters | fit s |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in res["rows"]:
        lines.append(f"| {r['site']} | {r['n_neurons']} | {r['accuracy']:.4f} | {r['train_accuracy']:.4f} | "
                     f"{r['control']:.4f} | {r['selectivity']:+.4f} |" + (f" {r['random_init']:.4f} |" if ri else "")
                     + f" {r['iterations']} | {r['fit_seconds']:.1f} |")
    lines.append(f"\nMajority class (train's most frequent tag on test): {res['majority']:.4f}.  "
                 f"Train {res['n_train']} words / {res['n_train_sentences']} sentences, "
                 f"test {res['n_test']} words / {res['n_test_sentences']} sentences, {len(res['classes'])} classes.")
    lines.append(f"\nTop 5% ({res['top5pct']['k']}) neurons of the all-site probe by site: "
                 + ", ".join(f"{s} {n}" for s, n in res["top5pct"]["counts"].items()))
    for t in res.get("variants", []):
        lines.append(f"\nAll sites, variant `{t['variant']}`: {t['accuracy']:.4f} ({t['iterations']} iterations, "
                     f"{t['fit_seconds']} s)")
    if "minimal" in res:
        m = res["minimal"]
        lines.append(f"\nMinimal subset (k chosen on {m['n_dev']} held-out train words: dev {m['dev_accuracy']:.4f} within "
                     f"{m['delta']} of the dev oracle {m['dev_oracle_accuracy']:.4f}): {m['k']} neurons "
                     f"({100 * m['fraction']:.1f}%), test accuracy {m['accuracy']:.4f} (all neurons "
                     f"{m['oracle_accuracy']:.4f}); by site: "
                     + ", ".join(f"{s} {n}" for s, n in m["distribution"].items())
                     + "; tried on dev " + ", ".join(f"{k}: {a:.4f}" for k, a in m["tried"]) + f" ({m['seconds']} s)")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-words", type=int, default=None, help="first sentences of train reaching this many words")
    ap.add_argument("--lambda-l1", type=float, default=1e-3)
    ap.add_argument("--lambda-l2", type=float, default=1e-3)
    ap.add_argument("--tol", type=float, default=None, help="LinearProbe tol (default: LinearProbe's)")
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--variant", action="append", metavar="K=V[,K=V]",
                    help="also refit all sites with other probe parameters, e.g. lambda=1e-4 or tol=1e-5,max_iter=500")
    ap.add_argument("--no-random-init", action="store_true")
    ap.add_argument("--no-minimal", action="store_true")
    ap.add_argument("--json", metavar="PATH", help="write the raw results as JSON")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = run(args)
    res["total_seconds"] = round(time.perf_counter() - t0, 1)
    print(markdown(res))
    print(f"\n(total {res['total_seconds']} s, load average {res['load_average']})")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
