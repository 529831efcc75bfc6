"""Device-side staging of write chunks: aggregation and the storage cast on the device, then an asynchronous copy.

On a GPU the forward pass is fast and the activations' way to disk sets the pace (issue 13). The GPU
path of :class:`~neuronlab.extraction.pipeline.Pipeline` therefore keeps a chunk's token activations on
the device, aggregates them to words (or pools them to sentences) there, casts them to the storage
dtype there, and only then copies them, on a separate CUDA stream, into a pinned host buffer taken
from a :class:`HostRing`; a CUDA event marks the end of the copy. The writer thread waits for that
event, writes the rows from the pinned buffer and gives the buffer back. Meanwhile the next chunk's
forward passes run on the default stream: the copy and the disk write overlap computation, and the
ring (a bounded queue of buffers) keeps the host memory fixed and stalls the computation only when
the writer is behind.

:class:`Transfer` hides the CUDA specifics (streams, events, pinned memory); on the CPU the same code
runs with plain synchronous copies, so the CPU tests cover the logic of the GPU path.
"""
from __future__ import annotations

import queue
from dataclasses import dataclass, field

import numpy as np

__all__ = ["HostRing", "Transfer", "Staged", "storage_torch_dtype"]


def storage_torch_dtype(name: str):
    """The torch dtype of a storage dtype name (``float16``/``float32``)."""
    import torch

    return getattr(torch, name)


class HostRing:
    """A fixed set of host buffers handed out and returned through a bounded queue.

    Parameters
    ----------
    n_slots : int
        Buffers in the ring: at most this many chunks are between the copy and the end of their write.
    nbytes : int
        Bytes of each buffer (the largest chunk's rows of every site in the storage dtype).
    pin : bool
        Page-locked (pinned) memory, needed for asynchronous device-to-host copies.

    Examples
    --------
    >>> ring = HostRing(2, 64, pin=False)
    >>> a = ring.acquire(); b = ring.acquire(); ring.free_slots
    0
    >>> ring.release(a); ring.free_slots
    1
    """

    def __init__(self, n_slots: int, nbytes: int, *, pin: bool):
        import torch

        if n_slots < 1:
            raise ValueError(f"a ring needs at least one slot, got {n_slots}")
        self.nbytes = int(nbytes)
        self._free: queue.Queue = queue.Queue(maxsize=n_slots)
        for _ in range(n_slots):
            self._free.put(torch.empty(max(1, self.nbytes), dtype=torch.uint8, pin_memory=pin))

    @property
    def free_slots(self) -> int:
        return self._free.qsize()

    def acquire(self):
        """A free buffer (a uint8 tensor of ``nbytes``); blocks until the writer returns one."""
        return self._free.get()

    def release(self, buf) -> None:
        self._free.put_nowait(buf)


def carve(buf, shapes: dict, dtype) -> dict:
    """Views of ``buf`` (uint8) as consecutive ``dtype`` arrays of the given ``site -> (rows, width)`` shapes."""
    import torch

    itemsize = torch.empty((), dtype=dtype).element_size()
    need = sum(rows * width for rows, width in shapes.values()) * itemsize
    if need > buf.numel():
        raise ValueError(f"internal: a chunk needs {need} bytes of staging, the ring's buffers hold {buf.numel()}")
    out, off = {}, 0
    for site, (rows, width) in shapes.items():
        nb = rows * width * itemsize
        out[site] = buf[off: off + nb].view(dtype).view(rows, width)
        off += nb
    return out


@dataclass
class Staged:
    """A chunk on its way to the store: host views of its rows and the event that says they have arrived."""

    s0: int
    s1: int
    slot: object
    rows: dict  # site -> host tensor (n, width) in the storage dtype, a view of ``slot``
    nonfinite: object  # host bool tensor [n_sites]: a site with a NaN/inf stored value
    event: object
    keep: list = field(default_factory=list)  # device tensors the copy still reads

    def arrays(self) -> dict[str, np.ndarray]:
        return {site: t.numpy() for site, t in self.rows.items()}


class _Done:
    """The event of a synchronous copy: already complete."""

    def synchronize(self) -> None:
        return None


class Transfer:
    """Copies device rows into ring buffers: asynchronous on CUDA (side stream, event), synchronous elsewhere.

    Parameters
    ----------
    device : str
        The device the chunk buffers live on.
    ring : HostRing
    """

    def __init__(self, device: str, ring: HostRing):
        import torch

        self.device = torch.device(device)
        self.ring = ring
        self.cuda = self.device.type == "cuda"
        self.stream = torch.cuda.Stream(self.device) if self.cuda else None

    def stage(self, s0: int, s1: int, rows: dict, dtype) -> Staged:
        """Start copying ``rows`` (device tensors in the storage ``dtype``) into a ring buffer.

        A per-site flag of non-finite values is computed on the device and copied with the rows (one
        reduction per site, no synchronisation).
        """
        import torch

        flags = torch.stack([~torch.isfinite(r).all() for r in rows.values()]) if rows else torch.zeros(0, dtype=bool)
        slot = self.ring.acquire()
        host = carve(slot, {s: tuple(r.shape) for s, r in rows.items()}, dtype)
        if not self.cuda:
            for site, r in rows.items():
                host[site].copy_(r)
            return Staged(s0, s1, slot, host, flags.clone(), _Done())
        flags_host = torch.empty(flags.shape, dtype=torch.bool, pin_memory=True)
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            for site, r in rows.items():
                host[site].copy_(r, non_blocking=True)
            flags_host.copy_(flags, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self.stream)
        # the device tensors stay referenced until the event: the allocator cannot hand them out meanwhile
        return Staged(s0, s1, slot, host, flags_host, event, keep=[*rows.values(), flags])

    def finish(self, staged: Staged) -> None:
        """Wait for the copy of ``staged`` (on the writer thread) and drop the device tensors it read."""
        staged.event.synchronize()
        staged.keep.clear()

    def release(self, staged: Staged) -> None:
        """Give the ring buffer back once its rows are written."""
        staged.rows = {}
        self.ring.release(staged.slot)
