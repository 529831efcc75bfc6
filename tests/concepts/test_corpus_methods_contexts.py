"""Corpus methods on a store: top-k contexts and top n-grams, against direct computations on tiny data."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from neuronlab.concepts.corpus_methods import describe_contexts, read_neurons, resolve_neurons, top_ngrams
from neuronlab.concepts.corpus_methods.contexts import top_contexts
from neuronlab.concepts.corpus_methods.result import ContextsResult
from neuronlab.errors import InvalidParameterError
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store

SENTS = [["the", "big", "dog", "barked"], ["a", "dog"], ["The", "big", "cat", "sat", "down"]]


def _flat():
    tokens = [w for s in SENTS for w in s]
    offsets = np.cumsum([0] + [len(s) for s in SENTS])
    return tokens, offsets


def test_top_contexts_exact():
    tokens, offsets = _flat()
    x = np.array([0, 1, 5, 2, 0, 5, 0, 1, 3, 0, 0], dtype=float)
    got = top_contexts(x, tokens, offsets, k=3, window=1)
    assert [c["row"] for c in got] == [2, 5, 8]  # tie 5 = 5: the earlier row first
    assert got[0]["context"] == "big [dog] barked" and got[1]["context"] == "a [dog]"
    assert got[1]["sentence"] == 1 and got[1]["position"] == 1 and got[2]["left"] == ["big"]
    low = top_contexts(x, tokens, offsets, k=1, largest=False, window=0)
    assert low[0]["row"] == 0 and low[0]["context"] == "[the]"


@pytest.mark.parametrize("n,reduce", [(1, "mean"), (2, "mean"), (2, "max"), (3, "last")])
def test_top_ngrams_equal_a_direct_count(n, reduce):
    tokens, offsets = _flat()
    x = np.random.default_rng(n).normal(size=len(tokens))
    occ = defaultdict(list)
    for s in SENTS:
        start = sum(len(t) for t in SENTS[:SENTS.index(s)])
        for i in range(len(s) - n + 1):
            w = x[start + i:start + i + n]
            score = {"mean": w.mean(), "max": w.max(), "last": w[-1]}[reduce]
            occ[" ".join(t.lower() for t in s[i:i + n])].append(score)
    ref = sorted(((-np.mean(v), g) for g, v in occ.items()))
    got = top_ngrams(x, tokens, offsets, n=n, k=100, reduce=reduce)
    assert [g["ngram"] for g in got] == [g for _, g in ref]
    np.testing.assert_allclose([g["activation"] for g in got], [-m for m, _ in ref])
    assert {g["ngram"]: g["count"] for g in got} == {g: len(v) for g, v in occ.items()}
    two = top_ngrams(x, tokens, offsets, n=n, k=100, reduce=reduce, min_count=2)
    assert {g["ngram"] for g in two} == {g for g, v in occ.items() if len(v) >= 2}


def test_describe_contexts_on_a_store(tmp_path):
    rng = np.random.default_rng(0)
    n_rows = sum(len(s) for s in SENTS)
    data = {"layers.0": rng.normal(size=(n_rows, 3)).astype(np.float32)}
    data["layers.0"][[2, 5], 1] = 9.0  # fires on "dog"
    path = tmp_path / "c.h5"
    synthetic_store(path, SENTS, data=data)
    with ActivationStore.open(path) as st:
        res = describe_contexts(st, ["layers.0:1"], k=2, window=2, ngram_sizes=(1, 2), min_count=1)
        X, ids = read_neurons(st, "layers.0")
        assert ids == ["layers.0:0", "layers.0:1", "layers.0:2"]
        np.testing.assert_array_equal(X, data["layers.0"])
        with pytest.raises(InvalidParameterError, match="has 3 neurons \\(0..2\\)"):
            resolve_neurons(st, "layers.0:7")
        with pytest.raises(InvalidParameterError, match="stored sites: layers.0"):
            resolve_neurons(st, "layers.4:1")
    (row,) = res.neurons
    assert [c["word"] for c in row["contexts"]] == ["dog", "dog"]
    assert row["ngrams"]["1"][0] == {"ngram": "dog", "activation": 9.0, "max": 9.0, "count": 2}
    with ActivationStore.open(path, mode="r+") as st:
        res.to_store(st, "ctx")
        assert ContextsResult.from_store(st, "ctx").to_dict() == res.to_dict()
        assert st.read_result("ctx")["top_rows"].tolist() == [[2, 5]]


def test_store_side_methods_do_not_import_torch(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "t.h5"
    synthetic_store(path, SENTS, labels={"upos": (["X"] * sum(len(s) for s in SENTS), "row")})
    code = ("import sys; from neuronlab.store import ActivationStore; "
            "from neuronlab.concepts.compositional import explain_neurons; "
            "from neuronlab.concepts.corpus_methods import describe_contexts; "
            f"st = ActivationStore.open({str(path)!r}); explain_neurons(st, 'layers.0:1'); "
            "describe_contexts(st, 'layers.0:1'); print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
