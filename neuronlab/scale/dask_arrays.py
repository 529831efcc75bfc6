"""Activation stores as dask arrays, and the map-reduce rankers that run on them (issue 13).

- :func:`site_array` / :func:`view_array`: a lazy ``dask.array`` over a store's HDF5 datasets, one dask chunk
  per group of HDF5 chunks (chunk-aligned reads). Tasks carry the file path and site name, not an open HDF5
  handle, so they run in other processes and on other machines that see the file.
- :func:`scheduler`: a ``dask.distributed`` client for ``ADDRESS`` (``tcp://host:8786``) or ``local:N`` (a
  ``LocalCluster`` of N worker processes), closed on exit.
- :func:`class_sums`, :func:`column_moments`, :func:`top_values`: map-reduce building blocks (per-chunk
  partial results combined by dask's tree reduction); :func:`rank_distributed` ranks a concept with
  ``probeless`` or ``iou`` from them, with the same result as the single-process rankers.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from neuronlab.errors import InvalidParameterError, NeuronlabError

__all__ = ["require_dask", "site_array", "view_array", "scheduler", "class_sums", "column_moments",
           "top_values", "rank_distributed", "DISTRIBUTED_RANKERS"]


def require_dask():
    """Import dask.array, or say how to install it."""
    try:
        import dask.array as da
    except ImportError:  # pragma: no cover - exercised where dask is absent
        raise NeuronlabError("dask is not installed: pip install 'neuronlab[dask]' (dask[array] and distributed)")
    return da


class _SiteReader:
    """Picklable row reader of one site: opens the store read-only for each block it reads."""

    def __init__(self, path: str, site: str, shape: tuple, dtype: Any) -> None:
        self.path, self.site = str(path), site
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), 2

    def __getitem__(self, key):
        import h5py

        with h5py.File(self.path, "r") as f:
            return f["sites"][self.site][key]


def site_array(path: str, site: str, *, rows_per_chunk: int | None = None):
    """A dask array (n_rows, width) over one site of the store at ``path`` (only complete stores).

    ``rows_per_chunk`` defaults to the largest multiple of the HDF5 chunk rows under ~64 MB.
    """
    import h5py

    da = require_dask()
    with h5py.File(path, "r") as f:
        ds = f["sites"][site]
        shape, dtype = ds.shape, ds.dtype
        h5_rows = ds.chunks[0] if ds.chunks else max(1, min(shape[0], 8192))
    if rows_per_chunk is None:
        per_row = max(1, shape[1] * np.dtype(dtype).itemsize)
        rows_per_chunk = max(h5_rows, (64 << 20) // per_row // h5_rows * h5_rows)
    return da.from_array(_SiteReader(path, site, shape, dtype), chunks=(int(rows_per_chunk), shape[1]),
                         lock=False, asarray=True, name=f"neuronlab-{site}-{abs(hash((str(path), site)))}")


def view_array(store: Any, *, sites: Any = None, rows: Any = None, rows_per_chunk: int | None = None):
    """A dask array over ``sites`` of an open :class:`~neuronlab.store.ActivationStore` (columns in model order),
    restricted to ``rows`` (indices) when given: the counterpart of ``store.view(sites=..., rows=...)``."""
    da = require_dask()
    if not store.complete:
        raise InvalidParameterError(f"{str(store.path)!r} is not complete; finish it with extract --resume first")
    view = store.view(sites=sites)
    n_valid = store.n_valid_rows
    arr = da.concatenate([site_array(str(store.path), s, rows_per_chunk=rows_per_chunk)[:n_valid]
                          for s in view.sites], axis=1)
    if rows is not None:
        arr = arr[np.asarray(rows, dtype=np.int64)]
    return arr


@contextlib.contextmanager
def scheduler(address: str | None, *, timeout: float | None = None) -> Iterator[Any]:
    """A dask.distributed client for ``address`` (``local:N`` starts N local worker processes); ``None``: none.

    Parameters
    ----------
    address : str or None
        ``tcp://HOST:PORT`` (or ``HOST:PORT``, any scheme dask knows) of a running ``dask scheduler``, or
        ``local:N``.
    timeout : float, optional
        Seconds to wait for the scheduler; dask's ``distributed.comm.timeouts.connect`` (30 s unless set, e.g.
        ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s``) when omitted.

    Raises
    ------
    InvalidParameterError
        If ``address`` is malformed or the scheduler cannot be reached (one line that says what to do).
    NeuronlabError
        If dask.distributed is not installed.
    """
    if address is None:
        yield None
        return
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise NeuronlabError("--scheduler needs dask.distributed, which is not installed: "
                             "pip install 'neuronlab[dask]' (or drop --scheduler to run in one process)") from None
    cluster = None
    if address.startswith("local:"):
        try:
            n = int(address.split(":", 1)[1])
        except ValueError:
            n = 0
        if n < 1:
            raise InvalidParameterError(f"--scheduler {address!r}: expected local:N with N >= 1 worker processes")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        address = cluster.scheduler_address
    if timeout is None:
        from dask.utils import parse_timedelta

        timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), default="seconds")
    if cluster is None:
        _check_reachable(address, float(timeout))
    client, failure = _connect(Client, address, float(timeout))
    if failure is not None:
        if cluster is not None:
            cluster.close()
        raise InvalidParameterError(failure)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _connect(Client: Any, address: str, timeout: float) -> tuple[Any, str | None]:
    """``(client, None)``, or ``(None, message)`` when no dask scheduler answers at ``address`` (refused, timed
    out, a malformed address, or something else listening there). The half-made client of a failure is collected
    here, quietly: otherwise it prints a traceback of its own when it is collected later."""
    import gc
    import sys

    hook = sys.unraisablehook
    sys.unraisablehook = lambda *_: None
    try:
        try:
            return Client(address, timeout=timeout), None
        except ValueError as exc:  # an unknown scheme, a bad port
            message = (f"--scheduler {address!r} is not a scheduler address ({exc}); expected tcp://HOST:PORT "
                       "(the address `dask scheduler` prints) or local:N")
        except OSError as exc:  # refused, timed out
            message = _unreachable(address, exc)
        except Exception as exc:  # noqa: BLE001 - something else listens there
            message = _unreachable(address, f"something answered, but not as a dask scheduler: {type(exc).__name__}")
        gc.collect()
        return None, message
    finally:
        sys.unraisablehook = hook


def _unreachable(address: str, why: Any) -> str:
    return (f"cannot reach the dask scheduler at {address!r} ({why}); start one with `dask scheduler` and workers "
            "with `dask worker ADDRESS`, pass its address as tcp://HOST:PORT, or use --scheduler local:N")


def _check_reachable(address: str, timeout: float) -> None:
    """Refuse a malformed address, or a TCP address where no dask scheduler greets us within ``timeout`` seconds,
    before a dask Client is made (it would wait for a silent host forever)."""
    import socket

    from distributed.comm import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme != "tcp":
            return  # tls://, ws://, ucx://: left to the Client
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"--scheduler {address!r} is not a scheduler address ({exc}); expected "
                                    "tcp://HOST:PORT (the address `dask scheduler` prints) or local:N") from None
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            # a dask scheduler greets every connection (its handshake) before reading; dask's own client would
            # wait for that greeting without a time limit
            sock.settimeout(timeout)
            if not sock.recv(1):
                raise InvalidParameterError(_unreachable(address, "the connection was closed: not a dask scheduler"))
    except OSError as exc:
        why = f"no answer within {timeout:g} s" if isinstance(exc, socket.timeout) else (exc.strerror or exc)
        raise InvalidParameterError(_unreachable(address, why)) from None


def _onehot(y: np.ndarray, n_classes: int, chunks) -> Any:
    da = require_dask()
    y_da = da.from_array(np.asarray(y, dtype=np.int64), chunks=(chunks,))
    return (y_da[:, None] == da.arange(n_classes)[None, :]).astype(np.float64)


def class_sums(X: Any, y: np.ndarray, n_classes: int) -> Any:
    """Lazy (n_classes, n_neurons) float64 sums of the rows of each class: ``onehot(y)^T X`` (a tree reduction)."""
    onehot = _onehot(y, n_classes, X.chunks[0])
    return onehot.T @ X.astype(np.float64)


def column_moments(X: Any) -> tuple[Any, Any]:
    """Lazy per-neuron mean and (population) variance in float64."""
    Xf = X.astype(np.float64)
    return Xf.mean(axis=0), Xf.var(axis=0)


def top_values(X: Any, m: int, *, top: bool = True) -> Any:
    """Lazy (m, n_neurons): the m largest (or smallest) values of every column, by a partition tree reduction."""
    from neuronlab.concepts.rankers.streaming import keep_extremes

    da = require_dask()
    dtype = np.float32 if np.dtype(X.dtype).itemsize <= 4 else np.float64

    def chunk(block, axis, keepdims):
        return keep_extremes(np.asarray(block, dtype=dtype), m, top)

    def combine(blocks, axis, keepdims):
        parts = blocks if isinstance(blocks, list) else [blocks]
        return keep_extremes(np.concatenate(parts, axis=0), m, top)

    return da.reduction(X, chunk, combine, combine=combine, axis=0, keepdims=True, concatenate=False,
                        dtype=dtype, output_size=m)


def _quantile_from_tops(X: Any, q: float) -> np.ndarray:
    from neuronlab.concepts.rankers.streaming import quantile_from_extremes, quantile_plan

    n = X.shape[0]
    keep, top = quantile_plan(n, q)
    return quantile_from_extremes(np.asarray(top_values(X, keep, top=top).compute()), n, q)


def _probeless(X, y, n_classes, params) -> tuple[np.ndarray, dict]:
    sums = class_sums(X, y, n_classes).compute()
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    means = sums / counts[:, None]
    class_scores = np.stack([np.abs(means[c][None, :] - means).sum(axis=0) for c in range(n_classes)])
    return class_scores, {"means_": means}


def _iou(X, y, n_classes, params) -> tuple[np.ndarray, dict]:
    threshold = params.get("threshold")
    if threshold is not None:
        t = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (X.shape[1],)).copy()
    else:
        t = _quantile_from_tops(X, float(params.get("quantile", 0.995))).astype(np.float64)
    masks = (X > t[None, :]).astype(np.float64)
    inter = (_onehot(y, n_classes, X.chunks[0]).T @ masks).compute()
    mask_size = np.asarray(masks.sum(axis=0).compute())
    class_size = np.bincount(y, minlength=n_classes).astype(np.float64)[:, None]
    union = mask_size[None, :] + class_size - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0), {"thresholds_": t}


def _ap(X, y, n_classes, params) -> tuple[np.ndarray, dict]:
    """Average precision per neuron and class: every task holds all rows of a block of columns (AP sorts whole
    columns) and scores it with the in-memory kernel; the blocks are concatenated."""
    from neuronlab.concepts.rankers.ap import column_average_precision

    both = params.get("signed", "max") == "max"
    positives = np.asarray(y)[:, None] == np.arange(n_classes)[None, :]
    n_rows, n_cols = X.shape
    cols = int(max(1, min(n_cols, (64 << 20) // (8 * 4 * max(n_rows, 1)))))
    Xc = X.rechunk({0: -1, 1: cols})

    def block(b):
        work = np.asarray(b, dtype=np.float32 if np.dtype(b.dtype).itemsize <= 4 else np.float64)
        out = column_average_precision(work, positives, both=both)
        return np.stack(out if both else (out, out))[:, :, :]

    parts = Xc.map_blocks(block, chunks=((2,), (n_classes,), Xc.chunks[1]), new_axis=[0], dtype=np.float64,
                          meta=np.empty((0, 0, 0))).compute()
    pos, neg = parts[0], parts[1]
    if not both:
        return pos, {"sign_": np.ones(pos.shape, dtype=np.int8), "ap_positive_": pos, "ap_negative_": None}
    sign = np.where(neg > pos, -1, 1).astype(np.int8)
    return np.maximum(pos, neg), {"sign_": sign, "ap_positive_": pos, "ap_negative_": neg}


#: rankers with a map-reduce form: name -> fn(dask X, y codes, n_classes, params) -> (class_scores, attributes)
DISTRIBUTED_RANKERS = {"probeless": _probeless, "iou": _iou, "ap": _ap}


def rank_distributed(store: Any, concept: str, method: str, *, sites: Any = None, params: dict | None = None,
                     rows_per_chunk: int | None = None) -> tuple[np.ndarray, np.ndarray, list, list, dict]:
    """Class scores of ``method`` for ``concept`` computed as dask map-reduce over the store.

    Runs on the active dask scheduler (the client of :func:`scheduler`, or dask's default threads).

    Returns
    -------
    class_scores : ndarray (n_classes, n_neurons)
    scores : ndarray (n_neurons,)
        As the single-process ranker defines them (probeless: half the sum of class scores; iou: the max).
    classes : list of str
    neuron_ids : list of str
    attributes : dict
        ``means_`` (probeless) or ``thresholds_`` (iou).
    """
    from neuronlab.concepts.data import load_concept

    if method not in DISTRIBUTED_RANKERS:
        raise InvalidParameterError(f"--scheduler runs the rankers {', '.join(DISTRIBUTED_RANKERS)}; "
                                    f"{method!r} runs in one process (drop --scheduler)")
    data = load_concept(store, concept, sites=sites)
    X = view_array(store, sites=sites, rows=data.rows, rows_per_chunk=rows_per_chunk)
    n_classes = len(data.classes)
    class_scores, attrs = DISTRIBUTED_RANKERS[method](X, data.y, n_classes, dict(params or {}))
    scores = class_scores.sum(axis=0) / 2.0 if method == "probeless" else class_scores.max(axis=0)
    return class_scores, scores, list(data.classes), list(data.neuron_ids), attrs

