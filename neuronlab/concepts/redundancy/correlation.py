"""Pearson correlation between neurons, accumulated over row chunks under a memory budget (Dalvi et al. 2020).

The activation matrix is never held: rows are read ``chunk_rows`` at a time (an ndarray, a memmap, an
h5py dataset or a lazy :class:`~neuronlab.store.view.StoreView`) and folded into the sufficient
statistics ``n``, the mean and the centred cross-product matrix ``C = sum_i (x_i - mean)(x_i - mean)^T``
in float64. Each chunk is merged with the pairwise update of Chan, Golub & LeVeque (1979)::

    C <- C + Bc^T Bc + (n_a n_b / (n_a + n_b)) d d^T,    d = mean_b - mean_a

where ``Bc`` is the chunk centred on its own mean. Both terms are added in place with BLAS (``syrk``
and ``syr`` on one triangle), so the only ``n_neurons^2`` memory is ``C`` itself: no ``X^T X`` of raw
values (which loses the digits of a correlation when a neuron's mean is large against its spread), and
no temporary matrix per chunk. ``r_ij = C_ij / sqrt(C_ii C_jj)``.

A neuron is *constant* when its minimum equals its maximum over the rows. Its correlation with every
other neuron is 0 and with itself 1 (what NeuroX's ``np.nan_to_num`` of ``np.corrcoef`` gives), and it is
flagged in ``constant_``.

References
----------
Dalvi, F., Sajjad, H., Durrani, N., Belinkov, Y. (2020). Analyzing Redundancy in Pretrained Transformer
Models. EMNLP.
Chan, T. F., Golub, G. H., LeVeque, R. J. (1979). Updating formulae and a pairwise algorithm for computing
sample variances. Stanford CS technical report STAN-CS-79-773.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Iterator

import numpy as np
from scipy.linalg import blas
from sklearn.base import BaseEstimator

from neuronlab.concepts.rankers.base import check_chunk, check_shape
from neuronlab.concepts.validation import Interval, ValidatedEstimator
from neuronlab.errors import InvalidParameterError

__all__ = ["StreamingCorrelation", "MemoryPlan", "plan_memory", "accumulate_scatter", "GB"]

GB = float(1 << 30)
#: most rows read per chunk when neither ``chunk_rows`` nor a tight budget says otherwise
MAX_CHUNK_ROWS = 8192
#: most bytes of one chunk (read + float64 copy) when ``chunk_rows`` is not given
MAX_CHUNK_BYTES = 256 << 20
#: fewest rows per chunk a budget may force (below this the BLAS calls are mostly overhead)
MIN_CHUNK_ROWS = 64


def _available_memory() -> int | None:
    """Bytes the kernel reports as available (``MemAvailable``), or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class MemoryPlan:
    """What the correlation (and the clustering after it) will hold in memory.

    Attributes
    ----------
    n_neurons : int
    matrix_bytes : int
        The ``n_neurons x n_neurons`` float64 matrix (``8 n^2`` bytes): the whole cost that grows with the
        number of neurons. Clustering reuses its buffer (condensed distances in place, then SciPy's own
        working copy of them), so it needs no second matrix.
    chunk_rows : int
        Rows read per chunk.
    chunk_bytes : int
        The chunk as read plus its float64 copy.
    budget_bytes : int or None
        The budget the plan was made for (None: no limit known).
    """

    n_neurons: int
    matrix_bytes: int
    chunk_rows: int
    chunk_bytes: int
    budget_bytes: int | None

    @property
    def total_bytes(self) -> int:
        return self.matrix_bytes + self.chunk_bytes

    def describe(self) -> str:
        """One line: ``correlation of 2,688 neurons: the 2,688 x 2,688 float64 matrix takes 0.05 GB ...``."""
        n = self.n_neurons
        text = (f"correlation of {n:,} neurons: the {n:,} x {n:,} float64 matrix takes {self.matrix_bytes / GB:.2f} GB, "
                f"plus {self.chunk_bytes / GB:.2f} GB for chunks of {self.chunk_rows:,} rows")
        if self.budget_bytes is not None:
            text += f" (budget {self.budget_bytes / GB:.2f} GB)"
        return text


