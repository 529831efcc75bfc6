"""Infidelity and sensitivity-max (explain/robustness.py, Yeh et al. 2019): agreement with captum.metrics on the
same model, explanation function, perturbations and random draws; the embedding shift is always undone; errors."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain import EXPLAINERS
from neuronlab.explain.robustness import (gaussian_noise, infidelity, sensitivity_max, shifted_embeddings,
                                          subset_masks, token_noise)

torch = pytest.importorskip("torch")
metrics = pytest.importorskip("captum.metrics")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TOL = 1e-4
# "unbelievably" is split into subwords by minilm's tokenizer: a removed word removes all its tokens
TEXT = "an unbelievably good movie about people"


def _setup(live, method, **params):
    ex = EXPLAINERS[method](live, **params).explain([TEXT.split()])
    enc = live.encode([TEXT.split()])
    from neuronlab.models.targets import as_target

    resolved = as_target(ex.target).resolve(enc)
    x = live.embed(enc)

    def forward(emb):
        rows = torch.zeros(emb.shape[0], dtype=torch.long)
        return resolved(live.forward(enc, rows, inputs_embeds=emb), rows)

    return ex, enc, x, forward


@pytest.mark.parametrize("normalize", [True, False])
def test_subset_infidelity_equals_captum(clf, normalize):
    ex, enc, x, forward = _setup(clf, "gradient_x_input")
    # per-dimension x * grad: removing a word to the zero baseline, I^T phi = its token scores summed
    attr, _ = EXPLAINERS["gradient_x_input"](clf).attribute_embeddings([TEXT.split()], target=ex.target)
    n = 16
    masks = subset_masks([enc.n_words(0)], n, 0.4, seed=3)[0]
    word_of = np.asarray(enc.word_ids[0])
    tok = np.zeros((n, x.shape[1]), dtype=bool)
    tok[:, word_of >= 0] = masks[:, word_of[word_of >= 0]]
    indicator = torch.as_tensor(tok, dtype=x.dtype)[..., None].expand(-1, -1, x.shape[2])

    def perturb(inputs):
        assert inputs.shape[0] == n
        return indicator, inputs * (1 - indicator)

    want = metrics.infidelity(forward, perturb, x, attr.to(x.dtype), n_perturb_samples=n,
                              normalize=normalize).item()
    got = infidelity(clf, ex, [TEXT.split()], perturbation="subset", n_perturb=n, p=0.4, seed=3,
                     normalize=normalize, batch_size=5)
    assert got.per_example[0] == pytest.approx(want, rel=TOL, abs=TOL)
    assert got.forward_passes == n + 1
    assert want > 0


def test_gaussian_infidelity_equals_captum(clf):
    ex, enc, x, forward = _setup(clf, "gradient")
    attr, _ = EXPLAINERS["gradient"](clf).attribute_embeddings([TEXT.split()], target=ex.target)
    n = 12
    noise = gaussian_noise([(enc.lengths[0], x.shape[2])], n, 0.05, seed=1)[0]
    noise = noise * enc.content_mask()[0].to(noise.dtype)[None, :, None]

    def perturb(inputs):
        return noise, inputs - noise

    want = metrics.infidelity(forward, perturb, x, attr.to(x.dtype), n_perturb_samples=n, normalize=True).item()
    got = infidelity(clf, ex, [TEXT.split()], perturbation="gaussian", n_perturb=n, sigma=0.05, seed=1,
                     attributions=attr)
    assert got.per_example[0] == pytest.approx(want, rel=TOL, abs=TOL)


def test_sensitivity_max_equals_captum(clf):
    words = "the movie was quite good".split()  # distinct single-token words: the token noise is per position
    explainer = EXPLAINERS["gradient"](clf)
    ex = explainer.explain([words])
    enc = clf.encode([words])
    from neuronlab.models.targets import as_target

    resolved = as_target(ex.target).resolve(enc)
    x = clf.embed(enc)
    ids = sorted({int(t) for t, w in zip(enc.input_ids[0].tolist(), enc.word_ids[0]) if w >= 0})
    n, r = 6, 0.05
    draws = token_noise(ids, x.shape[2], n, r, seed=2)
    pos = {int(t): j for j, t in enumerate(ids)}
    shifts = torch.zeros((n, *x.shape[1:]))
    for t, (tid, w) in enumerate(zip(enc.input_ids[0].tolist(), enc.word_ids[0])):
        if w >= 0:
            shifts[:, t] = torch.stack([d[pos[tid]] for d in draws])
    content = np.asarray(enc.word_ids[0]) >= 0

    def explain(emb):  # |gradient| summed over the embedding, per word (one token each)
        if isinstance(emb, tuple):  # captum passes the inputs as a tuple and then wants a tuple back
            return (explain(emb[0]),)
        with torch.enable_grad():
            e = emb.detach().requires_grad_(True)
            rows = torch.zeros(e.shape[0], dtype=torch.long)
            (g,) = torch.autograd.grad(resolved(clf.forward(enc, rows, inputs_embeds=e), rows).sum(), e)
        return g.abs().sum(-1)[:, content]

    def perturb(inputs, radius):
        assert inputs.shape[0] == n and radius == r
        return inputs + shifts

    want = metrics.sensitivity_max(explain, x, perturb, perturb_radius=r, n_perturb_samples=n).item()
    got = sensitivity_max(explainer, [words], radius=r, n_perturb=n, seed=2)
    assert got.per_example[0] == pytest.approx(want, rel=TOL, abs=TOL)
    assert want > 0
    assert got.forward_passes == (n + 1) * 2  # f(x) and one gradient row per explanation


def test_embedding_shift_is_undone_also_after_an_error(clf):
    before = clf.embedding_matrix().detach().clone()
    with pytest.raises(RuntimeError, match="boom"):
        with shifted_embeddings(clf, [5, 7], torch.ones(2, before.shape[1])):
            assert not torch.equal(clf.embedding_matrix(), before)
            raise RuntimeError("boom")
    assert torch.equal(clf.embedding_matrix(), before)
    sensitivity_max(EXPLAINERS["gradient"](clf), ["a fine film"], n_perturb=2)
    assert torch.equal(clf.embedding_matrix(), before)


def test_user_errors(clf):
    ex = EXPLAINERS["gradient"](clf).explain(["a fine film"])
    with pytest.raises(InvalidParameterError, match="perturbation must be one of"):
        infidelity(clf, ex, perturbation="square")
    with pytest.raises(InvalidParameterError, match="needs per-dimension attributions"):
        infidelity(clf, ex, perturbation="gaussian")
    with pytest.raises(InvalidParameterError, match="p must lie in"):
        infidelity(clf, ex, p=0)
    with pytest.raises(InvalidParameterError, match="n_perturb must be >= 1"):
        sensitivity_max(EXPLAINERS["gradient"](clf), ["a fine film"], n_perturb=0)
    with pytest.raises(InvalidParameterError, match="radius must be positive"):
        sensitivity_max(EXPLAINERS["gradient"](clf), ["a fine film"], radius=0)
