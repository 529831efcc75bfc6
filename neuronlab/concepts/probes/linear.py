"""Regularised linear probes (multinomial / binary logistic regression).

The probe of Dalvi et al. (2019) is a logistic-regression classifier trained on neuron
activations with an elastic-net penalty; the size of its weights ranks the neurons (see
:mod:`neuronlab.concepts.rankers.linear`). NeuroX trains it with minibatch Adam; here the
same convex objective is minimised with a deterministic, full-batch quasi-Newton method
(OWL-QN, :mod:`neuronlab.concepts.probes._owlqn`) which reaches the optimum in a few dozen passes over the data.

Objective
---------
With ``n`` rows, sample weights ``s_i`` (from ``class_weight``, 1 by default), weights ``W``
and an unpenalised intercept ``b``::

    J(W, b) = (1/n) * sum_i s_i * CE(y_i, x_i W + b) + lambda_l1 * ||W||_1 + lambda_l2 * ||W||_2^2

Two parametrisations of the penalty are accepted (give one of them, never both):

* NeuroX (Dalvi et al. 2019): ``lambda_l1``, ``lambda_l2`` as written above;
* glmnet / scikit-learn: ``alpha * (l1_ratio * ||W||_1 + 0.5 * (1 - l1_ratio) * ||W||_2^2)``,
  i.e. ``lambda_l1 = alpha * l1_ratio`` and ``lambda_l2 = 0.5 * alpha * (1 - l1_ratio)``.
  scikit-learn's ``LogisticRegression(C=C, l1_ratio=r)`` minimises ``n * C`` times the same
  objective, so ``alpha = 1 / (n_samples * C)``.

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

from neuronlab.concepts.probes._owlqn import owlqn
from neuronlab.concepts.validation import (Interval, Options, StrOptions, ValidatedEstimator,
                                           check_not_sparse_or_complex, check_target)
from neuronlab.errors import InvalidParameterError, NotFittedError

__all__ = ["LinearProbe", "as_float_rows"]

_CHUNK = 8192
_DEFAULT_LAMBDA = 1e-3  # NeuroX's default for both lambda_l1 and lambda_l2


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


class LinearProbe(ValidatedEstimator, ClassifierMixin, BaseEstimator):
    """Elastic-net logistic-regression probe (Dalvi et al. 2019), fitted by full-batch OWL-QN.

    Parameters
    ----------
    lambda_l1, lambda_l2 : float, optional
        NeuroX parametrisation: the loss is ``mean CE + lambda_l1 * ||W||_1 + lambda_l2 *
        ||W||_2^2``. When one of the two is given the other defaults to 0. When neither nor
        ``alpha`` is given both default to NeuroX's 1e-3.
    alpha, l1_ratio : float, optional
        glmnet / scikit-learn parametrisation: the penalty is ``alpha * (l1_ratio * ||W||_1 +
        0.5 * (1 - l1_ratio) * ||W||_2^2)``; ``l1_ratio`` defaults to 0.5 when only ``alpha`` is
        given. Equivalent to ``lambda_l1 = alpha * l1_ratio``, ``lambda_l2 = alpha * (1 -
        l1_ratio) / 2``, and to scikit-learn's ``LogisticRegression(C=1 / (n_samples * alpha),
        l1_ratio=l1_ratio)``. Giving these together with ``lambda_l1``/``lambda_l2`` is an error.
    class_weight : None, "balanced" or dict, default=None
        Sample weight of each class in the data term, as in scikit-learn ("balanced":
        ``n_samples / (n_classes * count)``). The data term is divided by ``n_samples`` (not by
        the sum of weights), which keeps the mapping to scikit-learn's ``C`` exact.
    fit_intercept : bool, default=True
        Fit an intercept per class; it is never penalised.
    standardize : bool, default=False
        Fit on features scaled to zero mean and unit variance (computed implicitly, ``X`` is
        not copied). The penalty then applies to the coefficients of the standardised
        features, so every neuron is penalised alike whatever its scale; ``coef_`` and
        ``intercept_`` are mapped back so that they apply to raw ``X``, and ``scale_`` holds
        the standard deviations (multiply ``coef_`` by ``scale_`` for standardised weights).
    max_iter : int, default=100
        Maximum number of OWL-QN iterations (one pass over ``X`` each, plus rare line-search
        trials).
    tol : float, default=2e-3
        Stop when the relative decrease of the objective per iteration, averaged over the
        last 3 iterations, is at most ``tol``. The default stops once held-out accuracy has
        plateaued (typically 20-30 iterations on a 65k x 2,688 POS problem, objective within
        ~2% of its minimum); use 1e-6 or less when the coefficients themselves must be
        converged (comparisons with other solvers, exact rankings).
    presolve : "auto", float or None, default="auto"
        Warm start: first solve the same objective on a fixed subsample of the rows (this fraction
        of them; "auto" = 1/8 when there are at least 40,000 rows), then continue on all rows from
        that point. Each subsample pass costs a fraction of a full pass and lands close to the
        full-data optimum, so the full phase needs only a few passes. The optimum is unchanged;
        the subsample is drawn with ``random_state``, so fits stay deterministic. None disables it.
    random_state : int, RandomState instance or None, default=0
        Seed of the warm-start subsample (the only randomness of the fit).
    verbose : int, default=0
        Print the objective at every iteration when > 0.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_neurons), or (1, n_neurons) for two classes
        As in scikit-learn, a binary problem has one weight vector (a sigmoid model, whose
        positive class is ``classes_[1]``); the objective is then the binary one.
    intercept_ : ndarray of shape (n_classes,) or (1,)
    classes_ : ndarray of shape (n_classes,)
    scale_ : ndarray of shape (n_neurons,)
        Feature standard deviations when ``standardize`` else ones.
    n_iter_ : int
        Number of OWL-QN iterations (``n_fun_`` counts the objective evaluations).
    objective_ : float
        Final value of the objective ``J``.
    loss_curve_ : list of float
        Objective after each iteration.
    lambda_l1_, lambda_l2_ : float
        The penalty in the NeuroX parametrisation, whichever was given.
    converged_ : bool

    Notes
    -----
    The solver is OWL-QN (Andrew & Gao 2007), a limited-memory quasi-Newton method for
    smooth + L1 objectives (plain L-BFGS when ``lambda_l1 = 0``), run in centred and scaled
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
        tol: float = 5e-3,
        presolve: str | float | None = "auto",
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
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ parameters
    def _penalties(self) -> tuple[float, float]:
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
            return alpha * ratio, 0.5 * alpha * (1.0 - ratio)
        if neurox:
            l1 = 0.0 if self.lambda_l1 is None else float(self.lambda_l1)
            l2 = 0.0 if self.lambda_l2 is None else float(self.lambda_l2)
            return l1, l2
        return _DEFAULT_LAMBDA, _DEFAULT_LAMBDA

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
        X : array-like of shape (n_rows, n_neurons)
            Activations (float16, float32 or float64).
        y : array-like of shape (n_rows,)
            Class labels (at least two distinct values).

        Returns
        -------
        self : LinearProbe
        """
        self._validate_params()
        l1, l2 = self._penalties()
        X = as_float_rows(X)
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
        m = 1 if n_classes == 2 else n_classes
        dt = X.dtype
        self.lambda_l1_, self.lambda_l2_ = l1, l2

        # The problem is always solved in centred, scaled coordinates v_j = s_j * w_j (an exact
        # reparametrisation: the intercept absorbs the centring and the penalty weights are
        # rescaled), which makes it far better conditioned for the quasi-Newton solver.
        mean, std = _column_moments(X)
        const = _constant_columns(mean, std)
        std = np.where(const, 1.0, std)
        if self.standardize:
            self.scale_ = std
            pen1, pen2 = np.full(d, l1), np.full(d, l2)
        else:
            self.scale_ = np.ones(d)
            pen1, pen2 = l1 / std, l2 / std**2
        inv = np.where(const, 0.0, 1.0 / std).astype(dt)  # constant columns are left out (weight 0)
        shift = np.where(const, 0.0, mean / std)
        fi = bool(self.fit_intercept)
        if not fi:  # without an intercept the centring cannot be absorbed
            mean = np.zeros(d)
            std = np.sqrt(_column_moments(X, center=False)[1] ** 2)
            const = std <= 0
            std = np.where(const, 1.0, std)
            pen1, pen2 = (np.full(d, l1), np.full(d, l2)) if self.standardize else (l1 / std, l2 / std**2)
            inv, shift = np.where(const, 0.0, 1.0 / std).astype(dt), np.zeros(d)
        pen1 = np.repeat(pen1, m)  # theta[:nw] is V.ravel() with V of shape (d, m)
        pen2 = pen2[:, None]

        # targets, weights
        if m == 1:
            target = (codes == 1).astype(dt)[:, None]
        else:
            target = np.zeros((n, m), dtype=dt)
            target[np.arange(n), codes] = 1
        sw_all = np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)
        nw = d * m
        zeros_m = np.zeros(m)

        def problem(Xp: np.ndarray, tgt: np.ndarray, sw_p: np.ndarray):
            """Smooth objective (mean data term + L2) and its gradient on the rows ``Xp``."""
            w_row = (sw_p / sw_p.shape[0])[:, None]

            def fun(theta: np.ndarray) -> tuple[float, tuple]:
                # one blocked pass computes the loss and X^T G together while each block of rows is
                # in cache (the line search nearly always accepts its first trial, so the gradient
                # is almost never computed in vain)
                V = theta[:nw].reshape(d, m)
                b = theta[nw:] if fi else zeros_m
                Vr = (V * inv[:, None]).astype(dt)  # V / std are the coefficients of raw X
                off = (b - shift @ V).astype(dt)
                data = 0.0
                XtG = np.zeros((d, m), dtype=np.float64)
                gsum = np.zeros(m, dtype=np.float64)
                for start in range(0, Xp.shape[0], _BLOCK):
                    Xb = Xp[start:start + _BLOCK]
                    tb = tgt[start:start + _BLOCK]
                    wb = w_row[start:start + _BLOCK]
                    Z = Xb @ Vr
                    Z += off
                    if m == 1:
                        # binary: CE = softplus(z) - t z ; dCE/dz = sigmoid(z) - t
                        ce = np.logaddexp(0, Z) - tb * Z
                        G = 0.5 * (1 + np.tanh(0.5 * Z)) - tb
                    else:
                        Z -= Z.max(axis=1, keepdims=True)
                        E = np.exp(Z)
                        S = E.sum(axis=1, keepdims=True)
                        ce = np.log(S) - (Z * tb).sum(axis=1, keepdims=True)
                        G = E / S - tb
                    data += float(wb[:, 0] @ ce.sum(axis=1, dtype=np.float64))
                    G *= wb.astype(dt)
                    XtG += Xb.T @ G
                    gsum += G.sum(axis=0, dtype=np.float64)
                return data + float(np.sum(pen2 * V * V)), (XtG, gsum)

            def grad(theta: np.ndarray, ctx: tuple) -> np.ndarray:
                XtG, gsum = ctx
                V = theta[:nw].reshape(d, m)
                gV = XtG * inv[:, None] - np.outer(shift, gsum)
                gV += 2.0 * pen2 * V
                return np.concatenate([gV.ravel(), gsum if fi else zeros_m])

            return fun, grad

        # initial point: zero weights, intercept at the (weighted) log class priors
        theta0 = np.zeros(nw + m)
        if fi:
            prior = np.bincount(codes, weights=sw, minlength=n_classes)
            logp = np.log(np.clip(prior / prior.sum(), 1e-12, None))
            theta0[nw:] = logp[1] - logp[0] if m == 1 else logp - logp.mean()
        l1_weights = np.concatenate([pen1, zeros_m])

        def callback(it: int, value: float) -> None:
            if self.verbose > 0:
                print(f"LinearProbe iter {it}: objective {value:.8g}")

        n_sub = self._presolve_rows(n)
        self.presolve_iter_ = 0
        warm_memory: tuple = ()
        if n_sub:
            # warm start: the same objective on a fixed subsample of rows (a fraction of the cost per pass),
            # then the full data from there; the optimum is the full-data one, only the path is cheaper
            idx = np.sort(_generator(self.random_state).choice(n, size=n_sub, replace=False))
            fun_s, grad_s = problem(X[idx], target[idx], sw_all[idx])
            pre = owlqn(fun_s, grad_s, theta0, l1_weights, max_iter=int(self.max_iter), tol=float(self.tol))
            theta0, warm_memory = pre.x, pre.memory
            self.presolve_iter_ = pre.n_iter
        fun, grad = problem(X, target, sw_all)
        res = owlqn(fun, grad, theta0, l1_weights, max_iter=int(self.max_iter), tol=float(self.tol),
                    callback=callback, init_memory=warm_memory)
        V = res.x[:nw].reshape(d, m)
        b = res.x[nw:] if fi else zeros_m
        coef = V / std[:, None]
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

    def _presolve_rows(self, n: int) -> int:
        """Rows of the warm-start subsample (0: none)."""
        p = self.presolve  # checked by the constraints table
        if p is None or p is False:
            return 0
        if isinstance(p, str):
            return n // 8 if n >= 40_000 else 0
        k = int(round(p * n))
        return k if 100 <= k < n else 0

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits: ``X @ coef_.T + intercept_``; shape (n_rows,) for two classes.

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
        return out[:, 0] if out.shape[1] == 1 else out

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


def _generator(random_state: Any) -> np.random.Generator:
    """A numpy Generator from an int / None (``default_rng(seed)``) or a RandomState instance."""
    if random_state is None or isinstance(random_state, Integral):
        return np.random.default_rng(random_state)
    return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))


#: rows per block of the fused loss + gradient pass (a block of 2,688 float32 neurons is ~22 MB)
_BLOCK = 2048


def _column_moments(X: np.ndarray, *, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Column means and (root-mean-square) deviations, chunked; zero deviations become 1.

    With ``center=False`` the second value is the root mean square of the raw columns.
    """
    n = X.shape[0]
    total = np.zeros(X.shape[1])
    sq = np.zeros(X.shape[1])
    for start in range(0, n, _CHUNK):
        block = X[start:start + _CHUNK]
        total += block.sum(axis=0, dtype=np.float64)
        sq += np.einsum("ij,ij->j", block, block, dtype=np.float64)
    mean = total / n
    var = sq / n - (mean * mean if center else 0.0)
    std = np.sqrt(np.clip(var, 0.0, None))
    return mean, std


def _constant_columns(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Columns whose spread is negligible: below float64 cancellation noise, or a millionth of the typical spread.

    Such a column (a dead neuron, or one that only flips between two adjacent float16 values) carries no
    usable signal, and rescaling it to unit variance would make the penalty on it astronomically stiff.
    """
    floor = 1e-12 * max(1.0, float(np.abs(mean).max(initial=0.0)))
    live = std[std > floor]
    typical = float(np.median(live)) if live.size else 0.0
    return (std <= floor) | (std < 1e-6 * typical)
