"""Token-classification task models: fine-tune a tagger (UPOS or any word-level concept) and save it with a card.

Labels sit on the *first subword* of every word (the convention of Devlin et al. 2019, section 5.3, for
NER); the other subwords and the special tokens get the ignore index -100, so the loss and the accuracy
count each word once. The saved directory is a normal ``AutoModelForTokenClassification`` checkpoint;
:func:`neuronlab.models.live.load_live` finds its head, and a :class:`~neuronlab.models.targets.Target`
with ``position=word`` explains one word's logit, the same first-subword convention as the store's rows.

Data come from the embedded corpus, a corpus file (CoNLL-U or any format of
:func:`~neuronlab.corpus.read_corpus`), ``ewt`` (UD English-EWT in the shared data folder), or a
word-level activation store (its stored tokens and a row-level concept label).
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from ..errors import InvalidParameterError, choices
from .training import TrainConfig, _label_order, fit, load_for_training, save_trained, shared_data_dir

__all__ = ["TokenData", "token_data", "train_token_classifier", "IGNORE"]

#: label of the subwords after the first, the special tokens and the words without a value
IGNORE = -100

EWT_FILES = ("ud-english-ewt/en_ewt-ud-train.conllu", "ud-english-ewt/en_ewt-ud-dev.conllu")


@dataclass
class TokenData:
    """Token-classification data: sentences as word lists, one class index per word (-100: no value)."""

    train_words: list
    train_tags: list
    dev_words: list
    dev_tags: list
    label_names: list
    concept: str
    data: str
    split: str


def _corpus_words(source: str, concept: str):
    """``(sentences, labels per word, description)`` of a source; labels are strings or None."""
    from ..corpus import load_embedded_corpus, read_corpus

    if source == "embedded":
        corpus, data = load_embedded_corpus(), "embedded corpus"
    elif str(source).endswith(".h5"):
        return _store_words(Path(source), concept)
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidParameterError(f"token training data {source!r} is not embedded, ewt, a corpus file "
                                        "(.conllu, .in/.label, .tsv) or an activation store (.h5)")
        corpus, data = read_corpus(path), str(path)
    if concept not in corpus.word_labels:
        level = " (it is a sentence-level concept: use --task sequence)" if concept in corpus.sentence_labels else ""
        raise InvalidParameterError(f"{data} has no word-level concept {concept!r}{level}; it has "
                                    f"{choices(corpus.word_labels) or '(none)'}")
    return corpus.sentences, corpus.word_labels[concept], data


def _store_words(path: Path, concept: str):
    """Sentences and one concept's labels from a word-granularity store (its row tokens and row label)."""
    from ..store import ActivationStore

    if not path.is_file():
        raise InvalidParameterError(f"store {str(path)!r} does not exist")
    with ActivationStore.open(path) as store:
        if store.granularity != "word":
            raise InvalidParameterError(f"store {str(path)!r} has {store.granularity} rows; token training needs a "
                                        "word-level store (extract with --granularity word)")
        label = store.label(concept)
        if label.level != "row":
            raise InvalidParameterError(f"concept {concept!r} of {str(path)!r} is sentence-level; use --task sequence")
        tokens, offs, names = store.tokens(), store.offsets, label.names()
        n = store.n_done
    sents = [tokens[offs[i]: offs[i + 1]] for i in range(n)]
    labels = [list(names[offs[i]: offs[i + 1]]) for i in range(n)]
    keep = [i for i, s in enumerate(sents) if len(s)]
    return [sents[i] for i in keep], [labels[i] for i in keep], f"store {path}"


