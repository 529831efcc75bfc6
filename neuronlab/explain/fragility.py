"""Fragility of explanations (Ghorbani et al. 2019): small input changes that keep the prediction but move the
explanation.

The attack changes one word at a time. Candidates for a word come from

- ``synonyms``: a user table (a mapping word -> list of words; :func:`load_synonyms` reads JSON or TSV), or by
  default the ``k`` nearest neighbours of the word in the model's input-embedding space (cosine similarity,
  whole-word vocabulary tokens only: no special tokens, no ``##`` continuation pieces, alphabetic);
- ``hotflip``: HotFlip's first-order swaps (Ebrahimi et al. 2018): for a single-token word with gradient ``g`` of
  the target w.r.t. its embedding, replacing token ``x`` by ``v`` changes the target by ``(E[v] - E[x]) . g`` to
  first order; the ``k`` whole-word tokens with the *smallest* predicted change are the candidates (the attack
  wants the prediction to hold, not to flip).

Greedy attack (as Ghorbani et al.'s iterative attack, one word per step): at each step every candidate swap of
every word not yet changed is evaluated (batched); those that keep the predicted class are explained (one batched
``explain`` call) and the one whose explanation has the smallest top-k intersection with the original explanation
(ties: the lower Spearman correlation) is taken. It stops after ``max_swaps`` swaps or when no swap keeps the
class. Words keep their positions (a word is swapped for one word), so explanations align by word position.

Reported per example and explainer: the top-k intersection (the paper's metric: the share of the original top-k
words that are still in the top k), the Spearman rank correlation of the word scores, the swaps, and the change of
the predicted class's probability.

References
----------
A. Ghorbani, A. Abid, J. Zou. "Interpretation of Neural Networks is Fragile". AAAI 2019.
J. Ebrahimi, A. Rao, D. Lowd, D. Dou. "HotFlip: white-box adversarial examples for text classification". ACL 2018.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InvalidParameterError, choices
from ..results import Result
from .base import Explainer
from .faithfulness import _spearman

__all__ = ["FragilityResult", "fragility", "topk_intersection", "load_synonyms", "embedding_neighbours",
           "hotflip_candidates", "CANDIDATES"]

#: where the attack's candidate words come from
CANDIDATES = ("synonyms", "hotflip")


def topk_intersection(a: Sequence[float], b: Sequence[float], k: int) -> float:
    """Share of the top-``k`` features of ``a`` that are also among the top ``k`` of ``b`` (Ghorbani et al.).

    Ties are broken by position (stable sort); ``k`` is cut to the number of features.

    >>> topk_intersection([3, 2, 1, 0], [0, 2, 1, 3], k=2)
    0.5
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise InvalidParameterError(f"top-k intersection needs two score vectors of one length; got {a.size} and "
                                    f"{b.size}")
    k = min(int(k), a.size)
    if k < 1:
        raise InvalidParameterError(f"k must be >= 1; got {k}")
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(top_a & top_b) / k


def load_synonyms(path: str | Path) -> dict[str, list[str]]:
    """A synonym table: JSON (``{"word": ["syn", ...]}``) or TSV (``word<TAB>syn1,syn2`` or ``word<TAB>syn`` per line).

    Raises
    ------
    InvalidParameterError
        If the file is missing or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidParameterError(f"synonym table {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    table: dict[str, list[str]] = {}
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidParameterError(f"synonym table {str(path)!r} is not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise InvalidParameterError(f"synonym table {str(path)!r}: expected an object word -> list of words")
        return {str(k).lower(): [str(x) for x in v] for k, v in data.items()}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 2:
            raise InvalidParameterError(f"synonym table {str(path)!r} line {n}: expected 'word<TAB>synonyms'")
        table.setdefault(parts[0].strip().lower(), []).extend(s.strip() for s in parts[1].split(",") if s.strip())
    return table


def _whole_word_ids(live: Any) -> np.ndarray:
    """Vocabulary ids of whole-word tokens: alphabetic, not special, not a ``##`` continuation."""
    cached = getattr(live, "_fragility_whole_words", None)
    if cached is not None:
        return cached
    special = set(live.tokenizer.all_special_ids)
    vocab = live.tokenizer.convert_ids_to_tokens(list(range(int(live.embedding_matrix().shape[0]))))
    ids = np.asarray([i for i, t in enumerate(vocab)
                      if t is not None and i not in special and t.isalpha() and not t.startswith("##")],
                     dtype=np.int64)
    live._fragility_whole_words = ids
    return ids


