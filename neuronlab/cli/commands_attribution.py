"""CLI commands of attribution: ``train`` (a task model to explain), ``attribute`` and ``ablate``.

``attribute`` and ``ablate`` offer the methods of :data:`neuronlab.attribution.METHODS` by their short
names (``--method conductance|neuron-conductance|ig|grad-x-act``); ``--param NAME=VALUE`` sets a
method's hyper-parameters through the registry's typed parameters.
"""
from __future__ import annotations

import argparse
import logging
import os
import time

from .registry import add_out_arguments, check_out, command, emit, json_output

log = logging.getLogger("neuronlab")

def _methods(cmd: str) -> list:
    """The registry entries offered by a command (the registry imports no torch)."""
    from ..attribution.methods import METHODS

    return [e for e in METHODS.values() if e.command == cmd]


# ------------------------------------------------------------------ train
def _train_sequence(args, cfg, out) -> dict:
    from ..models.training import sentence_data, train_sequence_classifier

    data = sentence_data(args.data, concept=args.concept or "polarity", dev=args.dev, dev_fraction=args.dev_fraction,
                         max_examples=args.max_examples, seed=args.seed)
    log.info("training %s on %d examples (%s), dev %d", args.model, len(data.train_texts), data.data,
             len(data.dev_texts))
    return train_sequence_classifier(
        args.model, data.train_texts, data.train_labels, out, label_names=data.label_names,
        dev_texts=data.dev_texts, dev_labels=data.dev_labels, config=cfg, data=data.data, split=data.split,
        device=args.device, progress=not args.quiet)


def _train_token(args, cfg, out) -> dict:
    from ..models.training_tokens import token_data, train_token_classifier

    data = token_data(args.data, concept=args.concept or "upos", dev=args.dev, dev_fraction=args.dev_fraction,
                      max_examples=args.max_examples, seed=args.seed)
    log.info("training a %s tagger on %s: %d sentences, dev %d", data.concept, args.model, len(data.train_words),
             len(data.dev_words))
    return train_token_classifier(
        args.model, data.train_words, data.train_tags, out, label_names=data.label_names, concept=data.concept,
        dev_words=data.dev_words, dev_tags=data.dev_tags, config=cfg, data=data.data, split=data.split,
        device=args.device, progress=not args.quiet)


#: --task -> function(args, config, output directory) -> card
_TRAIN_TASKS = {"sequence": _train_sequence, "token": _train_token}


@command("train", "Fine-tune a task model to explain (a sentence classifier, or a word tagger with --task token) on a "
                  "base model and save it as a transformers directory with a JSON card (data, split, seed, epochs, "
                  "dev accuracy).")
