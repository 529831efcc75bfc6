"""The real-data concept bridge: do the SST-2 classifier's UPOS neurons carry its sentiment predictions?

Steps (each an ordinary neuronlab command or API call):

1. the first ``--ewt-sentences`` sentences of UD English-EWT train are extracted (word level, mean over
   subwords, float32, sites ``layers.*``) twice: with the fine-tuned classifier's encoder and with the
   base model (``minilm``);
2. on both stores: ``neuronlab probe --concept upos`` (held-out accuracy of a linear probe, Dalvi et al.
   2019) and ``neuronlab rank --method probeless`` (per-class scores, Antverg & Belinkov 2022);
3. for ADJ, ADV and NOUN: the top ``--top-k`` neurons of the class at site ``--site`` in each ranking, and
   their overlap between the base and the fine-tuned ranking (also over all layers);
4. :class:`neuronlab.attribution.ConceptBridge` on the first ``--dev-examples`` SST-2 dev sentences with the
   fine-tuned classifier: the share of the gold-class layer conductance (absolute, summed over tokens)
   the set carries and the accuracy drop when it is mean-ablated (means of the fine-tuned EWT store),
   each against ``--n-random`` random sets of the same size at the same site, with empirical p-values;
   once with the fine-tuned ranking's neurons and once with the base ranking's.

The conductance of a site does not depend on the neuron set, so it is computed once per site and shared by
the six bridge runs (``CachedAttributor`` below, passed to ``ConceptBridge(method=...)``).

Usage::

    NEURONLAB_SHARED_DATA=/path/to/shared/data .venv/bin/python benchmarks/sst2_bridge_study.py \\
        --model /tmp/neuronlab-models/sst2-minilm --json /tmp/bridge-study.json
    .venv/bin/python benchmarks/sst2_bridge_study.py --model DIR --quick    # a smoke run (minutes)

Results and the command that produced them: docs/bridge-study.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("ADJ", "ADV", "NOUN")


def shared() -> Path:
    return Path(os.environ.get("NEURONLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))


def cli(*args) -> str:
    """``neuronlab ARGS`` in this process; its stdout (exits on failure)."""
    import contextlib
    import io

    from neuronlab.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main([str(a) for a in args])
    if rc:
        sys.exit(f"neuronlab {' '.join(map(str, args))} failed ({rc})")
    return out.getvalue()


def ewt_subset(n: int, work: Path) -> Path:
    """The first ``n`` sentences of EWT train as a CoNLL-U file under ``work`` (never in the repository)."""
    src = shared() / "ud-english-ewt" / "en_ewt-ud-train.conllu"
    if not src.is_file():
        sys.exit(f"{src} not found: set NEURONLAB_SHARED_DATA to the folder holding ud-english-ewt/")
    out = work / f"ewt-train-first{n}.conllu"
    if not out.exists():
        blocks = src.read_text(encoding="utf-8").split("\n\n")
        out.write_text("\n\n".join(b for b in blocks[:n] if b.strip()) + "\n\n", encoding="utf-8")
    return out


def store_for(model: str, corpus: Path, out: Path) -> Path:
    if not out.exists():
        cli("extract", "--model", model, "--corpus", corpus, "--sites", "layers.*", "--dtype", "float32",
            "--out", out, "--quiet")
    return out


def probe_and_rank(store: Path) -> dict:
    """Probe accuracy (held-out sentences) and the probeless per-class ranking of a store (cached beside it)."""
    from neuronlab.concepts.results import RankingResult
    from neuronlab.store import ActivationStore

    cached = store.with_suffix(".probe-rank.json")
    if cached.exists():
        probe, rank = json.loads(cached.read_text())
    else:
        probe = json.loads(cli("probe", store, "--concept", "upos", "--no-controls", "--json", "--quiet"))
        rank = json.loads(cli("rank", store, "--concept", "upos", "--method", "probeless", "--json", "--quiet"))
        cached.write_text(json.dumps([probe, rank]))
    with ActivationStore.open(store) as st:
        res = RankingResult.from_store(st, rank["result_path"].rsplit("/", 1)[-1])
    return {"probe": probe, "classes": list(res.classes), "ids": list(res.neuron_ids),
            "class_scores": np.asarray(res.class_scores, dtype=np.float64), "rank_result": rank["result_path"]}


def top_neurons(ranked: dict, cls: str, k: int, site: str | None) -> list[str]:
    """The ``k`` best neurons of class ``cls`` (at ``site``, or over all sites) by the ranking's class scores."""
    scores = ranked["class_scores"][ranked["classes"].index(cls)]
    ids = np.array(ranked["ids"], dtype=object)
    keep = np.array([site is None or i.rpartition(":")[0] == site for i in ids])
    order = np.argsort(-scores[keep], kind="stable")[:k]
    return [str(x) for x in ids[keep][order]]


