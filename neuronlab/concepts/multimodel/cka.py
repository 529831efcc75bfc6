"""Linear CKA between layers (sites) of one or several models (Kornblith et al. 2019)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from neuronlab.concepts.multimodel.base import CrossModelEstimator
from neuronlab.concepts.multimodel.moments import JointMoments

__all__ = ["LinearCKA", "linear_cka"]


def linear_cka(moments: JointMoments, a: int, b: int) -> float:
    """``||C_ab||_F^2 / (||C_aa||_F ||C_bb||_F)`` with the centred (cross-)covariances of blocks ``a`` and ``b``.

    Equal to ``HSIC(XX^T, YY^T) / sqrt(HSIC(XX^T, XX^T) HSIC(YY^T, YY^T))`` on the centred rows (the ``1/n``
    factors cancel). 0 when a block is constant.
    """
    num = float(np.sum(moments.cov(a, b) ** 2))
    den = float(np.linalg.norm(moments.cov(a, a)) * np.linalg.norm(moments.cov(b, b)))
    return num / den if den > 0 else 0.0


class LinearCKA(CrossModelEstimator):
    """Linear centred kernel alignment between every pair of activation blocks (sites of any models).

    Invariant to orthogonal transforms and isotropic scaling of either block, not to arbitrary invertible
    linear maps (unlike CCA), which makes it able to tell layers apart where CCA saturates.

    Parameters
    ----------
    chunk_rows : int, default=16384

    Attributes
    ----------
    similarity_ : ndarray of shape (n_blocks, n_blocks)
        ``CKA(block_i, block_j)`` (1 on the diagonal for non-constant blocks; symmetric).

    References
    ----------
    S. Kornblith, M. Norouzi, H. Lee, G. Hinton (2019). Similarity of Neural Network Representations
    Revisited. ICML.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 5))
    >>> q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    >>> np.round(LinearCKA().fit([x, 3 * x @ q + 1, rng.normal(size=(300, 5))]).similarity_[0, 1:], 2).tolist()
    [1.0, 0.01]
    """

    _fitted = frozenset({"similarity_", "n_rows_", "n_features_in_"})
    min_models = 1

    def fit(self, Xs: Sequence[Any], y: None = None, *, progress: Any = None) -> "LinearCKA":
        """CKA of every pair of blocks in ``Xs`` (each of shape (n_rows, width_b), the same rows)."""
        moments = self._moments(Xs, progress)
        n = len(moments.bounds)
        sim = np.eye(n)
        for i in range(n):
            sim[i, i] = linear_cka(moments, i, i)
            for j in range(i + 1, n):
                sim[i, j] = sim[j, i] = linear_cka(moments, i, j)
        self.similarity_ = sim
        return self