def plan_memory(
    n_neurons: int,
    *,
    itemsize: int = 4,
    max_memory_gb: float | None = None,
    chunk_rows: int | None = None,
    n_rows: int | None = None,
) -> MemoryPlan:
    """Plan the memory of a streaming correlation, or refuse when the budget cannot hold the matrix.

    Parameters
    ----------
    n_neurons : int
    itemsize : int, default=4
        Bytes per stored value (2 for float16 stores).
    max_memory_gb : float, optional
        Budget in GiB; the memory the system reports available when omitted.
    chunk_rows : int, optional
        Rows per chunk; chosen to fit the budget when omitted (at most 8,192 rows and 256 MiB).
    n_rows : int, optional
        Rows of the data (a chunk never needs more).

    Returns
    -------
    MemoryPlan

    Raises
    ------
    InvalidParameterError
        When the matrix and the smallest chunk do not fit the budget; the message gives both sizes.

    Examples
    --------
    >>> plan = plan_memory(10_000, max_memory_gb=2.0, chunk_rows=1000)
    >>> round(plan.matrix_bytes / GB, 3)
    0.745
    """
    if isinstance(n_neurons, bool) or not isinstance(n_neurons, Integral) or n_neurons < 1:
        raise InvalidParameterError(f"n_neurons must be a positive integer; got {n_neurons!r}")
    matrix = 8 * int(n_neurons) ** 2
    per_row = int(n_neurons) * (8 + int(itemsize))
    if max_memory_gb is not None:
        if isinstance(max_memory_gb, bool) or not isinstance(max_memory_gb, Real) or not max_memory_gb > 0:
            raise InvalidParameterError(f"max_memory_gb must be a positive number of GiB; got {max_memory_gb!r}")
        budget: int | None = int(float(max_memory_gb) * GB)
    else:
        budget = _available_memory()
    cap = MAX_CHUNK_ROWS if n_rows is None else max(1, min(MAX_CHUNK_ROWS, int(n_rows)))
    floor = min(MIN_CHUNK_ROWS, cap)
    if chunk_rows is not None:
        rows = max(1, min(int(chunk_rows), cap))
    else:  # bounded by rows, bytes and the budget left after the matrix, but not below the smallest useful chunk
        rows = min(cap, max(1, MAX_CHUNK_BYTES // per_row))
        if budget is not None:
            rows = min(rows, max(0, budget - matrix) // per_row)
        rows = max(floor, rows)
    plan = MemoryPlan(int(n_neurons), matrix, int(rows), int(rows) * per_row, budget)
    if budget is not None and plan.total_bytes > budget:
        where = "the given budget (max_memory_gb=)" if max_memory_gb is not None else "the available memory"
        raise InvalidParameterError(
            f"{plan.describe()}, which exceeds {where} of {budget / GB:.2f} GB; select fewer sites or neurons "
            f"(the matrix grows with the square of their number), or raise max_memory_gb= on a bigger machine"
        )
    return plan


def _iter_chunks(X: Any, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    n_rows = X.shape[0]
    if hasattr(X, "iter_chunks"):  # a StoreView reads its sites side by side per chunk
        for start, _stop, block in X.iter_chunks(chunk_rows, dtype=np.float64):
            yield start, block
        return
    for start in range(0, n_rows, chunk_rows):
        yield start, np.array(X[start:start + chunk_rows], dtype=np.float64)  # a copy: centred in place


def accumulate_scatter(
    X: Any,
    chunk_rows: int,
    *,
    out: np.ndarray | None = None,
    progress: bool = False,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fold the rows of ``X`` into ``n``, mean and the upper triangle of the centred scatter matrix.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_neurons)
        Anything with ``.shape`` and row slicing, or a StoreView; or a source with its own
        ``accumulate_scatter(out=, progress=)`` (:class:`neuronlab.scale.dask_correlation.DaskCorrelationSource`:
        the same sums computed on a dask cluster), which is then called instead.
    chunk_rows : int
    out : float64 C-contiguous ndarray of shape (n_neurons, n_neurons), optional
        Where to accumulate (zeroed here); allocated when omitted. Only its upper triangle
        (``j >= i``) is written.
    progress : bool
        Show a tqdm bar over the rows (stderr).

    Returns
    -------
    n, mean, scatter, minimum, maximum
        ``scatter`` is ``out`` with ``scatter[i, j] = sum_r (x_ri - mean_i)(x_rj - mean_j)`` for ``j >= i``.
    """
    n_rows, n_neurons = check_shape(X)
    if hasattr(X, "accumulate_scatter"):  # a distributed source reduces its rows itself (neuronlab.scale)
        return X.accumulate_scatter(out=out, progress=progress)
    if out is None:
        out = np.zeros((n_neurons, n_neurons), dtype=np.float64)
    else:
        out.fill(0.0)
    upper_f = out.T  # Fortran view: its lower triangle is the upper triangle of ``out``
    mean = np.zeros(n_neurons, dtype=np.float64)
    lo = np.full(n_neurons, np.inf)
    hi = np.full(n_neurons, -np.inf)
    n = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_rows, unit="rows", desc="correlation", leave=False)
    try:
        for start, block in _iter_chunks(X, chunk_rows):
            check_chunk(block, start)
            nb = block.shape[0]
            if nb == 0:
                continue
            np.minimum(lo, block.min(axis=0), out=lo)
            np.maximum(hi, block.max(axis=0), out=hi)
            mean_b = block.mean(axis=0)
            block -= mean_b  # in place: block is our own float64 copy
            block = np.ascontiguousarray(block)
            blas.dsyrk(1.0, block.T, beta=1.0, c=upper_f, trans=0, lower=1, overwrite_c=1)
            if n:
                delta = mean_b - mean
                blas.dsyr(n * nb / (n + nb), delta, a=upper_f, lower=1, overwrite_a=1)
                mean += delta * (nb / (n + nb))
            else:
                mean = mean_b
            n += nb
            if bar is not None:
                bar.update(nb)
    finally:
        if bar is not None:
            bar.close()
    return n, mean, out, lo, hi


def scatter_to_correlation(scatter: np.ndarray, constant: np.ndarray) -> np.ndarray:
    """Turn the upper triangle of a scatter matrix into correlations, in place (lower triangle untouched).

    Constant neurons get 0 off the diagonal; the diagonal is 1. Values are clipped to ``[-1, 1]``.
    """
    d = np.sqrt(np.diag(scatter).copy())
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=(d > 0) & ~constant)
    for i in range(scatter.shape[0]):  # row by row: no n^2 temporary
        row = scatter[i, i:]
        row *= inv[i] * inv[i:]
        np.clip(row, -1.0, 1.0, out=row)
        row[0] = 1.0
    return scatter


class StreamingCorrelation(ValidatedEstimator, BaseEstimator):
    """Pearson correlation between neurons over row chunks, in float64, under a memory budget.

    Parameters
    ----------
    chunk_rows : int, optional
        Rows read at a time; chosen to fit ``max_memory_gb`` (at most 8,192) when omitted.
    max_memory_gb : float, optional
        Memory budget in GiB. ``fit`` says up front (``memory_plan_``) what the ``n_neurons^2`` matrix
        takes and refuses with the sizes when the budget cannot hold it. Default: the memory the system
        reports available.
    progress : bool, default=False
        Show a progress bar over the rows.

    Attributes
    ----------
    correlation_ : ndarray of shape (n_neurons, n_neurons)
        Symmetric, unit diagonal, 0 in the rows and columns of constant neurons.
    mean_, std_ : ndarray of shape (n_neurons,)
        Mean and population standard deviation of each neuron.
    constant_ : bool ndarray of shape (n_neurons,)
        Neurons whose value never changes (minimum == maximum).
    n_rows_, n_features_in_ : int
    memory_plan_ : MemoryPlan

    References
    ----------
    Dalvi et al. (2020), Analyzing Redundancy in Pretrained Transformer Models. EMNLP.

    See Also
    --------
    neuronlab.concepts.redundancy.CorrelationClustering

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0, 5.0], [2.0, 4.0, 5.0], [3.0, 7.0, 5.0]])
    >>> c = StreamingCorrelation(chunk_rows=2).fit(X)
    >>> np.round(c.correlation_, 4).tolist()
    [[1.0, 0.9934, 0.0], [0.9934, 1.0, 0.0], [0.0, 0.0, 1.0]]
    >>> c.constant_.tolist()
    [False, False, True]
    """

    _parameter_constraints: dict = {
        "chunk_rows": [Interval(Integral, 1, None, closed="left"), None],
        "max_memory_gb": [Interval(Real, 0, None, closed="neither"), None],
        "progress": ["boolean"],
    }

    def __init__(self, *, chunk_rows: int | None = None, max_memory_gb: float | None = None,
                 progress: bool = False) -> None:
        self.chunk_rows = chunk_rows
        self.max_memory_gb = max_memory_gb
        self.progress = progress

    def fit(self, X: Any, y: Any = None) -> "StreamingCorrelation":
        """Accumulate the correlation matrix over row chunks of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
            An ndarray, memmap, h5py dataset or StoreView (read chunk by chunk).
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        if not hasattr(X, "shape"):
            X = np.asarray(X)
        n_rows, n_neurons = check_shape(X)
        if n_rows < 2:
            raise InvalidParameterError(f"X has {n_rows} row; a correlation needs at least 2 rows")
        self.memory_plan_ = plan_memory(n_neurons, itemsize=np.dtype(X.dtype).itemsize,
                                        max_memory_gb=self.max_memory_gb, chunk_rows=self.chunk_rows, n_rows=n_rows)
        n, mean, scatter, lo, hi = accumulate_scatter(X, self.memory_plan_.chunk_rows, progress=self.progress)
        constant = lo == hi
        var = np.where(constant, 0.0, np.diag(scatter) / n)
        corr = scatter_to_correlation(scatter, constant)
        _symmetrize_upper(corr)
        self.correlation_ = corr
        self.mean_ = mean
        self.std_ = np.sqrt(var)
        self.constant_ = constant
        self.n_rows_ = int(n)
        self.n_features_in_ = int(n_neurons)
        return self


def _symmetrize_upper(a: np.ndarray, block: int = 512) -> None:
    """Copy the upper triangle of a square matrix onto its lower triangle, in blocks (no n^2 temporary)."""
    n = a.shape[0]
    for i0 in range(0, n, block):
        i1 = min(n, i0 + block)
        a[i0:i1, :i0] = a[:i0, i0:i1].T
        sub = a[i0:i1, i0:i1]
        sub[...] = np.triu(sub) + np.triu(sub, 1).T