def _train(p: argparse.ArgumentParser):
    p.add_argument("--task", choices=sorted(_TRAIN_TASKS), default="sequence",
                   help="sequence: one label per sentence (AutoModelForSequenceClassification); token: one label per "
                        "word on its first subword (AutoModelForTokenClassification)")
    p.add_argument("--model", default="minilm", help="base model: alias (minilm), local directory or Hugging Face id")
    p.add_argument("--data", default="embedded",
                   help="embedded (the embedded corpus), sst2 (train.tsv/dev.tsv of $NEURONLAB_SHARED_DATA/sst2; "
                        "sequence), ewt (UD English-EWT train/dev of $NEURONLAB_SHARED_DATA; token), a file (TSV "
                        "label<TAB>sentence for sequence; a corpus file such as .conllu for token), a directory with "
                        "train.tsv (and dev.tsv), or a word-level activation store .h5 (token: its row label)")
    p.add_argument("--concept", default=None,
                   help="the label: sequence: a sentence-level concept of the embedded corpus (default polarity; also "
                        "tense, type, subject_number, relative_clause); token: a word-level concept (default upos; "
                        "xpos, deprel, Number, Tense, ... in CoNLL-U data)")
    p.add_argument("--dev", default=None, metavar="FILE",
                   help="dev file (TSV for sequence, a corpus file for token; default: the dataset's dev file, else "
                        "--dev-fraction held out)")
    p.add_argument("--dev-fraction", type=float, default=0.1, help="fraction held out as dev when there is no dev file")
    p.add_argument("--max-examples", type=int, default=None,
                   help="train on at most N examples (sentences for token) drawn at random (--seed)")
    p.add_argument("--epochs", type=int, default=3, help="passes over the training data")
    p.add_argument("--top-layers", type=int, default=None,
                   help="fine-tune only the top N blocks (plus pooler and head); default: the whole encoder")
    p.add_argument("--lr", type=float, default=5e-5, help="peak learning rate (AdamW, linear warm-up and decay)")
    p.add_argument("--warmup", type=float, default=0.06, help="fraction of the steps with a linear warm-up")
    p.add_argument("--freeze-word-embeddings", action="store_true",
                   help="keep the word-embedding matrix fixed (about half of minilm's weights: much cheaper steps on CPU)")
    p.add_argument("--bucket", action="store_true",
                   help="length-bucketed batches (pools of 50 batches sorted by length; each batch padded to its own "
                        "longest row): much less padding on short-phrase data such as SST-2 (default: plain shuffle)")
    p.add_argument("--batch-size", type=int, default=32, help="examples per step")
    p.add_argument("--max-length", type=int, default=128, help="tokens per example (longer ones are truncated)")
    p.add_argument("--seed", type=int, default=0, help="head initialisation, example order, split and subset")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="time budget: stop after the step that ends past it, then score dev and save (the card says "
                        "how many of the planned steps ran)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (written under a temporary name and "
                                                               "renamed when training succeeded)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists (only a directory neuronlab wrote, and only on success)")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")

    def run(args) -> int:
        from ..errors import InvalidParameterError
        from ..models.loading import resolve_model_path
        from ..models.training import CARD_NAME, TrainConfig
        from ..outputs import safe_output_dir
        from .registry import OVERWRITE_FLAG

        cfg = TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=args.max_length,
                          seed=args.seed, train_layers=args.top_layers, warmup=args.warmup,
                          freeze_word_embeddings=args.freeze_word_embeddings, bucket=args.bucket,
                          max_minutes=args.max_minutes)
        if args.threads is not None:
            if args.threads < 1:
                raise InvalidParameterError(f"--threads must be a positive int, got {args.threads}")
            import torch

            torch.set_num_threads(args.threads)
        base_path, local = resolve_model_path(args.model)
        inputs = [args.dev] + ([base_path] if local else []) + ([args.data] if os.path.exists(args.data) else [])
        with safe_output_dir(args.out, marker=CARD_NAME, overwrite=args.overwrite, inputs=inputs,
                             overwrite_hint=OVERWRITE_FLAG) as tmp:
            card = _TRAIN_TASKS[args.task](args, cfg, tmp)
        card["out"] = str(args.out)
        acc = card["dev_accuracy"]
        what = "word accuracy" if args.task == "token" else "accuracy"
        emit(args, card, f"saved {args.out} ({card['n_train']} train, {card['n_dev']} dev, {card['epochs']} epochs, "
                         f"{card['train_seconds']} s): dev {what} " + ("n/a" if acc is None else f"{100 * acc:.2f} %"))
        return 0

    return run


# ------------------------------------------------------------------ shared options
def _add_inputs(p: argparse.ArgumentParser) -> None:
    from ..corpus.readers import READERS

    p.add_argument("model", help="model with its task head: a directory written by `neuronlab train`, any saved "
                                 "transformers classifier, or an alias / Hugging Face id")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", action="append", metavar="SENTENCE", help="an input sentence (repeatable)")
    src.add_argument("--corpus", metavar="FILE", help="inputs: a corpus file (text, tsv, conllu, neurox), embedded, or "
                                                      "store (the sentences of --store)")
    p.add_argument("--format", choices=sorted(READERS), default=None, help="corpus format (default: from the suffix)")
    p.add_argument("--label-name", default=None,
                   help="the corpus's sentence-level labels used as gold classes (default: label, or polarity for "
                        "the embedded corpus)")
    p.add_argument("--max-examples", type=int, default=None, help="use the first N inputs of the corpus")
    p.add_argument("--site", required=True, help="the site whose neurons are analysed (`neuronlab sites` lists them; "
                                                 "layers.L.attn.probs: the attention heads of layer L)")
    p.add_argument("--target", default="predicted",
                   help="class explained: an index, a class name of the model, predicted (each input's predicted "
                        "class) or gold (the corpus labels)")
    p.add_argument("--target-kind", default="logit", choices=["logit", "probability", "log_probability", "loss"],
                   help="the scalar explained for that class (loss: cross-entropy with the class as gold label)")
    p.add_argument("--top-k", type=int, default=10, help="neurons listed per input and overall")
    p.add_argument("--chunk", type=int, default=8, help="inputs per call (one progress-bar step)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    p.add_argument("--store", default=None, help="activation store of the same model: the result is written into it "
                                                 "(opened r+; a store from another model is refused); attribute "
                                                 "also writes the values per store row for the inputs that are "
                                                 "sentences of the store (--corpus store: all of them)")
    p.add_argument("--name", default=None, help="result name in the store (default: <command>_<method>_<site>)")
    add_out_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")