class CachedAttributor:
    """A layer attributor with ConceptBridge's interface that computes each site once and reuses it.

    ``CachedAttributor.method`` is the registered attributor; results are cached per (site, inputs, target)
    so that several neuron sets at the same site share one conductance computation.
    """

    name = "layer_conductance"
    cache: dict = {}

    def __init__(self, live, site, **params):
        from neuronlab.attribution import METHODS

        self.inner = METHODS[self.name](live, site, **params)
        self.key = (site, tuple(sorted(params.items())))

    def attribute(self, inputs, *, target):
        key = self.key + (id(inputs), repr(target))
        if key not in self.cache:
            self.cache[key] = self.inner.attribute(inputs, target=target)
        return self.cache[key]


def run(args) -> dict:
    import torch

    from neuronlab.attribution import ConceptBridge
    from neuronlab.models.live import load_live
    from neuronlab.models.training import CARD_NAME, sentence_data
    from neuronlab.store import ActivationStore

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    timings = {}
    corpus = ewt_subset(args.ewt_sentences, work)
    if args.prepare_base:
        probe_and_rank(store_for(args.base, corpus, work / f"ewt{args.ewt_sentences}-base.h5"))
        return {}
    stores = {"fine-tuned": store_for(args.model, corpus, work / f"ewt{args.ewt_sentences}-finetuned.h5"),
              "base": store_for(args.base, corpus, work / f"ewt{args.ewt_sentences}-base.h5")}
    timings["extract"] = time.perf_counter() - t0
    ranked = {k: probe_and_rank(p) for k, p in stores.items()}
    timings["probe_rank"] = time.perf_counter() - t0 - timings["extract"]
    sets = {k: {c: top_neurons(r, c, args.top_k, args.site) for c in CLASSES} for k, r in ranked.items()}
    overlap = {c: {"at_site": len(set(sets["base"][c]) & set(sets["fine-tuned"][c])),
                   "all_layers": len(set(top_neurons(ranked["base"], c, args.top_k, None))
                                     & set(top_neurons(ranked["fine-tuned"], c, args.top_k, None)))}
               for c in CLASSES}
    data = sentence_data("sst2")
    texts, labels = data.dev_texts[: args.dev_examples], data.dev_labels[: args.dev_examples]
    live = load_live(args.model)
    card = json.loads((Path(args.model) / CARD_NAME).read_text())
    bridges = {}
    with ActivationStore.open(stores["fine-tuned"]) as ft_store:
        n_words = ft_store.n_rows
        enc = live.encode(texts)
        for who in ("fine-tuned", "base"):
            for c in CLASSES:
                br = ConceptBridge(live, method=CachedAttributor, method_params={"steps": args.steps},
                                   n_random=args.n_random, baseline=args.baseline, store=ft_store,
                                   random_state=args.seed)
                res = br.attribute(enc, neurons=sets[who][c], labels=labels, concept=c)
                bridges[f"{who}:{c}"] = {"ranking": who, "concept": c, "neurons": res.neurons, "share": res.share,
                                         "share_p_value": res.share_p_value,
                                         "random_share_mean": res.random_share_mean,
                                         "random_share_std": res.random_share_std, "ablation": res.ablation,
                                         "describe": res.describe()}
                print(f"{who:>10} {c:<4} {res.describe()}", file=sys.stderr)
    timings["bridge"] = time.perf_counter() - t0 - timings["extract"] - timings["probe_rank"]
    return {"model": args.model, "card": {k: card.get(k) for k in ("data", "split", "n_train", "dev_accuracy",
                                                                   "train_seconds", "config")},
            "ewt_sentences": args.ewt_sentences, "ewt_words": n_words,
            "dev_examples": len(texts), "site": args.site, "top_k": args.top_k, "n_random": args.n_random,
            "steps": args.steps, "baseline": args.baseline,
            "probe_accuracy": {k: r["probe"].get("test_accuracy", r["probe"].get("accuracy")) for k, r in
                               ranked.items()},
            "overlap": overlap, "sets": sets, "bridges": bridges,
            "timings_s": {k: round(v, 1) for k, v in timings.items()}, "threads": args.threads,
            "load_average": os.getloadavg()}


