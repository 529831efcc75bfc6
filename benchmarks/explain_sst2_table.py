"""Every registered explainer on the SST-2 minilm classifier: ERASER comprehensiveness and sufficiency, AOPC and the
model-randomisation sanity check on SST-2 dev sentences (issue 15, real-data quality bar).

For each key of :data:`neuronlab.explain.EXPLAINERS` (listed when the script runs, so methods registered later are
picked up; cheap families first), on the same dev sentences and the same target (each sentence's predicted class,
fixed once for all methods):

- the explanation, timed (seconds per sentence) with its forward rows, and its faithfulness through
  :func:`neuronlab.explain.compare.compare_explainers` (comprehensiveness, sufficiency, AOPC of the deletion
  curve, insertion; each with the seeded random-order baseline; words removed by dropping their tokens; the
  probability of the explained class, as ERASER evaluates);
- the cascading model-randomisation check (Adebayo et al. 2018) of
  :func:`neuronlab.explain.faithfulness.randomization_check` on a seeded subset of ``--sanity-n`` sentences: the
  mean Spearman correlation of the word scores before and after re-initialising the head, then each block from
  the top (``--sanity-steps`` steps; the default 2 is the head and the top block, as ``compare_explainers``'s
  sanity column).

Each method's numbers are written to ``OUT/methods/<method>.json`` as soon as it finishes; a rerun skips the
methods that have a file (resumable; ``--force`` recomputes), and ``--table-only`` writes ``OUT/table.json`` and
``OUT/table.md`` from whatever finished. A method that refuses the model (``guided_backprop`` on a GELU model) is
recorded as skipped with its reason. Exact Shapley values run only on the sentences of at most ``--shapley-max-words``
words (2^n forward rows each), and the row says how many.

Usage::

    NEURONLAB_SHARED_DATA=/work/shared/data nice -n 5 .venv/bin/python benchmarks/explain_sst2_table.py \
        --model /tmp/neuronlab-models/sst2-minilm-quiet --n 200 --out /tmp/sst2_table [--methods a,b] [--threads 2]
    .venv/bin/python benchmarks/explain_sst2_table.py --out /tmp/sst2_table --table-only

References: DeYoung et al. 2020 (ERASER); Samek et al. 2017 (AOPC); Adebayo et al. 2018 (sanity checks).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: the order in which families run (cheap first); families registered later run after these
FAMILY_ORDER = ("attention", "gradient", "propagation", "decomposition", "perturbation", "shapley")
#: methods with tens of backward passes per sentence, run after the other cheap ones, in this order
MODERATE = ("smoothgrad", "gradient_shap", "integrated_gradients")
#: methods known to be expensive (hundreds of forward rows per sentence, or attention flow's max-flow problems), run
#: after every other method, in this order
EXPENSIVE = ("c-shapley", "lime", "kernel-shap", "shapley", "input-reduction", "attention-flow", "l-shapley")
#: parameters that differ from the methods' defaults to fit the time on 2 shared cores: LIME's default of 5000
#: samples and KernelSHAP's 2n + 2048 coalitions cost 25-100x every other method together; input reduction greedy
#: (beam 1) instead of a beam of 3; exact Shapley values only for sentences of <= 10 words (2^n rows each)
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "lime": {"n_samples": 200},
    "kernel-shap": {"n_samples": 200},
    "input-reduction": {"beam": 1},
    "shapley": {"max_words": 10},
}
DEFAULT_MODEL = "/tmp/neuronlab-models/sst2-minilm-quiet"


def default_data() -> Path:
    """SST-2 dev where ``neuronlab train --data sst2`` reads it: ``$NEURONLAB_SHARED_DATA/sst2/dev.tsv``."""
    from neuronlab.models.training import shared_data_dir

    return shared_data_dir() / "sst2" / "dev.tsv"


def load_sentences(path: str | Path, n: int, sample_seed: int | None = None) -> tuple[list[list[str]], list[int]]:
    """The first ``n`` sentences of a ``label<TAB>sentence`` file (or ``n`` drawn with ``sample_seed``, in file order),
    as word lists, with their gold labels."""
    from neuronlab.corpus.readers import read_tsv

    corpus = read_tsv(path)
    texts, labels = corpus.sentences, corpus.sentence_labels["label"]
    idx = np.arange(len(texts))
    if sample_seed is not None and n < len(texts):
        idx = np.sort(np.random.default_rng(sample_seed).permutation(len(texts))[:n])
    idx = idx[:n]
    return [list(texts[i]) for i in idx], [int(labels[i]) for i in idx]


def method_order(names: Sequence[str]) -> list[str]:
    """Registered explainers, cheap families first (unknown families after), then :data:`MODERATE`, then
    :data:`EXPENSIVE`."""
    from neuronlab.explain import EXPLAINERS

    def key(name: str) -> tuple:
        fam = EXPLAINERS[name].family
        rank = FAMILY_ORDER.index(fam) if fam in FAMILY_ORDER else len(FAMILY_ORDER)
        for tier, group in enumerate((MODERATE, EXPENSIVE), start=1):
            if name in group:
                return (tier, group.index(name), rank)
        return (0, 0, rank)

    return sorted(names, key=key)  # stable: registry order within ties


def predicted_classes(live: Any, inputs: Sequence[Sequence[str]], batch_size: int = 64) -> list[int]:
    """Each input's predicted class (the target every method explains)."""
    import torch

    out = []
    for s in range(0, len(inputs), batch_size):
        enc = live.encode(inputs[s:s + batch_size])
        with torch.no_grad():
            out += live.forward(enc).logits.argmax(-1).tolist()
    return [int(c) for c in out]


