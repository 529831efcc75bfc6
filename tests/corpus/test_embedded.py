"""Tests of the embedded concept corpus (data/concepts.conllu) and its generator."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import neuronlab.corpus.embedded as embedded
from neuronlab.corpus import EMBEDDED_CORPUS, load_embedded_corpus
from neuronlab.errors import CorpusError

DATA = Path(__file__).resolve().parents[2] / "data"
GENERATOR = DATA / "make_corpus.py"

# Irregular English forms, written out by hand (not taken from the generator) to check its morphology.
IRREGULAR_PAST = set("""saw met found read wrote bought sold brought took held built drew chose left kept
taught stole broke hurt shone quit slept sat ran swam was were did""".split())
IRREGULAR_PLURAL = set("children men women people mice geese sheep deer oxen policemen teeth feet".split())
QUESTION_STARTS = {"did", "does", "do", "will", "was", "were", "is", "are", "am", "who", "what"}


@pytest.fixture(scope="module")
def corpus():
    return load_embedded_corpus()


@pytest.fixture(scope="module")
def parsed():
    """The committed file parsed here independently of the reader: sentences of token dicts + comments."""
    sentences, tokens, comments = [], [], {}
    for line in EMBEDDED_CORPUS.read_text(encoding="utf-8").split("\n"):
        if line.startswith("# "):
            key, value = line[2:].split(" = ", 1)
            comments[key] = value
        elif line:
            i, form, lemma, upos, xpos, feats, head, deprel, _, _ = line.split("\t")
            feats = dict(f.split("=") for f in feats.split("|")) if feats != "_" else {}
            tokens.append(dict(form=form, lemma=lemma, upos=upos, xpos=xpos, feats=feats,
                               head=int(head) - 1, deprel=deprel))
        elif tokens:
            sentences.append((tokens, comments))
            tokens, comments = [], {}
    return sentences


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("make_corpus", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_size_lengths_and_concepts(corpus, parsed):
    assert len(corpus) == len(parsed) >= 3000
    assert all(6 <= len(s) <= 14 for s in corpus.sentences)
    assert len({" ".join(s) for s in corpus.sentences}) == len(corpus)  # no duplicates
    for concept in ("upos", "xpos", "deprel", "Tense", "Number", "Person", "VerbForm"):
        assert concept in corpus.word_labels
    assert set(corpus.sentence_labels) == {"polarity", "tense", "type"}
    assert all(None not in v for v in corpus.sentence_labels.values())
    # the reader and the independent parse agree
    assert corpus.sentences[:50] == [[t["form"] for t in toks] for toks, _ in parsed[:50]]
    assert corpus.word_labels["Number"][7] == [t["feats"].get("Number") for t in parsed[7][0]]


def test_vocabulary_is_varied(corpus):
    xpos = Counter((w, t) for s, ts in zip(corpus.sentences, corpus.word_labels["xpos"]) for w, t in zip(s, ts))
    lemmas_nn = {w for (w, t) in xpos if t == "NN"}
    verbs = {w for (w, t) in xpos if t == "VB"}
    assert len(lemmas_nn) >= 150 and len(verbs) >= 80
    assert {w for (w, t) in xpos if t == "NNS"} & IRREGULAR_PLURAL >= {"children", "mice", "women"}


def test_tags_and_features_are_consistent(parsed):
    for toks, _ in parsed:
        for t in toks:
            x, f = t["xpos"], t["feats"]
            if x == "VBD":
                assert f["Tense"] == "Past" and f["VerbForm"] == "Fin"
                assert t["form"].endswith("ed") or t["form"] in IRREGULAR_PAST, t["form"]
            elif x == "VBZ":
                assert (f["Tense"], f["Number"], f["Person"]) == ("Pres", "Sing", "3")
                assert t["form"].endswith("s")
            elif x == "VBP":
                assert f["Tense"] == "Pres" and (f.get("Number") != "Sing" or f["Person"] == "1")
            elif x == "MD":
                assert t["form"] == "will" and f["Tense"] == "Fut"
            elif x == "VB":
                assert f == {"VerbForm": "Inf"}
            elif x == "NNS":
                assert f["Number"] == "Plur" and t["upos"] == "NOUN"
                assert t["form"].endswith("s") or t["form"] in IRREGULAR_PLURAL, t["form"]
            elif x == "NN":
                assert f["Number"] == "Sing" and t["upos"] == "NOUN"
            elif x == "PRP":
                assert t["upos"] == "PRON" and "Person" in f
            if "Tense" in f:
                assert t["upos"] in {"VERB", "AUX"}


def _finite(toks, head):
    """The finite word of the clause headed by ``head``: the head itself or its aux/cop."""
    if toks[head]["feats"].get("VerbForm") == "Fin":
        return toks[head]
    for t in toks:
        if t["head"] == head and t["deprel"] in {"aux", "cop"} and t["feats"].get("VerbForm") == "Fin":
            return t
    raise AssertionError(f"no finite word in {' '.join(t['form'] for t in toks)}")


def test_subject_verb_agreement(parsed):
    checked = 0
    for toks, _ in parsed:
        for t in toks:
            if t["deprel"] == "nsubj" and t["feats"].get("PronType") not in {"Rel", "Int"}:
                fin = _finite(toks, t["head"])
                text = " ".join(x["form"] for x in toks)
                if "Number" in fin["feats"]:
                    assert fin["feats"]["Number"] == t["feats"]["Number"], text
                    checked += 1
                if fin["xpos"] != "MD":  # "will" does not agree; every other finite word does
                    assert fin["feats"]["Person"] == t["feats"].get("Person", "3"), text
            if t["deprel"] == "acl:relcl":  # relative clause verb agrees with the noun it modifies
                fin = _finite(toks, toks.index(t))
                if "Number" in fin["feats"]:
                    assert fin["feats"]["Number"] == toks[t["head"]]["feats"]["Number"]
                    checked += 1
    assert checked > 2000


def test_sentence_tense_and_type_match_the_tree(parsed):
    for toks, comments in parsed:
        root = next(i for i, t in enumerate(toks) if t["head"] == -1)
        assert sum(t["head"] == -1 for t in toks) == 1
        assert _finite(toks, root)["feats"]["Tense"] == comments["sent_tense"]
        is_question = toks[-1]["form"] == "?"
        assert comments["sent_type"] == ("question" if is_question else "declarative")
        if is_question:
            assert toks[0]["form"] in QUESTION_STARTS


def test_polarity_follows_evaluative_words_and_negation(parsed, generator):
    """Recompute polarity from the lexicon: prior of the evaluative words, flipped by ``not``."""
    g = generator
    prior = {w: 1 for w in g.POS_ADJ + g.POS_ADJ_P + g.POS_ADV}
    prior.update({w: -1 for w in g.NEG_ADJ + g.NEG_ADJ_P + g.NEG_ADV})
    verb_prior = {v["base"]: v["pol"] for v in g.VERB_TABLE}
    first_positions = Counter()
    for toks, comments in parsed:
        scores = [prior.get(t["form"], 0) if t["upos"] in {"ADJ", "ADV"} else
                  verb_prior.get(t["lemma"], 0) if t["upos"] == "VERB" else 0 for t in toks]
        evaluative = [s for s in scores if s]
        assert evaluative and len(set(evaluative)) == 1  # all evaluative words agree
        negated = any(t["form"] == "not" for t in toks)
        expected = evaluative[0] * (-1 if negated else 1)
        assert comments["sent_polarity"] == ("positive" if expected > 0 else "negative")
        first_positions[next(i for i, s in enumerate(scores) if s)] += 1
    # not decidable from one fixed position: the first evaluative word moves around
    assert sum(n >= 100 for n in first_positions.values()) >= 5


def test_label_counts_are_not_degenerate(corpus):
    n = len(corpus)
    upos = Counter(u for s in corpus.word_labels["upos"] for u in s)
    for tag in ("NOUN", "VERB", "AUX", "ADJ", "ADV", "DET", "PRON", "ADP", "PUNCT", "PART", "PROPN", "NUM"):
        assert upos[tag] >= 200, tag
    for concept, classes, minimum in (("Tense", ("Past", "Pres", "Fut"), 1000),
                                      ("Number", ("Sing", "Plur"), 3000), ("Person", ("1", "2", "3"), 150)):
        counts = Counter(v for s in corpus.word_labels[concept] for v in s if v is not None)
        assert set(counts) == set(classes) and min(counts.values()) >= minimum, (concept, counts)
    pol = Counter(corpus.sentence_labels["polarity"])
    assert set(pol) == {"positive", "negative"} and min(pol.values()) >= 0.4 * n
    tense = Counter(corpus.sentence_labels["tense"])
    assert set(tense) == {"Past", "Pres", "Fut"} and min(tense.values()) >= 0.25 * n
    stype = Counter(corpus.sentence_labels["type"])
    assert set(stype) == {"declarative", "question"} and min(stype.values()) >= 0.2 * n


def test_generator_is_deterministic(tmp_path):
    out = tmp_path / "again.conllu"
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True, timeout=60)
    assert out.read_bytes() == EMBEDDED_CORPUS.read_bytes()


def test_missing_embedded_corpus_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "EMBEDDED_CORPUS", tmp_path / "concepts.conllu")
    with pytest.raises(CorpusError, match=r"concepts\.conllu is absent.*make_corpus\.py"):
        embedded.load_embedded_corpus()