def embedding_neighbours(live: Any, word: str, k: int) -> list[str]:
    """The ``k`` whole-word vocabulary tokens nearest ``word`` by cosine in the input-embedding space.

    A word that is not a single vocabulary token has no neighbours (empty list).
    """
    import torch

    tok = live.tokenizer
    tid = tok.convert_tokens_to_ids(word.lower() if getattr(tok, "do_lower_case", False) else word)
    if tid is None or tid == getattr(tok, "unk_token_id", None):
        return []
    E = live.embedding_matrix().detach()
    cand = torch.as_tensor(_whole_word_ids(live), device=E.device)
    sims = torch.nn.functional.cosine_similarity(E[cand], E[int(tid)][None], dim=-1)
    sims[cand == int(tid)] = -float("inf")
    best = sims.topk(min(int(k), len(cand) - 1)).indices
    return tok.convert_ids_to_tokens(cand[best].tolist())


def hotflip_candidates(live: Any, words: Sequence[str], gradients: Any, k: int) -> list[list[str]]:
    """Per word: the ``k`` whole-word tokens whose swap changes the target least to first order (HotFlip).

    ``gradients`` (n_tokens, hidden) is the gradient of the target w.r.t. the word embeddings of the encoded
    ``words``; multi-token words get no candidates.
    """
    import torch

    enc = live.encode([list(words)])
    E = live.embedding_matrix().detach()
    cand = torch.as_tensor(_whole_word_ids(live), device=E.device)
    out: list[list[str]] = [[] for _ in words]
    word_ids = enc.word_ids[0]
    for w in range(len(words)):
        pos = [t for t, x in enumerate(word_ids) if x == w]
        if len(pos) != 1:
            continue
        t = pos[0]
        x = int(enc.input_ids[0, t])
        g = gradients[t].to(E.device, E.dtype)
        change = (E[cand] @ g - E[x] @ g).abs()
        change[cand == x] = float("inf")
        best = change.topk(min(int(k), len(cand) - 1), largest=False).indices
        out[w] = live.tokenizer.convert_ids_to_tokens(cand[best].tolist())
    return out


@dataclass
class FragilityResult(Result):
    """The greedy fragility attack on one explainer (Ghorbani et al. 2019).

    Attributes
    ----------
    method : str
    config : dict
    topk_intersection, spearman : float
        Means over the examples (lower: the explanation is more fragile).
    prediction_change : float
        Mean change of the predicted class's probability, ``p(x') - p(x)``.
    label_kept : bool
        Every perturbed input has the original predicted class (checked by a forward pass).
    per_example : list of dict
        ``words``, ``perturbed``, ``swaps`` ([(position, old, new)]), ``topk_intersection``, ``spearman``,
        ``prediction_change``, ``original_top``, ``perturbed_top``.
    seconds : float
    forward_passes : int
    """

    kind = "explain_fragility"

    method: str = ""
    config: dict = field(default_factory=dict)
    topk_intersection: float = 1.0
    spearman: float = 1.0
    prediction_change: float = 0.0
    label_kept: bool = True
    per_example: list = field(default_factory=list)
    seconds: float = 0.0
    forward_passes: int = 0

    def arrays(self) -> dict[str, np.ndarray]:
        return {"topk_intersection": np.asarray([e["topk_intersection"] for e in self.per_example], dtype=float),
                "spearman": np.asarray([e["spearman"] for e in self.per_example], dtype=float)}


def _predict(live: Any, inputs: Sequence[Sequence[str]], classes: Sequence[int], batch_size: int):
    """Predicted class and probability of ``classes[r]`` for each input (batched)."""
    import torch

    pred, prob = [], []
    for a in range(0, len(inputs), batch_size):
        enc = live.encode([list(x) for x in inputs[a:a + batch_size]])
        with torch.no_grad():
            logits = live.forward(enc).logits.float()
        p = torch.softmax(logits, -1)
        pred += logits.argmax(-1).tolist()
        prob += [float(p[r, c]) for r, c in enumerate(classes[a:a + batch_size])]
    return pred, prob


