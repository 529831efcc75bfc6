"""Generate neuronlab's embedded concept corpus (``data/concepts.conllu``) from a small English grammar.

Every sentence is built word by word by the grammar below, so each label (UPOS, PTB XPOS,
FEATS, a dependency tree, and the sentence-level polarity, tense and type) is known by
construction rather than predicted by a tagger. The generator is seeded and uses only the
standard library: ``python data/make_corpus.py`` rewrites a byte-identical file.

Usage::

    python data/make_corpus.py [--out PATH] [--n-sentences N] [--seed S] [--stats]

Conventions are documented in ``data/README.md``.
"""
from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

N_SENTENCES = 4000
SEED = 20240611
MIN_LEN, MAX_LEN = 6, 14  # tokens, punctuation included
OUT = Path(__file__).resolve().parent / "concepts.conllu"

# --------------------------------------------------------------------------------------------
# Lexicon
# --------------------------------------------------------------------------------------------

# nouns: "singular" or "singular/plural" when the plural is irregular
PERSONS = """teacher doctor student child/children man/men woman/women person/people farmer nurse pilot
artist writer singer actor lawyer judge baker driver neighbor friend manager worker soldier scientist
engineer player coach visitor guest king queen boy girl mother father brother sister uncle aunt chef poet
painter dancer sailor tourist clerk customer officer thief/thieves wife/wives policeman/policemen baby
hero boss host waiter author editor mayor farmer gardener professor""".split()
ANIMALS = """dog cat horse bird wolf/wolves mouse/mice goose/geese sheep/sheep fox cow rabbit lion monkey
deer/deer ox/oxen""".split()
THINGS = """book film song letter car house city garden meal story report plan idea gift picture box bus
dish knife/knives leaf/leaves shelf/shelves potato tomato watch glass church party country table chair
window door bridge road river school hospital office shop market kitchen bottle cup bag coat shirt shoe
hat phone computer camera painting poem speech lesson game concert movie novel photo sandwich cake apple
lamp key map ticket dress village castle boat train plane tree flower menu salad recipe email message
essay museum hotel restaurant wallet ring toy candle puzzle album garage jacket blanket""".split()
PLACES = """garden house city church park school hospital office shop market kitchen village castle hotel
restaurant museum library station theater""".split()
EVENTS = "party concert game lesson meal speech meeting wedding show match".split()
NAMES = "Anna David Maria James Sofia Peter Laura Daniel Emma Thomas Lucy Oliver".split()

# verbs: (base, past or "" for the regular past, polarity, object class)
# polarity: +1 positive, -1 negative, 0 neutral; object: p(erson/animal), t(hing), a(ny), "" intransitive
_V = """praise,,+,a admire,,+,a help,,+,p thank,,+,p love,,+,a enjoy,,+,t support,,+,a reward,,+,p
celebrate,,+,t welcome,,+,p encourage,,+,p protect,,+,a rescue,,+,p respect,,+,p trust,,+,p
appreciate,,+,a comfort,,+,p cherish,,+,a applaud,,+,p honor,,+,p
insult,,-,p hate,,-,a ruin,,-,t blame,,-,p criticize,,-,a attack,,-,a betray,,-,p ignore,,-,a
destroy,,-,t damage,,-,t mock,,-,p threaten,,-,p annoy,,-,p cheat,,-,p neglect,,-,a spoil,,-,t
steal,stole,-,t break,broke,-,t hurt,hurt,-,p waste,,-,t reject,,-,a abandon,,-,a scold,,-,p
see,saw,0,a visit,,0,a meet,met,0,p carry,,0,t find,found,0,a watch,,0,a read,read,0,t write,wrote,0,t
buy,bought,0,t sell,sold,0,t bring,brought,0,a take,took,0,a open,,0,t close,,0,t call,,0,p
follow,,0,a paint,,0,t cook,,0,t move,,0,t hold,held,0,t describe,,0,a notice,,0,a remember,,0,a
check,,0,t order,,0,t build,built,0,t draw,drew,0,t choose,chose,0,a leave,left,0,a keep,kept,0,t
show,,0,t wash,,0,t push,,0,t fix,,0,t teach,taught,0,p ask,,0,p
smile,,+, laugh,,+, succeed,,+, cheer,,+, thrive,,+, shine,shone,+,
complain,,-, cry,,-, fail,,-, suffer,,-, struggle,,-, panic,panicked,-, collapse,,-, quit,quit,-,
arrive,,0, sleep,slept,0, wait,,0, sit,sat,0, walk,,0, run,ran,0, swim,swam,0, travel,traveled,0,
talk,,0, work,,0, stay,,0, return,,0,"""
VERBS = [tuple(v.split(",")) for v in _V.split()]

