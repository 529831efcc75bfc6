"""Contextual decomposition (CD) of a transformer classifier's logit: a phrase, the rest, interactions.

CD (Murdoch, Liu & Yu 2018) splits every value of the network into the part that comes from a chosen
phrase (``beta``) and the rest (``gamma``), layer by layer, so that at the output ``beta + gamma`` is the
logit of the target class. This is CD carried to transformers as in CD-T (Hsu et al. 2024): linear layers
split their bias in proportion to ``|beta|`` and ``|gamma|``, elementwise activations use the Shapley
linearisation of CD (Singh et al. 2019), LayerNorm divides both parts by the standard deviation of the full
input, and attention applies the probabilities of the full input to the decomposed values (the rules:
:mod:`~neuronlab.explain.cd_rules`; the supported models: :mod:`~neuronlab.explain.cd_models`).

For a phrase ``P`` (a span of words) of an input ``x`` with target logit ``f(x)``:

================= ==========================================================================================
``beta``          ``CD(P)``, the CD score of the phrase: the part of ``f(x)`` its tokens contribute
``gamma``         the rest, ``f(x) - beta`` (context, [CLS]/[SEP], their share of the biases)
``words_sum``     the sum of the CD scores of the phrase's words, each decomposed on its own
``interaction``   ``CD(P) - sum_w CD(w)``: what the words of the phrase contribute only together, the form
                  Murdoch et al. (2018) use for negation (the CD score of the whole phrase minus those of its
                  parts) and ACD's interaction (Singh et al. 2019); :meth:`ContextualDecomposition.interaction`
                  gives ``CD(A u B) - CD(A) - CD(B)`` for any two phrases
================= ==========================================================================================

Every bias is assigned to ``beta`` or ``gamma`` by the proportional rule, so ``beta + gamma = f(x)`` (a
test checks it to 1e-4 on minilm against the model's own forward pass); with the whole input as the phrase,
``beta = f(x)``. With the Shapley rule for activations the decomposition is symmetric: the context's own CD
score is exactly the phrase's ``gamma``, so a phrase and its *whole* context never "interact"; interactions
are measured between phrases inside a context, as above (the ``cdt`` rule, which gives ``f(beta + gamma) -
f(gamma)`` to the phrase, is not symmetric).

The explainer ``cd`` (:class:`ContextualDecomposition`, unit ``word``) scores each word by its ``beta``
with the word as the phrase; :meth:`ContextualDecomposition.decompose` scores any phrases.

References
----------
Murdoch, Liu & Yu (2018), "Beyond word importance: contextual decomposition to extract interactions from
LSTMs", ICLR. Singh, Murdoch & Yu (2019), "Hierarchical interpretations for neural network predictions",
ICLR. Hsu et al. (2024), "Efficient automated circuit discovery in transformers using contextual
decomposition".
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, choices
from ..results import Result
from .base import PREDICTED, Explainer
from .cd_models import CDRules, cd_architecture, decompose_logits, embeddings
from .cd_rules import ACTIVATION_RULES

__all__ = ["DTYPES", "ContextualDecomposition", "PhraseDecomposition", "check_span"]

#: computation precision of the decomposition
DTYPES = ("float32", "float64")


def check_span(span: Any, n_words: int) -> tuple[int, int]:
    """A phrase as a half-open word span ``(start, stop)``; an int ``i`` is the word ``(i, i + 1)``.

    >>> check_span(2, 4), check_span((0, 4), 4)
    ((2, 3), (0, 4))

    Raises
    ------
    InvalidParameterError
        If the span is empty or reaches outside the sentence.
    """
    if isinstance(span, (int, np.integer)) and not isinstance(span, bool):
        start, stop = int(span), int(span) + 1
    elif isinstance(span, (tuple, list)) and len(span) == 2 and all(isinstance(v, (int, np.integer)) for v in span):
        start, stop = int(span[0]), int(span[1])
    else:
        raise InvalidParameterError(f"phrase: expected a word index or a (start, stop) word span; got {span!r}")
    if not 0 <= start < stop <= n_words:
        raise InvalidParameterError(
            f"phrase {(start, stop)} is outside the sentence: it has {n_words} words, so a span (start, stop) "
            f"needs 0 <= start < stop <= {n_words}")
    return start, stop


@dataclass
class PhraseDecomposition(Result):
    """CD of the target logit of one input for several phrases.

    Attributes
    ----------
    words : list of str
    target : dict
        The target (``index``: the class whose logit is decomposed).
    target_value : float
        The logit, f(x).
    phrases : list of [int, int]
        Half-open word spans.
    beta, gamma, words_sum, interaction : list of float
        Per phrase (see the module docstring); ``beta + gamma = target_value``, ``interaction = beta -
        words_sum``.
    config : dict
    """

    kind = "cd_phrases"

    words: list = field(default_factory=list)
    target: dict = field(default_factory=dict)
    target_value: float = 0.0
    phrases: list = field(default_factory=list)
    beta: list = field(default_factory=list)
    gamma: list = field(default_factory=list)
    words_sum: list = field(default_factory=list)
    interaction: list = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(getattr(self, name), dtype=np.float64)
                for name in ("beta", "gamma", "words_sum", "interaction")}

    def table(self) -> str:
        """One line per phrase: the words, beta, gamma, the sum of its words' scores and the interaction."""
        idx = self.target.get("index")
        idx = idx[0] if isinstance(idx, (list, tuple)) and len(idx) == 1 else idx
        lines = [f"f(x) = {self.target_value:.6g} (logit of class {idx})",
                 f"{'phrase':<30} {'beta':>10} {'gamma':>10} {'words':>10} {'interaction':>12}"]
        for (s, e), b, g, c, i in zip(self.phrases, self.beta, self.gamma, self.words_sum, self.interaction):
            text = " ".join(self.words[s:e])
            lines.append(f"{text[:30]:<30} {b:>10.4g} {g:>10.4g} {c:>10.4g} {i:>12.4g}")
        return "\n".join(lines)


