"""Shapley explainers: exact values against a brute-force enumeration, efficiency, KernelSHAP against the exact
values, the ``shap`` package and Captum, and the L-/C-Shapley formulas against references written here."""
from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain.perturb import evaluate_keep
from neuronlab.explain.shapley import (
    CShapley,
    ExactShapley,
    KernelShap,
    LShapley,
    kernel_shap_coalitions,
    shapley_from_values,
)

torch = pytest.importorskip("torch")

SIX = ["nobody", "saw", "the", "unbelievably", "dull", "film"]
EIGHT = ["the", "actor", "was", "good", "and", "nobody", "saw", "it"]


@pytest.fixture(scope="module")
def planted():
    from helpers.planted import planted_classifier

    return planted_classifier()


@pytest.fixture(scope="module")
def tiny():
    """A random tiny BERT: enough to build the L-/C-Shapley explainers whose formulas are checked on synthetic games."""
    from helpers.live_models import tiny_bert

    return tiny_bert()


def _value(live, words, cls=1):
    enc = live.tokenizer([" ".join(words)], return_tensors="pt")
    with torch.no_grad():
        return float(live.model(**enc).logits[0, cls])


def brute_force_shapley(v, n):
    """Shapley values by averaging marginal contributions over all n! orderings; v maps frozensets to values."""
    phi = np.zeros(n)
    perms = list(itertools.permutations(range(n)))
    for order in perms:
        seen = frozenset()
        for j in order:
            phi[j] += v[seen | {j}] - v[seen]
            seen = seen | {j}
    return phi / len(perms)


def _game(n, seed=0):
    rng = np.random.default_rng(seed)
    return {frozenset(S): float(rng.normal()) for r in range(n + 1) for S in itertools.combinations(range(n), r)}


def _codes(v, n):
    return np.array([v[frozenset(j for j in range(n) if c >> j & 1)] for c in range(2 ** n)])


def test_shapley_from_values_equals_the_permutation_average():
    v = _game(5)
    assert shapley_from_values(_codes(v, 5), 5) == pytest.approx(brute_force_shapley(v, 5), abs=1e-12)


def test_exact_shapley_on_six_words_equals_brute_force_enumeration(planted):
    ex = ExactShapley(planted, target=1, mode="drop").explain([SIX])
    v = {frozenset(S): _value(planted, [SIX[j] for j in sorted(S)])
         for r in range(7) for S in itertools.combinations(range(6), r)}
    assert ex.word_scores[0] == pytest.approx(brute_force_shapley(v, 6).tolist(), abs=1e-4)
    assert ex.forward_passes == 1 + 63  # f(x), then every coalition but the full one (f(x) again)
    # efficiency: the values sum to f(x) - f(empty), and the gap is reported
    assert ex.reference_value[0] == pytest.approx(v[frozenset()], abs=1e-5)
    assert sum(ex.word_scores[0]) == pytest.approx(ex.target_value[0] - ex.reference_value[0], abs=1e-4)
    assert abs(ex.config["efficiency_gap"][0]) < 1e-9


def test_exact_shapley_refuses_long_inputs_with_a_way_out(planted):
    with pytest.raises(InvalidParameterError, match="example 0 has 8 words .> max_words=6.; use method kernel-shap"):
        ExactShapley(planted, max_words=6).explain([EIGHT])


def test_kernel_shap_enumerating_every_coalition_is_exact(planted):
    a = ExactShapley(planted, mode="mask").explain([SIX, EIGHT])
    b = KernelShap(planted, mode="mask", n_samples=10_000).explain([SIX, EIGHT])
    for x, y in zip(a.word_scores, b.word_scores):
        assert y == pytest.approx(x, abs=1e-4)
    assert b.forward_passes == a.forward_passes  # 2^n - 2 samples + empty + full, per example


def test_kernel_shap_converges_to_the_exact_values(planted):
    exact = np.array(ExactShapley(planted, mode="mask").explain([EIGHT]).word_scores[0])
    errors = []
    for n_samples in (24, 200):
        ex = KernelShap(planted, mode="mask", n_samples=n_samples, seed=3).explain([EIGHT])
        assert sum(ex.word_scores[0]) == pytest.approx(ex.target_value[0] - ex.reference_value[0], abs=1e-4)
        errors.append(np.abs(np.array(ex.word_scores[0]) - exact).max())
    assert errors[1] < errors[0] and errors[1] < 0.05 * np.abs(exact).max()


