"""Task models to explain: fine-tune a sequence classifier on a base model, save it with a JSON card.

The result is a normal transformers directory (``save_pretrained`` of the model and its tokenizer) plus
``neuronlab_card.json`` recording what it was trained on: base model, data source, sizes, seed, epochs,
learning rate, which layers were trained, dev accuracy per epoch and wall time. Any directory written
here loads with :func:`neuronlab.models.live.load_live` (``head="auto"`` finds the classification head).
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import InvalidParameterError

__all__ = ["TrainConfig", "train_sequence_classifier", "CARD_NAME", "TrainData", "sentence_data", "shared_data_dir",
           "batch_order", "n_batches", "fit", "load_for_training", "save_trained"]

log = logging.getLogger("neuronlab")

CARD_NAME = "neuronlab_card.json"


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of fine-tuning.

    Parameters
    ----------
    epochs : int
    lr : float
        Peak learning rate of AdamW (linear warm-up over the first 6% of steps, then linear decay).
    batch_size : int
    max_length : int
        Longer inputs are truncated.
    seed : int
        Head initialisation and example order.
    train_layers : int, optional
        Fine-tune only the top ``train_layers`` blocks (plus pooler and head); None: the whole encoder.
    weight_decay : float
    bucket : bool, default False
        Length-bucketed batches: the shuffled examples are cut into pools of 50 batches, each pool is
        sorted by length and cut into batches, and the batches are shuffled. With dynamic padding (every
        batch is padded to its own longest example) this saves most of the padding on short-phrase data
        such as SST-2's training rows. Off by default so that a configuration trains the same model it
        trained before this option existed (same example order).
    warmup : float, default 0.06
        Fraction of the steps with a linear learning-rate warm-up (then linear decay to zero).
    freeze_word_embeddings : bool, default False
        Keep the word-embedding matrix fixed (about half of MiniLM's parameters: the optimizer step and the
        embedding gradient get much cheaper on a CPU; position embeddings and the embedding LayerNorm train).
    max_minutes : float, optional
        A time budget: training stops after the first step that ends past it (the learning-rate schedule
        stays the one planned for all epochs), then dev is scored and the model saved; the card records
        ``steps_done`` of ``steps_planned`` and ``stopped_early``.
    """

    epochs: int = 3
    lr: float = 5e-5
    batch_size: int = 32
    max_length: int = 128
    seed: int = 0
    train_layers: int | None = None
    weight_decay: float = 0.01
    bucket: bool = False
    warmup: float = 0.06
    freeze_word_embeddings: bool = False
    max_minutes: float | None = None

    def __post_init__(self):
        for name in ("epochs", "batch_size", "max_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"{name} must be a positive int, got {v!r}")
        if not self.lr > 0:
            raise InvalidParameterError(f"lr must be positive, got {self.lr!r}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise InvalidParameterError(f"max_minutes must be positive, got {self.max_minutes!r}")
        if not 0 <= self.warmup < 1:
            raise InvalidParameterError(f"warmup must lie in [0, 1), got {self.warmup!r}")


def _check_data(name: str, texts, labels, classes: int | None = None) -> tuple[list, list[int]]:
    texts, labels = list(texts), [int(v) for v in labels]
    if not texts:
        raise InvalidParameterError(f"{name}: no examples")
    if len(texts) != len(labels):
        raise InvalidParameterError(f"{name}: {len(texts)} texts but {len(labels)} labels")
    if classes is not None and (min(labels) < 0 or max(labels) >= classes):
        raise InvalidParameterError(f"{name}: labels must lie in 0..{classes - 1}")
    return texts, labels


def _n_words(text) -> int:
    return len(text) if isinstance(text, (list, tuple)) else len(str(text).split())


def batch_order(texts, batch_size: int, gen, bucket: bool = True, pool: int = 50) -> list[list[int]]:
    """Example indices grouped into batches for one epoch.

    Shuffled with the torch generator ``gen``; with ``bucket`` the shuffled indices are cut into pools of
    ``pool`` batches, each pool sorted by length (words) and cut into batches, and the batches shuffled, so
    that a batch holds examples of similar length (little padding) while the epoch stays random.
    """
    import torch

    order = torch.randperm(len(texts), generator=gen).tolist()
    if not bucket:
        return [order[b: b + batch_size] for b in range(0, len(order), batch_size)]
    batches = []
    step = pool * batch_size
    for p0 in range(0, len(order), step):
        chunk = sorted(order[p0: p0 + step], key=lambda i: _n_words(texts[i]))
        batches += [chunk[b: b + batch_size] for b in range(0, len(chunk), batch_size)]
    perm = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in perm]


def _batches(tokenizer, texts, labels, order, batch_size: int, max_length: int):
    """Yield ``(encoding, labels)``; ``order`` is a flat index list (cut every ``batch_size``) or a list of batches."""
    import torch

    words = isinstance(texts[0], (list, tuple))
    groups = order if order and isinstance(order[0], list) else [
        order[b: b + batch_size] for b in range(0, len(order), batch_size)]
    for idx in groups:
        enc = tokenizer([texts[i] for i in idx], is_split_into_words=words, padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        yield enc, torch.as_tensor([labels[i] for i in idx])


def n_batches(n: int, batch_size: int, bucket: bool = True, pool: int = 50) -> int:
    """Number of batches :func:`batch_order` makes of ``n`` examples (the steps of one epoch)."""
    if not bucket:
        return math.ceil(n / batch_size)
    step = pool * batch_size
    return (n // step) * pool + math.ceil((n % step) / batch_size)


def _accuracy(model, tokenizer, texts, labels, cfg: TrainConfig, device) -> float:
    import torch

    model.eval()
    right = 0
    with torch.no_grad():
        for enc, y in _batches(tokenizer, texts, labels, list(range(len(texts))), 2 * cfg.batch_size, cfg.max_length):
            logits = model(**{k: v.to(device) for k, v in enc.items()}).logits
            right += int((logits.argmax(-1).cpu() == y).sum())
    return right / len(texts)


def load_for_training(base: str, auto_class: str, label_names: Sequence[str], config: "TrainConfig",
                      device: str = "cpu"):
    """``(model, tokenizer, path)``: ``base`` with a fresh head of ``len(label_names)`` classes, frozen as configured.

    ``auto_class`` names the transformers auto class (``AutoModelForSequenceClassification``,
    ``AutoModelForTokenClassification``); the head is initialised from ``config.seed``.
    """
    import torch
    import transformers

    from .adapters import get_adapter
    from .loading import _quiet_transformers, check_device, resolve_model_path

    check_device(device)
    _quiet_transformers()
    path, _ = resolve_model_path(base)
    torch.manual_seed(config.seed)
    model = getattr(transformers, auto_class).from_pretrained(
        path, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
        label2id={n: i for i, n in enumerate(label_names)}).to(device)
    adapter = get_adapter(model.config.model_type)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, **adapter.tokenizer_kwargs)
    if config.train_layers is not None:
        _freeze_below(model, adapter, config.train_layers)
    if config.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    return model, tokenizer, path


def fit(model, texts: Sequence, epoch_batches: Callable, config: "TrainConfig", *, evaluate: Callable | None = None,
        device: str = "cpu", progress: bool = False) -> tuple[list[dict], float]:
    """The training loop shared by the task heads: AdamW, linear warm-up and decay, one record per epoch.

    Parameters
    ----------
    model : transformers model with a task head (returns ``.loss`` when given ``labels``)
    texts : sequence
        The training inputs (their lengths drive the length buckets).
    epoch_batches : callable
        ``epoch_batches(batches) -> iterable of (encoding, labels)`` for a list of index batches.
    config : TrainConfig
    evaluate : callable, optional
        ``evaluate() -> float``: the dev accuracy, recorded after each epoch.

    Returns
    -------
    (history, seconds, steps_done, steps_planned)
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay,
                            fused=str(device).startswith(("cpu", "cuda")))
    steps = config.epochs * n_batches(len(texts), config.batch_size, config.bucket)
    warm = max(1, int(config.warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    gen = torch.Generator().manual_seed(config.seed)
    history = []
    t0 = time.perf_counter()
    bar = _bar(progress, steps)
    budget = math.inf if config.max_minutes is None else 60.0 * config.max_minutes
    done, stopped = 0, False
    for epoch in range(config.epochs):
        model.train()
        order = batch_order(texts, config.batch_size, gen, config.bucket)
        total, seen = 0.0, 0
        for enc, y in epoch_batches(order):
            if time.perf_counter() - t0 > budget:
                log.info("time budget of %g minutes spent after %d of %d steps", config.max_minutes, done, steps)
                stopped = True
                break
            out = model(**{k: v.to(device) for k, v in enc.items()}, labels=y.to(device))
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            sched.step()
            total += float(out.loss.detach()) * len(y)
            seen += len(y)
            done += 1
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{float(out.loss.detach()):.3f}", refresh=False)
        rec = {"epoch": epoch + 1, "train_loss": total / seen if seen else None}
        if evaluate is not None:
            rec["dev_accuracy"] = evaluate()
        history.append(rec)
        if progress:
            log.info("epoch %d: train loss %s%s", rec["epoch"], "n/a" if not seen else f"{rec['train_loss']:.4f}",
                     f", dev accuracy {rec['dev_accuracy']:.4f}" if "dev_accuracy" in rec else "")
        if stopped:
            break
    bar.close()
    model.eval()
    return history, time.perf_counter() - t0, done, steps


def save_trained(model, tokenizer, out_dir: str | Path, card: dict, *, progress: bool = False) -> dict:
    """Write the model, its tokenizer and the card (with library versions added) to ``out_dir``."""
    import torch
    import transformers

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    hf_log = transformers.utils.logging
    bars = hf_log.is_progress_bar_enabled()
    if not progress:  # transformers' own "Writing model shards" bar
        hf_log.disable_progress_bar()
    try:
        model.save_pretrained(str(out_dir))
        tokenizer.save_pretrained(str(out_dir))
    finally:
        if bars:
            hf_log.enable_progress_bar()
    card = dict(card, transformers_version=transformers.__version__, torch_version=torch.__version__)
    (out_dir / CARD_NAME).write_text(json.dumps(card, indent=1))
    return card


def train_sequence_classifier(base: str, train_texts: Sequence, train_labels: Sequence[int], out_dir: str | Path, *,
                              label_names: Sequence[str], dev_texts: Sequence | None = None,
                              dev_labels: Sequence[int] | None = None, config: TrainConfig = TrainConfig(),
                              data: str = "", split: str = "", device: str = "cpu", progress: bool = False) -> dict:
    """Fine-tune ``base`` (alias, directory or hub id) as a sentence classifier and save it to ``out_dir``.

    Parameters
    ----------
    base : str
    train_texts : sequence of str or of list of str (pre-split words)
    train_labels : sequence of int
    out_dir : path
    label_names : sequence of str
        Class names (``id2label``); their number sets the head's size.
    dev_texts, dev_labels : optional
        Scored after each epoch (accuracy in the card).
    config : TrainConfig
    data : str
        Free text recorded in the card (the data source).
    split : str
        Free text recorded in the card (how train and dev were obtained).
    device : str
    progress : bool
        A progress bar over the training steps (tqdm, on stderr) and one log line per epoch.

    Returns
    -------
    dict
        The card (also written to ``out_dir/neuronlab_card.json``).
    """
    n_cls = len(label_names)
    if n_cls < 2:
        raise InvalidParameterError("label_names: a classifier needs at least 2 classes")
    texts, labels = _check_data("train", train_texts, train_labels, n_cls)
    dev = None
    if dev_texts is not None:
        dev = _check_data("dev", dev_texts, dev_labels or [], n_cls)
    model, tokenizer, path = load_for_training(base, "AutoModelForSequenceClassification", label_names, config,
                                               device)
    evaluate = None if dev is None else (lambda: _accuracy(model, tokenizer, dev[0], dev[1], config, device))
    history, seconds, done, planned = fit(
        model, texts, lambda order: _batches(tokenizer, texts, labels, order, config.batch_size, config.max_length),
        config, evaluate=evaluate, device=device, progress=progress)
    card = {"base": base, "base_path": path, "task": "sequence-classification", "labels": list(label_names),
            "data": data, "split": split, "seed": config.seed, "epochs": config.epochs, "n_train": len(texts),
            "n_dev": 0 if dev is None else len(dev[0]), "config": asdict(config), "history": history,
            "dev_accuracy": history[-1].get("dev_accuracy") if history else None,
            "train_seconds": round(seconds, 1), "steps_done": done, "steps_planned": planned,
            "stopped_early": done < planned, "device": device}
    return save_trained(model, tokenizer, out_dir, card, progress=progress)


def _freeze_below(model, adapter, top: int) -> None:
    """Freeze the embeddings and every block except the top ``top`` ones (head and pooler stay trainable)."""
    from .capture import get_module

    base = model.base_model
    layers = get_module(base, adapter.stacks[None].layers)
    if not 0 <= top <= len(layers):
        raise InvalidParameterError(f"train_layers must lie in 0..{len(layers)}, got {top}")
    for p in base.parameters():
        p.requires_grad_(False)
    for block in list(layers)[len(layers) - top:]:
        for p in block.parameters():
            p.requires_grad_(True)
    pooler = getattr(base, "pooler", None)
    if pooler is not None:
        for p in pooler.parameters():
            p.requires_grad_(True)


def _bar(enabled: bool, total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, unit="step", desc="train", dynamic_ncols=True, leave=False)


# ------------------------------------------------------------------ data
@dataclass
class TrainData:
    """Sentence-classification data: train and dev texts (word lists) with class indices, and their provenance."""

    train_texts: list
    train_labels: list
    dev_texts: list
    dev_labels: list
    label_names: list
    data: str
    split: str


def shared_data_dir() -> Path:
    """``$NEURONLAB_SHARED_DATA``, else ``../shared/data`` beside the source checkout."""
    return Path(os.environ.get("NEURONLAB_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def _label_order(values) -> list[str]:
    vals = sorted(set(values))
    if all(v.lstrip("-").isdigit() for v in vals):
        vals.sort(key=int)
    return vals


def sentence_data(source: str = "embedded", *, concept: str = "polarity", dev: str | Path | None = None,
                  dev_fraction: float = 0.1, max_examples: int | None = None, seed: int = 0) -> TrainData:
    """Train/dev data for :func:`train_sequence_classifier` from the embedded corpus, a TSV file, or SST-2.

    Parameters
    ----------
    source : str
        ``embedded``: the embedded corpus (:func:`~neuronlab.corpus.load_embedded_corpus`) with the
        sentence-level ``concept`` as the label; ``sst2``: ``train.tsv`` / ``dev.tsv`` of
        ``shared_data_dir()/sst2`` (GLUE's SST-2); a directory holding ``train.tsv`` (and ``dev.tsv``);
        or a TSV file ``label<TAB>sentence`` (optional header, see :func:`~neuronlab.corpus.read_tsv`).
    concept : str, default "polarity"
        Sentence-level concept of the embedded corpus.
    dev : path, optional
        A TSV dev file. Default: the directory's ``dev.tsv``, else ``dev_fraction`` of the sentences held
        out at random (``seed``).
    dev_fraction : float, default 0.1
    max_examples : int, optional
        Train on at most this many examples (a random subset drawn with ``seed``); dev is kept whole.
    seed : int

    Returns
    -------
    TrainData
        Sentences as word lists; class ``i`` is the ``i``-th label in sorted order (numeric labels in
        numeric order, so SST-2's ``1`` is class 1).
    """
    import numpy as np

    from ..corpus import load_embedded_corpus
    from ..corpus.readers import read_tsv

    if max_examples is not None and (isinstance(max_examples, bool) or max_examples < 1):
        raise InvalidParameterError(f"max_examples must be a positive int, got {max_examples!r}")
    if not 0 < dev_fraction < 1:
        raise InvalidParameterError(f"dev_fraction must lie strictly between 0 and 1, got {dev_fraction!r}")
    dev_corpus = None
    if source == "embedded":
        corpus = load_embedded_corpus()
        if concept not in corpus.sentence_labels:
            raise InvalidParameterError(f"the embedded corpus has no sentence-level concept {concept!r}; it has "
                                        f"{', '.join(sorted(corpus.sentence_labels))}")
        texts, labels, data = corpus.sentences, corpus.sentence_labels[concept], f"embedded corpus:{concept}"
    else:
        path = shared_data_dir() / "sst2" if source == "sst2" else Path(source)
        if source == "sst2" and not path.is_dir():
            raise InvalidParameterError(f"no sst2/ in {str(path.parent)!r}: set NEURONLAB_SHARED_DATA to the folder "
                                        "holding sst2/ (train.tsv, dev.tsv)")
        if path.is_dir():
            if not (path / "train.tsv").is_file():
                hint = " (set NEURONLAB_SHARED_DATA to the folder holding sst2/)" if source == "sst2" else ""
                raise InvalidParameterError(f"no train.tsv in {str(path)!r}{hint}")
            if dev is None and (path / "dev.tsv").is_file():
                dev = path / "dev.tsv"
            path = path / "train.tsv"
        elif not path.is_file():
            raise InvalidParameterError(f"training data {source!r} is not embedded, sst2, a TSV file or a directory "
                                        "with train.tsv")
        corpus = read_tsv(path)
        texts, labels = corpus.sentences, corpus.sentence_labels["label"]
        data = ("SST-2 " if source == "sst2" else "") + str(path)
        if dev is not None:
            dev_corpus = read_tsv(dev)
    keep = [i for i, v in enumerate(labels) if v is not None]
    texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    rng = np.random.default_rng(seed)
    if dev_corpus is None:
        order = rng.permutation(len(texts))
        n_dev = max(1, round(dev_fraction * len(texts)))
        dv, tr = order[:n_dev], order[n_dev:]
        dev_t, dev_l = [texts[i] for i in dv], [labels[i] for i in dv]
        texts, labels = [texts[i] for i in tr], [labels[i] for i in tr]
        split = f"random {1 - dev_fraction:g}/{dev_fraction:g} split of the sentences (seed {seed})"
    else:
        dev_t = dev_corpus.sentences
        dev_l = dev_corpus.sentence_labels["label"]
        dev_t, dev_l = [t for t, v in zip(dev_t, dev_l) if v is not None], [v for v in dev_l if v is not None]
        split = f"train: {data}; dev: {dev}"
    if max_examples is not None and max_examples < len(texts):
        sub = np.sort(rng.permutation(len(texts))[:max_examples])
        texts, labels = [texts[i] for i in sub], [labels[i] for i in sub]
        split += f"; {max_examples} training examples drawn at random (seed {seed})"
    names = _label_order(labels)
    unseen = sorted(set(dev_l) - set(names))
    if unseen:
        raise InvalidParameterError(f"dev labels {unseen} do not occur in the training data ({', '.join(names)})")
    index = {n: i for i, n in enumerate(names)}
    return TrainData(texts, [index[v] for v in labels], dev_t, [index[v] for v in dev_l], names, data, split)