# evaluative adjectives for any noun, and those only for people (and animals)
POS_ADJ = "brilliant wonderful excellent lovely charming delightful beautiful superb pleasant marvelous amazing".split()
POS_ADJ_P = "kind generous brave clever friendly gentle talented cheerful helpful graceful polite".split()
NEG_ADJ = "awful terrible horrible boring nasty dreadful annoying miserable dull ugly".split()
NEG_ADJ_P = "cruel rude lazy dishonest selfish careless stupid greedy arrogant hostile grumpy foolish".split()
NEUTRAL_ADJ_P = "young old tall short local quiet busy foreign senior new".split()
NEUTRAL_ADJ_T = "old new small big red green heavy empty wooden long large blue".split()
NEUTRAL_PRED = "old new small big quiet large".split()
POS_ADV = "warmly kindly gladly gracefully generously patiently cheerfully".split()
NEG_ADV = "rudely badly carelessly angrily lazily cruelly clumsily".split()
NEUTRAL_ADV = "quickly slowly quietly again early late".split()
TIME_ADV = {"Past": ["yesterday", "once"], "Pres": ["now", "usually", "often"], "Fut": ["tomorrow", "soon"]}
PLACE_PREPS = "in near behind at outside inside beside".split()
EVENT_PREPS = "after before during".split()
NP_PREPS = {"p": ["with", "from"], "t": ["on", "near", "from", "behind", "under"]}

PRONOUNS = {  # form: (Number or None, Person); "you" is unmarked for Number, as in UD EWT
    "I": ("Sing", "1"), "you": (None, "2"), "he": ("Sing", "3"), "she": ("Sing", "3"),
    "it": ("Sing", "3"), "we": ("Plur", "1"), "they": ("Plur", "3"),
}
OBJ_PRONOUNS = {"me": ("Sing", "1"), "you": (None, "2"), "him": ("Sing", "3"), "her": ("Sing", "3"),
                "us": ("Plur", "1"), "them": ("Plur", "3")}
POSSESSIVES = {"my": ("Sing", "1"), "our": ("Plur", "1"), "his": ("Sing", "3"), "her": ("Sing", "3"),
               "their": ("Plur", "3")}
DETERMINERS = {  # form: (UPOS, XPOS, FEATS), by the noun's number
    "Sing": {"the": ("DET", "DT", {"Definite": "Def", "PronType": "Art"}),
             "a": ("DET", "DT", {"Definite": "Ind", "PronType": "Art"}),
             "this": ("DET", "DT", {"Number": "Sing", "PronType": "Dem"}),
             "that": ("DET", "DT", {"Number": "Sing", "PronType": "Dem"}),
             "every": ("DET", "DT", {"PronType": "Tot"})},
    "Plur": {"the": ("DET", "DT", {"Definite": "Def", "PronType": "Art"}),
             "these": ("DET", "DT", {"Number": "Plur", "PronType": "Dem"}),
             "those": ("DET", "DT", {"Number": "Plur", "PronType": "Dem"}),
             "some": ("DET", "DT", {"PronType": "Ind"}),
             "many": ("ADJ", "JJ", {"Degree": "Pos"}),
             "several": ("ADJ", "JJ", {"Degree": "Pos"}),
             "two": ("NUM", "CD", {"NumForm": "Word", "NumType": "Card"}),
             "three": ("NUM", "CD", {"NumForm": "Word", "NumType": "Card"})},
}
DET_WEIGHTS = {"Sing": [8, 4, 2, 1, 1], "Plur": [8, 2, 2, 2, 1, 1, 1, 1]}
DET_DEPREL = {"DET": "det", "ADJ": "amod", "NUM": "nummod"}


def plural(noun: str) -> str:
    """Regular English plural (irregular ones are listed in the lexicon)."""
    if noun.endswith(("s", "sh", "ch", "x", "z")) or noun in {"potato", "tomato", "hero"}:
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def third_singular(verb: str) -> str:
    """Present tense, third person singular (-s form)."""
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def regular_past(verb: str) -> str:
    """Regular past tense (-ed form)."""
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


