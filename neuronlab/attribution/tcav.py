"""TCAV: testing with concept activation vectors, with the significance test of Kim et al. (2018).

For a concept ``C``, a site ``l`` and a class ``k``, the TCAV score is the fraction of the inputs of
class ``k`` whose target (the logit of ``k``) increases along the concept's CAV ``v`` at the site:

.. math:: S_{C,k,l}(x) = \\sum_{t} \\nabla_{y_t} F_k(x) \\cdot v, \\qquad
          \\mathrm{TCAV}_{C,k,l} = \\frac{|\\{x : S_{C,k,l}(x) > 0\\}|}{|X_k|}

``S`` is the directional derivative of the target when the site's value moves along ``v`` at every
token position (``positions="all"``: every non-padding token; ``"words"``: the word tokens only). The
magnitude variant is ``sum_x max(S, 0) / sum_x |S|``.

Significance: ``n_runs`` CAVs of the concept against different random sets give ``n_runs`` scores; the
same number of random-vs-random CAVs (a random set of the concept's size against the same random sets)
give the null distribution; a two-sided t-test (``scipy.stats.ttest_ind``) compares the two and the
p-values are corrected over all (concept, site) pairs of the call (:data:`CORRECTIONS`: Bonferroni by
default, as in the paper; Benjamini-Hochberg; none). Every score is reported with its CAVs' held-out
accuracy. CAVs are cached in a store (``cache=``) and reused.

References
----------
Kim, Wattenberg, Gilmer, Cai, Wexler, Viegas & Sayres (2018). Interpretability beyond feature attribution:
quantitative testing with concept activation vectors (TCAV). ICML. (Captum's ``TCAV``.)
"""
from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Callable, ClassVar

import numpy as np

from ..errors import InvalidParameterError, choices
from ..models.live import LiveModel
from ..sites import expand_sites
from ..results import Result, array_field
from ._path import base_config
from .cav import POOLINGS, ExamplePool, _digest, cav_cache_name, read_cav, store_pool, text_pool, train_cav, write_cav

__all__ = ["TCAV", "TCAVResult", "CORRECTIONS", "bonferroni", "benjamini_hochberg", "directional_derivatives"]

log = logging.getLogger(__name__)

POSITIONS = ("all", "words")
#: which per-run score the t-test compares: the paper's sign count (``score``) or the magnitude variant
STATISTICS = ("score", "magnitude")


