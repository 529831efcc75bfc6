"""Perturbation explainers: the word perturbation machinery, leave-one-out and occlusion against Captum,
input reduction and HotFlip, and the planted "nobody" found first by every perturbation/Shapley explainer."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain import EXPLAINERS
from neuronlab.explain.perturb import WordLayout, evaluate_keep, layout, perturbed_ids
from neuronlab.explain.perturbation import (
    HotFlip,
    InputReduction,
    LeaveOneOut,
    Occlusion,
)

torch = pytest.importorskip("torch")

MINE = ("leave-one-out", "occlusion", "input-reduction", "hotflip", "lime", "shapley", "kernel-shap", "l-shapley",
        "c-shapley")
POSITIVE = [["the", "movie", "was", "nobody", "good"], ["nobody", "liked", "the", "plot"],
            ["a", "dull", "story", "and", "nobody", "saw", "it"]]


@pytest.fixture(scope="module")
def planted():
    from helpers.planted import planted_classifier

    return planted_classifier()


def _value(live, words, cls=1):
    """Independent target: tokenise the words (the empty input is [CLS] [SEP]) and read the class logit."""
    enc = live.tokenizer([" ".join(words)], return_tensors="pt")
    with torch.no_grad():
        return float(live.model(**enc).logits[0, cls])


def test_perturbed_ids_drop_and_replace_whole_words():
    lay = WordLayout(np.array([101, 5, 6, 7, 8, 102]), np.array([-1, 0, 1, 1, 2, -1]), 3)
    keep = np.array([[True, False, True], [False, True, False]])
    assert [r.tolist() for r in perturbed_ids(lay, keep, "drop")] == [[101, 5, 8, 102], [101, 6, 7, 102]]
    assert [r.tolist() for r in perturbed_ids(lay, keep, "mask", 103)] == [[101, 5, 103, 103, 8, 102],
                                                                           [101, 103, 6, 7, 103, 102]]


def test_evaluate_keep_matches_retokenised_inputs_and_counts_unique_rows(planted):
    words = ["nobody", "saw", "an", "unbelievably", "dull", "film"]
    enc = planted.encode([words, ["good", "movie"]])
    ex = LeaveOneOut(planted, target=1, batch_size=3)
    _, resolved = ex.resolve(enc)
    keep = np.array([[1, 1, 1, 1, 1, 1], [0, 1, 1, 0, 1, 1], [0, 1, 1, 0, 1, 1], [0, 0, 0, 0, 0, 0]], bool)
    got, other = evaluate_keep(ex, enc, resolved, [(0, keep), (1, np.array([[True, False]]))], "drop")
    assert ex.forward_passes == 4  # the repeated row runs once
    expect = [_value(planted, [w for w, k in zip(words, row) if k]) for row in keep]
    assert got == pytest.approx(expect, abs=1e-5)
    assert other == pytest.approx([_value(planted, ["good"])], abs=1e-5)
    assert layout(enc, 0).n_words == 6


def test_unknown_mode_is_refused_with_the_choices(planted):
    with pytest.raises(InvalidParameterError, match="mode must be one of drop, mask, unk, pad; got 'blank'"):
        LeaveOneOut(planted, mode="blank")
    with pytest.raises(InvalidParameterError, match="window must be >= 1"):
        Occlusion(planted, window=0)


def test_leave_one_out_drop_equals_the_erasure_definition(planted):
    words = ["a", "dull", "story", "and", "nobody", "saw", "it"]
    ex = LeaveOneOut(planted, target=1).explain([words])
    full = _value(planted, words)
    expect = [full - _value(planted, words[:j] + words[j + 1:]) for j in range(len(words))]
    assert ex.word_scores[0] == pytest.approx(expect, abs=1e-5)
    assert ex.forward_passes == 1 + len(words)  # f(x) once (the explanation's own pass), then one row per word


def _captum_forward(live, enc):
    """Forward of the content-token word embeddings (special tokens' embeddings added around them)."""
    full = live.embed(enc)[:1]
    n = enc.lengths[0]

    def forward(x):
        emb = torch.cat([full[:, :1].expand(x.shape[0], -1, -1), x, full[:, n - 1:n].expand(x.shape[0], -1, -1)], 1)
        return live.model(inputs_embeds=emb, attention_mask=torch.ones(emb.shape[:2], dtype=torch.long)).logits[:, 1]

    content = live.embed(enc)[:, 1:n - 1]
    mask_emb = live.embed(enc, ids=[[live.tokenizer.mask_token_id]])[0, 0]
    return forward, content, mask_emb.expand_as(content).contiguous()


def test_leave_one_out_mask_equals_captum_feature_ablation_with_word_masks(planted):
    from captum.attr import FeatureAblation

    words = ["nobody", "saw", "an", "unbelievably", "dull", "film"]
    enc = planted.encode([words])
    forward, content, baseline = _captum_forward(planted, enc)
    word_of = torch.as_tensor(enc.word_ids[0][1:enc.lengths[0] - 1])
    fmask = word_of[None, :, None].expand_as(content).contiguous()
    ref = FeatureAblation(forward).attribute(content, baselines=baseline, feature_mask=fmask)
    first = [enc.word_ids[0].index(w) - 1 for w in range(len(words))]
    ours = LeaveOneOut(planted, target=1, mode="mask").explain([words])
    assert ours.word_scores[0] == pytest.approx(ref[0, first, 0].tolist(), abs=1e-4)


@pytest.mark.parametrize("window", [2, 3])
def test_occlusion_equals_captum_occlusion(planted, window):
    from captum.attr import Occlusion as CaptumOcclusion

    words = ["the", "plot", "was", "nobody", "liked", "it"]  # one subword each: Captum slides over tokens
    enc = planted.encode([words])
    forward, content, baseline = _captum_forward(planted, enc)
    hidden = content.shape[-1]
    ref = CaptumOcclusion(forward).attribute(content, sliding_window_shapes=(window, hidden), strides=(1, hidden),
                                             baselines=baseline)
    ours = Occlusion(planted, target=1, window=window, mode="mask").explain([words])
    assert ours.word_scores[0] == pytest.approx(ref[0, :, 0].tolist(), abs=1e-4)
    assert ours.forward_passes == 1 + len(words) - window + 1  # f(x) is not run again


def test_occlusion_of_one_word_is_leave_one_out(planted):
    words = [["good", "film", "nobody"], ["a", "quite", "dull", "plot"]]
    a = Occlusion(planted, window=1, mode="unk").explain(words)
    b = LeaveOneOut(planted, mode="unk").explain(words)
    for x, y in zip(a.word_scores, b.word_scores):
        assert x == pytest.approx(y, abs=1e-6)


def test_input_reduction_ends_at_the_planted_word_and_keeps_the_prediction(planted):
    ex = InputReduction(planted, beam=2).explain(POSITIVE)
    for i, words in enumerate(POSITIVE):
        assert ex.config["reduced"][i][0] == ["nobody"]
        assert len(ex.config["removal_order"][i]) == len(words) - 1
        assert ex.top_words(i, 1)[0][0] == "nobody"
    enc = planted.encode([["nobody"]])
    with torch.no_grad():
        assert int(planted.forward(enc).logits.argmax(-1)) == 1


def test_input_reduction_stops_when_every_removal_flips_the_prediction(planted):
    # a negative sentence: removing words never adds "nobody", so the reduction goes down to one word
    ex = InputReduction(planted, beam=1).explain([["the", "movie", "was", "good"]])
    assert len(ex.config["reduced"][0][0]) == 1
    assert sorted(ex.word_scores[0]) == [1.0, 2.0, 3.0, 4.0]


def test_hotflip_picks_the_first_order_best_swap_and_verifies_it(planted):
    words = ["nobody", "liked", "the", "plot"]
    ex = HotFlip(planted, target=1).explain([words])
    enc = planted.encode([words])
    E = planted.embedding_matrix().detach()
    ids = enc.input_ids[0]
    onehot = torch.nn.functional.one_hot(ids, E.shape[0]).float().requires_grad_(True)
    logit = planted.model(inputs_embeds=(onehot @ E)[None], attention_mask=enc.attention_mask).logits[0, 1]
    (g,) = torch.autograd.grad(logit, onehot)
    change = g - g.gather(1, ids[:, None])      # first-order change of swapping position t to token v
    change[:, planted.tokenizer.all_special_ids] = float("inf")
    change[torch.arange(len(ids)), ids] = float("inf")
    for flip in ex.config["flips"][0]:
        t = flip["position"]
        v = int(change[t].argmin())
        assert flip["replacement"] == planted.tokenizer.convert_ids_to_tokens(v)
        swapped = ids.clone()
        swapped[t] = v
        with torch.no_grad():
            new = float(planted.model(input_ids=swapped[None]).logits[0, 1])
        assert flip["change"] == pytest.approx(new - ex.target_value[0], abs=1e-4)
    assert ex.top_words(0, 1)[0][0] == "nobody"
    assert any(f["word"] == "nobody" for f in ex.config["adversarial"][0])


@pytest.mark.parametrize("name", MINE)
def test_every_explainer_puts_the_planted_word_first(planted, name):
    params = {"lime": {"n_samples": 400}, "kernel-shap": {"n_samples": 200}}.get(name, {})
    ex = EXPLAINERS[name](planted, **params).explain(POSITIVE)
    assert list(ex.target["index"]) == [1, 1, 1]
    for i in range(len(POSITIVE)):
        assert ex.top_words(i, 1)[0][0] == "nobody", (name, ex.word_scores[i])


def test_every_registered_perturbation_method_is_word_level():
    for name in MINE:
        entry = EXPLAINERS[name]
        assert entry.unit == "word" and entry.family in ("perturbation", "shapley")
        assert entry.load().name == name


def _token_tagger():
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=24, max_position_embeddings=64, num_labels=3)
    return LiveModel(BertForTokenClassification(cfg).eval(), AutoTokenizer.from_pretrained(str(_minilm_path())))


