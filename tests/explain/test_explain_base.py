"""The explainer base: inputs_embeds forward, predicted targets, word aggregation, the stored result."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain.base import Explainer, Explanation, reduce_embedding, tokens_to_words

torch = pytest.importorskip("torch")


class _TokenIndex(Explainer):
    """Scores each token by its position (a known answer for the aggregation)."""

    name = "token-index"

    def _scores(self, enc, resolved, progress):
        return [np.arange(n, dtype=float) for n in enc.lengths], [0.0] * enc.n_examples


def test_forward_from_embeddings_equals_forward_from_ids(clf):
    enc = clf.encode(["a good movie", "the plot was terrible and boring"])
    with torch.no_grad():
        a = clf.forward(enc).logits
        b = clf.forward(enc, inputs_embeds=clf.embed(enc)).logits
        c = clf.forward(enc, [1], inputs_embeds=clf.embed(enc, [1])).logits
    assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(a[1], c[0], atol=1e-6)
    with pytest.raises(InvalidParameterError, match="inputs_embeds"):
        clf.forward(enc, [0], inputs_embeds=clf.embed(enc))


def test_predicted_target_is_the_argmax_and_words_sum_their_subwords(clf):
    texts = [["a", "good", "movie"], ["unbelievably", "boring"]]
    ex = _TokenIndex(clf).explain(texts)
    enc = clf.encode(texts)
    with torch.no_grad():
        logits = clf.forward(enc).logits
    assert list(ex.target["index"]) == logits.argmax(-1).tolist()
    assert ex.target_value == pytest.approx(logits.max(-1).values.tolist(), abs=1e-6)
    for i in range(2):
        expect = np.zeros(len(texts[i]))
        for pos, w in enumerate(enc.word_ids[i][:enc.lengths[i]]):
            if w >= 0:
                expect[w] += pos
        assert ex.word_scores[i] == pytest.approx(expect.tolist())
    assert ex.words == texts and ex.forward_passes == 2


def test_explanation_round_trips_through_a_store(tmp_path, clf):
    from neuronlab.testing import synthetic_store
    from neuronlab.store import ActivationStore

    ex = _TokenIndex(clf).explain(["a good movie", "boring"])
    path = tmp_path / "s.h5"
    synthetic_store(path, [["a", "b"]])
    with ActivationStore.open(path, mode="r+") as store:
        ex.to_store(store, "explain_x")
    with ActivationStore.open(path) as store:
        back = Explanation.from_store(store, "explain_x")
    assert back.to_dict() == json_roundtrip(ex.to_dict())
    assert all(np.array_equal(a, b) for a, b in zip(back.token_scores, ex.token_scores))


def json_roundtrip(d):
    import json

    from neuronlab.results import json_default

    return json.loads(json.dumps(d, default=json_default))


def test_aggregation_helpers():
    assert tokens_to_words(np.array([5.0, 1.0, 2.0, 3.0, 5.0]), [-1, 0, 0, 1, -1]).tolist() == [3.0, 3.0]
    g = torch.tensor([[[1.0, -2.0], [3.0, 4.0]]])
    assert reduce_embedding(g, "sum").tolist() == [[-1.0, 7.0]]
    assert reduce_embedding(g, "l1").tolist() == [[3.0, 7.0]]
    assert reduce_embedding(g, "l2")[0].tolist() == pytest.approx([5 ** 0.5, 5.0])
    with pytest.raises(InvalidParameterError, match="choose one of"):
        reduce_embedding(g, "max")