def token_data(source: str = "embedded", *, concept: str = "upos", dev: str | Path | None = None,
               dev_fraction: float = 0.1, max_examples: int | None = None, seed: int = 0) -> TokenData:
    """Train/dev data for :func:`train_token_classifier`.

    Parameters
    ----------
    source : str
        ``embedded`` (the embedded corpus), ``ewt`` (``shared_data_dir()/ud-english-ewt`` train and dev
        files), a corpus file (CoNLL-U: UPOS, XPOS, deprel and the morphological features are concepts),
        or a word-level activation store ``.h5`` (a row-level label is the concept).
    concept : str, default "upos"
        The word-level concept to tag.
    dev : path, optional
        A corpus file for dev (default for ``ewt``: its dev file; otherwise ``dev_fraction`` of the
        sentences held out at random with ``seed``).
    dev_fraction : float, default 0.1
    max_examples : int, optional
        Train on at most this many sentences (a random subset drawn with ``seed``); dev is kept whole.
    seed : int

    Returns
    -------
    TokenData
        Class ``i`` is the ``i``-th label in sorted order over train and dev; words without a value get
        :data:`IGNORE`.

    Raises
    ------
    InvalidParameterError
        Unknown source or concept (the message lists the concepts there are), or no word carries a label.
    """
    if max_examples is not None and (isinstance(max_examples, bool) or max_examples < 1):
        raise InvalidParameterError(f"max_examples must be a positive int, got {max_examples!r}")
    if not 0 < dev_fraction < 1:
        raise InvalidParameterError(f"dev_fraction must lie strictly between 0 and 1, got {dev_fraction!r}")
    if source == "ewt":
        root = shared_data_dir()
        if not (root / EWT_FILES[0]).is_file():
            raise InvalidParameterError(f"no {EWT_FILES[0]} under {str(root)!r} (set NEURONLAB_SHARED_DATA to the "
                                        "folder holding ud-english-ewt/)")
        source, dev = str(root / EWT_FILES[0]), dev if dev is not None else root / EWT_FILES[1]
    words, labels, data = _corpus_words(source, concept)
    rng = random.Random(seed)
    if dev is None:
        order = list(range(len(words)))
        rng.shuffle(order)
        n_dev = max(1, round(dev_fraction * len(words)))
        dv, tr = order[:n_dev], sorted(order[n_dev:])
        dev_w, dev_l = [words[i] for i in sorted(dv)], [labels[i] for i in sorted(dv)]
        words, labels = [words[i] for i in tr], [labels[i] for i in tr]
        split = f"random {1 - dev_fraction:g}/{dev_fraction:g} split of the sentences (seed {seed})"
    else:
        dev_w, dev_l, dev_data = _corpus_words(str(dev), concept)
        split = f"train: {data}; dev: {dev_data}"
    if max_examples is not None and max_examples < len(words):
        sub = sorted(rng.sample(range(len(words)), max_examples))
        words, labels = [words[i] for i in sub], [labels[i] for i in sub]
        split += f"; {max_examples} training sentences drawn at random (seed {seed})"
    seen = {v for sent in labels for v in sent if v is not None}
    if not seen:
        raise InvalidParameterError(f"concept {concept!r}: no training word of {data} carries a label")
    names = _label_order(seen | {v for sent in dev_l for v in sent if v is not None})
    index = {n: i for i, n in enumerate(names)}

    def tags(sents):
        return [[IGNORE if v is None else index[v] for v in sent] for sent in sents]

    return TokenData([list(s) for s in words], tags(labels), [list(s) for s in dev_w], tags(dev_l), names, concept,
                     f"{data}:{concept}", split)


def _check(name: str, words, tags, n_cls: int) -> tuple[list, list]:
    words, tags = [list(map(str, s)) for s in words], [[int(v) for v in t] for t in tags]
    if not words:
        raise InvalidParameterError(f"{name}: no sentences")
    if len(words) != len(tags):
        raise InvalidParameterError(f"{name}: {len(words)} sentences but {len(tags)} tag sequences")
    for i, (s, t) in enumerate(zip(words, tags)):
        if not s:
            raise InvalidParameterError(f"{name}: sentence {i} has no words")
        if len(s) != len(t):
            raise InvalidParameterError(f"{name}: sentence {i} has {len(s)} words but {len(t)} tags")
        if any(v != IGNORE and not 0 <= v < n_cls for v in t):
            raise InvalidParameterError(f"{name}: tags must lie in 0..{n_cls - 1} (or {IGNORE} for no label)")
    if all(v == IGNORE for t in tags for v in t):
        raise InvalidParameterError(f"{name}: no word carries a label")
    return words, tags


def first_subword_labels(enc, tags: Sequence[Sequence[int]]):
    """Per-token labels of a batch encoding: a word's tag on its first subword, :data:`IGNORE` elsewhere."""
    import torch

    out = torch.full(enc["input_ids"].shape, IGNORE, dtype=torch.long)
    for b, sent in enumerate(tags):
        prev = None
        for t, w in enumerate(enc.word_ids(b)):
            if w is not None and w != prev:
                out[b, t] = sent[w]
            prev = w
    return out


