"""Fragility (explain/fragility.py, Ghorbani et al. 2019): the top-k intersection on hand-made vectors; on the planted
"nobody" classifier the greedy attack keeps the label, changes the top-k, and takes the best label-keeping swap."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain.fragility import (embedding_neighbours, fragility, hotflip_candidates, load_synonyms,
                                         topk_intersection)

torch = pytest.importorskip("torch")

INPUTS = [["the", "film", "was", "nobody", "saw", "plot"], ["nobody", "liked", "a", "dull", "story"]]
# every word may become another word of the planted vocabulary; "nobody" -> "everyone" flips the class
TABLE = {"film": ["movie", "story", "actor"], "was": ["and", "it"], "saw": ["liked", "very"],
         "plot": ["actor", "film", "good"], "liked": ["saw", "quite"], "a": ["the", "very"], "dull": ["bad", "great"],
         "story": ["movie", "plot"], "the": ["a", "it"], "nobody": ["everyone", "people"]}


@pytest.fixture(scope="module")
def planted():
    from helpers.planted import planted_classifier

    return planted_classifier()


@pytest.mark.parametrize("a, b, k, want", [
    ([5, 4, 3, 2, 1], [5, 4, 3, 2, 1], 3, 1.0),
    ([5, 4, 3, 2, 1], [1, 2, 3, 4, 5], 2, 0.0),
    ([5, 4, 3, 2, 1], [1, 2, 3, 4, 5], 3, 1 / 3),   # only position 2 is in both top-3s
    ([0.9, 0.1, 0.5, 0.3], [0.2, 0.8, 0.7, 0.1], 2, 0.5),
    ([1, 1, 0], [0, 1, 1], 2, 0.5),                 # ties broken by position: {0, 1} vs {1, 2}
    ([3, 2, 1], [1, 2, 3], 10, 1.0),                # k cut to the length
])
def test_topk_intersection_exact(a, b, k, want):
    assert topk_intersection(a, b, k) == pytest.approx(want)


def test_topk_intersection_errors():
    with pytest.raises(InvalidParameterError, match="one length"):
        topk_intersection([1, 2], [1, 2, 3], 1)
    with pytest.raises(InvalidParameterError, match="k must be >= 1"):
        topk_intersection([1, 2], [1, 2], 0)


def test_synonym_tables(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"Good": ["fine", "nice"]}))
    (tmp_path / "s.tsv").write_text("# comment\ngood\tfine,nice\nbad\tpoor\nbad\tawful\n")
    assert load_synonyms(tmp_path / "s.json") == {"good": ["fine", "nice"]}
    assert load_synonyms(tmp_path / "s.tsv") == {"good": ["fine", "nice"], "bad": ["poor", "awful"]}
    (tmp_path / "bad.tsv").write_text("good fine\n")
    with pytest.raises(InvalidParameterError, match="line 1: expected 'word<TAB>synonyms'"):
        load_synonyms(tmp_path / "bad.tsv")
    with pytest.raises(InvalidParameterError, match="does not exist"):
        load_synonyms(tmp_path / "none.json")


def test_embedding_neighbours_are_the_cosine_nearest_whole_words(planted):
    E = planted.embedding_matrix().detach()
    tok = planted.tokenizer
    got = embedding_neighbours(planted, "film", 5)
    assert len(got) == 5 and "film" not in got
    assert all(t.isalpha() and not t.startswith("##") for t in got)
    ids = tok.convert_tokens_to_ids(got)
    sims = torch.nn.functional.cosine_similarity(E, E[tok.convert_tokens_to_ids("film")][None], dim=-1)
    # brute force over whole-word tokens: no other whole word is closer than the fifth neighbour
    vocab = tok.convert_ids_to_tokens(list(range(E.shape[0])))
    whole = [i for i, t in enumerate(vocab) if t.isalpha() and not t.startswith("##")
             and i not in set(tok.all_special_ids) and t != "film"]
    best = sorted(whole, key=lambda i: -float(sims[i]))[:5]
    assert ids == best
    assert embedding_neighbours(planted, "qzxv", 3) == []


def test_attack_keeps_the_label_and_takes_the_best_swap(planted):
    from neuronlab.explain import EXPLAINERS

    explainer = EXPLAINERS["gradient"](planted)
    res = fragility(explainer, INPUTS, k=3, synonyms=TABLE, max_swaps=1)
    original = explainer.explain(INPUTS)
    assert res.label_kept
    for i, e in enumerate(res.per_example):
        assert "nobody" in e["perturbed"]          # swapping "nobody" would flip the class: never taken
        assert len(e["swaps"]) == 1
        # brute force: every single swap from the table that keeps the class, explained on its own
        phi0 = original.word_scores[i]
        best = 2.0
        for w, word in enumerate(INPUTS[i]):
            for c in TABLE.get(word, []):
                text = INPUTS[i][:w] + [c] + INPUTS[i][w + 1:]
                with torch.no_grad():
                    pred = int(planted.forward(planted.encode([text])).logits.argmax(-1))
                if pred != 1:
                    assert word == "nobody"
                    continue
                s = explainer.explain([text], target=dict(original.target, index=1)).word_scores[0]
                best = min(best, topk_intersection(phi0, s, 3))
        assert e["topk_intersection"] == pytest.approx(best)
        with torch.no_grad():
            assert int(planted.forward(planted.encode([e["perturbed"]])).logits.argmax(-1)) == 1
    assert res.topk_intersection < 1.0             # the top-3 changed while the prediction held
    assert res.spearman < 1.0
    assert res.forward_passes > 0


def test_hotflip_candidates_are_first_order_smallest_changes(planted):
    from neuronlab.explain import EXPLAINERS

    words = INPUTS[1]
    enc = planted.encode([words])
    emb = planted.embed(enc).clone().requires_grad_(True)
    with torch.enable_grad():
        value = planted.forward(enc, inputs_embeds=emb).logits[0, 1]
        (g,) = torch.autograd.grad(value, emb)
    cands = hotflip_candidates(planted, words, g[0], 4)
    E = planted.embedding_matrix().detach()
    t = enc.word_ids[0].index(3)                    # "dull"
    x = int(enc.input_ids[0, t])
    ids = planted.tokenizer.convert_tokens_to_ids(cands[3])
    change = [abs(float((E[v] - E[x]) @ g[0, t])) for v in ids]
    assert change == sorted(change)
    # the attack with these candidates keeps the label
    res = fragility(EXPLAINERS["gradient"](planted), [words], candidates="hotflip", n_candidates=4, max_swaps=1)
    assert res.label_kept and res.config["candidates"] == "hotflip"


def test_user_errors(planted):
    from neuronlab.explain import EXPLAINERS

    ex = EXPLAINERS["gradient"](planted)
    with pytest.raises(InvalidParameterError, match="candidates must be one of"):
        fragility(ex, INPUTS, candidates="wordnet")
    with pytest.raises(InvalidParameterError, match="max_swaps must be >= 1"):
        fragility(ex, INPUTS, max_swaps=0)
    with pytest.raises(InvalidParameterError, match="lists of words"):
        fragility(ex, ["a sentence"])
    assert np.isfinite(fragility(ex, INPUTS[:1], synonyms={}, max_swaps=1).topk_intersection)
