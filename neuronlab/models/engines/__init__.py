"""Engines run a model on batches and return site activations; :func:`load_engine` picks one.

``engine="auto"`` (the default everywhere) takes the native engine when the model is a local directory
(an alias such as ``minilm`` or a path) of a family the native engine serves, with its weights and a
``tokenizer.json``; otherwise the transformers engine. ``"native"`` insists (and says why it cannot),
``"hf"`` always uses transformers with hooks.
"""
from __future__ import annotations

from ...errors import InvalidParameterError, UnknownModelError, choices
from .base import Engine
from .encoder import ENCODER_SPECS, EncoderEngine, native_support, register_encoder
from .precision import COMPUTE_DTYPES, check_compute_dtype

__all__ = ["ENGINES", "Engine", "EncoderEngine", "load_engine", "engine_from_loaded", "native_support",
           "register_encoder", "ENCODER_SPECS", "COMPUTE_DTYPES"]

#: engine names accepted by :func:`load_engine` and ``--engine``
ENGINES = ("auto", "native", "hf")


def _check(engine: str) -> None:
    if engine not in ENGINES:
        raise InvalidParameterError(f"engine must be one of {choices(ENGINES)}, got {engine!r}")


def load_engine(spec: str, *, engine: str = "auto", device: str = "cpu", compute_dtype: str = "float32") -> Engine:
    """Load ``spec`` (alias, local directory or Hugging Face id) into an engine.

    Parameters
    ----------
    spec : str
    engine : {"auto", "native", "hf"}
    device : str
    compute_dtype : {"float32", "tf32", "bfloat16", "float16"}
        Arithmetic of the forward pass (see :mod:`.precision`).

    Raises
    ------
    UnknownModelError
        If the model cannot be resolved, or ``engine="native"`` cannot run it (the message says why).
    """
    _check(engine)
    from ..loading import check_device, load_model, resolve_model_path

    check_device(device)
    check_compute_dtype(compute_dtype, device)

    if engine != "hf":
        path, local = resolve_model_path(spec)
        why = _native_from_directory_why(path) if local else "it is not a local model directory"
        if why is None:
            return _native_from_directory(spec, path, device, compute_dtype)
        if engine == "native":
            raise UnknownModelError(f"engine 'native' cannot run {spec!r}: {why}; use --engine hf (or auto)")
    from .hf import HFEngine

    return HFEngine(load_model(spec, device=device), compute_dtype=compute_dtype)


def engine_from_loaded(loaded, *, engine: str = "auto", compute_dtype: str = "float32") -> Engine:
    """An engine over an already loaded transformers model (a :class:`~neuronlab.models.LoadedModel`).

    The native engine reads the model's own parameters (so a random-init twin runs natively too) and
    keeps its weight fingerprint.
    """
    _check(engine)
    if engine != "hf":
        cfg = loaded.model.config.to_dict()
        why = native_support(cfg)
        if why is None:
            from ..wordtok import HFWordTokenizer

            base = loaded.model.base_model
            device = str(next(base.parameters()).device)
            return EncoderEngine(cfg, base.state_dict(), HFWordTokenizer(loaded.tokenizer), loaded.info,
                                 device=device, fingerprint=loaded.info.get("weights_sha256"),
                                 compute_dtype=compute_dtype)
        if engine == "native":
            raise UnknownModelError(f"engine 'native' cannot run this model: {why}; use engine='hf' (or auto)")
    from .hf import HFEngine

    return HFEngine(loaded, compute_dtype=compute_dtype)


def _native_from_directory_why(path: str) -> str | None:
    from .checkpoint import has_native_files, read_config

    missing = has_native_files(path)
    if missing:
        return missing
    return native_support(read_config(path))


def _native_from_directory(spec: str, path: str, device: str, compute_dtype: str) -> EncoderEngine:
    import tokenizers

    from ..adapters import ADAPTERS
    from ..wordtok import FastWordTokenizer
    from .checkpoint import read_config, read_tensors

    config = read_config(path)
    adapter = ADAPTERS.get(config["model_type"])
    kwargs = adapter.tokenizer_kwargs if adapter is not None else {}
    tok = FastWordTokenizer(path, add_prefix_space=bool(kwargs.get("add_prefix_space", False)))
    info = {"name": spec, "path": path, "hub_id": None, "revision": None, "random_init": False, "seed": None,
            "transformers_version": None, "tokenizers_version": tokenizers.__version__}
    return EncoderEngine(config, read_tensors(path), tok, info, device=device, compute_dtype=compute_dtype)
