"""Model-side corpus methods: concept alignment with replicated sentences and Gumbel-softmax n-gram generation.

Both read one neuron of a site of a :class:`~neuronlab.models.live.LiveModel` through its scoped hooks (the
forward pass stops at the site).

- :func:`concept_alignment` (Na et al. 2019): a concept (a word or an n-gram) is replicated into a synthetic
  sentence of about the corpus's sentence length ("dog dog dog ..."); its degree of alignment with the neuron is
  the neuron's mean activation over that sentence, compared with sentences of random words.
- :func:`gumbel_ngrams` (Poerner et al. 2018): the n-gram that maximises the neuron, found by gradient ascent on
  a relaxed input: each position is a Gumbel-softmax mixture of the vocabulary's input embeddings, whose logits
  are trained with Adam while the temperature is annealed; the discrete n-grams (argmax per position) met on
  the way are scored as real inputs and the best are returned.

:func:`score_texts` scores any word n-grams the same way (the model sees the n-gram alone), so corpus n-grams
(:func:`~neuronlab.concepts.corpus_methods.ngrams.top_ngrams`) and generated ones can be compared directly.
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Sequence

import numpy as np

from ..errors import InvalidParameterError, choices
from ..results import Result
from .capture import StopForward

__all__ = ["score_texts", "concept_alignment", "gumbel_ngrams", "word_vocabulary", "AlignmentResult",
           "GenerationResult", "REDUCE"]

#: how a neuron's activations over the tokens of an input become one number
REDUCE = ("mean", "max", "last")

_WORD = re.compile(r"[^\W\d_]+\Z")


def _check_reduce(reduce: str) -> None:
    if reduce not in REDUCE:
        raise InvalidParameterError(f"reduce must be one of {choices(REDUCE)}; got {reduce!r}")


def _reduce(values, mask, reduce: str):
    """``values`` (batch, tokens) over the True entries of ``mask`` (batch, tokens) -> (batch,)."""
    import torch

    mask = mask.to(values.dtype)
    if reduce == "mean":
        return (values * mask).sum(1) / mask.sum(1).clamp(min=1)
    if reduce == "max":
        return values.masked_fill(mask == 0, -torch.inf).max(1).values
    last = (mask * torch.arange(mask.shape[1], device=mask.device)).argmax(1)
    return values[torch.arange(values.shape[0]), last]


def _site_value(live, site: str, *, grad: bool = False, **model_inputs):
    """The value of ``site`` (batch, tokens, width) for one forward pass, which stops at the site."""
    import torch

    seen = {}

    def fn(v):
        seen["v"] = v
        raise StopForward(site)

    ctx = torch.enable_grad() if grad else torch.no_grad()
    with ctx, live.hooks({site: fn}):
        try:
            live.model(**model_inputs)
        except StopForward:
            pass
    if "v" not in seen:  # pragma: no cover - a site the forward pass never reached
        raise InvalidParameterError(f"site {site!r} was not reached by the forward pass")
    return seen["v"]


def score_texts(live, site: str, neuron: int, texts: Sequence[Sequence[str] | str], *, reduce: str = "mean",
                batch_size: int = 64) -> np.ndarray:
    """The neuron's activation on each input alone (reduced over its word tokens, special tokens excluded).

    Parameters
    ----------
    live : LiveModel
    site : str
    neuron : int
    texts : sequence of str or of lists of words
    reduce : {"mean", "max", "last"}
    batch_size : int

    Returns
    -------
    ndarray of float64 of shape (len(texts),)
    """
    _check_reduce(reduce)
    site = live.site(site)
    neuron = live.check_neurons(site, [neuron])[0]
    texts = [t.split() if isinstance(t, str) else list(t) for t in texts]
    out = []
    for start in range(0, len(texts), batch_size):
        enc = live.encode(texts[start:start + batch_size])
        dev = live.device
        value = _site_value(live, site, input_ids=enc.input_ids.to(dev), attention_mask=enc.attention_mask.to(dev))
        out.append(_reduce(value[..., neuron].double(), enc.content_mask().to(dev), reduce).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def word_vocabulary(tokenizer, *, min_length: int = 1) -> np.ndarray:
    """Token ids of the tokenizer's whole-word, alphabetic tokens (no specials, no ``##`` or ``Ġ`` pieces).

    These are the tokens generation chooses from: each is a word by itself, so a generated n-gram is text
    that tokenises back into the same tokens.
    """
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    ids = []
    for tok, i in tokenizer.get_vocab().items():
        if i in special or len(tok) < min_length or not _WORD.match(tok):
            continue
        ids.append(i)
    if not ids:
        raise InvalidParameterError("the tokenizer has no whole-word alphabetic tokens to generate from; pass "
                                    "vocabulary= (token ids)")
    return np.array(sorted(ids), dtype=np.int64)


# ------------------------------------------------------------------ alignment (Na et al. 2019)
@dataclasses.dataclass
class AlignmentResult(Result):
    """Concepts ranked by their degree of alignment (DoA) with a neuron.

    ``concepts``: best first, dicts with ``concept``, ``activation`` (the DoA: mean activation on the replicated
    sentence), ``z`` (its distance from the random sentences' mean, in their standard deviations) and
    ``sentence`` (the synthetic input).
    """

    kind = "alignment"

    neuron: str
    concepts: list
    random_mean: float
    random_std: float
    config: dict

    def arrays(self) -> dict[str, np.ndarray]:
        return {"concept": np.array([c["concept"] for c in self.concepts], dtype=object),
                "activation": np.array([c["activation"] for c in self.concepts], dtype=float),
                "z": np.array([c["z"] for c in self.concepts], dtype=float)}

    def table(self) -> str:
        lines = [f"{self.neuron}: random sentences {self.random_mean:.3f} +- {self.random_std:.3f}",
                 f"  {'DoA':>8} {'z':>7}  concept"]
        lines += [f"  {c['activation']:8.3f} {c['z']:7.2f}  {c['concept']}" for c in self.concepts]
        return "\n".join(lines)


def _replicate(words: list[str], length: int) -> list[str]:
    reps = max(1, int(round(length / len(words))))
    return words * reps


def concept_alignment(live, site: str, neuron: int, concepts: Sequence[str], *, length: int = 10,
                      n_random: int = 32, random_words: Sequence[str] | None = None, reduce: str = "mean",
                      seed: int = 0) -> AlignmentResult:
    """Rank concepts by the neuron's mean activation on sentences that repeat them (Na et al. 2019).

    Parameters
    ----------
    live : LiveModel
    site : str
    neuron : int
    concepts : sequence of str
        Words or n-grams (words separated by spaces), e.g. the neuron's top corpus n-grams.
    length : int, default 10
        Words per synthetic sentence (Na et al. use the corpus's mean sentence length): an n-gram is repeated
        ``round(length / n)`` times.
    n_random : int, default 32
        Sentences of ``length`` random words: the baseline the z-scores are taken against.
    random_words : sequence of str, optional
        Where random words are drawn from (default: the tokenizer's whole-word vocabulary).
    reduce : {"mean", "max", "last"}
        Over the sentence's tokens (Na et al.: mean).
    seed : int

    References
    ----------
    S. Na, Y. J. Choe, D. Lee, G. Kim. "Discovery of Natural Language Concepts in Individual Units of CNNs".
    ICLR 2019.
    """
    concepts = [str(c) for c in concepts if str(c).split()]
    if not concepts:
        raise InvalidParameterError("concepts: give at least one word or n-gram")
    if length < 1 or n_random < 2:
        raise InvalidParameterError(f"length must be >= 1 and n_random >= 2; got length={length}, "
                                    f"n_random={n_random}")
    rng = np.random.default_rng(seed)
    if random_words is None:
        vocab = live.tokenizer.convert_ids_to_tokens(word_vocabulary(live.tokenizer).tolist())
    else:
        vocab = [str(w) for w in random_words]
    sentences = [_replicate(c.split(), length) for c in concepts]
    randoms = [list(rng.choice(vocab, size=length)) for _ in range(n_random)]
    scores = score_texts(live, site, neuron, sentences + randoms, reduce=reduce)
    doa, rand = scores[:len(concepts)], scores[len(concepts):]
    mean, std = float(rand.mean()), float(rand.std(ddof=1))
    z = (doa - mean) / std if std > 0 else np.zeros_like(doa)
    order = np.lexsort((np.arange(doa.size), -doa))
    rows = [{"concept": concepts[i], "activation": float(doa[i]), "z": float(z[i]),
             "sentence": " ".join(sentences[i])} for i in order]
    from ..sites import neuron_id

    return AlignmentResult(neuron_id(live.site(site), neuron), rows, mean, std,
                           {"site": site, "neuron": int(neuron), "length": length, "n_random": n_random,
                            "reduce": reduce, "seed": seed})


# ------------------------------------------------------------------ Gumbel-softmax generation (Poerner et al. 2018)
@dataclasses.dataclass
class GenerationResult(Result):
    """Generated n-grams that maximise a neuron, beside the best corpus n-grams scored the same way.

    ``generated`` and ``corpus``: best first, dicts with ``ngram`` and ``activation`` (the neuron's activation
    on the n-gram alone, :func:`score_texts`); ``corpus`` entries may carry their in-context statistics.
    """

    kind = "generation"

    neuron: str
    generated: list
    corpus: list
    config: dict

    def arrays(self) -> dict[str, np.ndarray]:
        return {"generated": np.array([g["ngram"] for g in self.generated], dtype=object),
                "generated_activation": np.array([g["activation"] for g in self.generated], dtype=float),
                "corpus": np.array([g["ngram"] for g in self.corpus], dtype=object),
                "corpus_activation": np.array([g["activation"] for g in self.corpus], dtype=float)}

    def table(self) -> str:
        lines = [f"{self.neuron}", f"  {'generated':<32} {'act':>8}   {'best corpus n-gram':<32} {'act':>8}"]
        for i in range(max(len(self.generated), len(self.corpus))):
            g = self.generated[i] if i < len(self.generated) else None
            c = self.corpus[i] if i < len(self.corpus) else None
            left = f"{g['ngram']:<32} {g['activation']:8.3f}" if g else " " * 41
            right = f"{c['ngram']:<32} {c['activation']:8.3f}" if c else ""
            lines.append(f"  {left}   {right}")
        return "\n".join(lines)


def _template(tokenizer):
    """Special tokens before and after the content of a single input (e.g. [CLS] ... [SEP])."""
    plain = list(tokenizer("hello", add_special_tokens=False)["input_ids"])
    full = list(tokenizer("hello", add_special_tokens=True)["input_ids"])
    for i in range(len(full) - len(plain) + 1):
        if full[i:i + len(plain)] == plain:
            return full[:i], full[i + len(plain):]
    raise InvalidParameterError("cannot find where the tokenizer puts the text between its special tokens")


def gumbel_ngrams(live, site: str, neuron: int, *, length: int = 3, k: int = 5, steps: int = 150,
                  restarts: int = 8, lr: float = 0.3, tau: tuple = (2.0, 0.1), reduce: str = "mean",
                  vocabulary: Sequence[int] | None = None, corpus: Sequence[str] | None = None, seed: int = 0,
                  progress: bool = False) -> GenerationResult:
    """N-grams that maximise a neuron, by gradient ascent through a Gumbel-softmax over the vocabulary.

    Each of ``restarts`` parallel searches holds logits ``theta`` of shape (length, V). A step draws Gumbel
    noise ``g``, forms ``y = softmax((theta + g) / tau)`` per position, feeds ``y @ E`` (E: the input
    embeddings of the V allowed tokens) between the model's special tokens, reads the neuron at ``site``
    reduced over the n-gram's positions, and takes an Adam step on ``-activation``. ``tau`` is annealed
    geometrically from ``tau[0]`` to ``tau[1]``. Every 10 steps and at the end the argmax n-grams are recorded;
    all recorded n-grams are scored as real inputs (:func:`score_texts`) and the ``k`` best are returned.

    Parameters
    ----------
    live : LiveModel
    site : str
    neuron : int
    length : int, default 3
        Tokens per n-gram.
    k : int, default 5
        N-grams returned.
    steps, restarts, lr, tau
        Optimisation: Adam steps, parallel searches, learning rate, (start, end) temperature.
    reduce : {"mean", "max", "last"}
        Over the n-gram's positions.
    vocabulary : sequence of int, optional
        Token ids to choose from (default :func:`word_vocabulary`: whole alphabetic words).
    corpus : sequence of str, optional
        Corpus n-grams to score the same way and report beside the generated ones (e.g. the neuron's top
        n-grams from :func:`~neuronlab.concepts.corpus_methods.ngrams.top_ngrams`).
    seed : int
    progress : bool
        A progress bar over the steps.

    References
    ----------
    N. Poerner, B. Roth, H. Schütze. "Interpretable Textual Neuron Representations for NLP". BlackboxNLP 2018.
    E. Jang, S. Gu, B. Poole. "Categorical Reparameterization with Gumbel-Softmax". ICLR 2017.
    """
    import torch

    _check_reduce(reduce)
    if length < 1 or k < 1 or steps < 1 or restarts < 1 or lr <= 0 or len(tau) != 2 or min(tau) <= 0:
        raise InvalidParameterError(f"gumbel_ngrams: length, k, steps and restarts must be >= 1, lr > 0 and tau two "
                                    f"positive temperatures; got length={length}, k={k}, steps={steps}, "
                                    f"restarts={restarts}, lr={lr}, tau={tau}")
    site = live.site(site)
    neuron = live.check_neurons(site, [neuron])[0]
    vocab = word_vocabulary(live.tokenizer) if vocabulary is None else np.asarray(vocabulary, dtype=np.int64)
    dev = live.device
    emb_layer = live.model.get_input_embeddings()
    vocab_t = torch.as_tensor(vocab, device=dev)
    E = emb_layer.weight.detach()[vocab_t]                                     # (V, H)
    pre, post = _template(live.tokenizer)
    pre_e = emb_layer.weight.detach()[torch.as_tensor(pre, dtype=torch.long, device=dev)]
    post_e = emb_layer.weight.detach()[torch.as_tensor(post, dtype=torch.long, device=dev)]
    n_tok = len(pre) + length + len(post)
    mask = torch.ones(restarts, n_tok, dtype=torch.long, device=dev)
    content = torch.zeros(restarts, n_tok, dtype=torch.bool, device=dev)
    content[:, len(pre):len(pre) + length] = True
    gen = torch.Generator(device="cpu").manual_seed(seed)
    theta = (0.01 * torch.randn(restarts, length, vocab.size, generator=gen)).to(dev).requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    seen: set = set()

    def record():
        for row in theta.detach().argmax(-1).cpu().numpy():
            seen.add(tuple(int(vocab[i]) for i in row))

    steps_iter = range(steps)
    if progress:
        from tqdm.auto import tqdm

        steps_iter = tqdm(steps_iter, unit="step", dynamic_ncols=True, leave=False, desc="gumbel")
    params = list(live.model.parameters())
    was = [p.requires_grad for p in params]
    try:
        for p in params:  # gradients are wanted for theta only
            p.requires_grad_(False)
        for step in steps_iter:
            t = tau[0] * (tau[1] / tau[0]) ** (step / max(1, steps - 1))
            u = torch.rand(theta.shape, generator=gen).to(dev).clamp_(1e-10, 1 - 1e-10)
            y = torch.softmax((theta + (-torch.log(-torch.log(u)))) / t, dim=-1)
            soft = y @ E
            embeds = torch.cat([pre_e.expand(restarts, -1, -1), soft, post_e.expand(restarts, -1, -1)], dim=1)
            value = _site_value(live, site, grad=True, inputs_embeds=embeds, attention_mask=mask)
            act = _reduce(value[..., neuron], content, reduce)
            opt.zero_grad()
            (-act.sum()).backward()
            opt.step()
            if step % 10 == 9:
                record()
        record()
    finally:
        for p, w in zip(params, was):
            p.requires_grad_(w)
    cands = [" ".join(live.tokenizer.convert_ids_to_tokens(list(c))) for c in sorted(seen)]
    scores = score_texts(live, site, neuron, cands, reduce=reduce)
    order = np.lexsort((np.arange(len(cands)), -scores))[:k]
    generated = [{"ngram": cands[i], "activation": float(scores[i])} for i in order]
    corpus_rows = []
    if corpus:
        corpus = [str(c) for c in corpus]
        cs = score_texts(live, site, neuron, corpus, reduce=reduce)
        corpus_rows = [{"ngram": corpus[i], "activation": float(cs[i])}
                       for i in np.lexsort((np.arange(len(corpus)), -cs))[:k]]
    from ..sites import neuron_id

    config = {"site": site, "neuron": int(neuron), "length": length, "k": k, "steps": steps, "restarts": restarts,
              "lr": lr, "tau": list(tau), "reduce": reduce, "seed": seed, "vocabulary_size": int(vocab.size)}
    return GenerationResult(neuron_id(site, neuron), generated, corpus_rows, config)


def mean_sentence_length(offsets) -> int:
    """Mean words per sentence of a store (``offsets``), rounded, at least 1: the alignment sentence length."""
    lengths = np.diff(np.asarray(offsets, dtype=np.int64))
    return max(1, int(math.floor(float(lengths.mean()) + 0.5))) if lengths.size else 1