def _nouns(entries: list[str]) -> list[tuple[str, str]]:
    out = []
    for e in dict.fromkeys(entries):  # drop duplicates, keep order
        sing, _, plur = e.partition("/")
        out.append((sing, plur or plural(sing)))
    return out


NOUNS = {"p": _nouns(PERSONS) + _nouns(ANIMALS), "t": _nouns(THINGS)}
PLACE_NOUNS = _nouns(PLACES)
EVENT_NOUNS = _nouns(EVENTS)
VERB_TABLE = [
    {"base": b, "past": p or regular_past(b), "s": third_singular(b),
     "pol": {"+": 1, "-": -1, "0": 0}[pol], "obj": obj}
    for b, p, pol, obj in VERBS
]

# --------------------------------------------------------------------------------------------
# Sentence builder
# --------------------------------------------------------------------------------------------


class Sentence:
    """Tokens in surface order with lemma, UPOS, XPOS, FEATS, head (index or -1) and DEPREL."""

    def __init__(self) -> None:
        self.tokens: list[dict] = []

    def add(self, form: str, lemma: str, upos: str, xpos: str, feats: dict | None = None,
            deprel: str = "dep") -> int:
        self.tokens.append({"form": form, "lemma": lemma, "upos": upos, "xpos": xpos,
                            "feats": dict(feats or {}), "head": None, "deprel": deprel})
        return len(self.tokens) - 1

    def attach(self, dep: int, head: int, deprel: str | None = None) -> None:
        self.tokens[dep]["head"] = head
        if deprel is not None:
            self.tokens[dep]["deprel"] = deprel


def finite_feats(tense: str, number: str | None, person: str) -> dict:
    feats = {"Mood": "Ind", "Person": person, "Tense": tense, "VerbForm": "Fin"}
    if number is not None:
        feats["Number"] = number
    return feats


def adjective(rng: random.Random, prior: int, cls: str) -> str:
    """An adjective of the given prior polarity (+1, -1) or a neutral one fitting the noun class."""
    if prior:
        pool = POS_ADJ + POS_ADJ_P if prior > 0 else NEG_ADJ + NEG_ADJ_P
        return rng.choice(pool if cls == "p" else pool[:len(POS_ADJ if prior > 0 else NEG_ADJ)])
    return rng.choice(NEUTRAL_ADJ_P if cls == "p" else NEUTRAL_ADJ_T)


def predicate_adjective(rng: random.Random, prior: int, cls: str) -> str:
    """A predicative adjective for a subject of class ``cls``: evaluative, or a neutral one."""
    return adjective(rng, prior, cls) if prior else rng.choice(NEUTRAL_PRED)


def pick_verb(rng: random.Random, prior: int, *, transitive: bool, obj: str | None = None) -> dict:
    """A verb with polarity ``prior`` that is (in)transitive and takes objects of class ``obj``."""
    pool = [v for v in VERB_TABLE if v["pol"] == prior and bool(v["obj"]) == transitive
            and (obj is None or v["obj"] in (obj, "a"))]
    return rng.choice(pool)


