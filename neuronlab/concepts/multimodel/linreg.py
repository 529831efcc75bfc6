"""LinReg: how well a neuron is predicted linearly from another model's whole layer (Bau et al. 2019)."""
from __future__ import annotations

import numpy as np

from neuronlab.concepts.multimodel.base import CrossModelRanker
from neuronlab.concepts.multimodel.moments import JointMoments, correlation

__all__ = ["LinReg", "regression_errors"]


def regression_errors(moments: JointMoments, target: int, source: int) -> np.ndarray:
    """Mean squared error of the least-squares prediction of every standardised neuron of block ``target``
    from all standardised neurons of block ``source`` (with intercept).

    On standardised variables the error is ``1 - r^T R^+ r`` (``R``: the source's correlation matrix, ``r``:
    the correlations of the target neuron with the source neurons; the pseudo-inverse gives the least-squares
    fit also when the source's neurons are linearly dependent). A constant target neuron gets NaN.
    """
    r_ss = correlation(moments, source, source)
    constant = moments.std(source) == 0
    r_ss[constant, constant] = 1.0  # their correlations are 0: they drop out of the fit
    r_st = correlation(moments, source, target)
    coef = np.linalg.lstsq(r_ss, r_st, rcond=None)[0]
    err = 1.0 - np.einsum("st,st->t", r_st, coef)
    err = np.clip(err, 0.0, 1.0)
    err[moments.std(target) == 0] = np.nan
    return err


class LinReg(CrossModelRanker):
    """Rank neurons by how well every other model's full layer predicts them linearly (Bau et al. 2019).

    Neurons are standardised; for neuron ``x_i^m`` and every other model ``f`` a least-squares regression
    from all neurons of ``f`` (with intercept) predicts it, with mean squared error ``e_f(i)``. A neuron's
    score is ``-max_{f != m} e_f(i)``: ranked by its worst error over the other models, lowest first (as the
    paper's code ranks, so only neurons that every model can reproduce rank high). Unlike MaxCorr it credits
    information that is distributed over several neurons of the other model.

    Parameters
    ----------
    chunk_rows : int, default=16384

    Attributes
    ----------
    errors_ : list of dict
        ``errors_[m][f]``: ndarray of shape (n_neurons_m,), the mean squared error ``e_f`` (``1 - R^2``;
        NaN for a constant neuron, which ranks last).
    scores_, ranking_
        See :class:`~neuronlab.concepts.multimodel.base.CrossModelRanker`.

    References
    ----------
    A. Bau et al. (2019). Identifying and Controlling Important Neurons in Neural Machine Translation. ICLR.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(400, 3)); b = rng.normal(size=(400, 4))
    >>> a[:, 1] = b[:, 0] + b[:, 3]          # distributed over two neurons of b
    >>> r = LinReg().fit([a, b])
    >>> int(r.ranking_[0][0]), round(float(r.errors_[0][1][1]), 8)
    (1, 0.0)
    """

    _fitted = CrossModelRanker._fitted | {"errors_"}

    def _score(self, moments: JointMoments) -> list[np.ndarray]:
        n_models = len(moments.bounds)
        self.errors_ = [{f: regression_errors(moments, m, f) for f in range(n_models) if f != m}
                        for m in range(n_models)]
        return [-np.max(np.stack(list(e.values())), axis=0) for e in self.errors_]
