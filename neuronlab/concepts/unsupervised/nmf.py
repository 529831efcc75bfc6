"""Non-negative matrix factorisation of activations into groups of neurons (as Ecco does)."""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Callable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from neuronlab.concepts.unsupervised._rows import as_rows, check_memory_need, check_n_features, iter_blocks
from neuronlab.concepts.validation import Interval, StrOptions, ValidatedEstimator
from neuronlab.errors import InvalidParameterError, NotFittedError

__all__ = ["ActivationNMF"]


class ActivationNMF(ValidatedEstimator, TransformerMixin, BaseEstimator):
    """Factorise non-negative activations ``A ≈ W H`` into components: groups of neurons that fire together.

    ``A`` (rows x neurons) is made non-negative, then factorised with scikit-learn's NMF
    (Frobenius loss): ``H`` (``components_``, components x neurons) says which neurons form each
    component, ``W`` (:meth:`transform`, rows x components) how strongly each token expresses it. This is
    Ecco's ``NMF`` (``ecco/output.py``): activations of shape (positions, neurons), negative values
    removed with ``np.maximum(activations, 0)`` (GELU's small negative outputs; Ecco reads FFN
    activations), ``sklearn.decomposition.NMF(n_components, init='random', random_state=0, max_iter=500)``
    and its ``fit_transform`` as the per-token factor activations.

    Making activations non-negative (``nonnegative``):

    - ``"relu"`` (Ecco's): ``max(a, 0)``; the natural choice for FFN (``layers.L.mlp``) sites, where
      negative values are GELU's small tail. On residual-stream sites it discards half of each neuron's
      range.
    - ``"shift"``: ``a - min_j`` per neuron over the data (``shift_`` holds ``-min_j``; one extra pass), which
      keeps every value's order; a component then also models the neuron's baseline.
    - ``"none"``: the data must already be non-negative (an error names the first negative value).

    Solvers: ``"cd"`` and ``"mu"`` are scikit-learn's ``NMF`` on the whole matrix in memory;
    ``"minibatch"`` is ``MiniBatchNMF.partial_fit`` over blocks of ``chunk_rows`` rows for ``max_iter``
    passes, so a store larger than memory can be factorised. The pass that finds each component's
    top rows (and the reconstruction error) always streams.

    Parameters
    ----------
    n_components : int, default=10
    nonnegative : {"relu", "shift", "none"}, default="relu"
    solver : {"cd", "mu", "minibatch"}, default="cd"
    init : {"random", "nndsvd", "nndsvda", "nndsvdar"}, default="nndsvda"
        Initialisation (Ecco: ``"random"``; the SVD-based default converges to the same kind of optimum
        in fewer iterations and is deterministic). ``"minibatch"`` uses it on its first block.
    max_iter : int, default=500
        Iterations (``cd``/``mu``, Ecco's 500) or passes over the rows (``minibatch``).
    tol : float, default=1e-4
    batch_size : int, default=1024
        Mini-batch size of ``MiniBatchNMF`` inside a block.
    chunk_rows : int, default=8192
        Rows read at a time.
    top_k : int, default=10
        Neurons and rows kept per component in ``top_neurons_`` and ``top_rows_``.
    max_memory_gb : float or None, default=None
        ``cd``/``mu`` hold the data in float64 (plus scikit-learn's work copy): the need, ``16 n_rows n_neurons``
        bytes, is checked before reading against this budget (or the available memory).
    random_state : int, RandomState or None, default=0

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_neurons)
        ``H``: the neuron loadings of every component.
    neuron_groups_ : ndarray of int64, shape (n_neurons,)
        The component with the largest loading of each neuron (-1 for a neuron with no loading).
    top_neurons_ : ndarray of int64, shape (n_components, top_k)
        Columns with the largest loadings, best first.
    top_rows_ : ndarray of int64, shape (n_components, top_k)
        Rows with the largest ``W`` value of each component, best first (ties by row).
    top_row_weights_ : ndarray of shape (n_components, top_k)
    component_mass_ : ndarray of shape (n_components,)
        Sum of ``W[:, k] * ||H[k]||_1`` over rows: how much of the activation mass each component explains.
    shift_ : ndarray of shape (n_neurons,)
        Added to every activation before clipping at 0 (non-zero only for ``"shift"``).
    reconstruction_err_ : float
        ``||A+ - W H||_F`` on the non-negative data ``A+``.
    data_norm_ : float
        ``||A+||_F`` (``reconstruction_err_ / data_norm_`` is the relative error).
    n_iter_ : int

    References
    ----------
    D. D. Lee, H. S. Seung. "Learning the parts of objects by non-negative matrix factorization".
    Nature 401, 1999. J. Alammar. "Ecco: An Open Source Library for the Explainability of Transformer
    Language Models". ACL 2021 (System Demonstrations).

    See Also
    --------
    sklearn.decomposition.NMF, sklearn.decomposition.MiniBatchNMF

    Examples
    --------
    >>> H = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    >>> W = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    >>> nmf = ActivationNMF(n_components=2, top_k=2).fit(W @ H)
    >>> nmf.neuron_groups_.tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
    >>> round(nmf.reconstruction_err_, 4)
    0.0
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "nonnegative": [StrOptions({"relu", "shift", "none"})],
        "solver": [StrOptions({"cd", "mu", "minibatch"})],
        "init": [StrOptions({"random", "nndsvd", "nndsvda", "nndsvdar"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "chunk_rows": [Interval(Integral, 1, None, closed="left")],
        "top_k": [Interval(Integral, 1, None, closed="left")],
        "max_memory_gb": [Interval(Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
    }

    def __init__(self, n_components: int = 10, *, nonnegative: str = "relu", solver: str = "cd",
                 init: str = "nndsvda", max_iter: int = 500, tol: float = 1e-4, batch_size: int = 1024,
                 chunk_rows: int = 8192, top_k: int = 10, max_memory_gb: float | None = None,
                 random_state: Any = 0) -> None:
        self.n_components = n_components
        self.nonnegative = nonnegative
        self.solver = solver
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.chunk_rows = chunk_rows
        self.top_k = top_k
        self.max_memory_gb = max_memory_gb
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, *, progress: Callable[[int], None] | None = None) -> "ActivationNMF":
        """Factorise ``X`` (an array, an h5py dataset or a store view).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
        y : ignored
        progress : callable, optional
            Called with the number of rows of every block read (for a progress bar).

        Returns
        -------
        self
        """
        self._validate_params()
        X, n_rows, n_neurons = as_rows(X)
        tick = progress or (lambda n: None)
        self.shift_ = self._shift(X, n_neurons, tick)
        if self.solver == "minibatch":
            model = self._fit_minibatch(X, tick)
        else:
            model = self._fit_full(X, tick)
        self._model = model
        self.components_ = np.asarray(model.components_, dtype=np.float64)
        self.n_iter_ = int(getattr(model, "n_iter_", self.max_iter))
        self.n_features_in_ = n_neurons
        self._summarise(X, tick)
        return self

    def _shift(self, X: Any, n_neurons: int, tick) -> np.ndarray:
        if self.nonnegative != "shift":
            return np.zeros(n_neurons)
        low = np.full(n_neurons, np.inf)
        for _, _, block in iter_blocks(X, self.chunk_rows):
            low = np.minimum(low, block.min(axis=0))
            tick(block.shape[0])
        return np.where(low < 0, -low, 0.0)

    def _prepare(self, block: np.ndarray, start: int) -> np.ndarray:
        """A block of rows made non-negative by the configured rule (float64)."""
        block = block + self.shift_[None, :] if self.nonnegative == "shift" else block
        if self.nonnegative == "none":
            bad = np.argwhere(block < 0)
            if bad.size:
                r, c = bad[0]
                raise InvalidParameterError(
                    f"X has a negative value ({block[r, c]:.4g} at row {start + r}, column {c}) and "
                    "nonnegative='none'; pass nonnegative='relu' (Ecco's max(a, 0)) or 'shift'")
            return block
        return np.maximum(block, 0.0)

    def _fit_full(self, X: Any, tick):
        from sklearn.decomposition import NMF

        n_rows = X.shape[0]
        check_memory_need(16.0 * n_rows * X.shape[1], f"NMF of {n_rows} x {X.shape[1]} activations in memory",
                          max_memory_gb=self.max_memory_gb, hint="use solver='minibatch', which streams row chunks")
        data = np.empty(X.shape, dtype=np.float64)
        for start, stop, block in iter_blocks(X, self.chunk_rows):
            data[start:stop] = self._prepare(block, start)
            tick(stop - start)
        self._check_rank(n_rows, X.shape[1])
        model = NMF(n_components=self.n_components, init=self.init, solver=self.solver, max_iter=self.max_iter,
                    tol=self.tol, random_state=self.random_state)
        model.fit(data)
        return model

    def _fit_minibatch(self, X: Any, tick):
        from sklearn.decomposition import MiniBatchNMF

        self._check_rank(X.shape[0], X.shape[1])
        model = MiniBatchNMF(n_components=self.n_components, init=self.init, batch_size=self.batch_size,
                             max_iter=1, transform_max_iter=200, tol=self.tol, random_state=self.random_state)
        for _ in range(self.max_iter):
            for start, stop, block in iter_blocks(X, self.chunk_rows):
                model.partial_fit(self._prepare(block, start))
                tick(stop - start)
        return model

    def _check_rank(self, n_rows: int, n_neurons: int) -> None:
        if self.init != "random" and self.n_components > min(n_rows, n_neurons):
            raise InvalidParameterError(
                f"n_components={self.n_components} exceeds min(rows, neurons) = {min(n_rows, n_neurons)}, the "
                f"largest rank init='{self.init}' supports; lower n_components or pass init='random'")

    # ------------------------------------------------------------------ transform and summary
    def transform(self, X: Any) -> np.ndarray:
        """``W``: the component activations of every row of ``X`` (read in blocks)."""
        if not hasattr(self, "components_"):
            raise NotFittedError("This ActivationNMF instance is not fitted yet; call fit first.")
        X, n_rows, n_neurons = as_rows(X)
        check_n_features(self, n_neurons)
        out = np.empty((n_rows, self.n_components))
        for start, stop, block in iter_blocks(X, self.chunk_rows):
            out[start:stop] = self._model.transform(self._prepare(block, start))
        return out

    def _summarise(self, X: Any, tick) -> None:
        """One streaming pass: top rows of every component, component mass and reconstruction error."""
        H = self.components_
        k = min(self.top_k, X.shape[0])
        best_w = np.full((self.n_components, 0), -np.inf)
        best_r = np.zeros((self.n_components, 0), dtype=np.int64)
        mass = np.zeros(self.n_components)
        err2 = norm2 = 0.0
        for start, stop, block in iter_blocks(X, self.chunk_rows):
            data = self._prepare(block, start)
            W = self._model.transform(data)
            err2 += float(((data - W @ H) ** 2).sum())
            norm2 += float((data ** 2).sum())
            mass += W.sum(axis=0) * H.sum(axis=1)
            rows = np.arange(start, stop, dtype=np.int64)
            cand_w = np.concatenate([best_w, W.T], axis=1)
            cand_r = np.concatenate([best_r, np.broadcast_to(rows, (self.n_components, rows.size))], axis=1)
            order = np.lexsort((cand_r, -cand_w), axis=1)[:, :k] if cand_w.shape[1] else cand_r
            best_w = np.take_along_axis(cand_w, order, axis=1)
            best_r = np.take_along_axis(cand_r, order, axis=1)
            tick(stop - start)
        self.top_rows_ = best_r
        self.top_row_weights_ = best_w
        self.component_mass_ = mass
        self.reconstruction_err_ = float(np.sqrt(err2))
        self.data_norm_ = float(np.sqrt(norm2))
        kn = min(self.top_k, H.shape[1])
        self.top_neurons_ = np.lexsort((np.broadcast_to(np.arange(H.shape[1]), H.shape), -H), axis=1)[:, :kn]
        groups = H.argmax(axis=0).astype(np.int64)
        groups[H.max(axis=0) <= 0] = -1
        self.neuron_groups_ = groups