def _target(classes: Sequence[int], rows: Sequence[int]):
    from neuronlab.models.targets import Target

    return Target(index=tuple(int(classes[i]) for i in rows))


def chunks(n: int, size: int, seed: int) -> list[list[int]]:
    """The sentences ``range(n)`` in a seeded random order, cut into chunks of ``size`` (each chunk sorted).

    Chunk 0 is a seeded random subset of the sentences: the sanity check runs on it, and a run stopped after
    any number of chunks has covered a random subset, not the head of the file.
    """
    order = np.random.default_rng(seed).permutation(n)
    return [sorted(int(i) for i in order[s:s + size]) for s in range(0, n, size)]


def _rows(name: str, inputs: Sequence[Sequence[str]], params: dict) -> tuple[list[int], str]:
    """The inputs a method runs on (exact Shapley: those of at most ``max_words`` words) and a note saying so."""
    if name == "shapley":
        rows = [i for i in range(len(inputs)) if len(inputs[i]) <= int(params["max_words"])]
        return rows, f"sentences of <= {params['max_words']} words only"
    return list(range(len(inputs))), ""


def run_method(live: Any, name: str, inputs: Sequence[Sequence[str]], classes: Sequence[int], *,
               params: dict | None = None, seed: int = 0, sanity_n: int = 50, sanity_steps: int = 2,
               sanity_seed: int = 1, shapley_max_words: int = 10, batch_size: int = 64) -> dict:
    """Faithfulness, sanity correlation (on the first ``sanity_n`` inputs; 0: none) and cost of one explainer on
    ``inputs``; a dict ready for JSON.

    The target is the class in ``classes`` of each input. A method that refuses the model or an input with an
    ``InvalidParameterError`` gives ``skipped`` with the message.
    """
    from neuronlab.errors import InvalidParameterError
    from neuronlab.explain import EXPLAINERS
    from neuronlab.explain.compare import compare_explainers

    params = dict(params or {})
    if name == "shapley":
        params.setdefault("max_words", shapley_max_words)
    entry = EXPLAINERS[name]
    rows, note = _rows(name, inputs, params)
    base = {"method": name, "family": entry.family, "reference": entry.reference, "params": params,
            "n": len(rows), "n_offered": len(inputs), "note": note, "load_start": round(os.getloadavg()[0], 2)}
    if not rows:
        return {**base, "sanity_n": 0}
    sub = [inputs[i] for i in rows]
    t0 = time.perf_counter()
    try:
        cmp = compare_explainers(live, sub, [name], target=_target(classes, rows), params={name: params},
                                 seed=seed, batch_size=batch_size)
    except InvalidParameterError as err:
        return {**base, "skipped": str(err)}
    row = cmp.rows[0]
    rec = {**base, **{k: v for k, v in row.items() if k not in ("method", "source", "sanity_spearman")},
           "faithfulness_wall_s": round(time.perf_counter() - t0, 2), "sanity_n": 0}
    rec.update(run_sanity(live, name, inputs, classes, params, n=sanity_n, steps=sanity_steps, seed=sanity_seed))
    rec["load_end"] = round(os.getloadavg()[0], 2)
    return rec


