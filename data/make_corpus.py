"""Generate neuronlab's embedded concept corpus (``data/concepts.conllu``) from a seeded English grammar.

Every sentence is built word by word by the grammar below, so each label (UPOS, PTB XPOS, FEATS, a
dependency tree and the sentence-level concepts) is known by construction rather than predicted by a
tagger. The grammar makes word types as ambiguous as in real English (``watch``/``plays`` as noun and
verb, ``fast`` as adjective and adverb, ``that`` as determiner, pronoun and subordinator, ``up`` as
preposition, particle and adverb, ``-ing`` forms as verb, noun and adjective, ``-ed`` forms as past,
participle and adjective), so that a probe and its control task (Hewitt & Liang 2019, "Designing and
interpreting probes with control tasks", EMNLP) mean on it what they mean on real text.

The generator is seeded and uses only the standard library: ``python data/make_corpus.py`` rewrites a
byte-identical file.

Usage::

    python data/make_corpus.py [--out PATH] [--n-sentences N] [--seed S] [--stats]

Conventions are documented in ``data/README.md``; the lexicon is in ``corpus_lexicon.py``.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_lexicon as lex  # noqa: E402  (the sibling modules, also when loaded from a path)
from corpus_grammar import (  # noqa: E402
    AUX_TABLES, BE, NOUN_VERB_NOUNS, NOUNS, SPEECH, VERB_TABLE, WILL_FEATS, Grammar, Sentence, adjective, agree,
    finite_feats, pick_verb, plan)

N_SENTENCES = 5000
SEED = 20240611
MIN_LEN, MAX_LEN = 5, 18  # tokens, punctuation included
OUT = Path(__file__).resolve().parent / "concepts.conllu"


class CorpusGrammar(Grammar):
    """The sentence templates: declaratives (transitive, intransitive, copular, passive, phrasal verb,
    complement clause, adverbial clause, existential ``there``) and questions (yes/no, copular, who, what)."""

    TEMPLATES = {  # kind: (sentence type, weight)
        "trans": ("declarative", 24), "intrans": ("declarative", 9), "cop": ("declarative", 10),
        "pass": ("declarative", 6), "phrasal": ("declarative", 8), "comp": ("declarative", 9),
        "sub": ("declarative", 10), "there": ("declarative", 14), "q_yn": ("question", 12), "q_cop": ("question", 6),
        "q_who": ("question", 5), "q_what": ("question", 4),
    }

    def declarative(self, s: Sentence, kind: str, polarity: int, tense: str) -> tuple[int, str | None]:
        rng = self.rng
        if kind == "comp":  # subject + speech verb + (that) + clause: the embedded clause carries the polarity
            subj, number, person, _ = self.subject(s, kind=rng.choices(["np", "pron", "name"], weights=[4, 4, 2])[0],
                                                   cls="p")
            aspect = rng.choices(["simple", "perf"], weights=[4, 1])[0] if tense != "Fut" else "simple"
            root, v = self.verb_group(s, rng.choice(SPEECH), tense=tense, number=number, person=person,
                                      aspect=aspect, fut=rng.choice(["will", "going"]))
            s.attach(subj, root)
            mark = s.add("that", None, "SCONJ", "IN", None, "mark") if rng.random() < 0.7 else None
            inner_tense = rng.choice(["Past", "Pres", "Fut"] if tense != "Past" else ["Past", "Past", "Fut"])
            inner, _ = self.core(s, rng.choice(["trans", "intrans", "cop", "pass"]), polarity, inner_tense,
                                 you=True, front_time=False)
            if mark is not None:
                s.attach(mark, inner)
            s.attach(inner, v, "ccomp")
            return root, number
        if kind == "sub":  # [SCONJ + neutral clause ,] main clause [SCONJ + neutral clause]
            sconj = rng.choice(lex.SUBORDINATORS)
            sub_tense = "Pres" if tense == "Fut" else tense
            front = rng.random() < 0.5
            if front:
                m = s.add(sconj, None, "SCONJ", "IN", None, "mark")
                sub, _ = self.core(s, rng.choice(["trans", "intrans", "cop"]), 0, sub_tense, you=True, front_time=False)
                comma = s.add(",", None, "PUNCT", ",", None, "punct")
            root, number = self.core(s, rng.choice(["trans", "intrans", "cop"]), polarity, tense, front_time=False)
            if not front:
                m = s.add(sconj, None, "SCONJ", "IN", None, "mark")
                sub, _ = self.core(s, rng.choice(["trans", "intrans", "cop"]), 0, sub_tense, you=True, front_time=False)
            else:
                s.attach(comma, sub)
            s.attach(m, sub)
            s.attach(sub, root, "advcl")
            return root, number
        if kind == "there":
            return self.existential(s, polarity, tense)
        return self.core(s, kind, polarity, tense)

    def existential(self, s: Sentence, polarity: int, tense: str) -> tuple[int, str]:
        """``there`` + ``be`` (a VERB here, UD EWT) + NP (its notional subject, which ``be`` agrees with)."""
        rng = self.rng
        _, fut = self.tense_shape(tense, "trans")
        number = rng.choice(["Sing", "Plur"])
        front = fut == "present" and tense == "Fut" and rng.random() < 0.5
        heads = self.time_phrase(s, tense, None) + [s.add(",", None, "PUNCT", ",", None, "punct")] if front else []
        there = s.add("there", None, "PRON", "EX", None, "expl")
        deps = [there]
        if tense == "Fut" and fut == "will":
            deps.append(s.add("will", None, "AUX", "MD", WILL_FEATS, "aux"))
            root = s.add("be", None, "VERB", "VB", {"VerbForm": "Inf"}, "root")
        elif tense == "Fut" and fut == "going":
            form, xpos = BE[("Pres", agree(number, "3"))]
            deps.append(s.add(form, "be", "AUX", xpos, finite_feats("Pres", number, "3"), "aux"))
            root = s.add("going", "go", "VERB", "VBG", {"Tense": "Pres", "VerbForm": "Part"}, "root")
            to = s.add("to", None, "PART", "TO", None, "mark")
            be = s.add("be", None, "VERB", "VB", {"VerbForm": "Inf"}, "xcomp")
            s.attach(to, be)
            s.attach(be, root)
        else:
            t = "Pres" if tense == "Fut" else tense
            form, xpos = BE[(t, agree(number, "3"))]
            root = s.add(form, "be", "VERB", xpos, finite_feats(t, number, "3"), "root")
        for d in deps:
            s.attach(d, root)
        mod = rng.choices([None, "pp", "rel"], weights=[5, 2, 2])[0]
        prior = plan(rng, ["adj"] + ["rel_verb"] * (mod == "rel"), polarity, None)
        cls = "p" if mod == "rel" or rng.random() < 0.3 else "t"
        adj = prior["adj"] if prior["adj"] or rng.random() < 0.3 else None
        n = self.noun_phrase(s, cls=cls, number=number, adj=adj,
                             modifier=mod, rel_prior=prior.get("rel_verb", 0))
        s.attach(n, root, "nsubj")
        if mod is None and rng.random() < 0.6:
            self.adverbial_pp(s, root)
        if (fut == "present" and tense == "Fut" and not front) or rng.random() < 0.15:
            heads += self.time_phrase(s, tense, None)
        for h in heads:
            s.attach(h, root)
        return root, number

    def question(self, s: Sentence, kind: str, polarity: int, tense: str) -> tuple[int, str | None]:
        rng = self.rng
        if kind == "q_who":  # who + verb group + object ?
            prior = plan(rng, ["verb", "obj_adj"], polarity, None)
            who = s.add("who", None, "PRON", "WP", {"PronType": "Int"}, "nsubj")
            obj_cls = rng.choice("pt")
            verb = pick_verb(rng, prior["verb"], transitive=True, obj=obj_cls)
            aspect, fut = self.tense_shape(tense, "trans")
            fut = "going" if fut == "present" else fut
            root, v = self.verb_group(s, verb, tense=tense, number="Sing", person="3", aspect=aspect, fut=fut)
            s.attach(who, root)
            obj_adj = prior["obj_adj"] if prior["obj_adj"] or rng.random() < 0.4 else None
            s.attach(self.obj(s, cls=verb["obj"] if verb["obj"] != "a" else obj_cls, adj=obj_adj), v)
            return root, "Sing"
        # the fronted auxiliary is written once the subject (and so its agreement) is known
        what = None
        if kind == "q_what":  # what / what + noun
            what = s.add("what", None, "PRON", "WP", {"PronType": "Int"}, "obj")
            if rng.random() < 0.4:
                s.tokens[what].update(upos="DET", xpos="WDT", deprel="det")
                number = rng.choice(["Sing", "Plur"])
                sing, plur = rng.choice(NOUNS["t"] + NOUN_VERB_NOUNS)
                n = s.add(sing if number == "Sing" else plur, sing, "NOUN", "NN" if number == "Sing" else "NNS",
                          {"Number": number}, "obj")
                s.attach(what, n)
                what = n
        aux = s.add("?", None, "AUX", "?", {}, "aux")
        subj_kind = rng.choices(["np", "pron", "name"], weights=[6, 3, 2])[0]
        cop = kind == "q_cop"
        slots = ["pred" if cop else "verb"] + ["subj_adj"] * (subj_kind == "np") + ["obj_adj"] * (kind == "q_yn")
        prior = plan(rng, slots, polarity, None)
        subj_adj = prior.get("subj_adj", 0) or (0 if rng.random() < 0.4 else None)
        cls = "t" if cop and rng.random() < 0.5 else "p"
        subj, number, person, cls = self.subject(s, kind=subj_kind, cls=cls, adj=subj_adj)
        a = agree(number, person)
        aspect, fut = self.tense_shape(tense, "cop" if cop else "trans")
        t = "Pres" if tense == "Fut" else tense
        if tense == "Fut" and fut == "will":
            s.tokens[aux].update(form="will", lemma="will", xpos="MD", feats=dict(WILL_FEATS))
        else:
            lemma = "be" if cop or fut == "going" or aspect == "prog" else "have" if aspect == "perf" else "do"
            form, xpos = AUX_TABLES[lemma][(t, a)]
            s.tokens[aux].update(form=form, lemma=lemma, xpos=xpos, feats=finite_feats(t, number, person))
        if cop:
            if tense == "Fut" and fut == "will":
                s.tokens[s.add("be", None, "AUX", "VB", {"VerbForm": "Inf"}, "cop")]["head"] = len(s.tokens)
            s.tokens[aux]["deprel"] = "cop"
            root = v = s.add(adjective(rng, prior["pred"], cls) if prior["pred"] else rng.choice(lex.NEUTRAL_PRED),
                             None, "ADJ", "JJ", {"Degree": "Pos"}, "root")
        else:
            obj_cls = "t" if kind == "q_what" else rng.choice("pt")
            verb = pick_verb(rng, prior["verb"], transitive=True, obj=obj_cls)
            root = None
            if tense == "Fut" and fut == "going":
                root = s.add("going", "go", "VERB", "VBG", {"Tense": "Pres", "VerbForm": "Part"}, "root")
                s.attach(s.add("to", None, "PART", "TO", None, "mark"), len(s.tokens))
            if aspect == "prog" and fut != "going" and not (tense == "Fut" and fut == "will"):
                v = s.add(verb["ing"], verb["base"], "VERB", "VBG", {"Tense": "Pres", "VerbForm": "Part"})
            elif aspect == "perf" and tense != "Fut":
                v = s.add(verb["pp"], verb["base"], "VERB", "VBN", {"Tense": "Past", "VerbForm": "Part"})
            else:
                v = s.add(verb["base"], verb["base"], "VERB", "VB", {"VerbForm": "Inf"})
            if root is None:
                root = v
            else:
                s.attach(v, root, "xcomp")
            if what is not None:
                s.attach(what, v)
            if kind == "q_yn":
                obj_adj = prior["obj_adj"] if prior["obj_adj"] or rng.random() < 0.4 else None
                ocls = verb["obj"] if verb["obj"] != "a" else obj_cls
                s.attach(self.obj(s, cls=ocls, adj=obj_adj, modifier="rel" if rng.random() < 0.2 else None), v)
        s.attach(aux, root)
        s.attach(subj, root, "nsubj")
        if tense == "Fut" and fut == "present" or rng.random() < 0.15:
            for h in self.time_phrase(s, tense, None):
                s.attach(h, root)
        elif not cop and rng.random() < 0.2:
            self.adverbial_pp(s, v)
        return root, number

    def sentence(self) -> tuple[Sentence, dict[str, str]]:
        rng = self.rng
        kinds = list(self.TEMPLATES)
        kind = rng.choices(kinds, weights=[self.TEMPLATES[k][1] for k in kinds])[0]
        polarity = rng.choice([1, -1])
        tense = rng.choice(["Past", "Pres", "Fut"])
        s = Sentence()
        stype = self.TEMPLATES[kind][0]
        make = self.declarative if stype == "declarative" else self.question
        root, number = make(s, kind, polarity, tense)
        s.attach(s.add("." if stype == "declarative" else "?", None, "PUNCT", ".", None, "punct"), root)
        s.tokens[root].update(head=-1, deprel="root")
        labels = {"polarity": "positive" if polarity > 0 else "negative", "tense": tense, "type": stype,
                  "subject_number": number, "relative_clause": "yes" if s.relative else "no"}
        return s, labels


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _feats(feats: dict) -> str:
    if not feats:
        return "_"
    return "|".join(f"{k}={feats[k]}" for k in sorted(feats, key=str.lower))


def to_conllu(s: Sentence, labels: dict[str, str], sent_id: str) -> str:
    forms = [t["form"] for t in s.tokens]
    lines = [f"# sent_id = {sent_id}", f"# text = {' '.join(forms)}"]
    lines += [f"# sent_{k} = {v}" for k, v in labels.items()]
    for i, t in enumerate(s.tokens, start=1):
        if t["head"] is None:
            raise RuntimeError(f"unattached token {t['form']!r} in {' '.join(forms)}")
        lines.append("\t".join([str(i), t["form"], t["lemma"], t["upos"], t["xpos"], _feats(t["feats"]),
                                str(t["head"] + 1), t["deprel"], "_", "_"]))
    return "\n".join(lines) + "\n\n"


def generate(n_sentences: int = N_SENTENCES, seed: int = SEED) -> str:
    """The corpus as CoNLL-U text: ``n_sentences`` distinct sentences of 5-18 tokens."""
    grammar = CorpusGrammar(seed)
    seen: set[str] = set()
    chunks = []
    while len(chunks) < n_sentences:
        s, labels = grammar.sentence()
        text = " ".join(t["form"] for t in s.tokens)
        if not MIN_LEN <= len(s.tokens) <= MAX_LEN or text in seen:
            continue
        seen.add(text)
        chunks.append(to_conllu(s, labels, f"concepts-{len(chunks) + 1:04d}"))
    return "".join(chunks)


def stats(text: str) -> str:
    """Label counts and the share of tokens whose word type takes more than one UPOS (for data/README.md)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    type_upos: dict[str, set] = defaultdict(set)
    forms: list[str] = []
    n_sent = 0
    for line in text.split("\n"):
        if line.startswith("# sent_") and not line.startswith("# sent_id"):
            key, value = line[2:].split(" = ")
            counts[key][value] += 1
        elif line and not line.startswith("#"):
            cols = line.split("\t")
            n_sent += cols[0] == "1"
            forms.append(cols[1].lower())
            type_upos[forms[-1]].add(cols[3])
            counts["upos"][cols[3]] += 1
            counts["xpos"][cols[4]] += 1
            feats = dict(f.split("=") for f in cols[5].split("|")) if cols[5] != "_" else {}
            for k in ("Tense", "Number", "Person", "VerbForm"):
                counts[k][feats.get(k, "_")] += 1
    ambiguous = sum(len(type_upos[f]) > 1 for f in forms)
    n_amb_types = sum(len(u) > 1 for u in type_upos.values())
    out = [f"{n_sent} sentences, {len(forms)} tokens, {len(type_upos)} word types (lower-cased)",
           f"ambiguous tokens (word type with more than one UPOS): {ambiguous / len(forms):.1%} "
           f"({ambiguous} tokens, {n_amb_types} types)", ""]
    sentence_keys = sorted(k for k in counts if k.startswith("sent_"))
    for k in ["upos", "xpos", "Tense", "Number", "Person", "VerbForm"] + sentence_keys:
        c = counts[k]
        out.append(f"- **{k}**: " + ", ".join(f"{v} {n}" for v, n in sorted(c.items(), key=lambda x: (-x[1], x[0]))))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write (default: data/concepts.conllu)")
    parser.add_argument("--n-sentences", type=int, default=N_SENTENCES)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--stats", action="store_true",
                        help="print the ambiguous-token share and label counts instead of writing")
    args = parser.parse_args(argv)
    text = generate(args.n_sentences, args.seed)
    if args.stats:
        print(stats(text))
        return
    args.out.write_bytes(text.encode("utf-8"))


if __name__ == "__main__":
    main()
