"""CLI command ``describe``: what a neuron stands for, by one of four methods (one verb for the family).

- ``compositional``: the formula of atomic concepts (words, UPOS, any stored concept) that best matches the
  neuron's top activations, by IoU (Mu & Andreas 2020); store only.
- ``contexts``: its top-k activating words with their sentence windows and its top n-grams; store only.
- ``alignment``: candidate concepts (its top corpus n-grams, or ``--candidates``) ranked by its mean activation on
  sentences that repeat them (Na et al. 2019); needs the model.
- ``generate``: n-grams found by Gumbel-softmax gradient ascent (Poerner et al. 2018), beside its best corpus
  n-grams scored the same way; needs the model.
"""
from __future__ import annotations

import argparse
import os
from typing import Callable

from .registry import add_out_arguments, check_out, command, emit, json_output

#: method -> (runner(args, store) -> list of (store name, Result), needs the model)
_METHODS: dict[str, tuple[Callable, bool]] = {}


def _method(name: str, *, live: bool):
    def deco(fn):
        _METHODS[name] = (fn, live)
        return fn

    return deco


@command("describe", "Describe neurons of a store: a compositional formula of concepts (IoU), top contexts and "
                     "n-grams, concept alignment with repeated-concept sentences, or Gumbel-softmax generated n-grams; "
                     "results are written into the store.")
def _describe(p: argparse.ArgumentParser):
    p.add_argument("store", help="activation store (.h5), word or token granularity")
    p.add_argument("--neurons", "--neuron", dest="neurons", required=True, metavar="IDS",
                   help="neuron ids site:index, comma-separated (e.g. layers.3.mlp:1021,layers.2:5); a site name "
                        "(layers.5.mlp) means all its neurons")
    p.add_argument("--method", choices=list(_METHODS),
                   default="compositional", help="what to compute (see the description above)")
    g = p.add_argument_group("compositional")
    g.add_argument("--quantile", type=float, default=0.995,
                   help="a neuron fires above this quantile of its activations (0.995: the top 0.5%%, as Mu & "
                        "Andreas for vision, after Bau et al. 2017)")
    g.add_argument("--threshold", type=float, default=None,
                   help="fixed activation threshold instead of --quantile (their NLI code uses 0 on ReLU units)")
    g.add_argument("--max-length", type=int, default=3, help="most atoms per formula")
    g.add_argument("--beam", type=int, default=10, help="beam size (1: greedy)")
    g.add_argument("--word-atoms", type=int, default=10,
                   help="word atoms per neuron: the words most frequent among its top rows (0: concepts only)")
    g.add_argument("--concepts", default=None, metavar="LIST",
                   help="stored concepts to use as atoms, comma-separated (default: all; `neuronlab info` lists them)")
    g.add_argument("--no-words", action="store_true", help="no word-identity atoms")
    g.add_argument("--case-sensitive", action="store_true", help="do not fold words to lower case")
    g = p.add_argument_group("contexts")
    g.add_argument("-k", "--top", dest="k", type=int, default=10, help="contexts / n-grams / generated n-grams shown")
    g.add_argument("--window", type=int, default=5, help="words shown on each side of a top word")
    g.add_argument("--ngrams", default="1,2,3", metavar="LIST", help="n-gram sizes, comma-separated")
    g.add_argument("--min-count", type=int, default=2, help="fewest corpus occurrences of a listed n-gram")
    g = p.add_argument_group("alignment and generate (load the model)")
    g.add_argument("--model", default=None,
                   help="the model the store was extracted from (default: the one the store records)")
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    g.add_argument("--candidates", default=None, metavar="LIST",
                   help="alignment: concepts to rank, comma-separated (default: the neuron's top corpus n-grams)")
    g.add_argument("--sentence-length", type=int, default=None,
                   help="alignment: words per repeated-concept sentence (default: the store's mean sentence length)")
    g.add_argument("--ngram-length", type=int, default=3, help="generate: tokens per generated n-gram")
    g.add_argument("--steps", type=int, default=150, help="generate: gradient steps")
    g.add_argument("--restarts", type=int, default=8, help="generate: parallel searches")
    g.add_argument("--seed", type=int, default=0, help="random sentences (alignment), Gumbel noise (generate)")
    p.add_argument("--name", default=None,
                   help="result name in the store's /results (default: the method; alignment and generate add "
                        "_<neuron>)")
    add_out_arguments(p)
    p.add_argument("--no-write-back", action="store_true", help="do not write the results into the store")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines")

    def run(args) -> int:
        from ..errors import StoreError
        from ..store import ActivationStore

        _check_args(args)
        check_out(args, [args.store])
        if not args.no_write_back and os.path.isfile(args.store) and not os.access(args.store, os.W_OK):
            raise StoreError(f"{args.store!r} is read-only, so the result cannot be written into it; pass "
                             "--no-write-back (and --out FILE to keep it as JSON)")
        runner, _ = _METHODS[args.method]
        with json_output(args, [args.store]) as write:
            with ActivationStore.open(args.store) as store:
                results = runner(args, store)
            stored = []
            if not args.no_write_back:
                with ActivationStore.open(args.store, mode="r+") as st:
                    stored = [res.to_store(st, name) for name, res in results]
            payload = {"method": args.method, "store": args.store, "stored": stored,
                       "results": [res.to_dict() for _, res in results]}
            write(payload)
        text = "\n".join(res.table() for _, res in results)
        if stored:
            text += "\nwritten into the store: " + ", ".join(stored)
        emit(args, payload, text)
        return 0

    return run