def _check_positive(name: str, value) -> None:
    from ..errors import InvalidParameterError

    if value is not None and value < 1:
        raise InvalidParameterError(f"{name} must be a positive int, got {value}")


def _load_inputs(args) -> tuple[list, list | None, str]:
    """Inputs (word lists), their gold labels (strings or None) and a description."""
    from ..corpus import load_embedded_corpus
    from ..corpus.readers import read_corpus
    from ..errors import InvalidParameterError

    _check_positive("--max-examples", args.max_examples)
    if args.text:
        return [t.split() for t in args.text], None, f"{len(args.text)} --text"
    if args.corpus == "store":
        return _store_inputs(args)
    if args.corpus == "embedded":
        corpus, default_label = load_embedded_corpus(), "polarity"
    else:
        if not os.path.isfile(args.corpus):
            raise InvalidParameterError(f"--corpus {args.corpus!r} is not a file (or embedded)")
        corpus, default_label = read_corpus(args.corpus, format=args.format), "label"
    sents = corpus.sentences[: args.max_examples] if args.max_examples else corpus.sentences
    name = args.label_name or default_label
    labels = corpus.sentence_labels.get(name)
    if labels is None and args.label_name:
        raise InvalidParameterError(f"--label-name {name!r}: the corpus has no such sentence-level labels; it has "
                                    f"{', '.join(sorted(corpus.sentence_labels)) or '(none)'}")
    if not sents:
        raise InvalidParameterError(f"--corpus {args.corpus!r} holds no sentences")
    return [list(s) for s in sents], (labels[: len(sents)] if labels is not None else None), str(args.corpus)


def _store_inputs(args) -> tuple[list, None, str]:
    """``--corpus store``: the sentences of ``--store`` (their words: the texts split at spaces)."""
    from ..errors import InvalidParameterError
    from ..store import ActivationStore

    if not args.store:
        raise InvalidParameterError("--corpus store reads the sentences of --store; give --store STORE")
    _check_store(args)
    with ActivationStore.open(args.store) as st:
        texts = st.texts()[: st.n_done]
    texts = texts[: args.max_examples] if args.max_examples else texts
    if not texts:
        raise InvalidParameterError(f"--store {args.store!r} holds no finished sentences")
    return [t.split(" ") for t in texts], None, f"{args.store} (its sentences)"


def _class_index(live, value: str, what: str) -> int:
    """A class given as an index or a name of the model's ``id2label``; a one-line error otherwise."""
    from ..errors import InvalidParameterError

    cfg = live.model.config
    n = int(getattr(cfg, "num_labels", 0) or 0)
    names = [str(cfg.id2label.get(i, i)) for i in range(n)] if getattr(cfg, "id2label", None) else []
    if value in names:
        return names.index(value)
    if value.lstrip("-").isdigit() and 0 <= int(value) < n:
        return int(value)
    listed = ", ".join(f"{i} ({nm})" if nm != str(i) else nm for i, nm in enumerate(names)) or f"0..{n - 1}"
    raise InvalidParameterError(f"{what} {value!r} is not a class of the model; it has {n} classes: {listed}")


def _classes(live, args, inputs, labels) -> list[int]:
    """One class per input for ``--target``."""
    import torch

    from ..errors import InvalidParameterError

    if args.target == "predicted":
        out = []
        with torch.no_grad():
            for c0 in range(0, len(inputs), 32):
                out += live.forward(live.encode(inputs[c0: c0 + 32])).logits.argmax(-1).tolist()
        return out
    if args.target == "gold":
        if labels is None or any(v is None for v in labels):
            raise InvalidParameterError("--target gold needs a corpus whose every sentence has a label "
                                        "(--corpus FILE.tsv, or --label-name)")
        return [_class_index(live, v, "gold label") for v in labels]
    return [_class_index(live, args.target, "--target")] * len(inputs)


def _gold(live, labels) -> list[int] | None:
    if labels is None or any(v is None for v in labels):
        return None
    return [_class_index(live, v, "gold label") for v in labels]