class Grammar:
    """Draws one sentence at a time; every random choice goes through ``self.rng``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    # noun phrases ------------------------------------------------------------------------------
    def noun_phrase(self, s: Sentence, *, cls: str, number: str, adj: int | None,
                    modifier: str | None = None, rel_prior: int = 0, nouns=None) -> int:
        """Emit [det] [adj] noun [modifier]; return the noun's index.

        ``adj`` is the adjective's prior polarity (None: no adjective); ``modifier`` is None,
        "pp" (a prepositional phrase) or "rel" (a relative clause whose verb has ``rel_prior``).
        """
        rng = self.rng
        sing, plur = rng.choice(nouns or NOUNS[cls])
        noun = sing if number == "Sing" else plur
        adj_form = adjective(rng, adj, cls) if adj is not None else None
        if rng.random() < 0.15:
            det_form = rng.choice(list(POSSESSIVES))
            pnum, pperson = POSSESSIVES[det_form]
            det = (det_form, det_form, "PRON", "PRP$",
                   {"Number": pnum, "Person": pperson, "Poss": "Yes", "PronType": "Prs"}, "nmod:poss")
        else:
            table = DETERMINERS[number]
            det_form = rng.choices(list(table), weights=DET_WEIGHTS[number])[0]
            upos, xpos, feats = table[det_form]
            lemma = det_form
            if det_form == "a" and (adj_form or noun)[0] in "aeiou":
                det_form = "an"
            det = (det_form, lemma, upos, xpos, feats, DET_DEPREL[upos])
        d = s.add(*det)
        a = s.add(adj_form, adj_form, "ADJ", "JJ", {"Degree": "Pos"}, "amod") if adj_form else None
        n = s.add(noun, sing, "NOUN", "NNS" if number == "Plur" else "NN", {"Number": number})
        s.attach(d, n)
        if a is not None:
            s.attach(a, n)
        if modifier == "pp":
            prep = rng.choice(NP_PREPS[cls])
            p = s.add(prep, prep, "ADP", "IN", None, "case")
            m = self.noun_phrase(s, cls=rng.choice("pt") if prep != "with" else "p",
                                 number=rng.choice(["Sing", "Plur"]), adj=None)
            s.attach(p, m)
            s.attach(m, n, "nmod")
        elif modifier == "rel":
            self.relative_clause(s, n, cls=cls, number=number, prior=rel_prior)
        return n

    def simple_np(self, s: Sentence, *, cls: str, adj: int | None = None) -> int:
        return self.noun_phrase(s, cls=cls, number=self.rng.choice(["Sing", "Plur"]), adj=adj)

    def relative_clause(self, s: Sentence, head: int, *, cls: str, number: str, prior: int) -> None:
        """``who/that`` + finite transitive verb (own tense) + object: an acl:relcl of ``head``."""
        rng = self.rng
        if cls == "p" and rng.random() < 0.7:
            rel = s.add("who", "who", "PRON", "WP", {"PronType": "Rel"}, "nsubj")
        else:
            rel = s.add("that", "that", "PRON", "WDT", {"PronType": "Rel"}, "nsubj")
        obj_cls = rng.choice("pt")
        verb = pick_verb(rng, prior, transitive=True, obj=obj_cls)
        v = self.verb_group(s, verb, tense=rng.choice(["Past", "Pres", "Fut"]), number=number,
                            person="3", negated=False)
        s.attach(rel, v)
        o = self.simple_np(s, cls=obj_cls)
        s.attach(o, v, "obj")
        s.attach(v, head, "acl:relcl")

    def subject(self, s: Sentence, *, animate: bool, adj: int | None, modifier: str | None,
                rel_prior: int, kind: str) -> tuple[int, str | None, str, str]:
        """Emit the subject; return (head index, Number, Person, noun class). ``kind``: pron, name or np."""
        rng = self.rng
        if kind == "pron":
            forms = [f for f in PRONOUNS if animate is False or f != "it"]
            form = rng.choice(forms)
            number, person = PRONOUNS[form]
            feats = {"Case": "Nom", "Person": person, "PronType": "Prs"}
            if number:
                feats["Number"] = number
            return s.add(form, form.lower(), "PRON", "PRP", feats, "nsubj"), number, person, "t" if form == "it" else "p"
        if kind == "name":
            form = rng.choice(NAMES)
            return s.add(form, form, "PROPN", "NNP", {"Number": "Sing"}, "nsubj"), "Sing", "3", "p"
        cls = "p" if animate or rng.random() < 0.4 else "t"
        number = rng.choice(["Sing", "Plur"])
        n = self.noun_phrase(s, cls=cls, number=number, adj=adj, modifier=modifier, rel_prior=rel_prior)
        s.tokens[n]["deprel"] = "nsubj"
        return n, number, "3", cls

    def obj(self, s: Sentence, *, cls: str, adj: int | None, modifier: str | None) -> int:
        rng = self.rng
        if cls == "p" and adj is None and modifier is None and rng.random() < 0.15:
            form = rng.choice(list(OBJ_PRONOUNS))
            number, person = OBJ_PRONOUNS[form]
            feats = {"Case": "Acc", "Person": person, "PronType": "Prs"}
            if number:
                feats["Number"] = number
            return s.add(form, form, "PRON", "PRP", feats, "obj")
        n = self.noun_phrase(s, cls=cls, number=rng.choice(["Sing", "Plur"]), adj=adj, modifier=modifier)
        s.tokens[n]["deprel"] = "obj"
        return n

    # verbs ---------------------------------------------------------------------------------------
    def verb_group(self, s: Sentence, verb: dict, *, tense: str, number: str | None, person: str,
                   negated: bool, manner: str | None = None) -> int:
        """Emit the (auxiliary +) (not +) (pre-verbal adverb +) verb of a declarative clause.

        Past/Pres without negation are synthetic (VBD, VBZ/VBP); Fut is ``will`` + VB; negation
        uses ``did/does/do not`` + VB or ``will not`` + VB. Returns the main verb's index.
        """
        aux = []
        periphrastic = tense == "Fut" or negated
        if tense == "Fut":
            aux.append(s.add("will", "will", "AUX", "MD", {"Tense": "Fut", "VerbForm": "Fin"}, "aux"))
        elif negated:
            aux.append(self.do_aux(s, tense, number, person))
        if negated:
            aux.append(s.add("not", "not", "PART", "RB", {"Polarity": "Neg"}, "advmod"))
        if manner:
            aux.append(s.add(manner, manner, "ADV", "RB", None, "advmod"))
        if periphrastic:
            v = s.add(verb["base"], verb["base"], "VERB", "VB", {"VerbForm": "Inf"})
        elif tense == "Past":
            v = s.add(verb["past"], verb["base"], "VERB", "VBD", finite_feats("Past", number, person))
        elif number == "Sing" and person == "3":
            v = s.add(verb["s"], verb["base"], "VERB", "VBZ", finite_feats("Pres", number, person))
        else:
            v = s.add(verb["base"], verb["base"], "VERB", "VBP", finite_feats("Pres", number, person))
        for a in aux:
            s.attach(a, v)
        return v

    def do_aux(self, s: Sentence, tense: str, number: str | None, person: str) -> int:
        if tense == "Past":
            form, xpos = "did", "VBD"
        elif number == "Sing" and person == "3":
            form, xpos = "does", "VBZ"
        else:
            form, xpos = "do", "VBP"
        return s.add(form, "do", "AUX", xpos, finite_feats(tense, number, person), "aux")

    def be_form(self, tense: str, number: str | None, person: str) -> tuple[str, str]:
        if tense == "Past":
            return ("was", "VBD") if number == "Sing" else ("were", "VBD")
        if person == "1" and number == "Sing":
            return "am", "VBP"
        if number == "Sing" and person == "3":
            return "is", "VBZ"
        return "are", "VBP"

    # sentence templates --------------------------------------------------------------------------
    def plan(self, slots: list[str], polarity: int, negated_slot: str | None) -> dict[str, int | None]:
        """Prior polarity of each slot: evaluative words carry the sentence polarity.

        Without negation, 1-3 randomly chosen slots get ``polarity`` and the rest are neutral
        (0). With negation only ``negated_slot`` is evaluative, with the opposite prior.
        """
        rng = self.rng
        if negated_slot is not None:
            return {slot: (-polarity if slot == negated_slot else 0) for slot in slots}
        k = min(len(slots), rng.choices([1, 2, 3], weights=[6, 3, 1])[0])
        chosen = set(rng.sample(slots, k))
        return {slot: (polarity if slot in chosen else 0) for slot in slots}

    def declarative(self, s: Sentence, polarity: int, tense: str, kind: str) -> None:
        rng = self.rng
        negated = rng.random() < 0.25
        subj_kind = rng.choices(["np", "pron", "name"], weights=[7, 2, 1])[0]
        subj_mod = rng.choices([None, "pp", "rel"], weights=[7, 1, 2])[0] if subj_kind == "np" else None
        time_adv = rng.random() < 0.2
        if kind == "cop":
            self.copular(s, polarity, tense, negated, subj_kind, subj_mod, time_adv)
            return
        transitive = kind == "trans"
        obj_cls = rng.choice("ptp") if transitive else None
        obj_mod = rng.choices([None, "pp"], weights=[5, 1])[0] if transitive else None
        manner_pos = rng.choices([None, "pre", "post"], weights=[4, 1, 2])[0]
        slots = ["verb"]
        if subj_kind == "np":
            slots.append("subj_adj")
        if subj_mod == "rel" and not negated:
            slots.append("rel_verb")
        if transitive:
            slots.append("obj_adj")
        if manner_pos:
            slots.append("manner")
        prior = self.plan(slots, polarity, "verb" if negated else None)
        if time_adv and rng.random() < 0.5:
            t = s.add(rng.choice(TIME_ADV[tense]), None, "ADV", "RB", None, "advmod")
            c = s.add(",", ",", "PUNCT", ",", None, "punct")
            fronted = [t, c]
            time_adv = False
        else:
            fronted = []
        subj_adj = prior.get("subj_adj")
        if subj_kind == "np" and subj_adj == 0 and rng.random() < 0.6:
            subj_adj = None
        subj, number, person, subj_cls = self.subject(s, animate=True, adj=subj_adj, modifier=subj_mod,
                                            rel_prior=prior.get("rel_verb", 0), kind=subj_kind)
        manner = self.manner_adverb(prior.get("manner"), pre=manner_pos == "pre") if manner_pos else None
        verb = pick_verb(rng, prior["verb"], transitive=transitive, obj=obj_cls)
        v = self.verb_group(s, verb, tense=tense, number=number, person=person, negated=negated,
                            manner=manner if manner_pos == "pre" else None)
        s.attach(subj, v)
        if transitive:
            obj_adj = prior["obj_adj"]
            if obj_adj == 0 and rng.random() < 0.6:
                obj_adj = None
            o = self.obj(s, cls=verb["obj"] if verb["obj"] != "a" else obj_cls, adj=obj_adj, modifier=obj_mod)
            s.attach(o, v)
        if manner_pos == "post":
            s.attach(s.add(manner, manner, "ADV", "RB", None, "advmod"), v)
        if not transitive and rng.random() < 0.5:
            self.adverbial_pp(s, v)
        if time_adv:
            s.attach(s.add(rng.choice(TIME_ADV[tense]), None, "ADV", "RB", None, "advmod"), v)
        for f in fronted:
            s.attach(f, v)
        s.attach(s.add(".", ".", "PUNCT", ".", None, "punct"), v)
        s.tokens[v]["deprel"] = "root"
        s.tokens[v]["head"] = -1

    def copular(self, s, polarity, tense, negated, subj_kind, subj_mod, time_adv) -> None:
        rng = self.rng
        slots = ["pred"] + (["subj_adj"] if subj_kind == "np" else []) + (
            ["rel_verb"] if subj_mod == "rel" and not negated else [])
        prior = self.plan(slots, polarity, "pred" if negated else None)
        subj_adj = prior.get("subj_adj")
        if subj_adj == 0 and rng.random() < 0.6:
            subj_adj = None
        if subj_mod == "rel":  # relative clauses need an animate head
            subj, number, person, subj_cls = self.subject(s, animate=True, adj=subj_adj, modifier="rel",
                                                rel_prior=prior.get("rel_verb", 0), kind="np")
        else:
            subj, number, person, subj_cls = self.subject(s, animate=False, adj=subj_adj, modifier=subj_mod,
                                                rel_prior=0, kind=subj_kind)
        deps = [subj]
        if tense == "Fut":
            deps.append(s.add("will", "will", "AUX", "MD", {"Tense": "Fut", "VerbForm": "Fin"}, "aux"))
            if negated:
                deps.append(s.add("not", "not", "PART", "RB", {"Polarity": "Neg"}, "advmod"))
            deps.append(s.add("be", "be", "AUX", "VB", {"VerbForm": "Inf"}, "cop"))
        else:
            form, xpos = self.be_form(tense, number, person)
            deps.append(s.add(form, "be", "AUX", xpos, finite_feats(tense, number, person), "cop"))
            if negated:
                deps.append(s.add("not", "not", "PART", "RB", {"Polarity": "Neg"}, "advmod"))
        if rng.random() < 0.25:
            deps.append(s.add(rng.choice(["very", "really", "quite"]), None, "ADV", "RB", None, "advmod"))
        pred = s.add(predicate_adjective(rng, prior["pred"], subj_cls), None, "ADJ", "JJ", {"Degree": "Pos"}, "root")
        for d in deps:
            s.attach(d, pred)
        if rng.random() < 0.3:
            self.adverbial_pp(s, pred)
        if time_adv:
            s.attach(s.add(rng.choice(TIME_ADV[tense]), None, "ADV", "RB", None, "advmod"), pred)
        s.attach(s.add(".", ".", "PUNCT", ".", None, "punct"), pred)
        s.tokens[pred]["head"] = -1

    def manner_adverb(self, prior: int | None, *, pre: bool = False) -> str:
        if prior is None or prior == 0:
            return self.rng.choice(NEUTRAL_ADV[:3] if pre else NEUTRAL_ADV)
        return self.rng.choice(POS_ADV if prior > 0 else NEG_ADV)

    def adverbial_pp(self, s: Sentence, head: int) -> None:
        rng = self.rng
        if rng.random() < 0.7:
            prep, nouns = rng.choice(PLACE_PREPS), PLACE_NOUNS
        else:
            prep, nouns = rng.choice(EVENT_PREPS), EVENT_NOUNS
        p = s.add(prep, prep, "ADP", "IN", None, "case")
        n = self.noun_phrase(s, cls="t", number=rng.choices(["Sing", "Plur"], weights=[3, 1])[0],
                             adj=None, nouns=nouns)
        s.attach(p, n)
        s.attach(n, head, "obl")

    def question(self, s: Sentence, polarity: int, tense: str, kind: str) -> None:
        rng = self.rng
        if kind == "q_cop":
            prior = self.plan(["pred", "subj_adj"], polarity, None)
            subj_adj = prior["subj_adj"] if prior["subj_adj"] or rng.random() < 0.4 else None
            if tense == "Fut":
                aux = s.add("will", "will", "AUX", "MD", {"Tense": "Fut", "VerbForm": "Fin"}, "aux")
                subj, number, person, subj_cls = self.subject(s, animate=False, adj=subj_adj, modifier=None,
                                                    rel_prior=0, kind="np")
                deps = [aux, subj, s.add("be", "be", "AUX", "VB", {"VerbForm": "Inf"}, "cop")]
            else:
                be = s.add("?be", "be", "AUX", "?", {}, "cop")  # form fixed once the subject is known
                subj, number, person, subj_cls = self.subject(s, animate=False, adj=subj_adj, modifier=None,
                                                    rel_prior=0, kind="np")
                form, xpos = self.be_form(tense, number, person)
                s.tokens[be].update(form=form, xpos=xpos, feats=finite_feats(tense, number, person))
                deps = [be, subj]
            pred = s.add(predicate_adjective(rng, prior["pred"], subj_cls), None, "ADJ", "JJ", {"Degree": "Pos"}, "root")
            for d in deps:
                s.attach(d, pred)
            root = pred
        elif kind == "q_who":  # who + finite verb + object ?
            prior = self.plan(["verb", "obj_adj"], polarity, None)
            who = s.add("who", "who", "PRON", "WP", {"PronType": "Int"}, "nsubj")
            obj_cls = rng.choice("pt")
            verb = pick_verb(rng, prior["verb"], transitive=True, obj=obj_cls)
            root = self.verb_group(s, verb, tense=tense, number="Sing", person="3", negated=False)
            s.attach(who, root)
            obj_adj = prior["obj_adj"] if prior["obj_adj"] or rng.random() < 0.4 else None
            s.attach(self.obj(s, cls=verb["obj"] if verb["obj"] != "a" else obj_cls, adj=obj_adj,
                              modifier=None), root)
        else:  # q_yn: aux + subject + verb + object ?   /  q_what: what + aux + subject + verb ?
            subj_kind = rng.choices(["np", "pron", "name"], weights=[6, 3, 1])[0]
            slots = ["verb"] + (["subj_adj"] if subj_kind == "np" else []) + (["obj_adj"] if kind == "q_yn" else [])
            prior = self.plan(slots, polarity, None)
            what = s.add("what", "what", "PRON", "WP", {"PronType": "Int"}, "obj") if kind == "q_what" else None
            aux = s.add("?aux", "?", "AUX", "?", {}, "aux")
            subj_adj = prior.get("subj_adj", 0) or (0 if rng.random() < 0.4 else None)
            subj, number, person, subj_cls = self.subject(s, animate=True, adj=subj_adj, modifier=None,
                                                rel_prior=0, kind=subj_kind)
            if tense == "Fut":
                s.tokens[aux].update(form="will", lemma="will", xpos="MD",
                                     feats={"Tense": "Fut", "VerbForm": "Fin"})
            else:
                tmp = Sentence()
                t = tmp.tokens[self.do_aux(tmp, tense, number, person)]
                s.tokens[aux].update(form=t["form"], lemma=t["lemma"], xpos=t["xpos"], feats=t["feats"])
            obj_cls = "t" if kind == "q_what" else rng.choice("pt")
            verb = pick_verb(rng, prior["verb"], transitive=True, obj=obj_cls)
            root = s.add(verb["base"], verb["base"], "VERB", "VB", {"VerbForm": "Inf"}, "root")
            for d in (aux, subj) + ((what,) if what is not None else ()):
                s.attach(d, root)
            if kind == "q_yn":
                obj_adj = prior["obj_adj"] if prior["obj_adj"] or rng.random() < 0.4 else None
                s.attach(self.obj(s, cls=verb["obj"] if verb["obj"] != "a" else obj_cls, adj=obj_adj,
                                  modifier=None), root)
                if rng.random() < 0.3:
                    self.adverbial_pp(s, root)
        s.attach(s.add("?", "?", "PUNCT", ".", None, "punct"), root)
        s.tokens[root]["deprel"] = "root"
        s.tokens[root]["head"] = -1

    TEMPLATES = {  # kind: (sentence type, weight)
        "trans": ("declarative", 40), "intrans": ("declarative", 12), "cop": ("declarative", 14),
        "q_yn": ("question", 16), "q_cop": ("question", 7), "q_who": ("question", 6), "q_what": ("question", 5),
    }

    def sentence(self) -> tuple[Sentence, dict[str, str]]:
        rng = self.rng
        kinds = list(self.TEMPLATES)
        kind = rng.choices(kinds, weights=[self.TEMPLATES[k][1] for k in kinds])[0]
        polarity = rng.choice([1, -1])
        tense = rng.choice(["Past", "Pres", "Fut"])
        s = Sentence()
        stype = self.TEMPLATES[kind][0]
        if stype == "declarative":
            self.declarative(s, polarity, tense, kind)
        else:
            self.question(s, polarity, tense, kind)
        labels = {"polarity": "positive" if polarity > 0 else "negative", "tense": tense, "type": stype}
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
        head = t["head"] + 1  # -1 (root) -> 0
        lemma = t["lemma"] or t["form"]
        lines.append("\t".join([str(i), t["form"], lemma, t["upos"], t["xpos"], _feats(t["feats"]),
                                str(head), t["deprel"], "_", "_"]))
    return "\n".join(lines) + "\n\n"


def generate(n_sentences: int = N_SENTENCES, seed: int = SEED) -> str:
    """The corpus as CoNLL-U text: ``n_sentences`` distinct sentences of 6-14 tokens."""
    grammar = Grammar(seed)
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
    """Markdown tables of label counts (for data/README.md)."""
    counts: dict[str, Counter] = {k: Counter() for k in
                                  ["upos", "xpos", "Tense", "Number", "Person", "sent_polarity", "sent_tense", "sent_type"]}
    n_sent = n_tok = 0
    for line in text.split("\n"):
        if line.startswith("# sent_") and not line.startswith("# sent_id"):
            key, value = line[2:].split(" = ")
            counts[key][value] += 1
        elif line and not line.startswith("#"):
            cols = line.split("\t")
            n_tok += 1
            n_sent += cols[0] == "1"
            counts["upos"][cols[3]] += 1
            counts["xpos"][cols[4]] += 1
            feats = dict(f.split("=") for f in cols[5].split("|")) if cols[5] != "_" else {}
            for k in ("Tense", "Number", "Person"):
                counts[k][feats.get(k, "_")] += 1
    out = [f"{n_sent} sentences, {n_tok} tokens\n"]
    for k, c in counts.items():
        out.append(f"- **{k}**: " + ", ".join(f"{v} {n}" for v, n in sorted(c.items(), key=lambda x: -x[1])))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--n-sentences", type=int, default=N_SENTENCES)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--stats", action="store_true", help="print label counts instead of writing")
    args = parser.parse_args(argv)
    text = generate(args.n_sentences, args.seed)
    if args.stats:
        print(stats(text))
        return
    args.out.write_bytes(text.encode("utf-8"))


if __name__ == "__main__":
    main()
