"""Tests of the embedded concept corpus (data/concepts.conllu) and its generator."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import neuronlab.corpus.embedded as embedded
from neuronlab.corpus import EMBEDDED_CORPUS, load_embedded_corpus
from neuronlab.errors import CorpusError

DATA = Path(__file__).resolve().parents[2] / "data"
GENERATOR = DATA / "make_corpus.py"

# Irregular English forms, written out by hand (not taken from the generator) to check its morphology.
IRREGULAR_PAST = set("""saw met found read wrote bought sold brought took held built drew chose left kept
taught stole broke hurt shone quit slept sat ran swam was were did had drove rode flew fed caught threw shot
paid sent lent spent cut put set hit wore hid shook woke bit froze sang heard told understood swept dug hung
lit led grew lost forgot tore upset gave said thought knew felt knelt split forgave rose sank slid spun
wept wove""".split())
IRREGULAR_PARTICIPLE = set("""seen met found read written bought sold brought taken held built drawn chosen
left kept shown taught stolen broken hurt done had driven ridden flown fed caught thrown shot paid sent lent
spent cut put set hit worn hidden shaken woken bitten frozen sung heard told understood swept dug hung lit led
grown sewn woven lost forgotten torn upset given said thought known felt slept sat run swum shone quit
knelt split forgiven risen sunk slid spun wept""".split())
IRREGULAR_PLURAL = set("children men women people mice geese sheep deer oxen policemen fish spies".split())
QUESTION_STARTS = {"did", "does", "do", "will", "was", "were", "is", "are", "am", "has", "have", "had", "who",
                   "what"}
FUTURE_TIME_WORDS = {"tomorrow", "tonight", "next", "soon", "Monday"}
SENTENCE_CONCEPTS = {"polarity", "tense", "type", "subject_number", "relative_clause"}


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


def _text(toks):
    return " ".join(t["form"] for t in toks)


def _children(toks, head, *deprels):
    return [t for t in toks if t["head"] == head and (not deprels or t["deprel"] in deprels)]


def test_size_lengths_and_concepts(corpus, parsed):
    assert 4000 <= len(corpus) == len(parsed) <= 8000
    assert all(5 <= len(s) <= 18 for s in corpus.sentences)
    assert len({" ".join(s) for s in corpus.sentences}) == len(corpus)  # no duplicates
    for concept in ("upos", "xpos", "deprel", "Tense", "Number", "Person", "VerbForm"):
        assert concept in corpus.word_labels
    assert set(corpus.sentence_labels) == SENTENCE_CONCEPTS  # every sentence-level concept on every sentence
    assert all(None not in v for v in corpus.sentence_labels.values())
    # the reader and the independent parse agree
    assert corpus.sentences[:50] == [[t["form"] for t in toks] for toks, _ in parsed[:50]]
    assert corpus.word_labels["Number"][7] == [t["feats"].get("Number") for t in parsed[7][0]]


def _type_upos(parsed):
    table = defaultdict(Counter)
    for toks, _ in parsed:
        for t in toks:
            table[t["form"].lower()][t["upos"]] += 1
    return table


def test_word_types_are_ambiguous_as_in_real_english(parsed, generator, capsys):
    table = _type_upos(parsed)
    n_tokens = sum(sum(c.values()) for c in table.values())
    n_ambiguous = sum(sum(c.values()) for c in table.values() if len(c) > 1)
    assert n_ambiguous / n_tokens >= 0.30  # UD English-EWT train: 62.8%; the old corpus 1.2%
    attested = {w: {u for u, n in c.items() if n >= 2} for w, c in table.items()}  # tags seen twice or more
    for word, tags in {"watch": {"NOUN", "VERB"}, "book": {"NOUN", "VERB"}, "water": {"NOUN", "VERB"},
                       "fast": {"ADJ", "ADV"}, "hard": {"ADJ", "ADV"}, "late": {"ADJ", "ADV"},
                       "that": {"DET", "PRON", "SCONJ"}, "this": {"DET", "PRON"}, "up": {"ADP", "ADV"},
                       "before": {"ADP", "SCONJ"}, "to": {"ADP", "PART"}, "is": {"AUX", "VERB"},
                       "have": {"AUX", "VERB"}, "had": {"AUX", "VERB"}, "do": {"AUX", "VERB"}}.items():
        assert attested[word] >= tags, (word, table[word])
    # the ambiguity classes of issue 16, each with many word types
    for tags, minimum, suffix in (({"NOUN", "VERB"}, 150, ""), ({"ADJ", "ADV"}, 4, ""), ({"VERB", "NOUN"}, 4, "ing"),
                                  ({"VERB", "ADJ"}, 8, "ing"), ({"VERB", "ADJ"}, 5, "ed")):
        words = [w for w, a in attested.items() if a >= tags and w.endswith(suffix)]
        assert len(words) >= minimum, (tags, suffix, words)
    # -ed forms as past and as participle
    xpos = defaultdict(set)
    for toks, _ in parsed:
        for t in toks:
            xpos[t["form"]].add(t["xpos"])
    assert sum({"VBD", "VBN"} <= tags for tags in xpos.values()) >= 100
    # --stats prints the same share
    generator.main(["--stats", "--n-sentences", str(len(parsed))])
    assert f"{n_ambiguous / n_tokens:.1%} ({n_ambiguous} tokens" in capsys.readouterr().out


def test_vocabulary_is_varied(corpus):
    xpos = Counter((w, t) for s, ts in zip(corpus.sentences, corpus.word_labels["xpos"]) for w, t in zip(s, ts))
    assert len({w for (w, t) in xpos if t == "NN"}) >= 400 and len({w for (w, t) in xpos if t == "VB"}) >= 200
    assert len({w.lower() for (w, t) in xpos}) >= 1800
    assert {w for (w, t) in xpos if t == "NNS"} & IRREGULAR_PLURAL >= {"children", "mice", "women", "sheep"}


def test_tags_and_features_are_consistent(parsed):
    for toks, _ in parsed:
        for t in toks:
            x, f, form = t["xpos"], t["feats"], t["form"]
            if x == "VBD":
                assert f["Tense"] == "Past" and f["VerbForm"] == "Fin"
                assert form.endswith("ed") or form in IRREGULAR_PAST, form
            elif x == "VBN":
                assert (f["Tense"], f["VerbForm"]) == ("Past", "Part") and t["upos"] == "VERB"
                assert form.endswith("ed") or form in IRREGULAR_PARTICIPLE, form
            elif x == "VBG":
                assert (f["Tense"], f["VerbForm"]) == ("Pres", "Part") and form.endswith("ing")
            elif x == "VBZ":
                assert (f["Tense"], f["Number"], f["Person"]) == ("Pres", "Sing", "3")
                assert form.endswith("s")
            elif x == "VBP":
                assert f["Tense"] == "Pres" and (f.get("Number") != "Sing" or f["Person"] == "1")
            elif x == "MD":
                assert form == "will" and f == {"VerbForm": "Fin"}  # no Tense, as in UD EWT
            elif x == "VB":
                assert f == {"VerbForm": "Inf"}
            elif x == "NNS":
                assert f["Number"] == "Plur" and t["upos"] == "NOUN"
                assert form.endswith(("s", "men")) or form in IRREGULAR_PLURAL, form
            elif x == "NN":
                assert f["Number"] == "Sing" and t["upos"] == "NOUN"
            elif x == "PRP":
                assert t["upos"] == "PRON" and "Person" in f
            elif x == "RP":
                assert t["upos"] == "ADP" and t["deprel"] == "compound:prt"
            elif x == "EX":
                assert form == "there" and t["deprel"] == "expl" and toks[t["head"]]["lemma"] in {"be", "go"}
            if "Tense" in f:
                assert t["upos"] in {"VERB", "AUX"}
            if t["upos"] == "SCONJ":
                assert t["deprel"] == "mark"
        assert sum(t["head"] == -1 for t in toks) == 1


def _finite(toks, head):
    """The finite word of the clause headed by ``head``: the head itself or its aux/cop."""
    if toks[head]["feats"].get("VerbForm") == "Fin":
        return toks[head]
    for t in _children(toks, head, "aux", "aux:pass", "cop"):
        if t["feats"].get("VerbForm") == "Fin":
            return t
    raise AssertionError(f"no finite word in {_text(toks)}")


def _subject(toks, head):
    subj = _children(toks, head, "nsubj", "nsubj:pass")
    assert len(subj) == 1, _text(toks)
    return subj[0]


def test_subject_verb_agreement_also_across_attractors(parsed):
    checked = attractors = 0
    for toks, _ in parsed:
        for i, t in enumerate(toks):
            if t["deprel"] not in {"root", "ccomp", "advcl", "acl:relcl"} or t["upos"] not in {"VERB", "ADJ"}:
                continue
            subj = _subject(toks, i)
            fin = _finite(toks, i)
            if subj["feats"].get("PronType") in {"Rel", "Int"}:  # relative/interrogative: the noun modified
                number = toks[t["head"]]["feats"].get("Number") if t["deprel"] == "acl:relcl" else "Sing"
                person = "3"
            else:
                number, person = subj["feats"].get("Number"), subj["feats"].get("Person", "3")
            if "Number" in fin["feats"]:
                assert fin["feats"]["Number"] == number, _text(toks)
                checked += 1
            if fin["xpos"] != "MD":  # "will" does not agree; every other finite word does
                assert fin["feats"]["Person"] == person, _text(toks)
            nested = [d for d in toks if d["deprel"] == "nmod" and toks.index(d) != i and d["head"] == toks.index(subj)]
            if "Number" in fin["feats"] and any(d["feats"].get("Number") not in (None, number) for d in nested):
                attractors += 1  # "the key to the cabinets is ..."
    assert checked > 5000 and attractors >= 300


def _sentence_tense(toks, root):
    """Main-clause time: will / going to / present + future time adverbial -> Fut, else the finite tense."""
    if toks[root]["lemma"] == "go" and _children(toks, root, "xcomp"):
        return "Fut"
    fin = _finite(toks, root) if toks[root]["lemma"] != "be" or toks[root]["upos"] != "VERB" or \
        toks[root]["xpos"] != "VB" else _children(toks, root, "aux")[0]
    if fin["xpos"] == "MD":
        return "Fut"
    tense = fin["feats"]["Tense"]
    if tense == "Pres":
        adverbials = [j for j, t in enumerate(toks)
                      if t["head"] == root and t["deprel"] in {"obl:tmod", "obl", "advmod"}]
        words = {toks[j]["form"] for j in adverbials} | {t["form"] for t in toks if t["head"] in adverbials}
        if words & FUTURE_TIME_WORDS:
            return "Fut"
    return tense


def test_sentence_labels_match_the_tree(parsed):
    kinds = Counter()
    for toks, comments in parsed:
        root = next(i for i, t in enumerate(toks) if t["head"] == -1)
        assert _sentence_tense(toks, root) == comments["sent_tense"], _text(toks)
        if comments["sent_tense"] == "Fut":
            fin = _finite(toks, root) if toks[root]["lemma"] != "go" else None
            kinds["going" if fin is None else "will" if fin["xpos"] == "MD" else "present"] += 1
        is_question = toks[-1]["form"] == "?"
        assert comments["sent_type"] == ("question" if is_question else "declarative")
        if is_question:
            assert toks[0]["form"] in QUESTION_STARTS
        subj = _subject(toks, root)
        number = "Sing" if subj["form"] == "who" else subj["feats"]["Number"]
        assert comments["sent_subject_number"] == number, _text(toks)
        has_relcl = any(t["deprel"] == "acl:relcl" for t in toks)
        assert comments["sent_relative_clause"] == ("yes" if has_relcl else "no")
    # future by will, by going to and by the present with a time adverbial
    assert min(kinds.values()) >= 200 and len(kinds) == 3, kinds


def test_polarity_follows_evaluative_words_and_negation(parsed, generator):
    """Recompute polarity from the lexicon: prior of the evaluative words, flipped by ``not``."""
    lex = generator.lex
    prior = {w: 1 for w in lex.POS_ADJ + lex.POS_ADJ_P + lex.POS_ADV + lex.POS_ED_ADJ}
    prior.update({w: -1 for w in lex.NEG_ADJ + lex.NEG_ADJ_P + lex.NEG_ADV + lex.NEG_ED_ADJ})
    verb_prior = {v["base"]: v["pol"] for v in generator.VERB_TABLE}
    first_positions = Counter()
    for toks, comments in parsed:
        scores = [prior.get(t["form"], 0) if t["upos"] in {"ADJ", "ADV"} else
                  verb_prior.get(t["lemma"], 0) if t["upos"] == "VERB" else 0 for t in toks]
        evaluative = [s for s in scores if s]
        assert evaluative and len(set(evaluative)) == 1, _text(toks)  # all evaluative words agree
        negated = any(t["form"] == "not" for t in toks)
        expected = evaluative[0] * (-1 if negated else 1)
        assert comments["sent_polarity"] == ("positive" if expected > 0 else "negative"), _text(toks)
        first_positions[next(i for i, s in enumerate(scores) if s)] += 1
    # not decidable from one fixed position: the first evaluative word moves around
    assert sum(n >= 100 for n in first_positions.values()) >= 8


def test_label_counts_are_not_degenerate(corpus):
    n = len(corpus)
    upos = Counter(u for s in corpus.word_labels["upos"] for u in s)
    for tag in ("NOUN", "VERB", "AUX", "ADJ", "ADV", "DET", "PRON", "ADP", "PUNCT", "PART", "PROPN", "NUM", "SCONJ"):
        assert upos[tag] >= 300, tag
    for concept, classes, minimum in (("Tense", ("Past", "Pres"), 1000),
                                      ("Number", ("Sing", "Plur"), 5000), ("Person", ("1", "2", "3"), 100),
                                      ("VerbForm", ("Fin", "Inf", "Part"), 1500)):
        counts = Counter(v for s in corpus.word_labels[concept] for v in s if v is not None)
        assert set(counts) == set(classes) and min(counts.values()) >= minimum, (concept, counts)
    for concept, classes, share in (("polarity", {"positive", "negative"}, 0.4),
                                    ("tense", {"Past", "Pres", "Fut"}, 0.25),
                                    ("type", {"declarative", "question"}, 0.2),
                                    ("subject_number", {"Sing", "Plur"}, 0.3),
                                    ("relative_clause", {"yes", "no"}, 0.2)):
        counts = Counter(corpus.sentence_labels[concept])
        assert set(counts) == classes and min(counts.values()) >= share * n, (concept, counts)


def test_generator_is_deterministic(tmp_path):
    out = tmp_path / "again.conllu"
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True, timeout=60)
    assert out.read_bytes() == EMBEDDED_CORPUS.read_bytes()


def test_missing_embedded_corpus_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "EMBEDDED_CORPUS", tmp_path / "concepts.conllu")
    with pytest.raises(CorpusError, match=r"concepts\.conllu is absent.*make_corpus\.py"):
        embedded.load_embedded_corpus()