def _load_live(args):
    from ..models.live import load_live

    live = load_live(args.model, device=args.device)
    live.site(args.site)  # an unknown site: one line listing the valid ones
    return live


def _bar(args, total: int, unit: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=args.quiet, unit=unit, desc=args.command, dynamic_ncols=True, leave=False)


# ------------------------------------------------------------------ the store
def _check_store(args, live=None, site: str | None = None) -> None:
    """``--store`` exists and is writable; with ``live``: it was extracted from this model."""
    from ..errors import StoreError

    if not args.store:
        return
    if not os.path.isfile(args.store):
        raise StoreError(f"--store {args.store!r} does not exist; give an activation store extracted from the model")
    if not os.access(args.store, os.W_OK):
        raise StoreError(f"--store {args.store!r} is read-only; the result cannot be written into it")
    if live is not None:
        from ..store import ActivationStore

        with ActivationStore.open(args.store) as st:
            same_model(st, live, site, args.store)


def same_model(store, live, site: str | None, label: str) -> None:
    """Refuse a store that was not extracted from ``live``'s encoder (weight fingerprint, else the site's width).

    The extractor fingerprints the base encoder: the ``hf`` engine in state-dict order
    (:func:`~neuronlab.models.loading.weight_fingerprint`), the ``native`` engine in name order
    (:func:`~neuronlab.models.engines.checkpoint.tensor_fingerprint`); both come from
    :func:`~neuronlab.attribution.store_check.live_fingerprints` (the live model's ``base_model``), so a classifier
    and a store extracted from its directory match.
    """
    from ..attribution.store_check import live_fingerprints
    from ..errors import StoreError

    info = store.model
    recorded = info.get("weights_sha256")
    if recorded:
        if recorded not in live_fingerprints(live):
            raise StoreError(f"--store {label!r} was extracted from another model ({info.get('name') or '?'}, weights "
                             f"{recorded[:12]}) than {live.info.get('name')!r}; use a store extracted from this model")
    if site and site in store.sites:
        w_store, w_model = int(store[site].shape[1]), live.width(site)
        if w_store != w_model:
            raise StoreError(f"--store {label!r}: its site {site!r} has {w_store} neurons, the model's has {w_model}: "
                             "the store comes from another model")


def _write_store(args, write) -> str | None:
    if not args.store:
        return None
    from ..store import ActivationStore

    with ActivationStore.open(args.store, mode="r+") as st:
        return write(st)


def _params(args, entry) -> dict:
    from .commands_concepts import _parse_params

    return entry.parse_params(_parse_params(args.param))


def _method_help(entries) -> str:
    return "; ".join(f"{e.short}: {e.description}" for e in entries)


def _param_help(entries) -> str:
    return "method hyper-parameter (repeatable), e.g. --param steps=20; per method: " + "; ".join(
        f"{e.short}: " + (", ".join(q.name for q in e.params) or "none") for e in entries)


# ------------------------------------------------------------------ attribute
@command("attribute", "Attribute a model's predictions to the neurons of a site (conductance, integrated gradients, "
                      "gradient x activation) or to its layer's attention heads (self-attention attribution); "
                      "per-neuron and per-token attributions with the convergence delta; with --store, also per "
                      "store row.")