def markdown(res: dict) -> str:
    lines = [f"SST-2 classifier `{res['model']}` (dev accuracy {100 * (res['card']['dev_accuracy'] or 0):.1f}%); "
             f"UPOS rankings from the first {res['ewt_sentences']} EWT train sentences; bridge on the first "
             f"{res['dev_examples']} SST-2 dev sentences, top {res['top_k']} neurons of {res['site']}, "
             f"{res['n_random']} random sets, conductance {res['steps']} steps, {res['baseline']} ablation.", "",
             "| ranking | class | share | random share | p | accuracy drop (points) | random drop | p | "
             "overlap base/ft at site | overlap all layers |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for b in res["bridges"].values():
        ab = b["ablation"] or {}
        ov = res["overlap"][b["concept"]]
        lines.append(f"| {b['ranking']} | {b['concept']} | {100 * b['share']:.1f}% | "
                     f"{100 * b['random_share_mean']:.1f}% ± {100 * b['random_share_std']:.1f} | "
                     f"{b['share_p_value']:.3f} | {100 * ab.get('accuracy_drop', float('nan')):.1f} | "
                     f"{100 * ab.get('random_accuracy_drop_mean', float('nan')):.1f} | "
                     f"{ab.get('accuracy_p_value', float('nan')):.3f} | {ov['at_site']}/{res['top_k']} | "
                     f"{ov['all_layers']}/{res['top_k']} |")
    lines += ["", "UPOS probe accuracy (held-out EWT sentences, all layers): "
                  + ", ".join(f"{k} {100 * v:.1f}%" for k, v in res["probe_accuracy"].items() if v is not None),
              f"Timings (s): {res['timings_s']}; threads {res['threads']}; load average {res['load_average']}"]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="the SST-2 classifier (a `neuronlab train` directory)")
    p.add_argument("--base", default="minilm", help="the base model it was fine-tuned from")
    p.add_argument("--ewt-sentences", type=int, default=2000, help="first N sentences of EWT train")
    p.add_argument("--dev-examples", type=int, default=872, help="first N SST-2 dev sentences")
    p.add_argument("--site", default="layers.3", help="the site whose top neurons form each set")
    p.add_argument("--top-k", type=int, default=20, help="neurons per concept")
    p.add_argument("--n-random", type=int, default=50, help="random sets of the same size and site")
    p.add_argument("--steps", type=int, default=16, help="conductance quadrature steps")
    p.add_argument("--baseline", default="mean", choices=("mean", "zero"), help="ablation value")
    p.add_argument("--seed", type=int, default=0, help="random sets")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", default="/tmp/neuronlab-study", help="stores and the EWT subset go here")
    p.add_argument("--quick", action="store_true", help="smoke run: 100 EWT sentences, 16 dev, 5 random sets")
    p.add_argument("--prepare-base", action="store_true",
                   help="only extract, probe and rank the base model's store (cached for the full run)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the raw results here")
    args = p.parse_args(argv)
    if args.quick:
        args.ewt_sentences, args.dev_examples, args.n_random, args.steps = 100, 16, 5, 4
        args.work = str(Path(args.work) / "quick")
    res = run(args)
    if args.prepare_base:
        return
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=float))
    print(markdown(res))


if __name__ == "__main__":
    main()
