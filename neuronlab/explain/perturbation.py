"""Perturbation explainers over words: leave-one-out, n-gram occlusion, input reduction and HotFlip.

Every method here scores *words* (``unit = "word"``) and evaluates its perturbed inputs in batches through
:func:`~neuronlab.explain.perturb.evaluate_keep` (how a removed word disappears is the ``mode``:
:data:`~neuronlab.explain.perturb.MODES`).

=================== ======================================================================================
method              score of word ``w`` (``f``: the target; ``x_-A``: x with the words A removed)
=================== ======================================================================================
``leave-one-out``   ``f(x) - f(x_-w)``                       (Li, Monroe & Jurafsky 2016)
``occlusion``       mean of ``f(x) - f(x_-A)`` over the windows A of ``window`` consecutive words that
                    cover ``w`` (stride 1, as Captum's ``Occlusion``; Zeiler & Fergus 2014)
``input-reduction`` the step at which ``w`` was removed by the reduction (later = more important; kept
                    words score the number of words) (Feng et al. 2018)
``hotflip``         ``f(x) - f(x')`` for the best single-token swap ``x'`` in ``w``, chosen to first order
                    and verified by a forward pass (Ebrahimi et al. 2018)
=================== ======================================================================================
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from .base import PREDICTED, Explainer, Explanation
from .perturb import WordExplainer, layout, n_words, tick

__all__ = ["LeaveOneOut", "Occlusion", "InputReduction", "HotFlip"]


class LeaveOneOut(WordExplainer, Explainer):
    """Leave-one-out (erasure): a word's score is the drop of the target when the word is removed.

    Parameters
    ----------
    live : LiveModel
    target : Target, int, dict or "predicted", default="predicted"
    batch_size : int, default=32
        Perturbed inputs per forward pass.
    mode : {"drop", "mask", "unk", "pad"}, default="drop"
        How the word is removed (its tokens deleted, or each subword replaced by that special token).
    engine : {"auto", "native", "hf"}, default="auto"
        Forward pass of the perturbed inputs: packed where the model allows it
        (:mod:`~neuronlab.explain.packed`), always transformers' (``hf``), or packed or an error (``native``).

    Notes
    -----
    ``n_words`` rows per example, besides the pass at the input that every explanation runs (f(x) is reused,
    not evaluated again): the rows of Captum's ``FeatureAblation``. References: J. Li, W. Monroe, D. Jurafsky, "Understanding neural networks through
    representation erasure", arXiv:1612.08220, 2016.

    Examples
    --------
    >>> ex = LeaveOneOut(live, mode="mask").explain(["a good movie"])   # doctest: +SKIP
    >>> ex.top_words(0, 1)                                              # doctest: +SKIP
    [('good', 2.31)]
    """

    name = "leave-one-out"

    def __init__(self, live: Any, *, target: Any = PREDICTED, batch_size: int = 32, mode: str = "drop",
                 engine: str = "auto") -> None:
        super().__init__(live, target=target, batch_size=batch_size)
        self._set_mode(mode)
        self._set_engine(engine)

    def params(self) -> dict:
        return {**super().params(), "mode": self.mode}

    def _scores(self, enc, resolved, progress):
        requests = []
        for i in range(enc.n_examples):
            n = n_words(enc, i)
            requests.append((i, np.vstack([np.ones((1, n), bool), ~np.eye(n, dtype=bool)])))
        values = self._evaluate(enc, resolved, requests)
        tick(progress, enc.n_examples)
        return [v[0] - v[1:] for v in values], None


class Occlusion(WordExplainer, Explainer):
    """Occlusion of n-grams: slide a window of ``window`` words (stride 1) and remove it; each word gets the mean
    target drop of the windows that cover it.

    Parameters
    ----------
    live : LiveModel
    target : Target, int, dict or "predicted", default="predicted"
    batch_size : int, default=32
    window : int, default=2
        Words per occluded window (an example with fewer words is occluded whole).
    mode : {"drop", "mask", "unk", "pad"}, default="mask"
    engine : {"auto", "native", "hf"}, default="auto"
        Forward pass of the perturbed inputs: packed where the model allows it
        (:mod:`~neuronlab.explain.packed`), always transformers' (``hf``), or packed or an error (``native``).

    Notes
    -----
    With ``window=1`` this is leave-one-out. The averaging over covering windows is Captum's ``Occlusion``
    (stride 1) carried from token positions to words. Reference: M. D. Zeiler, R. Fergus, "Visualizing and
    understanding convolutional networks", ECCV 2014.
    """

    name = "occlusion"

    def __init__(self, live: Any, *, target: Any = PREDICTED, batch_size: int = 32, window: int = 2,
                 mode: str = "mask", engine: str = "auto") -> None:
        super().__init__(live, target=target, batch_size=batch_size)
        if int(window) < 1:
            raise InvalidParameterError(f"window must be >= 1 word; got {window}")
        self.window = int(window)
        self._set_mode(mode)
        self._set_engine(engine)

    def params(self) -> dict:
        return {**super().params(), "window": self.window, "mode": self.mode}

    def _windows(self, n: int) -> np.ndarray:
        w = min(self.window, n)
        starts = np.arange(n - w + 1)
        cover = (np.arange(n)[None, :] >= starts[:, None]) & (np.arange(n)[None, :] < starts[:, None] + w)
        return cover

    def _scores(self, enc, resolved, progress):
        covers, requests = [], []
        for i in range(enc.n_examples):
            cover = self._windows(n_words(enc, i))
            covers.append(cover)
            requests.append((i, np.vstack([np.ones((1, cover.shape[1]), bool), ~cover])))
        values = self._evaluate(enc, resolved, requests)
        tick(progress, enc.n_examples)
        out = []
        for cover, v in zip(covers, values):
            diff = v[0] - v[1:]
            out.append((cover * diff[:, None]).sum(0) / cover.sum(0))
        return out, None


class InputReduction(WordExplainer, Explainer):
    """Input reduction: remove the least important word, again and again, while the prediction holds.

    A beam of the ``beam`` best partial reductions is kept: at each step every word of every reduction in the
    beam is tried out (one batch); a removal is allowed when the model's predicted class stays that of the
    full input, and the allowed reductions with the highest target (the least important word removed,
    importance measured by leave-one-out on the current input) form the next beam. The reduction stops when
    no removal keeps the prediction or one word is left.

    Parameters
    ----------
    live : LiveModel
    target : Target, int, dict or "predicted", default="predicted"
    batch_size : int, default=32
    beam : int, default=3
        Beam width (1: greedy).
    mode : {"drop", "mask", "unk", "pad"}, default="drop"
    engine : {"auto", "native", "hf"}, default="auto"
        Forward pass of the perturbed inputs: packed where the model allows it
        (:mod:`~neuronlab.explain.packed`), always transformers' (``hf``), or packed or an error (``native``).

    Notes
    -----
    The explanation's ``config["reduced"]`` holds, per example, the reduced inputs of the final beam (lists of
    words, best first) and ``config["removal_order"]`` the words of the best reduction in the order they were
    removed. Word scores: the step at which the word was removed (1 = first), ``n_words`` for the words that
    remain. Reference: S. Feng, E. Wallace, A. Grissom II, M. Iyyer, P. Rodriguez, J. Boyd-Graber,
    "Pathologies of neural models make interpretations difficult", EMNLP 2018.
    """

    name = "input-reduction"

    def __init__(self, live: Any, *, target: Any = PREDICTED, batch_size: int = 32, beam: int = 3,
                 mode: str = "drop", engine: str = "auto") -> None:
        super().__init__(live, target=target, batch_size=batch_size)
        if int(beam) < 1:
            raise InvalidParameterError(f"beam must be >= 1; got {beam}")
        self.beam = int(beam)
        self._set_mode(mode)
        self._set_engine(engine)
        self._extra: dict = {}

    def params(self) -> dict:
        return {**super().params(), "beam": self.beam, "mode": self.mode}

    def _reduce(self, enc, resolved, i: int):
        n = n_words(enc, i)
        full = np.ones(n, bool)
        (v0,) = self._evaluate(enc, resolved, [(i, full[None])], predict=True)
        label = v0[0, 1]
        beam: list[tuple[np.ndarray, list[int], float]] = [(full, [], float(v0[0, 0]))]
        while True:
            cands = [(b, j) for b, (keep, _, _) in enumerate(beam) if keep.sum() > 1 for j in np.flatnonzero(keep)]
            if not cands:
                break
            rows = np.array([beam[b][0] for b, _ in cands])
            rows[np.arange(len(cands)), [j for _, j in cands]] = False
            (vals,) = self._evaluate(enc, resolved, [(i, rows)], predict=True)
            ok = np.flatnonzero(vals[:, 1] == label)
            if not len(ok):
                break
            order = ok[np.argsort(-vals[ok, 0], kind="stable")]
            nxt, seen = [], set()
            for c in order:
                key = rows[c].tobytes()
                if key in seen:
                    continue
                seen.add(key)
                b, j = cands[c]
                nxt.append((rows[c], beam[b][1] + [int(j)], float(vals[c, 0])))
                if len(nxt) == self.beam:
                    break
            beam = nxt
        return beam

    def _scores(self, enc, resolved, progress):
        scores, reduced, orders = [], [], []
        words = _word_strings(enc)
        for i in range(enc.n_examples):
            beam = self._reduce(enc, resolved, i)
            keep, removed, _ = beam[0]
            s = np.full(len(keep), float(len(keep)))
            s[removed] = np.arange(1, len(removed) + 1, dtype=float)
            scores.append(s)
            reduced.append([[words[i][j] for j in np.flatnonzero(k)] for k, _, _ in beam])
            orders.append([words[i][j] for j in removed])
            tick(progress)
        self._extra = {"reduced": reduced, "removal_order": orders}
        return scores, None

    def explain(self, inputs: Any, *, target: Any = None, progress: bool = False) -> Explanation:
        ex = super().explain(inputs, target=target, progress=progress)
        ex.config.update(self._extra)
        return ex


def _word_strings(enc) -> list[list[str]]:
    from .base import _words

    return _words(enc)


def _evaluate_rows(explainer: Any, resolved: Any, row_ids: list[np.ndarray], row_cls: np.ndarray,
                   row_pos: np.ndarray | None) -> np.ndarray:
    """Target value and predicted class (n_rows, 2) of token rows given directly (HotFlip's swapped inputs).

    The rows are run as :func:`~neuronlab.explain.perturb.evaluate_keep` runs its perturbed inputs: sorted by
    length, in batches of ``explainer.batch_size``, packed (:mod:`~neuronlab.explain.packed`, on worker threads)
    where the explainer's ``engine`` and the model allow it, else padded through transformers' forward; every row
    is one counted forward row either way.
    """
    from .packed import run_batches, split_batches, worker_layout
    from .perturb import _packed, _packed_batch, _padded_batch

    values = np.zeros((len(row_ids), 2), dtype=np.float64)
    order = np.argsort([len(r) for r in row_ids], kind="stable")
    bs = explainer.batch_size
    batches = [order[b:b + bs] for b in range(0, len(order), bs)]
    packed = _packed(explainer, resolved, [row_ids[r] for r in order]) if len(order) else None
    if packed is not None:
        run = _packed_batch(packed, resolved, row_ids, row_cls, row_pos, True)
        explainer.forward_passes += len(order)
        units = split_batches(batches, [len(r) for r in row_ids], worker_layout(len(batches))[0])
        for idx, out in zip(units, run_batches(run, units, device=packed.device)):
            values[idx] = out
    else:
        for idx in batches:
            values[idx] = _padded_batch(explainer, resolved, row_ids, row_cls, row_pos, idx, True)
    return values


class HotFlip(WordExplainer, Explainer):
    """HotFlip: the best single-token swap of each word, chosen by the gradient w.r.t. the one-hot input.

    For token position ``t`` with gradient ``g_t`` of the target w.r.t. its word embedding, swapping the token
    ``x_t`` for ``v`` changes the target by ``(E[v] - E[x_t]) . g_t`` to first order (``E``: the embedding
    matrix; this is the gradient w.r.t. the one-hot input). The ``candidates`` swaps with the largest first-order
    *decrease* per position (special tokens excluded) are verified by a forward pass; a word's score is the
    largest verified drop ``f(x) - f(x')`` among its subwords.

    Parameters
    ----------
    live : LiveModel
    target : Target, int, dict or "predicted", default="predicted"
    batch_size : int, default=32
        Rows per pass: examples of the gradient pass, swapped inputs of the verification passes.
    candidates : int, default=1
        Swaps verified per token position (1: the first-order best, as the paper).
    engine : {"auto", "native", "hf"}, default="auto"
        Forward pass of the swapped inputs (the verification): packed where the model allows it
        (:mod:`~neuronlab.explain.packed`), always transformers' (``hf``), or packed or an error (``native``).
        The gradient pass always runs transformers' forward (it needs autograd).

    Notes
    -----
    Forward rows: one gradient row per example, then ``1 + n_content_tokens x candidates`` verification rows
    per example (the input itself, for its predicted class, and each swap), the swaps of all examples sorted by
    length and run in batches of ``batch_size``, as the other perturbation explainers do
    (:func:`~neuronlab.explain.perturb.evaluate_keep`).

    ``config["flips"]`` lists per example the verified best swap of each token (``position``, ``word``,
    ``token``, ``replacement``, ``change`` = f(x') - f(x), ``flips_prediction``), strongest first;
    ``config["adversarial"]`` the ones that change the predicted class. Reference: J. Ebrahimi, A. Rao,
    D. Lowd, D. Dou, "HotFlip: white-box adversarial examples for text classification", ACL 2018.
    """

    name = "hotflip"

    def __init__(self, live: Any, *, target: Any = PREDICTED, batch_size: int = 32, candidates: int = 1,
                 engine: str = "auto") -> None:
        super().__init__(live, target=target, batch_size=batch_size)
        if int(candidates) < 1:
            raise InvalidParameterError(f"candidates must be >= 1; got {candidates}")
        self.candidates = int(candidates)
        self._set_engine(engine)
        self._extra: dict = {}

    def params(self) -> dict:
        return {**super().params(), "candidates": self.candidates}

    def _gradients(self, enc, resolved):
        import torch

        grads = []
        for b in range(0, enc.n_examples, self.batch_size):
            rows = list(range(b, min(b + self.batch_size, enc.n_examples)))
            emb = self.live.embed(enc, rows).clone().requires_grad_(True)
            with torch.enable_grad():
                values = self.evaluate(enc, resolved, rows, inputs_embeds=emb)
                (g,) = torch.autograd.grad(values.sum(), emb)
            grads.extend(g.detach())
        return grads

    def _verify(self, enc, resolved, swaps: list[list[tuple[int, int]]]) -> list[np.ndarray]:
        """Target and predicted class (n_swaps, 2) of each example with each of its (position, token id) swaps."""
        row_ids, row_cls, row_pos, start = [], [], [], []
        for i, part in enumerate(swaps):
            ids0 = layout(enc, i).ids
            start.append(len(row_ids))
            for t, v in part:
                ids = ids0.copy()
                ids[t] = v
                row_ids.append(ids)
            row_cls.extend([int(resolved.cls[i])] * len(part))
            if resolved.pos is not None:
                row_pos.extend([int(resolved.pos[i])] * len(part))  # a swap keeps every position
        values = _evaluate_rows(self, resolved, row_ids, np.asarray(row_cls, dtype=np.int64),
                               None if resolved.pos is None else np.asarray(row_pos, dtype=np.int64))
        return [values[s:s + len(part)] for s, part in zip(start, swaps)]

    def _scores(self, enc, resolved, progress):
        import torch

        E = self.live.embedding_matrix().detach()
        special = sorted(set(self.live.tokenizer.all_special_ids))
        banned = torch.as_tensor(special, dtype=torch.long, device=E.device)
        grads = self._gradients(enc, resolved)
        words = _word_strings(enc)
        chosen = []
        for i in range(enc.n_examples):
            lay = layout(enc, i)
            g = grads[i][:len(lay.ids)].to(device=E.device, dtype=E.dtype)
            ids = torch.as_tensor(lay.ids, device=E.device)
            first = g @ E.T - (E[ids] * g).sum(-1, keepdim=True)          # (tokens, vocabulary)
            first[:, banned] = float("inf")
            first[torch.arange(len(ids)), ids] = float("inf")
            content = np.flatnonzero(lay.word_of >= 0)
            best = first[content].topk(self.candidates, dim=-1, largest=False).indices.cpu().numpy()
            chosen.append([(int(t), int(v)) for t, row in zip(content, best) for v in row])
        # row 0 of each example: the input itself (a no-op swap), for its target value and predicted class
        verified = self._verify(enc, resolved, [[(0, int(layout(enc, i).ids[0]))] + c for i, c in enumerate(chosen)])
        scores, flips, adversarial = [], [], []
        for i, (swaps, got) in enumerate(zip(chosen, verified)):
            lay = layout(enc, i)
            base, got = got[0], got[1:]
            drop = base[0] - got[:, 0]
            s = np.full(lay.n_words, -np.inf)
            rows = []
            for k, (t, v) in enumerate(swaps):
                w = int(lay.word_of[t])
                s[w] = max(s[w], drop[k])
            for k in range(0, len(swaps), self.candidates):
                k = k + int(np.argmax(drop[k:k + self.candidates]))
                t, v = swaps[k]
                rows.append({"position": t, "word": words[i][lay.word_of[t]],
                             "token": self.live.tokenizer.convert_ids_to_tokens(int(lay.ids[t])),
                             "replacement": self.live.tokenizer.convert_ids_to_tokens(v),
                             "change": float(-drop[k]), "flips_prediction": bool(got[k, 1] != base[1])})
            rows.sort(key=lambda r: r["change"])
            scores.append(s)
            flips.append(rows)
            adversarial.append([r for r in rows if r["flips_prediction"]])
            tick(progress)
        self._extra = {"flips": flips, "adversarial": adversarial}
        return scores, None

    def explain(self, inputs: Any, *, target: Any = None, progress: bool = False) -> Explanation:
        ex = super().explain(inputs, target=target, progress=progress)
        ex.config.update(self._extra)
        return ex
