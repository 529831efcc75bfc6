"""Compute precision of an engine's forward pass: the weight type and the matrix-product mode.

``float32`` computes in float32; ``tf32`` keeps float32 tensors and lets CUDA matrix products use
TensorFloat-32 (10-bit mantissa, float32 range; NVIDIA Ampere and later); ``bfloat16`` and ``float16``
hold weights and activations in that type. The matrix-product mode is process-wide in torch, so
:func:`matmul_precision` sets it only around a forward pass and restores the previous mode in
``finally``.
"""
from __future__ import annotations

from contextlib import contextmanager

from ...errors import InvalidParameterError, choices

__all__ = ["COMPUTE_DTYPES", "weight_dtype", "matmul_precision", "check_compute_dtype", "attention_kernels"]

#: compute dtype -> (torch dtype name of weights and activations, float32 matmul precision)
_MODES = {
    "float32": ("float32", "highest"),
    "tf32": ("float32", "high"),
    "bfloat16": ("bfloat16", "highest"),
    "float16": ("float16", "highest"),
}
COMPUTE_DTYPES = tuple(_MODES)


def check_compute_dtype(name: str, device: str) -> str:
    """``name`` if the device can compute in it.

    Raises
    ------
    InvalidParameterError
        An unknown name, or ``tf32`` on a device that is not CUDA.
    """
    if name not in _MODES:
        raise InvalidParameterError(f"compute_dtype must be one of {choices(COMPUTE_DTYPES)}, got {name!r}")
    if name == "tf32" and not str(device).startswith("cuda"):
        raise InvalidParameterError(f"compute_dtype 'tf32' needs a CUDA device (device is {device!r}); "
                                    "use float32, bfloat16 or float16")
    return name


def weight_dtype(name: str):
    """The torch dtype weights and activations are held in for compute dtype ``name``."""
    import torch

    return getattr(torch, _MODES[check_compute_dtype(name, "cuda")][0])


@contextmanager
def matmul_precision(name: str):
    """Set torch's float32 matrix-product precision for compute dtype ``name``; restore it on exit."""
    import torch

    want = _MODES[name][1]
    old = torch.get_float32_matmul_precision()
    if want == old:
        yield
        return
    torch.set_float32_matmul_precision(want)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(old)


@contextmanager
def attention_kernels(device: str):
    """On CUDA: scaled-dot-product attention through the flash, memory-efficient or math kernels only.

    cuDNN's attention (which torch prefers for bfloat16/float16 on Hopper) builds an execution plan for
    every new shape; extraction's batches come in many shapes (one per sequence length and bucket), and
    the plan building made a bfloat16 extraction 7x slower than float32 on an H200 (docs/benchmarks.md,
    issue 13). Nothing changes on other devices.
    """
    if not str(device).startswith("cuda"):
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
        yield