def _token_batches(tokenizer, words, tags, order, max_length: int):
    for idx in order:
        enc = tokenizer([words[i] for i in idx], is_split_into_words=True, padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        yield enc, first_subword_labels(enc, [tags[i] for i in idx])


def _token_accuracy(model, tokenizer, words, tags, cfg: TrainConfig, device) -> float:
    """Accuracy over the labelled words (first subwords) that survive truncation."""
    import torch

    model.eval()
    right = total = 0
    order = [list(range(b, min(b + 2 * cfg.batch_size, len(words)))) for b in range(0, len(words), 2 * cfg.batch_size)]
    with torch.no_grad():
        for enc, y in _token_batches(tokenizer, words, tags, order, cfg.max_length):
            pred = model(**{k: v.to(device) for k, v in enc.items()}).logits.argmax(-1).cpu()
            keep = y != IGNORE
            right += int((pred[keep] == y[keep]).sum())
            total += int(keep.sum())
    return right / max(1, total)


def train_token_classifier(base: str, train_words: Sequence[Sequence[str]], train_tags: Sequence[Sequence[int]],
                           out_dir: str | Path, *, label_names: Sequence[str], concept: str = "",
                           dev_words: Sequence | None = None, dev_tags: Sequence | None = None,
                           config: TrainConfig = TrainConfig(), data: str = "", split: str = "", device: str = "cpu",
                           progress: bool = False) -> dict:
    """Fine-tune ``base`` as a word tagger (first-subword labelling) and save it to ``out_dir``.

    Parameters
    ----------
    base : str
        Alias, directory or hub id of the encoder.
    train_words : sequence of list of str
        Sentences as words.
    train_tags : sequence of list of int
        One class index per word, :data:`IGNORE` (-100) for words without a label.
    out_dir : path
    label_names : sequence of str
        Class names (``id2label``); their number sets the head's size.
    concept : str
        Recorded in the card.
    dev_words, dev_tags : optional
        Word accuracy after each epoch (in the card).
    config : TrainConfig
    data, split : str
        Free text recorded in the card.
    device : str
    progress : bool

    Returns
    -------
    dict
        The card (also written to ``out_dir/neuronlab_card.json``).

    Examples
    --------
    >>> from neuronlab.models.training_tokens import token_data, train_token_classifier  # doctest: +SKIP
    >>> d = token_data("embedded", concept="upos", max_examples=500)  # doctest: +SKIP
    >>> card = train_token_classifier("minilm", d.train_words, d.train_tags, "/tmp/upos",
    ...                               label_names=d.label_names, dev_words=d.dev_words, dev_tags=d.dev_tags)  # doctest: +SKIP
    """
    n_cls = len(label_names)
    if n_cls < 2:
        raise InvalidParameterError("label_names: a tagger needs at least 2 classes")
    words, tags = _check("train", train_words, train_tags, n_cls)
    dev = None if dev_words is None else _check("dev", dev_words, dev_tags or [], n_cls)
    model, tokenizer, path = load_for_training(base, "AutoModelForTokenClassification", label_names, config, device)
    if not getattr(tokenizer, "is_fast", False):
        raise InvalidParameterError(f"{base}: token training needs a fast tokenizer (word ids of the subwords)")
    evaluate = None if dev is None else (lambda: _token_accuracy(model, tokenizer, dev[0], dev[1], config, device))
    history, seconds, done, planned = fit(model, words, lambda order: _token_batches(tokenizer, words, tags, order,
                                                                      config.max_length),
                           config, evaluate=evaluate, device=device, progress=progress)
    card = {"base": base, "base_path": path, "task": "token-classification", "concept": concept,
            "labelling": "first subword of each word; other subwords and special tokens ignored",
            "labels": list(label_names), "data": data, "split": split, "seed": config.seed, "epochs": config.epochs,
            "n_train": len(words), "n_dev": 0 if dev is None else len(dev[0]),
            "n_train_words": sum(v != IGNORE for t in tags for v in t),
            "n_dev_words": 0 if dev is None else sum(v != IGNORE for t in dev[1] for v in t),
            "config": asdict(config), "history": history,
            "dev_accuracy": history[-1].get("dev_accuracy") if history else None,
            "train_seconds": round(seconds, 1), "steps_done": done, "steps_planned": planned,
            "stopped_early": done < planned, "device": device}
    return save_trained(model, tokenizer, out_dir, card, progress=progress)
