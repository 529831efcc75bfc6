"""MaxCorr and MinCorr: neurons that have a highly correlated counterpart in the other models (Bau et al. 2019)."""
from __future__ import annotations

import numpy as np

from neuronlab.concepts.multimodel.base import CrossModelRanker
from neuronlab.concepts.multimodel.moments import JointMoments, correlation

__all__ = ["MaxCorr", "MinCorr"]


class _BestCorrelation(CrossModelRanker):
    """Per neuron and other model, the largest ``|r|`` with any neuron of that model; reduced over models."""

    _fitted = CrossModelRanker._fitted | {"best_match_", "best_correlation_"}
    _reduce = staticmethod(np.max)

    def _score(self, moments: JointMoments) -> list[np.ndarray]:
        n_models = len(moments.bounds)
        self.best_match_, self.best_correlation_ = [], []
        scores = []
        for m in range(n_models):
            match, corr = {}, {}
            for f in range(n_models):
                if f == m:
                    continue
                r = correlation(moments, m, f)
                j = np.argmax(np.abs(r), axis=1)
                match[f] = j.astype(np.int64)
                corr[f] = r[np.arange(r.shape[0]), j]
            self.best_match_.append(match)
            self.best_correlation_.append(corr)
            scores.append(self._reduce(np.stack([np.abs(v) for v in corr.values()]), axis=0))
        return scores


class MaxCorr(_BestCorrelation):
    """Rank neurons by their maximum correlation with a neuron of any other model (Bau et al. 2019).

    ``MaxCorr(x_i^m) = max_{f != m} max_j |rho(x_i^m, x_j^f)|`` with Pearson's ``rho`` over the rows of the
    shared corpus: a neuron that some other model has learned too (the paper's hypothesis: important neurons
    emerge in every model trained for the task).

    Parameters
    ----------
    chunk_rows : int, default=16384
        Rows read at a time.

    Attributes
    ----------
    scores_ : list of ndarray of shape (n_neurons_m,)
    ranking_ : list of int64 ndarray
    best_match_ : list of dict
        ``best_match_[m][f]``: for every neuron of model m, the index of its most correlated neuron in model f.
    best_correlation_ : list of dict
        ``best_correlation_[m][f]``: that signed correlation.

    References
    ----------
    A. Bau, Y. Belinkov, H. Sajjad, N. Durrani, F. Dalvi, J. Glass (2019). Identifying and Controlling Important
    Neurons in Neural Machine Translation. ICLR.

    See Also
    --------
    MinCorr, LinReg

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(500, 4)); b = rng.normal(size=(500, 3)); b[:, 1] = -2 * a[:, 2]
    >>> r = MaxCorr().fit([a, b])
    >>> int(r.ranking_[0][0]), int(r.best_match_[0][1][2]), round(float(r.best_correlation_[0][1][2]), 6)
    (2, 1, -1.0)
    """

    _reduce = staticmethod(np.max)


class MinCorr(_BestCorrelation):
    """Rank neurons by the minimum over the other models of their best correlation (Bau et al. 2019).

    ``MinCorr(x_i^m) = min_{f != m} max_j |rho(x_i^m, x_j^f)|``: a neuron ranks high only if *every* other
    model has a counterpart. With two models it equals MaxCorr.

    Parameters
    ----------
    chunk_rows : int, default=16384

    Attributes
    ----------
    scores_, ranking_, best_match_, best_correlation_
        As :class:`MaxCorr`.

    References
    ----------
    A. Bau et al. (2019). Identifying and Controlling Important Neurons in Neural Machine Translation. ICLR.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b, c = (rng.normal(size=(500, 3)) for _ in range(3))
    >>> b[:, 0] = a[:, 0]; b[:, 1] = a[:, 1]; c[:, 1] = a[:, 1]   # a0 is shared with b only, a1 with b and c
    >>> int(MinCorr().fit([a, b, c]).ranking_[0][0]), int(MaxCorr().fit([a, b, c]).ranking_[0][0])
    (1, 0)
    """

    _reduce = staticmethod(np.min)