def _attribute(p: argparse.ArgumentParser):
    entries = _methods("attribute")
    _add_inputs(p)
    p.add_argument("--method", default="conductance", choices=[e.short for e in entries], help=_method_help(entries))
    p.add_argument("--neuron", type=int, default=None, help="neuron-conductance: the neuron whose conductance is "
                                                            "split over the input tokens")
    p.add_argument("--baseline", default="pad", choices=["pad", "zero"],
                   help="path start: every word replaced by [PAD] (special tokens kept) or zero at the input site")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=_param_help(entries))

    def run(args) -> int:
        from ..attribution.methods import METHODS
        from ..errors import InvalidParameterError

        entry = METHODS.by_short(args.method, "attribute")
        params = _params(args, entry)
        if (args.neuron is None) == (entry.name == "neuron_conductance"):
            raise InvalidParameterError("--neuron is needed by --method neuron-conductance and only by it")
        _check_positive("--chunk", args.chunk)
        _check_positive("--top-k", args.top_k)
        inputs_files = [args.corpus, args.store]
        check_out(args, inputs_files)
        _check_store(args)
        t0 = time.perf_counter()
        inputs, labels, source = _load_inputs(args)
        live = _load_live(args)
        site = live.site(args.site)
        if args.neuron is not None:
            live.check_neurons(site, [args.neuron])
        _check_store(args, live, site)
        classes = _classes(live, args, inputs, labels)
        method = entry(live, site, **params)
        extra = {"neuron": args.neuron} if args.neuron is not None else {}
        import inspect

        if "baselines" in inspect.signature(method.attribute).parameters:  # path methods (not grad x act)
            extra["baselines"] = args.baseline
        from ..models.targets import Target

        parts = []
        with json_output(args, inputs_files) as write_json, _bar(args, len(inputs), "sent") as bar:
            for c0 in range(0, len(inputs), args.chunk):
                c1 = min(c0 + args.chunk, len(inputs))
                parts.append(method.attribute(inputs[c0:c1], target=Target(args.target_kind, tuple(classes[c0:c1])),
                                              **extra))
                bar.update(c1 - c0)
            result = _concat(parts, classes, args.target_kind)
            name = args.name or f"attribute_{entry.name}_{site}"
            path = _write_store(args, lambda st: result.to_store(st, name, inputs=inputs))
            report = _attribution_report(result, live, inputs, classes, args, source, path, time.perf_counter() - t0)
            write_json(report)
        emit(args, report, _describe_attribution(report))
        return 0

    return run


def _concat(parts, classes, kind: str):
    """One :class:`AttributionResult` from the results of consecutive chunks (token axes padded with zeros)."""
    import numpy as np

    from ..attribution.result import AttributionResult
    from ..models.targets import Target

    n_tok = max(len(r.word_ids[0]) for r in parts)
    first = parts[0]
    # token axes: 1 for layer methods and neuron conductance; 2 and 3 (query, key) for self-attention attribution
    token_axes = (2, 3) if first.attributions.ndim == 4 else (1,)

    def pad(a):
        return np.pad(a, [(0, n_tok - a.shape[i]) if i in token_axes else (0, 0) for i in range(a.ndim)])

    cfg = dict(first.config, target=Target(kind, tuple(classes)).to_dict())
    extras = {k: np.concatenate([pad(r.extras[k]) for r in parts]) for k in first.extras}
    return AttributionResult(
        first.method, first.site, np.concatenate([pad(r.attributions) for r in parts]),
        np.concatenate([r.delta for r in parts]), np.concatenate([r.f_input for r in parts]),
        np.concatenate([r.f_baseline for r in parts]), [t for r in parts for t in r.tokens],
        [list(w) + [-1] * (n_tok - len(w)) for r in parts for w in r.word_ids], cfg, extras)


def _top(values, k: int, site: str) -> list:
    import numpy as np

    order = np.argsort(-np.abs(values), kind="stable")[:k]
    return [[f"{site}:{int(j)}", float(values[j])] for j in order]


def _attribution_report(result, live, inputs, classes, args, source, path, seconds) -> dict:
    import numpy as np

    names = getattr(live.model.config, "id2label", None) or {}
    neuronwise = result.attributions.ndim in (3, 4)  # units: neurons, or the heads of an attn.probs site
    per_neuron = result.per_neuron() if neuronwise else None
    rel = result.relative_delta()
    examples = []
    for i, words in enumerate(inputs):
        ex = {"text": " ".join(words), "class": classes[i], "class_name": str(names.get(classes[i], classes[i])),
              "f_input": float(result.f_input[i]), "f_baseline": float(result.f_baseline[i]),
              "delta": float(result.delta[i]), "relative_delta": float(rel[i]), "tokens": result.tokens[i],
              "per_token": result.per_token()[i, : len(result.tokens[i])].tolist()}
        if neuronwise:
            ex["top_neurons"] = _top(per_neuron[i], args.top_k, result.site)
        examples.append(ex)
    report = {"model": args.model, "method": result.method, "site": result.site, "source": source,
              "target": {"kind": args.target_kind, "spec": args.target}, "n_examples": len(inputs),
              "examples": examples, "max_relative_delta": float(np.max(rel)), "config": result.config,
              "store": args.store, "result_path": path, "seconds": round(seconds, 2)}
    if neuronwise:
        mean = per_neuron.mean(axis=0)
        report["top_neurons"] = _top(mean, args.top_k, result.site)
        report["per_neuron_mean"] = mean.tolist()
    return report