def run_sanity(live: Any, name: str, inputs: Sequence[Sequence[str]], classes: Sequence[int], params: dict, *,
               n: int = 50, steps: int = 2, seed: int = 1) -> dict:
    """The cascading randomisation check of ``name`` on the first ``n`` inputs it runs on (0: none).

    ``seed`` seeds the re-initialisation. It must differ from the seed the classifier's head was initialised with
    before training: re-initialising with the same seed draws the same head again (a model that
    ``neuronlab train --seed 0`` fine-tuned briefly keeps a head within a few 1e-3 of that draw, so the head step
    would change nothing).
    """
    from neuronlab.explain import EXPLAINERS
    from neuronlab.explain.faithfulness import RANDOMIZE_SEED_OFFSET, randomization_check

    rows = _rows(name, inputs, params)[0][:n]
    if not rows:
        return {"sanity_n": 0, "sanity_seed": seed, "sanity_seed_offset": RANDOMIZE_SEED_OFFSET}
    fixed = _target(classes, rows)
    t = time.perf_counter()
    check = randomization_check(lambda m: EXPLAINERS[name](m, target=fixed, **params), live,
                                [inputs[i] for i in rows], seed=seed, steps=steps)
    return {"sanity_spearman": check.spearman[-1], "sanity_spearman_abs": check.spearman_abs[-1],
            "sanity_steps": check.steps, "sanity_curve": check.spearman, "sanity_n": len(rows),
            "sanity_seed": seed, "sanity_seed_offset": RANDOMIZE_SEED_OFFSET,
            "sanity_wall_s": round(time.perf_counter() - t, 2)}


_MEANS = ("comprehensiveness", "sufficiency", "aopc", "insertion")


def aggregate(parts: Sequence[dict]) -> dict:
    """One method's chunk records -> one row: metrics weighted by the chunk's sentences (the chunk values are means
    over its sentences, so this is the mean over all), sanity from the chunks that ran it, cost per sentence."""
    skipped = [p for p in parts if "skipped" in p]
    first = parts[0]
    row = {k: first[k] for k in ("method", "family", "reference", "params", "note")}
    if skipped:
        return {**row, "skipped": skipped[0]["skipped"]}
    done = [p for p in parts if p["n"] > 0]
    n = sum(p["n"] for p in done)
    row.update(n=n, n_offered=sum(p["n_offered"] for p in parts), chunks=len(parts))
    if not n:
        return {**row, "skipped": "no sentence fits"}
    for m in _MEANS:
        for key in (m, "random_" + m):
            row[key] = float(sum(p[key] * p["n"] for p in done) / n)
    seconds = sum(p["seconds"] for p in done)
    passes = sum(p["forward_passes"] for p in done)
    row.update(seconds=seconds, forward_passes=passes, seconds_per_sentence=seconds / n,
               forward_rows_per_sentence=passes / n)
    sane = [p for p in done if p.get("sanity_n")]
    s_n = sum(p["sanity_n"] for p in sane)
    row["sanity_n"] = s_n
    row["sanity_spearman"] = (float(sum(p["sanity_spearman"] * p["sanity_n"] for p in sane) / s_n)
                              if s_n and all(math.isfinite(p["sanity_spearman"]) for p in sane) else None)
    if sane:
        row["sanity_steps"] = sane[0]["sanity_steps"]
        curves = np.array([p["sanity_curve"] for p in sane], dtype=float)
        row["sanity_curve"] = (np.asarray([p["sanity_n"] for p in sane], float) @ curves / s_n).tolist()
    loads = [p[k] for p in parts for k in ("load_start", "load_end") if k in p]
    row["load_min_max"] = [min(loads), max(loads)] if loads else None
    return row