@pytest.mark.parametrize("n_samples", [30, 62])
def test_kernel_shap_equals_the_shap_package_on_the_same_coalition_function(planted, n_samples):
    shap = pytest.importorskip("shap")
    words = EIGHT[:6] if n_samples == 62 else EIGHT   # 62 = 2^6 - 2: shap enumerates; 30 of 254: shap samples
    n = len(words)
    ours = KernelShap(planted, mode="mask", n_samples=n_samples, seed=7)
    ex = ours.explain([words])
    enc = planted.encode([words])
    _, resolved = ours.resolve(enc)

    def coalition_value(X):
        (v,) = evaluate_keep(ours, enc, resolved, [(0, np.asarray(X) > 0.5)], "mask")
        return v

    explainer = shap.KernelExplainer(coalition_value, np.zeros((1, n)))
    np.random.seed(7)
    ref = explainer.shap_values(np.ones((1, n)), nsamples=n_samples, l1_reg=False, silent=True)
    assert ex.word_scores[0] == pytest.approx(np.asarray(ref).reshape(-1).tolist(), abs=1e-6)


def test_kernel_shap_coalitions_follow_shap_sampling():
    masks, weights = kernel_shap_coalitions(6, 62)
    assert len(masks) == 62 and len({m.tobytes() for m in masks}) == 62
    # the weights are the Shapley kernel, normalised: (M - 1) / (C(M, s) s (M - s)) up to a constant
    s = masks.sum(1)
    kernel = 5 / (np.array([comb(6, k) for k in s]) * s * (6 - s))
    assert weights / weights.sum() == pytest.approx(kernel / kernel.sum())
    a, wa = kernel_shap_coalitions(9, 40, seed=1)
    b, wb = kernel_shap_coalitions(9, 40, seed=1)
    assert np.array_equal(a, b) and np.array_equal(wa, wb)
    assert not np.array_equal(a, kernel_shap_coalitions(9, 40, seed=2)[0])


def test_kernel_shap_agrees_with_captum_on_the_same_coalitions(planted):
    from captum.attr import KernelShap as CaptumKernelShap

    words = ["nobody", "saw", "an", "unbelievably", "dull", "film"]
    n = len(words)
    enc = planted.encode([words])
    length = enc.lengths[0]
    full = planted.embed(enc)

    def forward(x):
        emb = torch.cat([full[:, :1].expand(x.shape[0], -1, -1), x, full[:, length - 1:].expand(x.shape[0], -1, -1)], 1)
        return planted.model(inputs_embeds=emb, attention_mask=torch.ones(emb.shape[:2], dtype=torch.long)).logits[:, 1]

    content = full[:, 1:length - 1]
    baseline = planted.embed(enc, ids=[[planted.tokenizer.mask_token_id]])[0, 0].expand_as(content).contiguous()
    fmask = torch.as_tensor(enc.word_ids[0][1:length - 1])[None, :, None].expand_as(content).contiguous()

    class EveryCoalition(CaptumKernelShap):
        """Captum's KernelShap fed every coalition once, weighted by the Shapley kernel (its inputs, forward
        passes and weighted regression unchanged)."""

        def kernel_shap_perturb_generator(self, original_inp, **kwargs):
            yield torch.ones(1, n, dtype=torch.long)
            yield torch.zeros(1, n, dtype=torch.long)
            for c in range(1, 2 ** n - 1):
                yield torch.tensor([[c >> j & 1 for j in range(n)]])

        def kernel_shap_similarity_kernel(self, _, __, sample, **kwargs):
            s = int(sample.sum())
            if s in (0, n):
                return torch.tensor([self.inf_weight])
            return torch.tensor([(n - 1) / (comb(n, s) * s * (n - s))])

    ref = EveryCoalition(forward).attribute(content, baselines=baseline, feature_mask=fmask, n_samples=2 ** n,
                                            perturbations_per_eval=64)
    first = [enc.word_ids[0].index(w) - 1 for w in range(n)]
    ours = KernelShap(planted, target=1, mode="mask", n_samples=2 ** n).explain([words])
    assert ours.word_scores[0] == pytest.approx(ref[0, first, 0].tolist(), abs=1e-4)