def _describe_attribution(r: dict) -> str:
    lines = [f"{r['method']} at {r['site']} of {r['model']}: {r['n_examples']} inputs, target {r['target']['kind']} "
             f"({r['target']['spec']}), max relative delta {r['max_relative_delta']:.2e}, {r['seconds']} s"]
    for ex in r["examples"][:20]:
        head = f"  [{ex['class_name']}] {ex['text'][:60]}  F={ex['f_input']:.4g} F(base)={ex['f_baseline']:.4g}"
        if "top_neurons" in ex:
            head += "  top: " + ", ".join(f"{n} {v:+.3g}" for n, v in ex["top_neurons"][:5])
        else:
            head += "  tokens: " + " ".join(f"{t}:{v:+.3g}" for t, v in zip(ex["tokens"], ex["per_token"]))
        lines.append(head)
    if "top_neurons" in r:
        lines.append("mean over inputs: " + ", ".join(f"{n} {v:+.3g}" for n, v in r["top_neurons"]))
    if r["result_path"]:
        lines.append(f"written {r['store']}:{r['result_path']}")
    return "\n".join(lines)


# ------------------------------------------------------------------ ablate
def _parse_neurons(text: str | None) -> list[int] | None:
    """``"3,7,10-12"`` -> [3, 7, 10, 11, 12]; None -> None (every neuron)."""
    from ..errors import InvalidParameterError

    if text is None:
        return None
    out = []
    for part in (x.strip() for x in text.split(",")):
        a, sep, b = part.partition("-") if not part.startswith("-") else (part, "", "")
        try:
            out += list(range(int(a), int(b) + 1)) if sep else [int(part)]
        except ValueError:
            raise InvalidParameterError(f"--neurons expects indices and ranges like 3,7,10-12; got {part!r}") from None
    if not out:
        raise InvalidParameterError("--neurons is empty")
    return out


@command("ablate", "Ablate neurons of a site (zero, dataset mean or custom values): the change of the target per "
                   "neuron and for the whole set, accuracy before/after on a labelled corpus, or a greedy search.")
def _ablate(p: argparse.ArgumentParser):
    entries = _methods("ablate")
    _add_inputs(p)
    p.add_argument("--neurons", default=None, metavar="LIST",
                   help="neuron indices and ranges (3,7,10-12); default: every neuron of the site (the candidates "
                        "of --greedy)")
    p.add_argument("--greedy", type=int, default=None, metavar="K",
                   help="choose K neurons greedily by their joint ablation effect (Durrani et al. 2021)")
    p.add_argument("--baseline", default="zero", choices=["zero", "mean"],
                   help="value of an ablated neuron: zero, or its mean over the rows of --store")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=_param_help(entries))

    def run(args) -> int:
        from ..attribution.methods import METHODS
        from ..errors import InvalidParameterError

        entry = METHODS["greedy_ablation" if args.greedy is not None else "neuron_ablation"]
        params = _params(args, entry)
        neurons = _parse_neurons(args.neurons)
        _check_positive("--chunk", args.chunk)
        _check_positive("--greedy", args.greedy)
        if args.baseline == "mean" and not args.store:
            raise InvalidParameterError("--baseline mean reads each neuron's mean from --store; give --store STORE")
        inputs_files = [args.corpus, args.store]
        check_out(args, inputs_files)
        _check_store(args)
        t0 = time.perf_counter()
        inputs, labels, source = _load_inputs(args)
        live = _load_live(args)
        site = live.site(args.site)
        if neurons is not None:
            neurons = live.check_neurons(site, neurons)
        _check_store(args, live, site)
        classes = _classes(live, args, inputs, labels)
        gold = _gold(live, labels)
        baseline = args.baseline
        if baseline == "mean":  # read once, so that the store is closed again before the result is written
            from ..attribution import ablation_values
            from ..store import ActivationStore

            with ActivationStore.open(args.store) as st:
                baseline = ablation_values(live, site, "mean", store=st)
        with json_output(args, inputs_files) as write_json:
            report = _run_ablation(args, live, site, entry, params, neurons, inputs, classes, gold, baseline)
            report["config"]["baseline"] = args.baseline
            report.update(model=args.model, site=site, source=source, n_examples=len(inputs),
                          target={"kind": args.target_kind, "spec": args.target}, baseline=args.baseline)
            name = args.name or f"ablate_{'greedy' if args.greedy else 'neurons'}_{site}"
            report["store"] = args.store
            report["result_path"] = _write_store(args, lambda st: _ablation_to_store(st, name, report))
            report["seconds"] = round(time.perf_counter() - t0, 2)
            write_json(report)
        emit(args, report, _describe_ablation(report))
        return 0

    return run