class ContextualDecomposition(Explainer):
    """Contextual decomposition of a transformer classifier's logit (CD-T); each word's score is its CD score.

    Parameters
    ----------
    live : LiveModel
        A sentence classifier of an architecture in :data:`~neuronlab.explain.cd_models.CD_ARCHITECTURES`
        (BERT, minilm, RoBERTa).
    target : int, dict, Target or "predicted", default="predicted"
        A class logit (kind ``logit``; CD decomposes logits, other kinds are refused).
    batch_size : int, default=32
        Decomposed rows (an input with one phrase) per pass; a row costs about two forward passes.
    activation : {"shapley", "cdt"}, default="shapley"
        The rule for activations (:data:`~neuronlab.explain.cd_rules.ACTIVATION_RULES`).
    sign_fix : bool, default=False
        CD-T's stabilisation (opposite-signed parts: the larger takes the sum) after every layer.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the decomposition (the model's weights are used as they are, cast per operation).

    Notes
    -----
    ``Explanation.config`` gets, per example, ``gamma`` (each word's context part, ``f(x) - beta``) and
    ``conservation_gap`` (the largest ``|beta + gamma - f(x)|`` over its words, ``f(x)`` from the model's own
    forward pass). ``reference_value`` is None: the word scores of CD do not sum to ``f(x)`` (each word's
    decomposition is a separate one).

    References
    ----------
    Murdoch, Liu & Yu (2018), ICLR; Singh, Murdoch & Yu (2019), ICLR; Hsu et al. (2024), CD-T.

    Examples
    --------
    >>> cd = ContextualDecomposition(live)                                  # doctest: +SKIP
    >>> cd.explain(["nobody liked the plot"]).top_words(0, 1)               # doctest: +SKIP
    [('nobody', 3.1)]
    >>> print(cd.decompose("nobody liked the plot", [(0, 1), (1, 4)]).table())   # doctest: +SKIP
    """

    name = "cd"
    unit = "word"

    def __init__(self, live: Any, *, target: Any = PREDICTED, batch_size: int = 32, activation: str = "shapley",
                 sign_fix: bool = False, dtype: str = "float32") -> None:
        super().__init__(live, target=target, batch_size=batch_size)
        if activation not in ACTIVATION_RULES:
            raise InvalidParameterError(f"activation {activation!r} is unknown; choose one of "
                                        f"{choices(ACTIVATION_RULES)}")
        if dtype not in DTYPES:
            raise InvalidParameterError(f"dtype {dtype!r} is unknown; choose one of {choices(DTYPES)}")
        self.arch = cd_architecture(live.model)
        self.rules = CDRules(activation, bool(sign_fix))
        self.dtype = dtype
        self._extra: dict = {}

    def params(self) -> dict:
        return {**super().params(), "activation": self.rules.activation, "sign_fix": self.rules.sign_fix,
                "dtype": self.dtype}

    # -------------------------------------------------------------- the decomposition of rows
    def logits(self, enc: Any, examples: Sequence[int], relevant) -> tuple[np.ndarray, np.ndarray]:
        """``beta`` and ``gamma`` of all logits (rows, classes) for rows (example, relevant token mask).

        ``relevant`` is a bool array (rows, tokens) over the padded tokens of ``enc``; rows run in batches of
        ``batch_size`` and are counted in :attr:`forward_passes`.
        """
        import torch

        dtype = getattr(torch, self.dtype)
        examples = np.asarray(examples, dtype=np.int64)
        relevant = torch.as_tensor(np.asarray(relevant, dtype=bool))
        emb = embeddings(self.live.model, self.arch, enc.input_ids, dtype)
        betas, gammas = [], []
        for lo in range(0, len(examples), self.batch_size):
            idx = torch.as_tensor(examples[lo:lo + self.batch_size])
            b, g = decompose_logits(self.live.model, self.arch, emb[idx.to(emb.device)],
                                    relevant[lo:lo + self.batch_size], enc.attention_mask[idx].to(emb.device),
                                    self.rules)
            self.forward_passes += len(idx)
            betas.append(b.double().cpu().numpy())
            gammas.append(g.double().cpu().numpy())
        if not betas:
            return np.zeros((0, 0)), np.zeros((0, 0))
        return np.concatenate(betas), np.concatenate(gammas)

    @staticmethod
    def span_mask(enc: Any, example: int, start: int, stop: int) -> np.ndarray:
        """Bool mask (tokens,) of the subword tokens of words ``start..stop-1`` of ``example``."""
        ids = np.full(enc.input_ids.shape[1], -1, dtype=np.int64)
        wid = np.asarray(enc.word_ids[example], dtype=np.int64)
        ids[:len(wid)] = wid
        return (ids >= start) & (ids < stop)

    def _check_target(self, resolved: Any) -> None:
        t = resolved.target
        if t.kind != "logit" or t.output != "logits" or t.position is not None:
            raise InvalidParameterError(
                f"cd decomposes the class logits of a sentence classifier; got target kind {t.kind!r}, output "
                f"{t.output!r}, position {t.position!r}: use kind 'logit' (the default) without a position")

    # -------------------------------------------------------------- Explainer
    def _scores(self, enc, resolved, progress):
        self._check_target(resolved)
        cls = resolved.cls.cpu().numpy()
        scores, gammas = [], []
        chunk: list[int] = []

        def run(chunk):  # the words of several examples, about batch_size rows at a time
            examples = [i for i in chunk for _ in range(enc.n_words(i))]
            masks = [self.span_mask(enc, i, w, w + 1) for i in chunk for w in range(enc.n_words(i))]
            beta, gamma = self.logits(enc, examples, np.array(masks).reshape(len(masks), -1))
            rows = np.arange(len(examples))
            owner = np.asarray(examples, dtype=np.int64)
            b, g = beta[rows, cls[owner]], gamma[rows, cls[owner]]
            for i in chunk:
                scores.append(b[owner == i])
                gammas.append(g[owner == i].tolist())
            if progress is not None:
                progress.update(len(chunk))

        for i in range(enc.n_examples):
            if chunk and sum(enc.n_words(j) for j in chunk) + enc.n_words(i) > self.batch_size:
                run(chunk)
                chunk = []
            chunk.append(i)
        if chunk:
            run(chunk)
        self._extra = {"gamma": gammas}
        return scores, None

    def explain(self, inputs: Any, *, target: Any = None, progress: bool = False):
        ex = super().explain(inputs, target=target, progress=progress)
        gammas = self._extra.get("gamma", [])
        ex.config["gamma"] = gammas
        ex.config["conservation_gap"] = [
            float(np.max(np.abs(np.asarray(b) + np.asarray(g) - f))) if len(b) else 0.0
            for b, g, f in zip(ex.word_scores, gammas, ex.target_value)]
        return ex

    # -------------------------------------------------------------- phrases
    def _prepare(self, sentence: Any, target: Any):
        enc = self.live.encode([sentence] if isinstance(sentence, str) else [list(sentence)])
        tgt, resolved = self.resolve(enc, target)
        self._check_target(resolved)
        self.forward_passes = 0
        return enc, tgt, resolved, int(resolved.cls[0])

    def _set_scores(self, enc: Any, c: int, sets) -> dict:
        """CD scores (class ``c``) of word sets of example 0, one decomposed row per distinct set."""
        todo = sorted({tuple(sorted(w)) for w in sets})
        ids = np.full(enc.input_ids.shape[1], -1, dtype=np.int64)
        ids[:len(enc.word_ids[0])] = enc.word_ids[0]
        masks = np.array([np.isin(ids, list(w)) & (ids >= 0) for w in todo]).reshape(len(todo), -1)
        beta, gamma = self.logits(enc, [0] * len(todo), masks)
        return {w: (float(beta[k, c]), float(gamma[k, c])) for k, w in enumerate(todo)}

    def _f_x(self, enc: Any, resolved: Any) -> float:
        import torch

        with torch.no_grad():
            return float(resolved(self.live.forward(enc))[0])

    def decompose(self, sentence: Any, phrases: Sequence[Any], *, target: Any = None) -> PhraseDecomposition:
        """CD of one input's target logit for each phrase (word spans), with the interaction of its words.

        Parameters
        ----------
        sentence : str or list of str
        phrases : sequence of int or (start, stop)
            Half-open word spans (an int is one word).
        target : optional
            Overrides the explainer's target.

        Returns
        -------
        PhraseDecomposition

        Raises
        ------
        InvalidParameterError
            If a phrase reaches outside the sentence or the target is not a class logit.
        """
        enc, tgt, resolved, c = self._prepare(sentence, target)
        n = enc.n_words(0)
        spans = [check_span(p, n) for p in phrases]
        if not spans:
            raise InvalidParameterError("phrases: give at least one word span")
        sets = [tuple(range(s, e)) for s, e in spans]
        scores = self._set_scores(enc, c, sets + [(w,) for s, e in spans for w in range(s, e)])
        beta = [scores[w][0] for w in sets]
        gamma = [scores[w][1] for w in sets]
        words = [sum(scores[(w,)][0] for w in ws) for ws in sets]
        from .base import _words

        return PhraseDecomposition(words=_words(enc)[0], target=tgt.to_dict(), target_value=self._f_x(enc, resolved),
                                   phrases=[list(s) for s in spans], beta=beta, gamma=gamma, words_sum=words,
                                   interaction=[b - w for b, w in zip(beta, words)], config=self.params())

    def interaction(self, sentence: Any, a: Any, b: Any, *, target: Any = None) -> dict:
        """``CD(A u B) - CD(A) - CD(B)`` for two disjoint phrases (Murdoch et al. 2018; Singh et al. 2019).

        Returns
        -------
        dict
            ``a``, ``b``, ``joined`` (the CD scores), ``interaction`` and ``target_value`` (f(x)).

        Raises
        ------
        InvalidParameterError
            If a phrase reaches outside the sentence or the two overlap.
        """
        enc, tgt, resolved, c = self._prepare(sentence, target)
        n = enc.n_words(0)
        (sa, ea), (sb, eb) = check_span(a, n), check_span(b, n)
        wa, wb = set(range(sa, ea)), set(range(sb, eb))
        if wa & wb:
            raise InvalidParameterError(f"interaction: phrases {(sa, ea)} and {(sb, eb)} overlap; give disjoint spans")
        scores = self._set_scores(enc, c, [tuple(wa), tuple(wb), tuple(wa | wb)])
        ca, cb, cab = (scores[tuple(sorted(w))][0] for w in (wa, wb, wa | wb))
        return {"a": ca, "b": cb, "joined": cab, "interaction": cab - ca - cb,
                "target_value": self._f_x(enc, resolved), "target": tgt.to_dict()}