def _num(v: Any, fmt: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return format(v, fmt)


def _sanity(row: dict) -> str:
    """The Spearman correlation after each cascade step, ``head / +layers.L / ...``, and the sentences."""
    if not row.get("sanity_n"):
        return "n/a"
    return " / ".join(_num(v, ".2f") for v in row["sanity_curve"]) + f" ({row['sanity_n']})"


def collect(out: Path) -> list[dict]:
    """Every method's aggregated row from its finished chunks in ``out/methods/<method>/chunk*.json``."""
    rows = []
    for d in sorted(p for p in (out / "methods").iterdir() if p.is_dir()):
        parts = [json.loads(p.read_text()) for p in sorted(d.glob("chunk*.json"))]
        if parts:
            rows.append(aggregate(parts))
    return rows


def markdown_table(records: Sequence[dict]) -> str:
    """The table, best first (comprehensiveness - sufficiency); skipped methods and parameters listed under it."""
    done = sorted((r for r in records if "skipped" not in r),
                  key=lambda r: -(r["comprehensiveness"] - r["sufficiency"]))
    lines = [("| method | family | n | compr. (random) | suff. (random) | AOPC (random) | sanity rho per step (n) "
              "| s / sentence | fwd rows / sentence |"), "|---|---|---|---|---|---|---|---|---|"]
    for r in done:
        lines.append(
            f"| `{r['method']}` | {r['family']} | {r['n']} | {_num(r['comprehensiveness'])} "
            f"({_num(r['random_comprehensiveness'])}) | {_num(r['sufficiency'])} ({_num(r['random_sufficiency'])}) "
            f"| {_num(r['aopc'])} ({_num(r['random_aopc'])}) | {_sanity(r)} "
            f"| {_num(r['seconds_per_sentence'], '.4f')} | {_num(r['forward_rows_per_sentence'], '.1f')} |")
    notes = [f"- `{r['method']}` skipped: {r['skipped']}" for r in records if "skipped" in r]
    for r in done:
        bits = [", ".join(f"{k}={v}" for k, v in r["params"].items()), r.get("note", "")]
        if r["n"] < r["n_offered"]:
            bits.append(f"{r['n']} of the {r['n_offered']} sentences offered")
        bits = [b for b in bits if b]
        if bits:
            notes.append(f"- `{r['method']}`: " + "; ".join(bits))
    return "\n".join(lines + ([""] + notes if notes else []))


def write_table(out: Path) -> str:
    """``out/table.json`` (the run records and one row per method) and ``out/table.md``; returns the markdown."""
    records = collect(out)
    runs = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))] if (out / "runs").is_dir() \
        else []
    (out / "table.json").write_text(json.dumps({"runs": runs, "methods": records}, indent=1, default=float))
    md = markdown_table(records)
    (out / "table.md").write_text(md + "\n")
    return md


def sanity_size(name: str, args: argparse.Namespace) -> int:
    """Sentences of chunk 0 the sanity check of ``name`` runs on."""
    return args.sanity_n_costly if name in MODERATE + EXPENSIVE else args.sanity_n


