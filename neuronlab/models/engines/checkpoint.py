"""Read a model directory (config.json, weights, tokenizer.json) without importing transformers."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping

from ...errors import UnknownModelError

__all__ = ["read_config", "check_config", "check_tensor_widths", "read_tensors", "has_native_files",
           "tensor_fingerprint", "WIDTH_KEYS"]

#: config keys that hold a model's width, by family (BERT/RoBERTa/Llama/NeoX, GPT-2, T5/BART, DistilBERT)
WIDTH_KEYS = ("hidden_size", "n_embd", "d_model", "dim")
_HEAD_KEYS = ("num_attention_heads", "n_head", "n_heads")
# input embedding matrices (vocabulary x width) of the families; the first one present is checked
_EMBEDDING_SUFFIXES = ("word_embeddings.weight", "wte.weight", "embed_tokens.weight", "embed_in.weight",
                       "shared.weight")

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def read_config(directory: str | Path) -> dict:
    """``config.json`` as a dict.

    Raises
    ------
    UnknownModelError
        If the file is not valid JSON or not an object with a ``model_type``.
    """
    path = Path(directory) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UnknownModelError(f"{str(path)!r} is not valid JSON ({e}); is the model directory complete?") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise UnknownModelError(f"{str(path)!r} has no model_type: not a transformers model config")
    check_config(config, path)
    return config


def _width_key(config: Mapping) -> str | None:
    return next((k for k in WIDTH_KEYS if k in config), None)


def check_config(config: Mapping, path: str | Path = "config.json") -> None:
    """Check the width entries of a model config before any weights are read.

    The width (``hidden_size``, or ``n_embd``/``d_model``/``dim`` in the families that name it so) must be
    given, a positive integer, and (where heads split it evenly) a multiple of the number of heads.

    Raises
    ------
    UnknownModelError
        Naming the file, the key and the value received.
    """
    key = _width_key(config)
    if key is None:
        raise UnknownModelError(f"{str(path)!r} has no hidden_size (the model's width; or one of "
                                f"{', '.join(WIDTH_KEYS[1:])}): the config is incomplete; restore the model's "
                                "config.json")
    width = config[key]
    if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
        raise UnknownModelError(f"{str(path)!r}: {key} must be a positive integer, got {width!r}")
    heads_key = next((k for k in _HEAD_KEYS if k in config), None)
    if heads_key is not None and not any(k in config for k in ("head_dim", "d_kv", "kv_channels")):
        heads = config[heads_key]
        if isinstance(heads, int) and heads > 0 and width % heads:
            raise UnknownModelError(f"{str(path)!r}: {key}={width} is not a multiple of {heads_key}={heads}; "
                                    "the config does not describe a valid model")


def check_tensor_widths(config: Mapping, tensors: Mapping, path: str | Path = "config.json") -> None:
    """Check that the config's width matches the width of the checkpoint's input embeddings.

    Raises
    ------
    UnknownModelError
        When ``hidden_size`` (or ``embedding_size`` where the family projects embeddings) differs from the
        embedding matrix's width; both values and the tensor are named.
    """
    key = _width_key(config)
    if key is None:
        return
    name = next((n for suffix in _EMBEDDING_SUFFIXES for n in tensors if n.endswith(suffix)), None)
    if name is None or len(getattr(tensors[name], "shape", ())) != 2:
        return
    want_key = "embedding_size" if "embedding_size" in config else key
    want, got = config[want_key], int(tensors[name].shape[1])
    if want != got:
        raise UnknownModelError(f"{str(path)!r} says {want_key}={want} but the weights' embeddings ({name}) are "
                                f"{got} wide: the config does not match the weights; restore the model's config.json")


def has_native_files(directory: str | Path) -> str | None:
    """None when the directory has what the native engine reads, else what is missing (for messages)."""
    d = Path(directory)
    if not (d / "config.json").is_file():
        return "no config.json"
    if not any((d / f).is_file() for f in _WEIGHT_FILES):
        return f"no weights file ({', '.join(_WEIGHT_FILES)})"
    if not (d / "tokenizer.json").is_file():
        return "no tokenizer.json (a fast tokenizer file)"
    return None


def read_tensors(directory: str | Path) -> dict:
    """Every tensor of the checkpoint, by its name in the file (safetensors, sharded or not, or a .bin).

    Raises
    ------
    UnknownModelError
        If the directory's ``config.json`` gives a width the embeddings do not have (:func:`check_tensor_widths`).
    """
    import torch

    d = Path(directory)
    if (d / "model.safetensors").is_file():
        from safetensors.torch import load_file

        out = load_file(str(d / "model.safetensors"))
    elif (d / "model.safetensors.index.json").is_file():
        from safetensors.torch import load_file

        index = json.loads((d / "model.safetensors.index.json").read_text(encoding="utf-8"))
        out = {}
        for shard in sorted(set(index["weight_map"].values())):
            out.update(load_file(str(d / shard)))
    else:
        out = torch.load(str(d / "pytorch_model.bin"), map_location="cpu", weights_only=True)
    if (d / "config.json").is_file():
        check_tensor_widths(read_config(d), out, d / "config.json")
    return out


def tensor_fingerprint(tensors: Mapping[str, object]) -> str:
    """sha256 over ``name`` and raw bytes of every tensor, in name order (no copies of the data)."""
    import torch

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()