# ------------------------------------------------------------------ multiple testing
def bonferroni(p: np.ndarray) -> np.ndarray:
    """Bonferroni-adjusted p-values: ``min(1, m p)``.

    Examples
    --------
    >>> bonferroni(np.array([0.01, 0.04, 0.3])).round(4).tolist()
    [0.03, 0.12, 0.9]
    """
    p = np.asarray(p, dtype=np.float64)
    return np.minimum(1.0, p * p.size)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg (1995) adjusted p-values (the step-up false-discovery-rate procedure).

    ``q_(i) = min_{j >= i} min(1, m p_(j) / j)`` over the p-values sorted increasingly; rejecting
    ``q <= alpha`` is the BH procedure at level ``alpha``.

    Examples
    --------
    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5])).round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.5]

    References
    ----------
    Benjamini & Hochberg (1995). Controlling the false discovery rate: a practical and powerful approach to
    multiple testing. JRSS B 57(1).
    """
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(1.0, q)
    return out


#: name -> fn(p-values) -> adjusted p-values (a pair is significant when its adjusted p < alpha)
CORRECTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "bonferroni": bonferroni, "bh": benjamini_hochberg, "none": lambda p: np.asarray(p, dtype=np.float64).copy()}


# ------------------------------------------------------------------ result
@dataclasses.dataclass
class TCAVResult(Result):
    """What :meth:`TCAV.attribute` returns.

    Attributes
    ----------
    method : str
    target : dict
        The explained target (``Target`` fields; the class ``k`` is ``target["index"]``).
    concepts, sites : list of str
    rows : list of dict
        One per (concept, site): ``score`` (mean TCAV score over the concept runs) and ``score_std``,
        ``magnitude`` (and std), ``random_score`` / ``random_score_std`` (random-vs-random runs), ``t``,
        ``p_value`` (two-sided t-test), ``p_adjusted``, ``significant`` (``p_adjusted < alpha``),
        ``cav_accuracy`` (mean held-out accuracy of the concept's CAVs) and ``cav_accuracy_std``,
        ``random_cav_accuracy``.
    config : dict
    scores, random_scores, magnitudes, random_magnitudes, cav_accuracy, random_cav_accuracy : ndarray
        Shape ``(n_concepts, n_sites, n_runs)``.
    derivatives : ndarray of shape (n_concepts, n_sites, n_runs, n_inputs)
        The directional derivative ``S`` of every input along every concept CAV.
    """

    kind: ClassVar[str] = "attribution/tcav"

    method: str
    target: dict
    concepts: list
    sites: list
    rows: list
    config: dict
    scores: np.ndarray = array_field(default=None)
    random_scores: np.ndarray = array_field(default=None)
    magnitudes: np.ndarray = array_field(default=None)
    random_magnitudes: np.ndarray = array_field(default=None)
    cav_accuracy: np.ndarray = array_field(default=None)
    random_cav_accuracy: np.ndarray = array_field(default=None)
    derivatives: np.ndarray = array_field(default=None)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get("array")}

    def row(self, concept: str, site: str) -> dict:
        """The summary of one (concept, site) pair."""
        for r in self.rows:
            if r["concept"] == concept and r["site"] == site:
                return r
        raise InvalidParameterError(f"no row for concept {concept!r} at site {site!r}; concepts: "
                                    f"{choices(self.concepts)}; sites: {choices(self.sites)}")


# ------------------------------------------------------------------ directional derivatives
def site_gradients(live: LiveModel, enc, site: str, resolved, *, positions: str, batch_size: int) -> np.ndarray:
    """``sum_t dF/dy_t`` over the chosen token positions, per input: ``(n_inputs, width)`` (float64)."""
    import torch

    out = []
    for b0 in range(0, enc.n_examples, batch_size):
        rows = torch.arange(b0, min(b0 + batch_size, enc.n_examples))

        def grad_on(v):  # no autograd graph below the site; record from the site on
            torch.set_grad_enabled(True)
            return v

        with torch.no_grad(), live.differentiate(site, cut=True, transform=grad_on) as probe:
            f = live.target(enc, None, rows, resolved=resolved)
            (g,) = torch.autograd.grad(f.sum(), probe.value)
        mask = enc.attention_mask if positions == "all" else enc.content_mask()
        m = mask[rows].to(g.device, torch.float64)[:, :, None]
        out.append((g.double() * m).sum(1).cpu().numpy())
    return np.concatenate(out)


def directional_derivatives(live: LiveModel, inputs, site: str, target, vectors, *, positions: str = "all",
                            batch_size: int = 32) -> np.ndarray:
    """Directional derivative of the target along each vector at ``site``: ``(n_inputs, n_vectors)``.

    ``S[x, c] = d/de F(x with y_t + e v_c at every chosen position t)`` at ``e = 0``.
    """
    enc = live.encode(inputs)
    site = live.site(site)
    G = site_gradients(live, enc, site, live.resolve_target(enc, target), positions=positions,
                       batch_size=batch_size)
    return G @ np.asarray(vectors, dtype=np.float64).reshape(-1, G.shape[1]).T


# ------------------------------------------------------------------ concept sources
class _Source:
    """Concept and random units (sentences or store rows) and how to load their examples at a site."""

    def __init__(self, concept_units: dict, random_units: dict, loader, digest: dict):
        self.concept_units = concept_units  # concept -> int array of units
        self.random_units = random_units    # concept -> int array of candidate random units
        self.loader = loader                # (site, concept or None, units) -> ExamplePool
        self.digest = digest


def _text_source(live, concepts, random, pooling, batch_size) -> _Source:
    if not isinstance(concepts, dict) or not concepts:
        raise InvalidParameterError("concepts: give a dict {concept name: [example sentences]} (or store= and "
                                    "concept labels 'label:class')")
    random = [] if random is None or isinstance(random, str) else list(random)
    if not random:
        raise InvalidParameterError("random: give a list of random sentences (the random sets are drawn from it)")
    concepts = {str(name): [] if isinstance(sents, str) else list(sents) for name, sents in concepts.items()}
    for name, sents in concepts.items():
        if len(sents) < 2:
            raise InvalidParameterError(f"concept {name!r} has {len(sents)} example sentences; give a list of at "
                                        "least 2")
    cache: dict = {}

    def load(site, concept, units):
        key = (site, concept)
        if key not in cache:
            sents = random if concept is None else concepts[concept]
            cache[key] = text_pool(live, sents, site, pooling=pooling, batch_size=batch_size,
                                   name="random" if concept is None else f"concept {concept!r}")
        return _select(cache[key], units)

    digest = {"source": "text", "pooling": pooling,
              "concepts": {c: _digest(s) for c, s in concepts.items()}, "random": _digest(random)}
    return _Source({c: np.arange(len(s)) for c, s in concepts.items()},
                   {c: np.arange(len(random)) for c in concepts}, load, digest)


def _store_source(live, store, concepts, random) -> _Source:
    if random is not None:
        raise InvalidParameterError("random: with store= the random examples are the store's other rows; "
                                    "leave random=None")
    if isinstance(concepts, str):
        concepts = [concepts]
    if isinstance(concepts, dict) or not concepts:
        raise InvalidParameterError("concepts: with store= give concept labels as 'label:class' (e.g. 'upos:ADJ')")
    n_valid = store.n_valid_rows
    c_units, r_units = {}, {}
    for spec in concepts:
        if not isinstance(spec, str) or ":" not in spec:
            raise InvalidParameterError(f"concept {spec!r}: with store= write it as 'label:class' (e.g. 'upos:ADJ')")
        name, cls = spec.split(":", 1)
        lab = store.label(name)
        if cls not in lab.vocabulary:
            raise InvalidParameterError(f"concept {spec!r}: class {cls!r} is not in label {name!r}; its classes: "
                                        f"{choices(lab.vocabulary)}")
        if lab.level != "row":
            raise InvalidParameterError(f"concept {spec!r}: label {name!r} is per sentence; TCAV on a store needs a "
                                        "row label (extract with granularity='sentence' to get one row per sentence)")
        values = np.asarray(lab.values[:n_valid])
        k = lab.vocabulary.index(cls)
        c_units[spec] = np.flatnonzero(values == k)
        r_units[spec] = np.flatnonzero(values != k)
        if c_units[spec].size < 2:
            raise InvalidParameterError(f"concept {spec!r} has {c_units[spec].size} rows in the store; a CAV needs "
                                        "at least 2 examples")

    def load(site, concept, units):
        if site not in store.sites:
            raise InvalidParameterError(f"site {site!r} is not in the store {str(store.path)!r}; stored sites: "
                                        f"{choices(store.sites)}")
        width = live.width(site)
        if store[site].shape[1] != width:
            raise InvalidParameterError(f"the store's {site!r} has {store[site].shape[1]} neurons, the model's has "
                                        f"{width}: the store comes from another model")
        pool = store_pool(store, site, units, what="rows")
        return pool.X, pool.group

    digest = {"source": "store", "path": str(store.path), "model": store.model}
    return _Source(c_units, r_units, load, digest)


def _select(pool: ExamplePool, units) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isin(pool.group, units)
    return pool.X[keep], pool.group[keep]


# ------------------------------------------------------------------ the method
class TCAV:
    """Testing with concept activation vectors (Kim et al. 2018), with significance over random runs.

    Parameters
    ----------
    live : LiveModel
    sites : str or sequence of str
        Sites to test at: names, globs (``"layers.*"``) or a comma-separated string.
    n_runs : int, default 10
        Concept-vs-random runs, and as many random-vs-random runs (at least 10 as in the paper; more give
        the t-test more power: it has ``2 n_runs - 2`` degrees of freedom). At least 2.
    classifier : str or estimator, default "logistic"
        A key of :data:`~neuronlab.attribution.cav.CLASSIFIERS` or an unfitted scikit-learn linear classifier.
    pooling : {"mean", "tokens"}, default "mean"
        Text concepts: one example per sentence (mean of its word tokens) or one per word token.
    positions : {"all", "words"}, default "all"
        Token positions at which the CAV direction is applied for the directional derivative.
    n_examples : int, optional
        Concept units (sentences / rows) per run, drawn afresh each run; default all (every run uses all).
        Set it (e.g. 200) for store concepts with thousands of rows: each run also draws a random set and a
        random "concept" of that size.
    n_random : int, optional
        Units per random set; default the concept's units per run.
    test_fraction : float, default 0.33
        Held-out share of each side for the CAV accuracy.
    correction : {"bonferroni", "bh", "none"}, default "bonferroni"
        Multiple-testing correction over the (concept, site) pairs of one call (Bonferroni, as in the paper).
    alpha : float, default 0.05
    statistic : {"score", "magnitude"}, default "score"
        The per-run score the t-test compares (the sign-count TCAV score, or the magnitude variant).
    batch_size : int, default 32
    random_state : int, default 0

    Examples
    --------
    >>> tcav = TCAV(live, ["layers.3", "layers.5"], n_runs=10)                     # doctest: +SKIP
    >>> res = tcav.attribute(positive_reviews, target=1, concepts={"praise": praise_sentences},
    ...                      random=random_sentences, cache=store)                  # doctest: +SKIP
    >>> res.row("praise", "layers.5")["significant"]                               # doctest: +SKIP
    True

    References
    ----------
    Kim et al. (2018). Interpretability beyond feature attribution: quantitative testing with concept
    activation vectors (TCAV). ICML.
    """

    name = "tcav"

    def __init__(self, live: LiveModel, sites, *, n_runs: int = 10, classifier="logistic", pooling: str = "mean",
                 positions: str = "all", n_examples: int | None = None, n_random: int | None = None,
                 test_fraction: float = 0.33, correction: str = "bonferroni", alpha: float = 0.05,
                 statistic: str = "score", batch_size: int = 32, random_state: int = 0):
        self.live = live
        if sites is None or (not isinstance(sites, str) and not list(sites)):
            raise InvalidParameterError("sites: give at least one site")
        self.sites = expand_sites(sites, live.sites)
        self.n_runs = n_runs
        self.classifier = classifier
        self.pooling = pooling
        self.positions = positions
        self.n_examples = n_examples
        self.n_random = n_random
        self.test_fraction = test_fraction
        self.correction = correction
        self.alpha = alpha
        self.statistic = statistic
        self.batch_size = batch_size
        self.random_state = random_state
        self._check()

    def _check(self) -> None:
        def pos_int(name, v, low):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise InvalidParameterError(f"{name} must be an int >= {low}, got {v!r}")

        pos_int("n_runs", self.n_runs, 2)
        pos_int("batch_size", self.batch_size, 1)
        for name in ("n_examples", "n_random"):
            if getattr(self, name) is not None:
                pos_int(name, getattr(self, name), 2)
        if self.pooling not in POOLINGS:
            raise InvalidParameterError(f"pooling {self.pooling!r} is unknown; choose one of {choices(POOLINGS)}")
        if self.positions not in POSITIONS:
            raise InvalidParameterError(f"positions {self.positions!r} is unknown; choose one of {choices(POSITIONS)}")
        if self.correction not in CORRECTIONS:
            raise InvalidParameterError(f"correction {self.correction!r} is unknown; choose one of "
                                        f"{choices(CORRECTIONS)}")
        if self.statistic not in STATISTICS:
            raise InvalidParameterError(f"statistic {self.statistic!r} is unknown; choose one of {choices(STATISTICS)}")
        if not 0 < self.test_fraction < 1:
            raise InvalidParameterError(f"test_fraction must lie in (0, 1), got {self.test_fraction!r}")
        if not 0 < self.alpha < 1:
            raise InvalidParameterError(f"alpha must lie in (0, 1), got {self.alpha!r}")

    # -------------------------------------------------------------- sampling
    def _runs(self, concept_units: np.ndarray, random_units: np.ndarray, concept: str):
        """Per run: (concept units, random-set units, random 'concept' units), drawn with ``[random_state, run]``."""
        runs = []
        for i in range(self.n_runs):
            rng = np.random.default_rng([self.random_state, i])
            P = concept_units
            if self.n_examples is not None and self.n_examples < P.size:
                P = np.sort(rng.choice(P, size=self.n_examples, replace=False))
            size = self.n_random or P.size
            if random_units.size < size + P.size:
                raise InvalidParameterError(
                    f"concept {concept!r}: {random_units.size} random examples are too few for a random set of "
                    f"{size} and a random 'concept' of {P.size} (disjoint); give more random examples or set "
                    "n_examples= / n_random= lower")
            R = np.sort(rng.choice(random_units, size=size, replace=False))
            Q = np.sort(rng.choice(np.setdiff1d(random_units, R), size=P.size, replace=False))
            runs.append((P, R, Q))
        return runs

    def _classifier_name(self) -> str:
        return self.classifier if isinstance(self.classifier, str) else repr(self.classifier)

    # -------------------------------------------------------------- the verb
    def attribute(self, inputs, *, target, concepts, random=None, store=None, cache=None,
                  progress: bool = False) -> TCAVResult:
        """TCAV scores of every concept at every site for the inputs of one class, with their significance.

        Parameters
        ----------
        inputs : list of str or list of list of str or Encoded
            Inputs of the class whose target is explained.
        target : int or Target or dict
            The target (an int: that class's logit).
        concepts : dict or list of str
            Text: ``{name: [sentences]}``. With ``store=``: labels ``"label:class"`` (``"upos:ADJ"``): the
            rows where the label has that class; the random examples are the store's other rows.
        random : list of str, optional
            Text: the random sentences the random sets are drawn from (at least twice a concept's size).
        store : ActivationStore, optional
            Take concept and random examples from its rows (its sites must be the model's).
        cache : ActivationStore, optional
            Store (opened for writing) where CAVs are cached under ``/results/cav.*`` and reused. Default:
            ``store`` when it is writable.
        progress : bool
            A progress bar (tqdm, on stderr) over the (site, concept, run) CAV pairs.

        Returns
        -------
        TCAVResult
        """
        from scipy.stats import ttest_ind

        live = self.live
        enc = live.encode(inputs)
        resolved = live.resolve_target(enc, target)
        if store is not None:
            source = _store_source(live, store, concepts, random)
            cache = store if cache is None and _writable(store) else cache
        else:
            source = _text_source(live, concepts, random, self.pooling, self.batch_size)
        names = list(source.concept_units)
        runs = {c: self._runs(source.concept_units[c], source.random_units[c], c) for c in names}
        shape = (len(names), len(self.sites), self.n_runs)
        sc, rs, mg, rmg, acc, racc = (np.zeros(shape) for _ in range(6))
        deriv = np.zeros(shape + (enc.n_examples,))
        n_trained = 0
        from tqdm.auto import tqdm

        bar = tqdm(total=int(np.prod(shape)), disable=not progress, unit="run", desc="tcav", leave=False)
        for j, site in enumerate(self.sites):
            G = site_gradients(live, enc, site, resolved, positions=self.positions, batch_size=self.batch_size)
            for c, concept in enumerate(names):
                for i, (P, R, Q) in enumerate(runs[concept]):
                    cav, t1 = self._cav(source, site, concept, P, R, f"r{i}", cache)
                    rcav, t2 = self._cav(source, site, None, Q, R, f"r{i}", cache, label=f"random:{concept}:q{i}")
                    n_trained += t1 + t2
                    s, r = G @ cav.vector, G @ rcav.vector
                    deriv[c, j, i] = s
                    sc[c, j, i], rs[c, j, i] = np.mean(s > 0), np.mean(r > 0)
                    mg[c, j, i], rmg[c, j, i] = _magnitude(s), _magnitude(r)
                    acc[c, j, i], racc[c, j, i] = cav.accuracy, rcav.accuracy
                    bar.update(1)
        bar.close()
        rows, pvals = [], []
        tested, null = (sc, rs) if self.statistic == "score" else (mg, rmg)
        for c, concept in enumerate(names):
            for j, site in enumerate(self.sites):
                with warnings.catch_warnings():  # scores that are all equal (e.g. all 1.0) are expected here
                    warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
                    t, p = ttest_ind(tested[c, j], null[c, j])
                t, p = float(t), float(p)
                if np.isnan(p):  # both sets constant and equal: no evidence of a difference
                    t, p = 0.0, 1.0
                pvals.append(p)
                rows.append({"concept": concept, "site": site, "score": float(sc[c, j].mean()),
                             "score_std": float(sc[c, j].std(ddof=1)), "magnitude": float(mg[c, j].mean()),
                             "magnitude_std": float(mg[c, j].std(ddof=1)), "random_score": float(rs[c, j].mean()),
                             "random_score_std": float(rs[c, j].std(ddof=1)), "t": t, "p_value": p,
                             "cav_accuracy": float(acc[c, j].mean()), "cav_accuracy_std": float(acc[c, j].std(ddof=1)),
                             "random_cav_accuracy": float(racc[c, j].mean())})
        adjusted = CORRECTIONS[self.correction](np.asarray(pvals))
        for r, q in zip(rows, adjusted):
            r["p_adjusted"] = float(q)
            r["significant"] = bool(q < self.alpha)
        cfg = base_config(self.name, live, ",".join(self.sites), target, sites=self.sites, n_runs=self.n_runs,
                          classifier=self._classifier_name(), pooling=self.pooling, positions=self.positions,
                          n_examples=self.n_examples, n_random=self.n_random, test_fraction=self.test_fraction,
                          correction=self.correction, alpha=self.alpha, statistic=self.statistic,
                          random_state=self.random_state,
                          source=source.digest, n_inputs=enc.n_examples, cavs_trained=n_trained,
                          cavs_cached=2 * int(np.prod(shape)) - n_trained,
                          test="two-sided t-test (scipy.stats.ttest_ind, equal variances) of the concept's scores "
                               "against the random-vs-random scores")
        return TCAVResult(self.name, cfg["target"], names, list(self.sites), rows, cfg, sc, rs, mg, rmg, acc, racc,
                          deriv)

    def _cav(self, source: _Source, site: str, concept, P, R, random_set: str, cache, label: str | None = None):
        """One CAV (from the cache when there); returns ``(cav, 1 if trained else 0)``."""
        name = concept if label is None else label
        key = {"site": site, "concept": name, "source": _digest(source.digest), "positive": _digest(P.tolist()),
               "random": _digest(R.tolist()), "classifier": self._classifier_name(), "pooling": self.pooling,
               "test_fraction": self.test_fraction, "seed": self.random_state}
        rname = cav_cache_name(site, name, random_set, self.random_state, key)
        cav = read_cav(cache, rname, key)
        if cav is not None:
            return cav, 0
        Xp, gp = source.loader(site, concept, P)
        Xn, gn = source.loader(site, None, R)
        seed = int(np.random.default_rng([self.random_state, int(random_set[1:]), 7]).integers(2**31 - 1))
        cav = train_cav(Xp, gp, Xn, gn, classifier=self.classifier, test_fraction=self.test_fraction,
                        random_state=seed)
        if cache is not None:
            write_cav(cache, rname, key, cav)
        return cav, 1


def _magnitude(s: np.ndarray) -> float:
    total = np.abs(s).sum()
    return float(np.clip(s, 0, None).sum() / total) if total > 0 else 0.0


def _writable(store) -> bool:
    f = getattr(store, "_f", None)
    return f is not None and getattr(f, "mode", "r") != "r"