def _refused(folder: Path) -> bool:
    """Whether a method's finished chunk says it refused the model (then no further chunk is tried)."""
    return any("skipped" in json.loads(p.read_text()) for p in folder.glob("chunk*.json"))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help="a classifier written by `neuronlab train`")
    p.add_argument("--data", default=None,
                   help="label<TAB>sentence file (default: $NEURONLAB_SHARED_DATA/sst2/dev.tsv)")
    p.add_argument("--n", type=int, default=200, help="sentences (the first N, or N drawn with --sample-seed)")
    p.add_argument("--sample-seed", type=int, default=None, help="draw the N sentences at random (default: first N)")
    p.add_argument("--seed", type=int, default=0, help="seed of the chunk order, the random-order baseline and the "
                                                       "re-initialisation")
    p.add_argument("--chunk", type=int, default=50, help="sentences per chunk (a seeded random split of the N); "
                                                         "every method runs chunk 0, then chunk 1, ...")
    p.add_argument("--chunks", default="all", help="comma-separated chunk indices to run (default: every chunk); "
                                                    "workers sharing OUT can split the chunks")
    p.add_argument("--methods", default="all", help="comma-separated explainer keys (default: every registered one)")
    p.add_argument("--group", choices=("all", "cheap", "expensive"), default="all",
                   help="only the methods outside (cheap) or inside (expensive) EXPENSIVE: two workers can share OUT")
    p.add_argument("--param", action="append", default=[], metavar="METHOD:NAME=VALUE",
                   help="override a method parameter (JSON value), e.g. lime:n_samples=1000")
    p.add_argument("--sanity-n", type=int, default=50, help="sentences of chunk 0 that the sanity check runs on")
    p.add_argument("--sanity-n-costly", type=int, default=20,
                   help="the same for the MODERATE and EXPENSIVE methods (their check costs 3 explanations)")
    p.add_argument("--sanity-steps", type=int, default=2, help="cascade steps (2: head + top block)")
    p.add_argument("--sanity-seed", type=int, default=1,
                   help="seed of the re-initialisation; not the classifier's training seed (the card's seed, 0 by "
                        "default), which would draw its initial head again")
    p.add_argument("--shapley-max-words", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64, help="rows per forward pass of the faithfulness metrics")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="/tmp/sst2_table", help="folder: methods/<method>/chunk<k>.json, runs/, "
                                                            "table.json, table.md")
    p.add_argument("--force", action="store_true", help="recompute chunks that already have a file")
    p.add_argument("--table-only", action="store_true", help="only write the table from the finished chunks")
    return p.parse_args(argv)