def _run_ablation(args, live, site, entry, params, neurons, inputs, classes, gold, baseline) -> dict:
    import numpy as np

    from ..attribution import ablation_effect
    from ..models.targets import Target

    target = Target(args.target_kind, tuple(classes))
    if args.greedy is not None:
        with _bar(args, 1, "search") as bar:
            res = entry(live, site, k=args.greedy, baseline=baseline, **params).attribute(
                inputs, target=target, candidates=neurons)
            bar.update(1)
        chosen = res["neurons"]
        report = {"mode": "greedy", "k": args.greedy, "neurons": [f"{site}:{j}" for j in chosen], "indices": chosen,
                  "curve": res["curve"].tolist(), "effects": res["effects"].tolist(), "config": res["config"]}
    else:
        method = entry(live, site, baseline=baseline, **params)
        width = live.width(site)
        chosen = list(range(width)) if neurons is None else neurons
        per, group = [], []
        with _bar(args, len(inputs), "sent") as bar:
            for c0 in range(0, len(inputs), args.chunk):
                c1 = min(c0 + args.chunk, len(inputs))
                t = Target(args.target_kind, tuple(classes[c0:c1]))
                per.append(method.attribute(inputs[c0:c1], target=t, neurons=chosen)["effects"])
                r = method.attribute(inputs[c0:c1], target=t, groups=[chosen])
                group.append(r["effects"][:, 0])
                bar.update(c1 - c0)
        per_neuron = np.concatenate(per).mean(axis=0)
        order = np.argsort(-np.abs(per_neuron), kind="stable")
        report = {"mode": "neurons", "neurons": [f"{site}:{j}" for j in chosen], "indices": chosen,
                  "per_neuron_effect": per_neuron.tolist(),
                  "top_neurons": [[f"{site}:{chosen[i]}", float(per_neuron[i])] for i in order[:args.top_k]],
                  "group_effect": float(np.concatenate(group).mean()), "group_effect_per_input":
                  np.concatenate(group).tolist(), "config": r["config"]}
    if gold is not None:
        report["dataset"] = ablation_effect(live, inputs, gold, site=site, neurons=chosen, baseline=baseline)
        report["dataset"].pop("config", None)
    return report


def _ablation_to_store(st, name: str, r: dict) -> str:
    import numpy as np

    arrays = {"indices": np.asarray(r["indices"], dtype=np.int64), "neuron_ids": np.array(r["neurons"], dtype=object)}
    if r["mode"] == "greedy":
        arrays.update(curve=np.asarray(r["curve"]), effects=np.asarray(r["effects"]))
    else:
        arrays.update(per_neuron_effect=np.asarray(r["per_neuron_effect"]),
                      group_effect_per_input=np.asarray(r["group_effect_per_input"]))
    cfg = dict(r["config"], target=r["target"], dataset=r.get("dataset"))
    return st.write_result(name, arrays, config=cfg, kind=f"ablation/{r['mode']}")


def _describe_ablation(r: dict) -> str:
    head = (f"ablation ({r['baseline']}) at {r['site']} of {r['model']}: {r['n_examples']} inputs, target "
            f"{r['target']['kind']} ({r['target']['spec']}), {r['seconds']} s")
    lines = [head]
    if r["mode"] == "greedy":
        lines.append("greedy: " + ", ".join(f"{n} ({e:+.4g})" for n, e in zip(r["neurons"], r["effects"])))
        lines.append("mean target: " + " -> ".join(f"{c:.4g}" for c in r["curve"]))
    else:
        lines.append(f"all {len(r['neurons'])} together: mean target change {-r['group_effect']:+.4g}")
        lines.append("single neurons (F - F ablated): " + ", ".join(f"{n} {v:+.3g}" for n, v in r["top_neurons"]))
    if "dataset" in r:
        b, a = r["dataset"]["before"], r["dataset"]["after"]
        lines.append(f"accuracy {100 * b['accuracy']:.2f} % -> {100 * a['accuracy']:.2f} %, loss {b['loss']:.4f} -> "
                     f"{a['loss']:.4f}")
    if r["result_path"]:
        lines.append(f"written {r['store']}:{r['result_path']}")
    return "\n".join(lines)
