"""SVCCA: canonical directions shared by two models after an SVD reduction (Raghu et al. 2017; Bau et al. 2019)."""
from __future__ import annotations

from numbers import Real
from typing import Any, Sequence

import numpy as np

from neuronlab.concepts.multimodel.base import CrossModelEstimator
from neuronlab.concepts.multimodel.moments import JointMoments
from neuronlab.concepts.rankers.base import DEFAULT_CHUNK_ROWS
from neuronlab.concepts.validation import Interval

__all__ = ["SVCCA", "svcca_from_moments"]


def _reduce(cov: np.ndarray, variance: float) -> tuple[np.ndarray, np.ndarray]:
    """Top principal directions of a covariance that explain ``variance`` of its trace, and their variances."""
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    evals, evecs = np.clip(evals[order], 0.0, None), evecs[:, order]
    total = evals.sum()
    if total <= 0:
        return evecs[:, :0], evals[:0]
    k = int(np.searchsorted(np.cumsum(evals), variance * total * (1 - 1e-12))) + 1
    k = min(k, int((evals > evals[0] * 1e-12).sum()))
    return evecs[:, :k], evals[:k]


def svcca_from_moments(moments: JointMoments, a: int, b: int, *, variance: float = 0.99) -> dict:
    """SVCCA between blocks ``a`` and ``b`` of ``moments``.

    1. SVD step: each block is projected on its top principal directions that explain ``variance`` of its
       variance (the SVD of the centred activations; here from the eigen-decomposition of the covariance).
    2. CCA step: the canonical correlations of the two reduced blocks are the singular values of
       ``Lx^{-1/2} Vx^T C_ab Vy Ly^{-1/2}`` (the principal components are already uncorrelated).

    Returns
    -------
    dict with
        ``correlations`` (descending canonical correlations), ``similarity`` (their mean, Raghu et al.'s SVCCA
        similarity), ``directions_a`` / ``directions_b`` (ndarray of shape (n_neurons, k): the canonical
        directions as unit vectors over each block's neurons, column ``k`` paired with correlation ``k``),
        ``kept`` (principal directions kept per block).
    """
    va, la = _reduce(moments.cov(a, a), variance)
    vb, lb = _reduce(moments.cov(b, b), variance)
    wa = va / np.sqrt(la)[None, :]
    wb = vb / np.sqrt(lb)[None, :]
    u, s, vt = np.linalg.svd(wa.T @ moments.cov(a, b) @ wb, full_matrices=False)
    s = np.clip(s, 0.0, 1.0)
    da, db = wa @ u, wb @ vt.T
    da /= np.maximum(np.linalg.norm(da, axis=0, keepdims=True), 1e-300)
    db /= np.maximum(np.linalg.norm(db, axis=0, keepdims=True), 1e-300)
    return {"correlations": s, "similarity": float(s.mean()) if s.size else 0.0,
            "directions_a": da, "directions_b": db, "kept": (va.shape[1], vb.shape[1])}


class SVCCA(CrossModelEstimator):
    """SVCCA between every pair of models: shared directions ranked by canonical correlation.

    Bau et al. (2019) use SVCCA (Raghu et al. 2017) as the distributed counterpart of MaxCorr: it ranks
    *directions* (linear combinations of neurons), not neurons; the top directions of a model are those most
    correlated with a direction of the other model. For each ordered pair ``(m, f)``, ``pairs_[(m, f)]`` holds
    the canonical correlations (descending) and the directions in model m's neuron space.

    Parameters
    ----------
    variance : float in (0, 1], default=0.99
        Share of each model's variance kept by the SVD step (Raghu et al.'s 99%).
    chunk_rows : int, default=16384

    Attributes
    ----------
    pairs_ : dict of (int, int) -> dict
        :func:`svcca_from_moments` of every ordered pair of models.
    similarity_ : ndarray of shape (n_models, n_models)
        Mean canonical correlation of every pair (1 on the diagonal).

    References
    ----------
    M. Raghu, J. Gilmer, J. Yosinski, J. Sohl-Dickstein (2017). SVCCA: Singular Vector Canonical Correlation
    Analysis for Deep Learning Dynamics and Interpretability. NeurIPS.
    A. Bau et al. (2019). Identifying and Controlling Important Neurons in Neural Machine Translation. ICLR.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(1000, 2))
    >>> a = np.c_[z, rng.normal(size=(1000, 2))] @ rng.normal(size=(4, 4))
    >>> b = np.c_[z @ rng.normal(size=(2, 2)), rng.normal(size=(1000, 1))]
    >>> np.round(SVCCA(variance=1.0).fit([a, b]).pairs_[0, 1]["correlations"], 6).tolist()
    [1.0, 1.0, 0.070593]
    """

    _parameter_constraints: dict = {**CrossModelEstimator._parameter_constraints,
                                    "variance": [Interval(Real, 0, 1, closed="right")]}
    _fitted = frozenset({"pairs_", "similarity_", "n_rows_", "n_features_in_"})

    def __init__(self, *, variance: float = 0.99, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.variance = variance
        self.chunk_rows = chunk_rows

    def fit(self, Xs: Sequence[Any], y: None = None, *, progress: Any = None) -> "SVCCA":
        """SVCCA of every pair of models in ``Xs`` (one activation matrix per model, the same rows)."""
        moments = self._moments(Xs, progress)
        n = len(moments.bounds)
        self.pairs_ = {}
        self.similarity_ = np.eye(n)
        for m in range(n):
            for f in range(m + 1, n):
                res = svcca_from_moments(moments, m, f, variance=self.variance)
                self.pairs_[m, f] = res
                self.pairs_[f, m] = {**res, "directions_a": res["directions_b"], "directions_b": res["directions_a"],
                                     "kept": res["kept"][::-1]}
                self.similarity_[m, f] = self.similarity_[f, m] = res["similarity"]
        return self