def method_params(name: str, overrides: Sequence[str]) -> dict:
    """The table's parameters of ``name``: :data:`DEFAULT_PARAMS`, then ``METHOD:NAME=VALUE`` overrides."""
    params = dict(DEFAULT_PARAMS.get(name, {}))
    for item in overrides:
        meth, _, kv = item.partition(":")
        key, _, value = kv.partition("=")
        if meth == name and key:
            try:
                params[key] = json.loads(value)
            except json.JSONDecodeError:
                params[key] = value
    return params


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    (out / "methods").mkdir(parents=True, exist_ok=True)
    (out / "runs").mkdir(exist_ok=True)
    if args.table_only:
        print(write_table(out))
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from neuronlab.explain import EXPLAINERS
    from neuronlab.models.live import load_live

    names = list(EXPLAINERS) if args.methods == "all" else [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in names:
        EXPLAINERS[m]  # an unknown key raises the registry's error listing the valid ones
    if args.group != "all":
        names = [m for m in names if (m in EXPENSIVE) == (args.group == "expensive")]
    names = method_order(names)
    data = Path(args.data) if args.data else default_data()
    inputs, gold = load_sentences(data, args.n, args.sample_seed)
    live = load_live(args.model)
    classes = predicted_classes(live, inputs)
    parts = chunks(len(inputs), args.chunk, args.seed)
    run = {"model": args.model, "data": str(data), "n": len(inputs),
           "selection": "first N" if args.sample_seed is None else f"N drawn with seed {args.sample_seed}",
           "accuracy_on_these": float(np.mean(np.asarray(classes) == np.asarray(gold))),
           "mean_words": float(np.mean([len(s) for s in inputs])), "seed": args.seed, "chunk": args.chunk,
           "sanity_n": {m: sanity_size(m, args) for m in names}, "sanity_steps": args.sanity_steps,
           "sanity_seed": args.sanity_seed, "threads": args.threads, "methods": names,
           "params": {m: method_params(m, args.param) for m in names},
           "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "load_start": os.getloadavg()[0],
           "command": " ".join(sys.argv)}
    run_path = out / "runs" / f"{time.strftime('%H%M%S', time.gmtime())}_{os.getpid()}.json"
    run_path.write_text(json.dumps(run, indent=1))
    print(f"{len(inputs)} sentences in {len(parts)} chunks, accuracy {run['accuracy_on_these']:.3f}, "
          f"{len(names)} methods", flush=True)
    t_all = time.perf_counter()
    refused = {m for m in names if _refused(out / "methods" / m)}
    from neuronlab.explain.faithfulness import RANDOMIZE_SEED_OFFSET as sanity_offset
    todo = range(len(parts)) if args.chunks == "all" else [int(c) for c in args.chunks.split(",") if c.strip()]
    for c in todo:
        rows = parts[c]
        for name in names:
            path = out / "methods" / name / f"chunk{c:03d}.json"
            if name in refused:
                continue
            if path.exists() and not args.force:
                old = json.loads(path.read_text())
                # a check made with another seed, or before randomization_check's seed offset, is made again
                if c == 0 and old["n"] and (old.get("sanity_seed") != args.sanity_seed
                                            or old.get("sanity_seed_offset") != sanity_offset):
                    print(f"chunk 1/{len(parts)} {name}: sanity check again with seed {args.sanity_seed}", flush=True)
                    old.update(run_sanity(live, name, [inputs[i] for i in rows], [classes[i] for i in rows],
                                          old["params"], n=sanity_size(name, args), steps=args.sanity_steps,
                                          seed=args.sanity_seed))
                    path.write_text(json.dumps(old, indent=1, default=float))
                    write_table(out)
                continue
            path.parent.mkdir(exist_ok=True)
            t = time.perf_counter()
            print(f"chunk {c + 1}/{len(parts)} {name} ...", flush=True)
            rec = run_method(live, name, [inputs[i] for i in rows], [classes[i] for i in rows],
                             params=method_params(name, args.param), seed=args.seed,
                             sanity_n=0 if c else sanity_size(name, args), sanity_steps=args.sanity_steps,
                             sanity_seed=args.sanity_seed,
                             shapley_max_words=args.shapley_max_words, batch_size=args.batch_size)
            rec.update(chunk=c, sentences=rows, wall_s=round(time.perf_counter() - t, 2))
            path.write_text(json.dumps(rec, indent=1, default=float))
            if "skipped" in rec:
                refused.add(name)
                status = "skipped: " + rec["skipped"]
            elif not rec["n"]:
                status = "no sentence fits"
            else:
                status = (f"compr {rec['comprehensiveness']:.3f} suff {rec['sufficiency']:.3f} aopc {rec['aopc']:.3f}"
                          + (f" sanity {rec['sanity_spearman']:.3f}" if rec["sanity_n"] else ""))
            print(f"    {status} ({rec['wall_s']:.0f} s, load {os.getloadavg()[0]:.1f})", flush=True)
            write_table(out)
    run.update(finished=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
               wall_s=round(time.perf_counter() - t_all, 1), load_end=os.getloadavg()[0])
    run_path.write_text(json.dumps(run, indent=1))
    print(write_table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
