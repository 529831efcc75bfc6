"""The extraction configuration: an explicit frozen dataclass stored in the store's attributes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import InvalidParameterError, choices
from ..models.engines.precision import COMPUTE_DTYPES, check_compute_dtype

__all__ = ["ExtractionConfig", "AGGREGATIONS", "POOLINGS", "COMPUTE_DTYPES", "default_compute_dtype"]

AGGREGATIONS = ("first", "last", "mean", "max")
POOLINGS = ("cls", "mean", "max", "last")
GRANULARITIES = ("word", "token", "sentence")
DTYPES = ("float16", "float32")
ENGINES = ("auto", "native", "hf")


def default_compute_dtype(device: str) -> str:
    """The compute dtype used when none is given: ``float32`` on the CPU, ``tf32`` on a CUDA device.

    On a GPU, extraction is bound by moving activations to the host and to disk, not by arithmetic
    (see docs/benchmarks.md, issue 13), so a faster matrix type buys little time; TF32 keeps float32's
    range and has float16's 10-bit mantissa, so its error (about 3e-4 relative) is of the size of the
    rounding of the default float16 storage, while bfloat16 (8 bits, about 4e-3) is coarser than the
    storage and would change stored float16 values by several units in the last place.
    """
    return "tf32" if str(device).startswith("cuda") else "float32"


@dataclass(frozen=True)
class ExtractionConfig:
    """How activations are extracted.

    Parameters
    ----------
    sites : str
        Comma-separated site names or globs (``"embeddings,layers.*"``); ``"all"`` for every site.
    granularity : {"word", "token", "sentence"}
        One row per word (subwords aggregated), per subword token, or per sentence (pooled).
    aggregation : {"first", "last", "mean", "max"}
        How the subwords of a word become one row (word granularity).
    pooling : {"cls", "mean", "max", "last"}
        How the tokens of a sentence become one row (sentence granularity). ``cls`` takes the first token
        (``[CLS]`` for BERT-style models), ``last`` the last one (``[SEP]`` for BERT, the last word piece for
        GPT-style models); ``mean``/``max`` pool over the content tokens (and the special tokens when
        ``special_tokens`` is True).
    dtype : {"float16", "float32"}
        Storage type (the cast happens where the activations are computed, before the copy to the host).
    compute_dtype : {"float32", "tf32", "bfloat16", "float16"} or None
        Arithmetic of the forward pass: weights and activations in that type (``tf32``: float32 with
        TensorFloat-32 matrix products, CUDA only). Aggregation to words is float32 in every case.
        None: :func:`default_compute_dtype` (float32 on CPU, tf32 on CUDA).
    batch_size : int or None
        At most this many sequences per forward pass (sequences are sorted by length inside each write
        chunk). None: the engine's default (``hf``: 32; ``native``: no limit, see ``batch_tokens``).
    batch_tokens : int or None
        At most this many tokens per forward pass, padding included (the native engine packs sequences
        without padding). None: the engine's default (``native``: 2048; ``hf``: no limit).
    max_length : int or None
        Tokens per model input, special tokens included; longer sentences are processed in
        overlapping windows. None: the model's maximum.
    window_overlap : int or None
        Tokens shared by consecutive windows; None: a quarter of the window.
    special_tokens : bool
        Keep rows for special tokens (token granularity) and pool over them (sentence granularity).
    device : str
        torch device.
    engine : {"auto", "native", "hf"}
        How the model is run: ``native`` computes BERT-family encoders directly from their weights (no
        padding, no hooks, several batches at once); ``hf`` runs any transformers model with hooks;
        ``auto`` takes ``native`` where it applies.
    workers : int or None
        Batches computed at once, each in its own thread with ``torch threads / workers`` intra-op threads.
        None: the engine's default (native on CPU: min(threads, 4); otherwise 1).
    memory_mb : int
        Memory for the float32 activations of one write chunk; bounds peak memory independently of corpus size.
    allow_nonfinite : bool
        Store NaN or infinite activations instead of stopping with :class:`~neuronlab.errors.NonFiniteError`.
    """

    sites: str = "all"
    granularity: str = "word"
    aggregation: str = "mean"
    pooling: str = "mean"
    dtype: str = "float16"
    compute_dtype: str | None = None
    batch_size: int | None = None
    batch_tokens: int | None = None
    max_length: int | None = None
    window_overlap: int | None = None
    special_tokens: bool = False
    device: str = "cpu"
    memory_mb: int = 256
    engine: str = "auto"
    workers: int | None = None
    allow_nonfinite: bool = False

    def __post_init__(self) -> None:
        for name, allowed in (("granularity", GRANULARITIES), ("aggregation", AGGREGATIONS),
                              ("pooling", POOLINGS), ("dtype", DTYPES), ("engine", ENGINES)):
            value = getattr(self, name)
            if value not in allowed:
                raise InvalidParameterError(f"{name} must be one of {choices(allowed)}, got {value!r}")
        if self.compute_dtype is None:
            object.__setattr__(self, "compute_dtype", default_compute_dtype(self.device))
        check_compute_dtype(self.compute_dtype, self.device)
        if not isinstance(self.memory_mb, int) or self.memory_mb < 1:
            raise InvalidParameterError(f"memory_mb must be an integer >= 1, got {self.memory_mb!r}")
        for name in ("batch_size", "batch_tokens", "workers"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise InvalidParameterError(f"{name} must be an integer >= 1 or None, got {value!r}")
        if self.max_length is not None and (not isinstance(self.max_length, int) or self.max_length < 4):
            raise InvalidParameterError(f"max_length must be an integer >= 4 or None, got {self.max_length!r}")
        if self.window_overlap is not None and (not isinstance(self.window_overlap, int) or self.window_overlap < 0):
            raise InvalidParameterError(f"window_overlap must be an integer >= 0 or None, got {self.window_overlap!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ExtractionConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    #: settings that change the stored numbers, compared before a run is resumed (the one list of them):
    #: ``memory_mb`` fixes the write chunks and with them the batches; device, batch size and workers change
    #: nothing beyond float noise and may differ between the runs
    RESULT_KEYS = ("engine", "sites", "granularity", "aggregation", "pooling", "dtype", "compute_dtype", "max_length",
                   "window_overlap", "special_tokens", "memory_mb")
