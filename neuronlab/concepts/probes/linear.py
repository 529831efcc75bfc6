"""Regularised linear probes (multinomial / binary logistic regression).

The probe of Dalvi et al. (2019) is a logistic-regression classifier trained on neuron
activations with an elastic-net penalty; the size of its weights ranks the neurons (see
:mod:`neuronlab.concepts.rankers.linear`). NeuroX trains it with minibatch Adam; here the
same convex objective is minimised with a deterministic, full-batch quasi-Newton method
(OWL-QN, :mod:`neuronlab.concepts.probes._owlqn`; on large data on a working set of neurons,
:mod:`neuronlab.concepts.probes._colset`).

Objective
---------
With ``n`` rows, sample weights ``s_i`` (from ``class_weight``, 1 by default), weights ``W``
and an unpenalised intercept ``b``, one of two objectives (give the parameters of one, never both):

* NeuroX (Dalvi et al. 2019), ``lambda_l1``, ``lambda_l2``: NeuroX's exact objective, the
  *unsquared* Frobenius norm (its ``l2_penalty`` is ``sqrt(sum(W**2))``), and a softmax over all
  classes, also for two (NeuroX trains a two-output softmax)::

    J(W, b) = (1/n) * sum_i s_i * CE(y_i, x_i W + b) + lambda_l1 * ||W||_1 + lambda_l2 * ||W||_F

* glmnet / scikit-learn, ``alpha``, ``l1_ratio``: the squared norm, and one sigmoid vector for
  two classes::

    J(W, b) = (1/n) * sum_i s_i * CE(y_i, x_i W + b) + alpha * (l1_ratio * ||W||_1 + 0.5 * (1 - l1_ratio) * ||W||_F^2)

  scikit-learn's ``LogisticRegression(C=C, l1_ratio=r)`` minimises ``n * C`` times the same
  objective, so ``alpha = 1 / (n_samples * C)``.

The L1 terms agree (``lambda_l1 = alpha * l1_ratio``); the L2 terms do not map onto each other
(one is a norm, the other its square), so the same lambdas mean what they mean in NeuroX only in
NeuroX's parametrisation. NeuroX itself minimises this objective with 10 epochs of minibatch Adam,
which stops short of the optimum; here it is minimised to convergence.

References
----------
Dalvi, F., Durrani, N., Sajjad, H., Belinkov, Y., Bau, A., Glass, J. (2019). What is one grain
of sand in the desert? Analyzing individual neurons in deep NLP models. AAAI.
Andrew, G., Gao, J. (2007). Scalable training of L1-regularized log-linear models. ICML.
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from neuronlab.concepts.probes._numerics import (_CHUNK, _PENALTY_L2, _column_moments, _constant_columns,
                                                 _generator, _zero_is_optimal)
from neuronlab.concepts.probes._chunked import is_row_source
from neuronlab.concepts.probes._colset import working_set_owlqn
from neuronlab.concepts.probes._objective import SmoothPart
from neuronlab.concepts.probes._owlqn import OWLQNResult, owlqn
from neuronlab.concepts.probes._prox_newton import MAX_FREE, prox_newton
from neuronlab.concepts.validation import (Interval, Options, StrOptions, ValidatedEstimator,
                                           check_not_sparse_or_complex, check_target)
from neuronlab.errors import InvalidParameterError, NotFittedError

__all__ = ["LinearProbe", "as_float_rows"]

#: lambda_l1 = lambda_l2 when no penalty is given: the value NeuroX's example scripts and tutorial pass (the
#: defaults of NeuroX's functions themselves are 0, i.e. no penalty)
DEFAULT_LAMBDA = 1e-3
#: default solver tolerance (relative change of the weights, see LinearProbe.tol); the CLI and docs use it too
DEFAULT_TOL = 1e-2


def as_float_rows(X: Any, *, name: str = "X") -> np.ndarray:
    """Return ``X`` as a C-contiguous 2-d float array without needless copies.

    float32 and float64 arrays are returned as they are (when already C-contiguous);
    float16 and integer inputs are converted to float32 chunk by chunk, so that no float64
    temporary of the whole matrix is ever made; object arrays of numbers become float64. Sparse
    and complex inputs, empty arrays, NaN and infinity are refused.
    """
    if not hasattr(X, "dtype") or not hasattr(X, "shape"):
        X = np.asarray(X)
    check_not_sparse_or_complex(X, name=name)
    if len(X.shape) != 2:
        raise InvalidParameterError(
            f"{name} must be a 2-d array of shape (n_rows, n_neurons); got shape {tuple(X.shape)}. Reshape your data."
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        what = "0 sample(s)" if X.shape[0] == 0 else "0 feature(s)"
        raise InvalidParameterError(f"{name} is empty: {what} (shape={tuple(X.shape)}) while a minimum of 1 is required.")
    if X.dtype in (np.float32, np.float64) and isinstance(X, np.ndarray) and X.flags.c_contiguous:
        out = X
    elif np.dtype(X.dtype).kind not in "fiubO":
        raise InvalidParameterError(f"{name} must hold numbers; got dtype {X.dtype}")
    else:
        dtype = np.float64 if X.dtype in (np.float64, object) else np.float32
        out = np.empty(X.shape, dtype=dtype)
        for start in range(0, X.shape[0], _CHUNK):
            out[start:start + _CHUNK] = X[start:start + _CHUNK]
    if not np.isfinite(out[: min(len(out), _CHUNK)]).all() or not np.isfinite(out.sum(axis=0)).all():
        raise InvalidParameterError(f"{name} contains NaN or infinite values")
    return out


_PENALTY = [Interval(Real, 0, np.inf, closed="left"), None]

#: rows from which ``presolve="auto"`` warm-starts on a subsample and ``solver="auto"`` leaves plain OWL-QN
_LARGE = 40_000

#: ``solver="auto"`` on large data takes proximal Newton when its free set ``F`` (the warm start's non-zero weights)
#: fits its dense Hessian (at most ``_NEWTON_SHARE * MAX_FREE``) and that Hessian is not dear next to a pass over
#: ``X`` (``|F|^2 <= _NEWTON_RATIO * d * m``: a Hessian costs ~``|F|^2`` per subsample row, a pass ~``d m`` per row),
#: else the working set. Proximal Newton is the solver that stops at the converged ranking. Measured on EWT UPOS
#: (docs/benchmarks.md, "sixth attempt"; ratio, working set vs prox-newton time, working set's share of the converged
#: top 10 / top 1%): 65 (2,688 neurons, 17 classes): 31 s vs 12 s, 0.90 / 0.85; 119 (binary): 18 s vs 7 s,
#: 0.9 / 0.93; 163 (embeddings, 204k rows): 7.9 s vs 6.1 s, 1.0 / 0.75; 218 (one layer, 65k rows): 1.4 s vs
#: 3.7 s, 0.9 / 1.0; 680 (a control task, 204k rows): 6.2 s vs 13.4 s, the same ranking.
_NEWTON_SHARE = 0.75
_NEWTON_RATIO = 300.0


def _plain_owlqn(full, theta0, c, *, init_memory=(), callback=None, log=None, **stop) -> OWLQNResult:
    """OWL-QN on all neurons (every iteration one pass over all of ``X``)."""
    return owlqn(full.fun, full.grad, theta0, c, init_memory=init_memory, callback=callback, **stop)


#: solver name -> ``fn(full, theta0, c, *, init_memory, callback, log, max_iter, tol, xmask) -> OWLQNResult``
_SOLVERS = {"owlqn": _plain_owlqn, "working-set": working_set_owlqn, "prox-newton": prox_newton}


class LinearProbe(ValidatedEstimator, ClassifierMixin, BaseEstimator):
    """Elastic-net logistic-regression probe (Dalvi et al. 2019), fitted by full-batch OWL-QN.

    Parameters
    ----------
    lambda_l1, lambda_l2 : float, optional
        NeuroX parametrisation: the loss is ``mean CE + lambda_l1 * ||W||_1 + lambda_l2 *
        ||W||_F`` (unsquared norm, weights only; a softmax over all classes, also for two). When
        one of the two is given the other defaults to 0 (as in NeuroX, whose functions default to
        0). When neither nor ``alpha`` is given both are 1e-3, the value NeuroX's example scripts
        and tutorial pass.
    alpha, l1_ratio : float, optional
        glmnet / scikit-learn parametrisation: the penalty is ``alpha * (l1_ratio * ||W||_1 +
        0.5 * (1 - l1_ratio) * ||W||_F^2)`` (squared norm; one sigmoid vector for two classes);
        ``l1_ratio`` defaults to 0.5 when only ``alpha`` is given. The same objective as
        scikit-learn's ``LogisticRegression(C=1 / (n_samples * alpha), l1_ratio=l1_ratio)``.
        Giving these together with ``lambda_l1``/``lambda_l2`` is an error.
    class_weight : None, "balanced" or dict, default=None
        Sample weight of each class in the data term, as in scikit-learn ("balanced":
        ``n_samples / (n_classes * count)``). The data term is divided by ``n_samples`` (not by
        the sum of weights), which keeps the mapping to scikit-learn's ``C`` exact.
    fit_intercept : bool, default=True
        Fit an intercept per class; it is never penalised.
    standardize : bool, default=False
        Penalise the weights of the standardised features: the penalty applies to ``coef_ *
        scale_`` with ``scale_`` the (centred) standard deviation of each column, with or without
        an intercept, so every neuron is penalised alike whatever its scale (computed implicitly,
        ``X`` is not copied). ``coef_`` and ``intercept_`` apply to raw ``X``. Rankings use the
        penalised weights ``|coef_ * scale_|`` (:func:`~neuronlab.concepts.rankers.linear.probe_weights`).
    max_iter : int, default=100
        Maximum number of OWL-QN iterations (one pass over ``X`` each, plus rare line-search
        trials).
    tol : float, default=1e-2 (``DEFAULT_TOL``)
        Stop when the weights have settled: the largest change of a weight over the last 3
        iterations is at most ``tol`` times the largest weight (in the solver's scaled
        coordinates). Rankings come from the weights, so the rule watches the weights, not the
        objective (which flattens long before the weights stop moving). At the default the
        top-10 and top-1% neurons equal those of the fully converged probe on the 4,000 x 300
        six-class check in the tests; use 1e-6 or less for comparisons with other solvers.
    presolve : "auto", float or None, default="auto"
        Warm start: first solve the same objective on a fixed subsample of the rows (this fraction
        of them; "auto" = 1/8 when there are at least 40,000 rows), then continue on all rows from
        that point. Each subsample pass costs a fraction of a full pass and lands close to the
        full-data optimum, so the full phase needs only a few passes. The optimum is unchanged;
        the subsample is drawn with ``random_state``, so fits stay deterministic. None disables it.
    solver : {"auto", "owlqn", "working-set", "prox-newton"}, default="auto"
        "owlqn": OWL-QN on all neurons, every iteration one pass over all of ``X``. "working-set": OWL-QN on
        the neurons that carry weight (a copy of their columns), with a full pass after each round to let in the
        zero-weight neurons whose optimality condition fails; it ends when none fails after a round that met
        ``tol``, so it stops nearer the optimum than "owlqn" at the same ``tol`` (on EWT UPOS, 65k rows x 2,688
        neurons: objective 0.40813 vs 0.40858, in 0.85x the time; :mod:`~neuronlab.concepts.probes._colset`).
        With it ``max_iter`` bounds each round (at most 20). "prox-newton": proximal Newton steps on the free set
        (non-zero and violating weights), the Hessian built explicitly from a row subsample drawn where the
        curvature is, the local model solved by accelerated proximal gradient, each step about two full passes
        (:mod:`~neuronlab.concepts.probes._prox_newton`); ``max_iter`` bounds the Newton steps; the same ``tol``,
        applied to each Newton direction (an estimate of the distance to the minimiser: no weight would move by
        more than ``tol`` times the largest, and no zero weight would enter by more). On EWT UPOS it stops at the
        converged weights (the top-10 and top-1% neurons of a ``tol=1e-5`` fit, where the working set shares
        0.90 / 0.85) in under half the working set's time. "auto": OWL-QN below 40,000
        rows or without an L1 term; from 40,000 rows proximal Newton when the warm start's non-zero weights ``F`` fit
        its dense Hessian (at most 3,072) and are not many next to the weights (``|F|^2 <= 300 d m``), else the
        working set. The working set stops short of the converged ranking (0.9 of the top 10 on three EWT
        variants), so the rule leaves it only the dense problems where the Newton Hessian is dear (an EWT control
        task: 6 s against 13 s, the same ranking).
    random_state : int, RandomState instance or None, default=0
        Seed of the warm-start subsample (the only randomness of the fit).
    verbose : int, default=0
        Print the objective at every iteration when > 0.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_neurons), or (1, n_neurons) for two classes under alpha
        In the glmnet parametrisation, as in scikit-learn, a binary problem has one weight vector
        (a sigmoid model, whose positive class is ``classes_[1]``); in NeuroX's it has two rows
        (a two-output softmax, as NeuroX trains, so ``lambda_l2`` penalises both).
    intercept_ : ndarray of shape (n_classes,) or (1,)
    classes_ : ndarray of shape (n_classes,)
    scale_ : ndarray of shape (n_neurons,)
        Feature standard deviations when ``standardize`` else ones.
    n_iter_ : int
        Number of OWL-QN iterations (``n_fun_`` counts the objective evaluations).
    passes_ : float
        Cost of the fit in passes over all of ``X`` (subsample and working-set passes counted by their share).
    solver_ : {"owlqn", "working-set", "prox-newton"}
        The solver used.
    streamed_ : None, "chunked" or "dask"
        How ``X`` was read: in memory (None), or streamed from a row source in chunks.
    objective_ : float
        Final value of the objective ``J``.
    loss_curve_ : list of float
        Objective after each iteration.
    lambda_l1_, lambda_l2_ : float
        The L1 and L2 coefficients of the objective minimised (``alpha * l1_ratio`` and
        ``alpha * (1 - l1_ratio) / 2`` in the glmnet parametrisation).
    penalty_ : {"neurox", "glmnet"}
        Which objective: the unsquared norm and softmax ("neurox") or the squared norm ("glmnet").
    converged_ : bool

    Notes
    -----
    The solver is OWL-QN (Andrew & Gao 2007), a limited-memory quasi-Newton method for
    smooth + L1 objectives (plain L-BFGS when ``lambda_l1 = 0``). NeuroX's norm term goes into the
    smooth part: it is differentiable everywhere except at ``W = 0``, and that point is handled
    exactly: before solving, its optimality condition (``||soft(grad, lambda_l1)|| <= lambda_l2``)
    is checked, and if it holds the zero weights are returned; otherwise the optimum has
    ``W != 0``, where the norm is smooth. The solver runs in centred and scaled
    coordinates (an exact reparametrisation: the unpenalised intercept absorbs the centring
    and the penalty weights are rescaled, so the optimum is unchanged) for conditioning. Computation is in float32 for float16/float32 input
    (float16 is converted once, chunk by chunk) and in float64 for float64 input.

    References
    ----------
    Dalvi et al. (2019), What is one grain of sand in the desert? AAAI.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)).astype(np.float32)
    >>> y = (X[:, 2] > 0).astype(int)
    >>> probe = LinearProbe(lambda_l1=1e-3, lambda_l2=0.0).fit(X, y)
    >>> int(np.abs(probe.coef_[0]).argmax())
    2
    """

    _parameter_constraints: dict = {
        "lambda_l1": _PENALTY,
        "lambda_l2": _PENALTY,
        "alpha": _PENALTY,
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "fit_intercept": ["boolean"],
        "standardize": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "presolve": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="neither"), Options(bool, {False}), None],
        "solver": [StrOptions({"auto", *_SOLVERS})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        lambda_l1: float | None = None,
        lambda_l2: float | None = None,
        alpha: float | None = None,
        l1_ratio: float | None = None,
        class_weight: None | str | Mapping[Any, float] = None,
        fit_intercept: bool = True,
        standardize: bool = False,
        max_iter: int = 100,
        tol: float = DEFAULT_TOL,
        presolve: str | float | None = "auto",
        solver: str = "auto",
        random_state: Any = 0,
        verbose: int = 0,
    ) -> None:
        self.lambda_l1 = lambda_l1
        self.lambda_l2 = lambda_l2
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.class_weight = class_weight
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.presolve = presolve
        self.solver = solver
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ parameters
    def _penalties(self) -> tuple[float, float, str]:
        """``(lambda_l1, lambda_l2, form)``: form "neurox" (unsquared L2 norm) or "glmnet" (squared)."""
        neurox = self.lambda_l1 is not None or self.lambda_l2 is not None
        glmnet = self.alpha is not None or self.l1_ratio is not None
        if neurox and glmnet:
            raise InvalidParameterError(
                "give either lambda_l1/lambda_l2 (NeuroX) or alpha/l1_ratio (glmnet), not both; got "
                f"lambda_l1={self.lambda_l1!r}, lambda_l2={self.lambda_l2!r}, alpha={self.alpha!r}, "
                f"l1_ratio={self.l1_ratio!r}"
            )
        if glmnet:
            if self.alpha is None:
                raise InvalidParameterError(f"l1_ratio={self.l1_ratio!r} was given without alpha")
            alpha = float(self.alpha)
            ratio = 0.5 if self.l1_ratio is None else float(self.l1_ratio)
            return alpha * ratio, 0.5 * alpha * (1.0 - ratio), "glmnet"
        if neurox:
            l1 = 0.0 if self.lambda_l1 is None else float(self.lambda_l1)
            l2 = 0.0 if self.lambda_l2 is None else float(self.lambda_l2)
            return l1, l2, "neurox"
        return DEFAULT_LAMBDA, DEFAULT_LAMBDA, "neurox"

    def _sample_weight(self, codes: np.ndarray, n_classes: int) -> np.ndarray | None:
        cw = self.class_weight
        if cw is None:
            return None
        if isinstance(cw, str):  # "balanced" (the constraints table allows no other string)
            counts = np.bincount(codes, minlength=n_classes)
            per_class = len(codes) / (n_classes * counts)
        elif isinstance(cw, Mapping):
            unknown = [k for k in cw if k not in set(self.classes_.tolist())]
            if unknown:
                raise InvalidParameterError(
                    f"class_weight has keys {unknown!r} that are not classes; classes are {self.classes_.tolist()!r}"
                )
            per_class = np.array([float(cw.get(c, 1.0)) for c in self.classes_.tolist()])
            if (per_class < 0).any() or not np.isfinite(per_class).all():
                raise InvalidParameterError(f"class_weight values must be finite and >= 0; got {dict(cw)!r}")
        return per_class[codes]

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Sequence[Any] | np.ndarray) -> "LinearProbe":
        """Fit the probe by minimising the penalised cross-entropy (Dalvi et al. 2019).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons), or a row source
            Activations (float16, float32 or float64). A row source
            (:class:`~neuronlab.concepts.probes._chunked.ChunkedRows` over a store view, or
            :class:`~neuronlab.scale.dask_probe.DaskRows` on a dask cluster) is streamed: every pass of the
            solver is a sum over its row chunks, so the matrix is never held in memory and the optimum is the
            same (the working-set solver then falls back to plain OWL-QN; ``streamed_`` says how it was read).
        y : array-like of shape (n_rows,)
            Class labels (at least two distinct values).

        Returns
        -------
        self : LinearProbe
        """
        self._validate_params()
        l1, l2, form = self._penalties()
        streamed = is_row_source(X)
        X = X if streamed else as_float_rows(X)
        self.streamed_ = X.kind if streamed else None
        y = check_target(y, estimator=type(self).__name__)
        if len(y) != X.shape[0]:
            raise InvalidParameterError(
                f"y must be 1-d with one label per row of X ({X.shape[0]}); got shape {y.shape}"
            )
        self.classes_, codes = np.unique(y, return_inverse=True)
        codes = codes.reshape(-1)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise InvalidParameterError(
                f"y has only one class ({self.classes_.tolist()!r}); a probe needs at least 2 classes"
            )
        sw = self._sample_weight(codes, n_classes)
        n, d = X.shape
        # NeuroX trains a softmax over every class, also for two; the sigmoid (one vector) is scikit-learn's model
        m = 1 if n_classes == 2 and form == "glmnet" else n_classes
        dt = X.dtype
        self.lambda_l1_, self.lambda_l2_, self.penalty_ = l1, l2, form

        # The problem is always solved in scaled coordinates v_j = s_j * w_j (an exact reparametrisation: with an
        # intercept the columns are also centred, the intercept absorbing the centring), which makes it far better
        # conditioned for the quasi-Newton solver; the penalty applies to coef_ * scale_ whatever s is.
        mean, std = X.column_moments() if streamed else _column_moments(X)
        const = _constant_columns(mean, std)
        std = np.where(const, 1.0, std)
        self.scale_ = std if self.standardize else np.ones(d)
        fi = bool(self.fit_intercept)
        if fi:
            s, shift = std, np.where(const, 0.0, mean / std)
        else:  # without an intercept the centring cannot be absorbed: scale by the root mean square
            rms = (X.column_moments(center=False) if streamed else _column_moments(X, center=False))[1]
            const = rms <= 0
            s, shift = np.where(const, 1.0, rms), np.zeros(d)
        inv64 = np.where(const, 0.0, 1.0 / s)  # constant columns are left out (weight 0)
        inv = inv64.astype(dt)
        ratio = self.scale_ / s  # penalised weight coef_j * scale_j = ratio_j * v_j
        pen1 = np.repeat(l1 * ratio, m)  # theta[:nw] is V.ravel() with V of shape (d, m)
        w2 = (ratio * ratio)[:, None]

        # targets, weights
        if m == 1:
            target = (codes == 1).astype(dt)[:, None]
        else:
            target = np.zeros((n, m), dtype=dt)
            target[np.arange(n), codes] = 1
        sw_all = np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)
        nw = d * m
        zeros_m = np.zeros(m)
        full = SmoothPart(X, target, sw_all / n, inv=inv, shift=shift, m=m, fit_intercept=fi,
                          penalty=_PENALTY_L2[form], w2=w2, l2=l2)
        fun, grad = full.fun, full.grad

        # initial point: zero weights, intercept at the (weighted) log class priors (optimal for zero weights)
        theta0 = np.zeros(nw + m)
        if fi:
            prior = np.bincount(codes, weights=sw, minlength=n_classes)
            logp = np.log(np.clip(prior / prior.sum(), 1e-12, None))
            theta0[nw:] = logp[1] - logp[0] if m == 1 else logp - logp.mean()
        l1_weights = np.concatenate([pen1, zeros_m])

        def callback(it: int, value: float, theta: np.ndarray) -> None:
            if self.verbose > 0:
                print(f"LinearProbe iter {it}: objective {value:.8g}")

        stop = dict(max_iter=int(self.max_iter), tol=float(self.tol), xmask=np.arange(nw + m) < nw)
        n_sub = self._presolve_rows(n)
        if streamed and not X.fits(n_sub):
            n_sub = 0  # the warm-start subsample is read into memory only when it fits the budget
        self.presolve_iter_ = 0
        self.solver_ = "owlqn" if streamed else self._solver_name(n, l1)  # the working set copies columns
        if form == "neurox" and l2 > 0 and _zero_is_optimal(fun, grad, theta0, pen1, w2, l2, nw):
            # the unsquared norm is not differentiable at W = 0: check that point's optimality condition first
            value = fun(theta0)[0]
            res = OWLQNResult(theta0, value, 0, 1, True, "zero weights are optimal", [value])
        else:
            warm_memory: tuple = ()
            if n_sub:
                # warm start: the same objective on a fixed subsample of rows (a fraction of the cost per pass),
                # then the full data from there; the optimum is the full-data one, only the path is cheaper
                idx = np.sort(_generator(self.random_state).choice(n, size=n_sub, replace=False))
                sub = full.rows(idx, sw_all[idx] / n_sub)
                pre = owlqn(sub.fun, sub.grad, theta0, l1_weights, **stop)
                theta0, warm_memory = pre.x, pre.memory
                self.presolve_iter_ = pre.n_iter
                if not streamed:  # the warm start's sparsity decides between Newton and the working set
                    self.solver_ = self._solver_name(n, l1, warm_nnz=np.count_nonzero(pre.x[:nw]), n_weights=nw)
            res = _SOLVERS[self.solver_](full, theta0, l1_weights, init_memory=warm_memory, callback=callback,
                                   log=print if self.verbose > 1 else None, **stop)
        self.passes_ = full.passes
        V = res.x[:nw].reshape(d, m)
        b = res.x[nw:] if fi else zeros_m
        coef = V * inv64[:, None]
        intercept = b - shift @ V
        self.coef_ = np.ascontiguousarray(coef.T)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.n_iter_ = res.n_iter
        self.n_fun_ = res.n_fun
        self.objective_ = res.fun
        self.loss_curve_ = res.history
        self.converged_ = res.converged
        self.n_features_in_ = d
        if self.verbose > 0:
            print(f"LinearProbe: {res.message} after {self.n_iter_} iterations ({self.n_fun_} passes)")
        return self

    def _solver_name(self, n: int, l1: float, warm_nnz: int | None = None, n_weights: int = 0) -> str:
        """The solver of a fit on ``n`` rows. "auto" is OWL-QN below 40,000 rows or without an L1 term (then no
        weight is zero); from 40,000 rows proximal Newton when the warm start's non-zero weights (``warm_nnz``,
        standing for the free set ``F``) fit its dense Hessian (at most ``_NEWTON_SHARE * MAX_FREE``) and make it
        cheap enough next to a pass over ``X`` (``|F|^2 <= _NEWTON_RATIO * n_weights``), else (or without a warm
        start) the working set."""
        if self.solver != "auto":
            return self.solver
        if n < _LARGE or l1 <= 0:
            return "owlqn"
        if (warm_nnz is not None and warm_nnz <= _NEWTON_SHARE * MAX_FREE
                and warm_nnz ** 2 <= _NEWTON_RATIO * n_weights):
            return "prox-newton"
        return "working-set"

    def _presolve_rows(self, n: int) -> int:
        """Rows of the warm-start subsample (0: none)."""
        p = self.presolve  # checked by the constraints table
        if p is None or p is False:
            return 0
        if isinstance(p, str):
            return n // 8 if n >= _LARGE else 0
        k = int(round(p * n))
        return k if 100 <= k < n else 0

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits: ``X @ coef_.T + intercept_``; for two classes the log-odds of ``classes_[1]``, shape (n_rows,).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)

        Returns
        -------
        ndarray of shape (n_rows, n_classes) or (n_rows,)
        """
        self._check_fitted()
        if not hasattr(X, "shape"):
            X = np.asarray(X)
        check_not_sparse_or_complex(X)
        if len(X.shape) != 2:
            raise InvalidParameterError(
                f"X must have shape (n_rows, {self.coef_.shape[1]}); got shape {tuple(X.shape)}. Reshape your data."
            )
        if X.shape[1] != self.coef_.shape[1]:
            raise InvalidParameterError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.coef_.shape[1]} features "
                f"as input (X must have shape (n_rows, {self.coef_.shape[1]}); got shape {tuple(X.shape)})"
            )
        coef_t = self.coef_.T
        out = np.empty((X.shape[0], coef_t.shape[1]))
        for start in range(0, X.shape[0], _CHUNK):
            block = np.asarray(X[start:start + _CHUNK])
            if block.dtype not in (np.float32, np.float64):
                block = block.astype(np.float64 if block.dtype == object else np.float32)
            if not np.isfinite(block).all():
                bad = np.argwhere(~np.isfinite(block))[0]
                raise InvalidParameterError(
                    f"X contains NaN or infinity (first at row {start + int(bad[0])}, neuron {int(bad[1])}); "
                    "remove or impute those rows before predicting."
                )
            out[start:start + _CHUNK] = block @ coef_t.astype(block.dtype)
        out += self.intercept_
        if out.shape[1] == 1:
            return out[:, 0]
        if out.shape[1] == 2:  # NeuroX's two-output softmax: the log-odds of the second class (scikit-learn's form)
            return out[:, 1] - out[:, 0]
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_rows, n_classes).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)

        Returns
        -------
        ndarray of shape (n_rows, n_classes)
        """
        z = self.decision_function(X)
        if z.ndim == 1:
            p1 = 0.5 * (1 + np.tanh(0.5 * z))
            return np.stack([1 - p1, p1], axis=1)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class of each row.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        z = self.decision_function(X)
        idx = (z > 0).astype(int) if z.ndim == 1 else z.argmax(axis=1)
        return self.classes_[idx]
