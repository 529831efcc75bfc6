"""Task models to explain: fine-tune a sequence classifier on a base model, save it with a JSON card.

The result is a normal transformers directory (``save_pretrained`` of the model and its tokenizer) plus
``neuronlab_card.json`` recording what it was trained on: base model, data source, sizes, seed, epochs,
learning rate, which layers were trained, dev accuracy per epoch and wall time. Any directory written
here loads with :func:`neuronlab.models.live.load_live` (``head="auto"`` finds the classification head).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from ..errors import InvalidParameterError

__all__ = ["TrainConfig", "train_sequence_classifier", "CARD_NAME"]

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
    """

    epochs: int = 3
    lr: float = 5e-5
    batch_size: int = 32
    max_length: int = 128
    seed: int = 0
    train_layers: int | None = None
    weight_decay: float = 0.01

    def __post_init__(self):
        for name in ("epochs", "batch_size", "max_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"{name} must be a positive int, got {v!r}")
        if not self.lr > 0:
            raise InvalidParameterError(f"lr must be positive, got {self.lr!r}")


def _check_data(name: str, texts, labels, classes: int | None = None) -> tuple[list, list[int]]:
    texts, labels = list(texts), [int(v) for v in labels]
    if not texts:
        raise InvalidParameterError(f"{name}: no examples")
    if len(texts) != len(labels):
        raise InvalidParameterError(f"{name}: {len(texts)} texts but {len(labels)} labels")
    if classes is not None and (min(labels) < 0 or max(labels) >= classes):
        raise InvalidParameterError(f"{name}: labels must lie in 0..{classes - 1}")
    return texts, labels


def _batches(tokenizer, texts, labels, order, batch_size: int, max_length: int):
    import torch

    words = isinstance(texts[0], (list, tuple))
    for b0 in range(0, len(order), batch_size):
        idx = order[b0: b0 + batch_size]
        enc = tokenizer([texts[i] for i in idx], is_split_into_words=words, padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        yield enc, torch.as_tensor([labels[i] for i in idx])


def _accuracy(model, tokenizer, texts, labels, cfg: TrainConfig, device) -> float:
    import torch

    model.eval()
    right = 0
    with torch.no_grad():
        for enc, y in _batches(tokenizer, texts, labels, list(range(len(texts))), 2 * cfg.batch_size, cfg.max_length):
            logits = model(**{k: v.to(device) for k, v in enc.items()}).logits
            right += int((logits.argmax(-1).cpu() == y).sum())
    return right / len(texts)


def train_sequence_classifier(base: str, train_texts: Sequence, train_labels: Sequence[int], out_dir: str | Path, *,
                              label_names: Sequence[str], dev_texts: Sequence | None = None,
                              dev_labels: Sequence[int] | None = None, config: TrainConfig = TrainConfig(),
                              data: str = "", device: str = "cpu", progress: bool = False) -> dict:
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
        Free text recorded in the card (data source and split).
    device : str
    progress : bool
        Print one line per epoch.

    Returns
    -------
    dict
        The card (also written to ``out_dir/neuronlab_card.json``).
    """
    import torch
    import transformers

    from .adapters import get_adapter
    from .loading import _quiet_transformers, check_device, resolve_model_path

    check_device(device)
    _quiet_transformers()
    n_cls = len(label_names)
    if n_cls < 2:
        raise InvalidParameterError("label_names: a classifier needs at least 2 classes")
    texts, labels = _check_data("train", train_texts, train_labels, n_cls)
    dev = None
    if dev_texts is not None:
        dev = _check_data("dev", dev_texts, dev_labels or [], n_cls)
    path, _ = resolve_model_path(base)
    torch.manual_seed(config.seed)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=n_cls, id2label=dict(enumerate(label_names)),
        label2id={n: i for i, n in enumerate(label_names)}).to(device)
    adapter = get_adapter(model.config.model_type)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, **adapter.tokenizer_kwargs)
    if config.train_layers is not None:
        _freeze_below(model, adapter, config.train_layers)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(len(texts) / config.batch_size)
    warm = max(1, int(0.06 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    gen = torch.Generator().manual_seed(config.seed)
    history = []
    t0 = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(texts), generator=gen).tolist()
        total = 0.0
        for enc, y in _batches(tokenizer, texts, labels, order, config.batch_size, config.max_length):
            out = model(**{k: v.to(device) for k, v in enc.items()}, labels=y.to(device))
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            sched.step()
            total += float(out.loss.detach()) * len(y)
        rec = {"epoch": epoch + 1, "train_loss": total / len(texts)}
        if dev is not None:
            rec["dev_accuracy"] = _accuracy(model, tokenizer, dev[0], dev[1], config, device)
        history.append(rec)
        if progress:
            print(json.dumps(rec), flush=True)
    model.eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    card = {"base": base, "base_path": path, "task": "sequence-classification", "labels": list(label_names),
            "data": data, "n_train": len(texts), "n_dev": 0 if dev is None else len(dev[0]),
            "config": asdict(config), "history": history,
            "dev_accuracy": history[-1].get("dev_accuracy") if history else None,
            "train_seconds": round(time.perf_counter() - t0, 1), "device": device,
            "transformers_version": transformers.__version__, "torch_version": torch.__version__}
    (out_dir / CARD_NAME).write_text(json.dumps(card, indent=1))
    return card


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