def fragility(explainer: Explainer, inputs: Sequence[Sequence[str]], *, k: int = 3, candidates: str = "synonyms",
              synonyms: Mapping[str, Sequence[str]] | None = None, n_candidates: int = 8, max_swaps: int = 2,
              batch_size: int = 64) -> FragilityResult:
    """Greedy label-preserving word swaps that change ``explainer``'s top-k words the most (Ghorbani et al. 2019).

    Parameters
    ----------
    explainer : Explainer
        Built on the live model; it explains each input's predicted class, fixed once for the attack.
    inputs : sequence of list of str
        Pre-split sentences.
    k : int, default=3
        The top-k of the metric.
    candidates : {"synonyms", "hotflip"}
        Where candidate words come from (module docstring).
    synonyms : mapping, optional
        ``candidates="synonyms"``: a table word -> words (keys compared in lower case); without one, the
        ``n_candidates`` nearest neighbours in the input-embedding space.
    n_candidates : int, default=8
        Candidates per word (embedding neighbours, HotFlip swaps).
    max_swaps : int, default=2
        Words changed at most per input.
    batch_size : int
        Inputs per forward pass when checking the prediction.
    """
    import time

    if candidates not in CANDIDATES:
        raise InvalidParameterError(f"candidates must be one of {choices(CANDIDATES)}; got {candidates!r}")
    for name, v in (("k", k), ("n_candidates", n_candidates), ("max_swaps", max_swaps)):
        if int(v) < 1:
            raise InvalidParameterError(f"{name} must be >= 1; got {v}")
    if not inputs or not all(isinstance(x, (list, tuple)) for x in inputs):
        raise InvalidParameterError("fragility: give the inputs as lists of words")
    live = explainer.live
    table = None if synonyms is None else {str(a).lower(): [str(s) for s in v] for a, v in synonyms.items()}
    t0 = time.perf_counter()
    passes = 0
    original = explainer.explain([list(x) for x in inputs])
    passes += original.forward_passes
    classes = list(original.target["index"]) if isinstance(original.target["index"], (list, tuple)) \
        else [int(original.target["index"])] * len(inputs)
    base_pred, base_prob = _predict(live, inputs, classes, batch_size)
    passes += len(inputs)
    per, kept_all = [], True
    for i, words in enumerate(inputs):
        words = list(words)
        phi0 = np.asarray(original.word_scores[i], dtype=float)
        cls = int(base_pred[i])
        target = dict(original.target, index=classes[i])
        pool = _candidate_pool(explainer, words, target, candidates, table, n_candidates)
        passes += int(candidates == "hotflip")  # the gradient row of the first-order swaps
        current, swaps = list(words), []
        best_phi, best_prob = phi0, base_prob[i]
        for _ in range(int(max_swaps)):
            changed = {p for p, _, _ in swaps}
            trials = [(w, c) for w in range(len(words)) if w not in changed for c in pool[w]
                      if c.lower() != words[w].lower()]
            if not trials:
                break
            texts = [current[:w] + [c] + current[w + 1:] for w, c in trials]
            pred, prob = _predict(live, texts, [classes[i]] * len(texts), batch_size)
            passes += len(texts)
            ok = [j for j, p in enumerate(pred) if p == cls]
            if not ok:
                break
            ex = explainer.explain([texts[j] for j in ok], target=dict(target, index=[classes[i]] * len(ok)))
            passes += ex.forward_passes
            scored = []
            for j, s in zip(ok, ex.word_scores):
                s = np.asarray(s, dtype=float)
                if s.size != phi0.size:  # a candidate the tokenizer splits differently into words: skip it
                    continue
                scored.append((topk_intersection(phi0, s, k), _nan_high(_spearman(phi0, s)), j, s))
            if not scored:
                break
            _, _, j, s = min(scored, key=lambda r: (r[0], r[1]))
            w, c = trials[j]
            swaps.append((w, current[w], c))
            current = texts[j]
            best_phi, best_prob = s, prob[j]
        check_pred, _ = _predict(live, [current], [classes[i]], batch_size)
        passes += 1
        kept = check_pred[0] == cls
        kept_all &= kept
        per.append({"words": words, "perturbed": current, "swaps": [list(s) for s in swaps],
                    "topk_intersection": topk_intersection(phi0, best_phi, k), "spearman": _spearman(phi0, best_phi),
                    "prediction_change": float(best_prob - base_prob[i]), "label_kept": bool(kept),
                    "original_top": [words[j] for j in np.argsort(-phi0, kind="stable")[:k]],
                    "perturbed_top": [current[j] for j in np.argsort(-best_phi, kind="stable")[:k]]})
    rho = [e["spearman"] for e in per]
    return FragilityResult(
        method=original.method,
        config={"k": int(k), "candidates": candidates, "synonym_table": table is not None,
                "n_candidates": int(n_candidates), "max_swaps": int(max_swaps), "target": original.target},
        topk_intersection=float(np.mean([e["topk_intersection"] for e in per])),
        spearman=float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan"),
        prediction_change=float(np.mean([e["prediction_change"] for e in per])), label_kept=bool(kept_all),
        per_example=per, seconds=round(time.perf_counter() - t0, 4), forward_passes=int(passes))


def _nan_high(x: float) -> float:
    return 2.0 if not np.isfinite(x) else x


def _candidate_pool(explainer: Explainer, words: list[str], target: dict, how: str, table, n: int) -> list[list[str]]:
    live = explainer.live
    if how == "synonyms":
        if table is not None:
            return [list(table.get(w.lower(), [])) for w in words]
        return [embedding_neighbours(live, w, n) for w in words]
    import torch

    from ..models.targets import as_target

    enc = live.encode([words])
    resolved = as_target(target).resolve(enc)
    emb = live.embed(enc).clone().requires_grad_(True)
    with torch.enable_grad():
        value = resolved(live.forward(enc, inputs_embeds=emb))
        (g,) = torch.autograd.grad(value.sum(), emb)
    return hotflip_candidates(live, words, g[0].detach(), n)