def _check_args(args) -> None:
    from ..errors import InvalidParameterError

    for flag, value, low in (("--max-length", args.max_length, 1), ("--beam", args.beam, 1), ("--top", args.k, 1),
                             ("--window", args.window, 0), ("--min-count", args.min_count, 1),
                             ("--word-atoms", args.word_atoms, 0), ("--ngram-length", args.ngram_length, 1),
                             ("--steps", args.steps, 1), ("--restarts", args.restarts, 1)):
        if value < low:
            raise InvalidParameterError(f"{flag} must be >= {low}; got {value}")
    if not 0 < args.quantile < 1:
        raise InvalidParameterError(f"--quantile must lie in (0, 1); got {args.quantile}")
    try:
        args.ngram_sizes = [int(n) for n in args.ngrams.split(",") if n.strip()]
    except ValueError:
        raise InvalidParameterError(f"--ngrams: give sizes as integers, e.g. 1,2,3; got {args.ngrams!r}") from None
    if not args.ngram_sizes or min(args.ngram_sizes) < 1:
        raise InvalidParameterError(f"--ngrams: give sizes >= 1, e.g. 1,2,3; got {args.ngrams!r}")
    if args.sentence_length is not None and args.sentence_length < 1:
        raise InvalidParameterError(f"--sentence-length must be >= 1; got {args.sentence_length}")


def _list(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


@_method("compositional", live=False)
def _compositional(args, store):
    from ..concepts.compositional import explain_neurons

    res = explain_neurons(store, args.neurons, concepts=_list(args.concepts), words=not args.no_words,
                          lowercase=not args.case_sensitive, quantile=args.quantile, threshold=args.threshold,
                          max_length=args.max_length, beam_size=args.beam, n_word_atoms=args.word_atoms,
                          verbose=not args.quiet and not args.json)
    return [(args.name or "compositional", res)]


@_method("contexts", live=False)
def _contexts(args, store):
    from ..concepts.corpus_methods import describe_contexts

    res = describe_contexts(store, args.neurons, k=args.k, window=args.window, ngram_sizes=args.ngram_sizes,
                            ngram_k=args.k, min_count=args.min_count, lowercase=not args.case_sensitive)
    return [(args.name or "contexts", res)]


def _live_and_neurons(args, store):
    from ..attribution.store_check import check_store_model
    from ..concepts.corpus_methods import read_neurons, resolve_neurons
    from ..errors import InvalidParameterError
    from ..models.live import load_live

    pairs = resolve_neurons(store, args.neurons)
    if len(pairs) > 50:
        raise InvalidParameterError(f"--neurons names {len(pairs)} neurons; {args.method} runs the model per neuron: "
                                    "name at most 50 (ids site:index)")
    spec = args.model or store.model.get("path") or store.model.get("name")
    if not spec:
        raise InvalidParameterError("the store records no model; pass --model")
    live = load_live(spec, device=args.device)
    check_store_model(live, store, sorted({s for s, _ in pairs}), what=f"the store {args.store!r}")
    X, ids = read_neurons(store, [f"{s}:{i}" for s, i in pairs])
    return live, pairs, X, ids


def _corpus_ngrams(args, store, x, sizes) -> list[str]:
    from ..concepts.corpus_methods import top_ngrams

    tokens, offsets = store.tokens(), store.offsets
    out: list[str] = []
    for n in sizes:
        out += [g["ngram"] for g in top_ngrams(x, tokens, offsets, n=n, k=args.k, min_count=args.min_count,
                                               lowercase=not args.case_sensitive)]
    return out


@_method("alignment", live=True)
def _alignment(args, store):
    from ..models.generation import concept_alignment, mean_sentence_length

    live, pairs, X, ids = _live_and_neurons(args, store)
    length = args.sentence_length or mean_sentence_length(store.offsets)
    out = []
    for j, ((site, idx), nid) in enumerate(zip(pairs, ids)):
        cands = _list(args.candidates) or _corpus_ngrams(args, store, X[:, j], args.ngram_sizes)
        res = concept_alignment(live, site, idx, cands, length=length, seed=args.seed)
        out.append((f"{args.name or 'alignment'}_{nid}", res))
    return out


@_method("generate", live=True)
def _generate(args, store):
    from ..models.generation import gumbel_ngrams

    live, pairs, X, ids = _live_and_neurons(args, store)
    out = []
    for j, ((site, idx), nid) in enumerate(zip(pairs, ids)):
        corpus = _corpus_ngrams(args, store, X[:, j], [args.ngram_length])
        res = gumbel_ngrams(live, site, idx, length=args.ngram_length, k=args.k, steps=args.steps,
                            restarts=args.restarts, corpus=corpus, seed=args.seed,
                            progress=not args.quiet and not args.json)
        out.append((f"{args.name or 'generate'}_{nid}", res))
    return out
