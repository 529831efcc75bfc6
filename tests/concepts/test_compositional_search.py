"""Compositional explanations (Mu & Andreas 2020): packed masks, the planted formula, IoU against direct set
computations, beam width 1 against a greedy reference, and exhaustive search at length 2."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from neuronlab.concepts.compositional import Atoms, CompositionalExplainer, CompositionalResult, explain_neurons
from neuronlab.concepts.compositional.bitmask import pack, popcount, unpack
from neuronlab.concepts.compositional.formula import OPERATORS, Formula
from neuronlab.errors import InvalidParameterError
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store

VOCAB = [f"w{i}" for i in range(12)] + ["a", "b"]
TAGS = ["NOUN", "VERB", "ADJ", "X", "DET"]


def _corpus(n=600, seed=0):
    rng = np.random.default_rng(seed)
    words = rng.choice(VOCAB, size=n)
    upos = rng.choice(TAGS, size=n)
    return words, upos, rng


def _planted(words, upos):
    return np.isin(words, ["a", "b"]) & (upos != "X")


# ------------------------------------------------------------------ packed masks
@pytest.mark.parametrize("n_rows", [1, 63, 64, 65, 200])
def test_pack_roundtrip_and_popcount(n_rows):
    rng = np.random.default_rng(n_rows)
    m = rng.random((3, n_rows)) < 0.4
    p = pack(m)
    assert p.dtype == np.uint64 and p.shape == (3, (n_rows + 63) // 64)
    np.testing.assert_array_equal(unpack(p, n_rows), m)
    np.testing.assert_array_equal(popcount(p), m.sum(1))
    np.testing.assert_array_equal(popcount(p[0] & ~p[1]), (m[0] & ~m[1]).sum())  # padding bits stay 0 under ~
    np.testing.assert_array_equal(popcount(p[0] | p[2]), (m[0] | m[2]).sum())


# ------------------------------------------------------------------ planted
def test_planted_formula_is_found():
    words, upos, rng = _corpus()
    planted = _planted(words, upos)
    assert 0 < planted.sum() < ((words == "a") | (words == "b")).sum()  # X really removes rows
    X = np.c_[planted * 3.0 + rng.normal(0, 0.2, size=words.size), rng.normal(size=words.size)]
    atoms = Atoms.from_arrays(words=words, concepts={"upos": upos})
    ex = CompositionalExplainer(threshold=1.5).fit(X, atoms)
    assert ex.explanations_[0] in ("(word=a OR word=b) AND NOT upos=X", "(word=b OR word=a) AND NOT upos=X")
    assert ex.iou_[0] == 1.0 and ex.coverage_[0] == 1.0 and ex.precision_[0] == 1.0
    assert ex.mask_size_[0] == planted.sum()
    f = ex.formulas_[0]
    assert [op for op, _ in f.steps] == ["or", "and_not"]
    assert ex.atomic_iou_[0] < 1.0  # no single atom explains it


def test_planted_formula_through_the_store(tmp_path):
    words, upos, rng = _corpus(n=500, seed=1)
    planted = _planted(words, upos)
    data = {"layers.0": rng.normal(size=(words.size, 3)).astype(np.float32)}
    data["layers.0"][:, 1] = 0.3 * data["layers.0"][:, 1] + 4 * planted
    sents = [list(words[i:i + 5]) for i in range(0, words.size, 5)]
    path = tmp_path / "s.h5"
    synthetic_store(path, sents, data=data, labels={"upos": (list(upos), "row"),
                                                     "kind": (["k%d" % (i % 2) for i in range(len(sents))],
                                                              "sentence")})
    with ActivationStore.open(path) as st:
        res = explain_neurons(st, "layers.0:1", threshold=2.0)
    (row,) = res.neurons
    assert row["neuron"] == "layers.0:1" and row["iou"] == 1.0 and row["length"] == 3
    assert row["formula"].endswith(" AND NOT upos=X") and "kind=" not in row["formula"]
    assert res.n_concept_atoms == len(TAGS) + 2  # upos values + the sentence-level concept's two values
    with ActivationStore.open(path, mode="r+") as st:
        res.to_store(st, "compexp")
        back = CompositionalResult.from_store(st, "compexp")
        stored = st.read_result("compexp")
    assert back.to_dict() == res.to_dict()
    assert list(stored["formula"]) == [row["formula"]] and stored["iou"].tolist() == [1.0]


# ------------------------------------------------------------------ references
def _random_problem(seed, n=300, n_neurons=6):
    rng = np.random.default_rng(seed)
    words = rng.choice(VOCAB[:8], size=n)
    upos = rng.choice(TAGS, size=n)
    tense = rng.choice(["Past", "Pres", None], size=n)
    # neurons loosely tied to atoms, so that formulas beat single atoms but nothing is exact
    base = np.c_[np.isin(words, ["w1", "w2"]), upos == "NOUN", tense == "Past", words == "w3"].astype(float)
    X = base @ rng.normal(size=(4, n_neurons)) + rng.normal(0, 0.7, size=(n, n_neurons))
    atoms = Atoms.from_arrays(words=words, concepts={"upos": upos, "tense": tense})
    return X, atoms


def _bool_masks(atoms):
    concept = unpack(atoms.masks, atoms.n_rows)
    return lambda a: concept[a] if a < atoms.n_concept_atoms else atoms.word_ids == a - atoms.n_concept_atoms


def _set_iou(formula_rows: set, neuron_rows: set) -> float:
    union = formula_rows | neuron_rows
    return len(formula_rows & neuron_rows) / len(union) if union else 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_iou_coverage_precision_equal_a_direct_set_computation(seed):
    X, atoms = _random_problem(seed)
    ex = CompositionalExplainer(quantile=0.9).fit(X, atoms)
    mask_of = _bool_masks(atoms)
    for j, f in enumerate(ex.formulas_):
        neuron = set(np.flatnonzero(X[:, j] > np.quantile(X[:, j], 0.9)).tolist())
        rows = set(np.flatnonzero(f.evaluate(mask_of)).tolist())
        assert ex.iou_[j] == pytest.approx(_set_iou(rows, neuron), abs=1e-12)
        assert ex.coverage_[j] == pytest.approx(len(rows & neuron) / len(neuron), abs=1e-12)
        assert ex.precision_[j] == pytest.approx(len(rows & neuron) / len(rows), abs=1e-12)
        assert len(f) <= 3 and ex.iou_[j] >= ex.atomic_iou_[j]


def _greedy(x_mask, atoms, candidates, ops, max_length):
    """Reference greedy search on boolean masks: best atom, then the best extension while it improves IoU."""
    mask_of = _bool_masks(atoms)
    neuron = set(np.flatnonzero(x_mask).tolist())

    def score(f):
        return _set_iou(set(np.flatnonzero(f.evaluate(mask_of)).tolist()), neuron)

    scores = [score(Formula(int(a))) for a in candidates]
    best = Formula(int(candidates[int(np.argmax(scores))]))
    best_iou = max(scores)
    for _ in range(max_length - 1):
        ext = [(best.extend(op, int(a))) for op in ops for a in candidates if int(a) not in best.atoms]
        ext_scores = [score(f) for f in ext]
        k = int(np.argmax(ext_scores))
        if ext_scores[k] <= best_iou:
            break
        best, best_iou = ext[k], ext_scores[k]
    return best, best_iou


@pytest.mark.parametrize("seed", [2, 3])
def test_beam_width_one_is_greedy(seed):
    X, atoms = _random_problem(seed)
    ops = ("or", "and", "and_not")
    ex = CompositionalExplainer(quantile=0.85, beam_size=1, n_word_atoms=None, operators=ops).fit(X, atoms)
    wide = CompositionalExplainer(quantile=0.85, beam_size=10, n_word_atoms=None, operators=ops).fit(X, atoms)
    for j in range(X.shape[1]):
        mask = X[:, j] > ex.thresholds_[j]
        f, iou = _greedy(mask, atoms, ex.candidates(mask, atoms), ops, 3)
        assert ex.formulas_[j] == f
        assert ex.iou_[j] == pytest.approx(iou, abs=1e-12)
        assert wide.iou_[j] >= ex.iou_[j] - 1e-12
    assert any(len(f) > 1 for f in ex.formulas_)


def test_length_two_with_a_full_beam_is_exhaustive():
    X, atoms = _random_problem(4, n_neurons=3)
    mask_of = _bool_masks(atoms)
    ex = CompositionalExplainer(quantile=0.8, max_length=2, beam_size=atoms.n_atoms, n_word_atoms=None).fit(X, atoms)
    for j in range(X.shape[1]):
        neuron = X[:, j] > ex.thresholds_[j]
        best = 0.0
        for a in range(atoms.n_atoms):
            best = max(best, _set_iou(set(np.flatnonzero(mask_of(a))), set(np.flatnonzero(neuron))))
        for a, b in itertools.permutations(range(atoms.n_atoms), 2):
            for _, fn in OPERATORS.values():
                rows = np.flatnonzero(fn(mask_of(a), mask_of(b)))
                best = max(best, _set_iou(set(rows.tolist()), set(np.flatnonzero(neuron).tolist())))
        assert ex.iou_[j] == pytest.approx(best, abs=1e-12)


def test_dead_neuron_and_single_atom_length():
    X, atoms = _random_problem(5, n_neurons=2)
    X[:, 1] = 0.0  # constant: the quantile equals the maximum, the strict mask is empty
    ex = CompositionalExplainer(max_length=1).fit(X, atoms)
    assert ex.formulas_[1] is None and ex.explanations_[1] == "" and ex.iou_[1] == 0.0 and ex.mask_size_[1] == 0
    assert len(ex.formulas_[0]) == 1 and ex.iou_[0] == ex.atomic_iou_[0]


# ------------------------------------------------------------------ bad input
def test_bad_input_is_refused_clearly():
    X, atoms = _random_problem(6, n_neurons=2)
    with pytest.raises(InvalidParameterError, match="y must be an Atoms object"):
        CompositionalExplainer().fit(X, np.zeros(X.shape[0]))
    with pytest.raises(InvalidParameterError, match="X has 10 rows but the atoms describe 300"):
        CompositionalExplainer().fit(X[:10], atoms)
    with pytest.raises(InvalidParameterError, match="operators must be distinct names from"):
        CompositionalExplainer(operators=("or", "xor")).fit(X, atoms)
    with pytest.raises(InvalidParameterError, match="'beam_size' parameter of CompositionalExplainer"):
        CompositionalExplainer(beam_size=0).fit(X, atoms)
    with pytest.raises(InvalidParameterError, match="a concept may not be called 'word'"):
        Atoms.from_arrays(words=["x"], concepts={"word": ["y"]})
    with pytest.raises(InvalidParameterError, match="one value per row"):
        Atoms.from_arrays(words=["x", "y"], concepts={"upos": ["N"]})


# ------------------------------------------------------------------ real data (skips without the cached EWT store)
def test_real_ewt_formulas_equal_a_direct_set_computation():
    from pathlib import Path

    path = Path("/tmp/neuronlab-bench/ewt-test-minilm.h5")
    if not path.exists():
        pytest.skip(f"cached EWT minilm store {path} not found (benchmarks/ewt_upos_study.py writes it)")
    with ActivationStore.open(path) as st:
        neurons = ["layers.1:28", "layers.0:363", "layers.2:223"]
        res = explain_neurons(st, neurons)
        atoms = Atoms.from_store(st)
        X = np.stack([st[n.split(":")[0]][:, int(n.split(":")[1])] for n in neurons], axis=1).astype(np.float32)
    ex = CompositionalExplainer().fit(X, atoms)
    mask_of = _bool_masks(atoms)
    for j, row in enumerate(res.neurons):
        neuron = X[:, j] > np.quantile(X[:, j], 0.995)
        f = ex.formulas_[j]
        rows = f.evaluate(mask_of)
        assert row["formula"] == ex.explanations_[j] and len(f) <= 3
        assert row["iou"] == pytest.approx((rows & neuron).sum() / (rows | neuron).sum(), abs=1e-12)
        assert row["mask_size"] == neuron.sum() and row["iou"] >= row["atomic_iou"] > 0