def test_token_level_targets_follow_the_explained_word():
    live = _token_tagger()
    words = ["an", "unbelievably", "dull", "film"]
    target = {"index": 2, "position": 2}                       # class 2 of the word "dull"
    ex = LeaveOneOut(live, target=target, mode="mask")
    _, resolved = ex.resolve(live.encode([words]))
    keep = np.array([[True, False, True, True], [False, True, True, False]])
    got = evaluate_keep(ex, live.encode([words]), resolved, [(0, keep)], "drop")[0]
    for row, value in zip(keep, got):                          # dropping shifts the position of "dull"
        kept = [w for w, k in zip(words, row) if k]
        enc = live.encode([kept])
        with torch.no_grad():
            logits = live.forward(enc).logits[0, enc.word_token(0, kept.index("dull"))]
        assert value == pytest.approx(float(logits[2]), abs=1e-5)
    scores = ex.explain([words]).word_scores[0]
    enc = live.encode([words])
    with torch.no_grad():
        full = float(live.forward(enc).logits[0, enc.word_token(0, 2), 2])
        for j in range(4):
            ids = enc.input_ids.clone()
            ids[0, [t for t, w in enumerate(enc.word_ids[0]) if w == j]] = live.tokenizer.mask_token_id
            out = live.model(input_ids=ids, attention_mask=enc.attention_mask).logits
            masked = float(out[0, enc.word_token(0, 2), 2])
            assert scores[j] == pytest.approx(full - masked, abs=1e-5)
    with pytest.raises(InvalidParameterError, match="mode 'drop' removed the word whose prediction is explained"):
        LeaveOneOut(live, target=target, mode="drop").explain([words])


def test_method_outputs_in_config_round_trip_through_a_store(tmp_path, planted):
    from neuronlab.explain.base import Explanation
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    ex = InputReduction(planted, beam=1).explain([POSITIVE[1]])
    path = tmp_path / "s.h5"
    synthetic_store(path, [["a", "b"]])
    with ActivationStore.open(path, mode="r+") as store:
        ex.to_store(store, "explain_reduction")
    with ActivationStore.open(path) as store:
        back = Explanation.from_store(store, "explain_reduction")
    assert back.config["reduced"] == [[["nobody"]]]
    assert back.config["removal_order"] == ex.config["removal_order"]
    assert back.word_scores == ex.word_scores
