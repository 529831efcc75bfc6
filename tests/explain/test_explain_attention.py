"""Attention as explanation: raw attention, rollout and flow (Abnar & Zuidema 2020) against hand and
independent computations."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain import EXPLAINERS
from neuronlab.explain.attention import attention_flow, attention_maps, fuse_heads, residual_attention, rollout

torch = pytest.importorskip("torch")


def _reference_rollout(att):
    """Abnar & Zuidema's own recipe: A + I, row-normalised, joint = aug[i] . joint[i-1]."""
    aug = [a + np.eye(a.shape[0]) for a in att]
    aug = [a / a.sum(axis=-1)[..., None] for a in aug]
    joint = aug[0]
    for a in aug[1:]:
        joint = a.dot(joint)
    return joint


def _stochastic(rng, layers, t):
    a = rng.random((layers, t, t))
    return a / a.sum(-1, keepdims=True)


def test_rollout_equals_the_papers_recipe_and_rows_stay_distributions():
    rng = np.random.default_rng(0)
    att = _stochastic(rng, 4, 7)
    got = rollout(att, residual=0.5)
    np.testing.assert_allclose(got, _reference_rollout(att), atol=1e-12)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(rollout(att, residual=0.0), att[3] @ att[2] @ att[1] @ att[0], atol=1e-12)


def test_attention_flow_by_hand():
    ident = np.eye(2)
    mix = np.full((2, 2), 0.5)
    # r = 0: a path through the identity layer then the uniform layer carries 0.5 from each token
    assert attention_flow(np.stack([ident, mix]), 0, residual=0.0) == pytest.approx([0.5, 0.5])
    # r = 0.5: A'_2 = [[.75, .25], [.25, .75]]; the identity layer routes token j only through node (1, j)
    assert attention_flow(np.stack([ident, mix]), 0, residual=0.5) == pytest.approx([0.75, 0.25])
    # every node of layer 1 reads only token 0: token 0 can send 0.1 + 0.9 through the two of them, token 1 nothing
    funnel = np.array([[1.0, 0.0], [1.0, 0.0]])
    top = np.array([[0.1, 0.9], [0.5, 0.5]])
    assert attention_flow(np.stack([funnel, top]), 0, residual=0.0) == pytest.approx([1.0, 0.0])
    # flow is a capacity, not a share: with uniform layers each token alone fills both paths (1.0), while
    # rollout splits the output between the tokens (0.5 each)
    assert attention_flow(np.stack([mix, mix]), 0, residual=0.0) == pytest.approx([1.0, 1.0])
    assert rollout(np.stack([mix, mix]), residual=0.0)[0] == pytest.approx([0.5, 0.5])
    # one layer: the flow is the (augmented) attention itself
    att = _stochastic(np.random.default_rng(1), 1, 5)
    np.testing.assert_allclose(attention_flow(att, 2), residual_attention(att)[0][2], atol=1e-9)


def test_maps_match_the_live_layer_and_explainers_score_tokens(clf):
    texts = ["a good movie", "the plot was terrible and boring"]
    enc = clf.encode(texts)
    maps = attention_maps(clf, enc)
    assert maps.shape[:3] == (2, len(clf.attention_sites), clf.model.config.num_attention_heads)
    np.testing.assert_allclose(maps[:, 2], clf.attention(enc, "layers.2.attn.probs").numpy(), atol=1e-6)
    n = enc.lengths[1]
    real = fuse_heads(maps[1][:, :, :n, :n])
    roll = EXPLAINERS["rollout"](clf).explain(texts)
    np.testing.assert_allclose(roll.token_scores[1], rollout(real)[0], atol=1e-9)
    raw = EXPLAINERS["attention"](clf, head_fusion="max", layer=-1).explain(texts)
    np.testing.assert_allclose(raw.token_scores[1], fuse_heads(maps[1][:, :, :n, :n], "max")[-1][0], atol=1e-6)
    np.testing.assert_allclose(sum(roll.token_scores[0]), 1.0, atol=1e-9)
    assert roll.forward_passes == 4  # one pass for the prediction, one for the maps, per example


def test_flow_on_a_one_layer_model_is_its_augmented_attention():
    from helpers.live_models import tiny_bert

    live = tiny_bert(layers=1)
    ex = EXPLAINERS["attention-flow"](live).explain(["a good movie"])
    enc = live.encode(["a good movie"])
    att = fuse_heads(attention_maps(live, enc)[0])
    np.testing.assert_allclose(ex.token_scores[0], residual_attention(att)[0][0], atol=1e-6)


def test_bad_parameters_are_refused(clf):
    with pytest.raises(InvalidParameterError, match="head_fusion"):
        EXPLAINERS["rollout"](clf, head_fusion="median")
    with pytest.raises(InvalidParameterError, match="residual"):
        EXPLAINERS["rollout"](clf, residual=1.5)
    with pytest.raises(InvalidParameterError, match="out of range"):
        EXPLAINERS["attention"](clf, layer=99)
