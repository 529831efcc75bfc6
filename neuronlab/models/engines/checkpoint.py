"""Read a model directory (config.json, weights, tokenizer.json) without importing transformers."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping

from ...errors import UnknownModelError

__all__ = ["read_config", "read_tensors", "has_native_files", "tensor_fingerprint"]

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
    return config


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
    """Every tensor of the checkpoint, by its name in the file (safetensors, sharded or not, or a .bin)."""
    import torch

    d = Path(directory)
    if (d / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(str(d / "model.safetensors"))
    if (d / "model.safetensors.index.json").is_file():
        from safetensors.torch import load_file

        index = json.loads((d / "model.safetensors.index.json").read_text(encoding="utf-8"))
        out: dict = {}
        for shard in sorted(set(index["weight_map"].values())):
            out.update(load_file(str(d / shard)))
        return out
    return torch.load(str(d / "pytorch_model.bin"), map_location="cpu", weights_only=True)


def tensor_fingerprint(tensors: Mapping[str, object]) -> str:
    """sha256 over ``name`` and raw bytes of every tensor, in name order (no copies of the data)."""
    import torch

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()