# ---------------------------------------------------------------------------------------------- L- and C-Shapley
def _local_values(explainer, v, n):
    keep = explainer._coalitions(n, 0)
    values = np.array([v[frozenset(np.flatnonzero(row))] for row in keep])
    return explainer._phi(keep, values, 0, v[frozenset(range(n))], v[frozenset()])


def l_shapley_reference(v, n, k, keep_outside):
    """Chen et al. 2019, L-Shapley, from the definition: Shapley value inside N_k(i) (cut at the ends)."""
    phi = np.zeros(n)
    for i in range(n):
        hood = [j for j in range(n) if abs(j - i) <= k]
        outside = frozenset(j for j in range(n) if abs(j - i) > k) if keep_outside else frozenset()
        others = [j for j in hood if j != i]
        for r in range(len(others) + 1):
            for S in itertools.combinations(others, r):
                S = frozenset(S) | outside
                phi[i] += (v[S | {i}] - v[S]) / (len(hood) * comb(len(hood) - 1, r))
    return phi


def c_shapley_reference(v, n, k, keep_outside):
    """Chen et al. 2019, C-Shapley: connected windows U = [i - s, i + t], coefficient 2 / (|U| (|U|+1) (|U|+2))."""
    phi = np.zeros(n)
    for i in range(n):
        outside = frozenset(j for j in range(n) if abs(j - i) > k) if keep_outside else frozenset()
        for s in range(k + 1):
            for t in range(k + 1):
                if i - s < 0 or i + t >= n:
                    continue
                U = frozenset(range(i - s, i + t + 1))
                m = len(U)
                phi[i] += 2 / (m * (m + 1) * (m + 2)) * (v[U | outside] - v[(U - {i}) | outside])
    return phi


@pytest.mark.parametrize("context", ["keep", "remove"])
@pytest.mark.parametrize("k", [1, 2])
def test_l_and_c_shapley_follow_their_definitions(tiny, context, k):
    n = 7
    v = _game(n, seed=k)
    ls = _local_values(LShapley(tiny, k=k, context=context), v, n)
    cs = _local_values(CShapley(tiny, k=k, context=context), v, n)
    assert ls == pytest.approx(l_shapley_reference(v, n, k, context == "keep"), abs=1e-12)
    assert cs == pytest.approx(c_shapley_reference(v, n, k, context == "keep"), abs=1e-12)


def test_l_shapley_with_the_whole_sentence_as_neighbourhood_is_exact(tiny):
    v = _game(5, seed=4)
    assert _local_values(LShapley(tiny, k=4), v, 5) == pytest.approx(brute_force_shapley(v, 5), abs=1e-12)


def test_l_shapley_of_an_additive_game_is_each_words_share(tiny):
    a = np.array([0.5, -1.0, 2.0, 0.25, 3.0, -0.75])
    v = {frozenset(S): float(a[list(S)].sum()) + 1.0 for r in range(7) for S in itertools.combinations(range(6), r)}
    assert _local_values(LShapley(tiny, k=1, context="remove"), v, 6) == pytest.approx(a, abs=1e-12)


def test_local_shapley_on_the_model_reports_the_efficiency_gap(planted):
    ex = CShapley(planted, k=1).explain([EIGHT])
    gap = ex.config["efficiency_gap"][0]
    assert gap == pytest.approx(sum(ex.word_scores[0]) - (ex.target_value[0] - ex.reference_value[0]), abs=1e-4)
    with pytest.raises(InvalidParameterError, match="context must be one of keep, remove"):
        LShapley(planted, context="all")



def test_dropping_every_token_is_refused_with_a_way_out(planted):
    from neuronlab.models.live import Encoded

    # an input without special tokens (as GPT-2-style tokenizers encode): the empty coalition has no token left
    ids = torch.tensor([planted.tokenizer.convert_tokens_to_ids(["nobody", "saw", "it"])])
    enc = Encoded(ids, torch.ones_like(ids), [[0, 1, 2]], [["nobody", "saw", "it"]], [["nobody", "saw", "it"]])
    with pytest.raises(InvalidParameterError, match="without any token .*use mode='mask', 'unk' or 'pad'"):
        ExactShapley(planted, mode="drop").explain(enc)
    assert len(ExactShapley(planted, mode="pad").explain(enc).word_scores[0]) == 3
