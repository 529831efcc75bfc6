"""Phrases and clauses of the embedded corpus's grammar (used by ``make_corpus.py``).

Every word is placed with its UPOS, PTB XPOS, FEATS and dependency head, so the labels are known by
construction. Conventions: ``data/README.md``. Standard library only.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_lexicon as lex  # noqa: E402  (the sibling module, also when loaded from a path)

NOUNS = {"p": lex.nouns(lex.PERSONS) + lex.nouns(lex.ANIMALS), "t": lex.nouns(lex.THINGS)}
PLACE_NOUNS = lex.nouns(lex.PLACES)
EVENT_NOUNS = lex.nouns(lex.EVENTS)
AMBIGUOUS_PERSONS = lex.nouns(lex.AMBIGUOUS_PERSONS)
WILL_FEATS = {"VerbForm": "Fin"}  # as in UD EWT: the modal has no Tense (the future is sent_tense's business)
VERB_TABLE = lex.verb_table()
VERB_BY_BASE = {v["base"]: v for v in VERB_TABLE}
NOUN_VERB_NOUNS = list(dict.fromkeys((v["base"], v["s"]) for v in VERB_TABLE if v["noun"]))
SPEECH = lex.speech_verbs()
FUTURE_KINDS = ("will", "going", "present")
# main-verb have/do are frequent (and share forms with the auxiliaries); the noun/verb words of issue 16 too
VERB_WEIGHTS = {"have": 15, "do": 6} | dict.fromkeys(["watch", "book", "water", "play", "run", "walk"], 6)


class Sentence:
    """Tokens in surface order with lemma, UPOS, XPOS, FEATS, head (index or -1) and DEPREL."""

    def __init__(self) -> None:
        self.tokens: list[dict] = []
        self.relative = False  # has a relative clause

    def add(self, form: str, lemma: str | None, upos: str, xpos: str, feats: dict | None = None,
            deprel: str = "dep", head: int | None = None) -> int:
        lemma = lemma or (form if upos == "PROPN" or form == "I" else form.lower())
        self.tokens.append({"form": form, "lemma": lemma, "upos": upos, "xpos": xpos,
                            "feats": dict(feats or {}), "head": head, "deprel": deprel})
        return len(self.tokens) - 1

    def attach(self, dep: int, head: int, deprel: str | None = None) -> None:
        self.tokens[dep]["head"] = head
        if deprel is not None:
            self.tokens[dep]["deprel"] = deprel


def finite_feats(tense: str, number: str | None, person: str) -> dict:
    """FEATS of a finite verb or auxiliary (UD EWT); ``number`` None for ``you``."""
    feats = {"Mood": "Ind", "Person": person, "Tense": tense, "VerbForm": "Fin"}
    if number is not None:
        feats["Number"] = number
    return feats


def agree(number: str | None, person: str) -> str:
    """The present-tense agreement class: 3sg (-s forms), 1sg (am) or other."""
    if number == "Sing" and person == "3":
        return "3sg"
    return "1sg" if number == "Sing" and person == "1" else "other"


BE = {("Past", "3sg"): ("was", "VBD"), ("Past", "1sg"): ("was", "VBD"), ("Past", "other"): ("were", "VBD"),
      ("Pres", "3sg"): ("is", "VBZ"), ("Pres", "1sg"): ("am", "VBP"), ("Pres", "other"): ("are", "VBP")}
HAVE = {("Past", a): ("had", "VBD") for a in ("3sg", "1sg", "other")} | {
    ("Pres", "3sg"): ("has", "VBZ"), ("Pres", "1sg"): ("have", "VBP"), ("Pres", "other"): ("have", "VBP")}
DO = {("Past", a): ("did", "VBD") for a in ("3sg", "1sg", "other")} | {
    ("Pres", "3sg"): ("does", "VBZ"), ("Pres", "1sg"): ("do", "VBP"), ("Pres", "other"): ("do", "VBP")}
AUX_TABLES = {"be": BE, "have": HAVE, "do": DO}


def adjective(rng: random.Random, prior: int, cls: str) -> str:
    """An attributive adjective of prior polarity +1/-1, or a neutral one fitting the noun class."""
    if prior:
        things, persons = (lex.POS_ADJ, lex.POS_ADJ_P) if prior > 0 else (lex.NEG_ADJ, lex.NEG_ADJ_P)
        return rng.choice(things + persons if cls == "p" else things)
    if cls == "t" and rng.random() < 0.15:
        return rng.choice(lex.ADJ_ADV)  # a fast car (and "drove fast")
    return rng.choice(lex.NEUTRAL_ADJ_P if cls == "p" else lex.NEUTRAL_ADJ_T)


def pick_verb(rng: random.Random, prior: int, *, transitive: bool, obj: str | None = None) -> dict:
    """A verb with polarity ``prior`` that is (in)transitive and takes objects of class ``obj``."""
    pool = [v for v in VERB_TABLE if v["pol"] == prior and bool(v["obj"]) == transitive
            and (obj is None or v["obj"] in (obj, "a"))]
    return rng.choices(pool, weights=[VERB_WEIGHTS.get(v["base"], 2 if v["noun"] else 1) for v in pool])[0]


def plan(rng: random.Random, slots: list[str], polarity: int, negated_slot: str | None) -> dict[str, int]:
    """Prior polarity of each slot: evaluative words carry the sentence polarity.

    Polarity 0 (a neutral clause) makes every slot neutral. Otherwise 1-3 randomly chosen slots
    get ``polarity`` and the rest are neutral; with negation only ``negated_slot`` (the negated
    verb or predicate) is evaluative, with the opposite prior, so that ``not`` flips it.
    """
    if not polarity:
        return dict.fromkeys(slots, 0)
    if negated_slot is not None:
        return {slot: (-polarity if slot == negated_slot else 0) for slot in slots}
    k = min(len(slots), rng.choices([1, 2, 3], weights=[6, 3, 1])[0])
    chosen = set(rng.sample(slots, k))
    return {slot: (polarity if slot in chosen else 0) for slot in slots}


def other(number: str) -> str:
    """The other grammatical number (for attractors)."""
    return "Plur" if number == "Sing" else "Sing"


class Grammar:
    """Draws one sentence at a time; every random choice goes through ``self.rng``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    # noun phrases ------------------------------------------------------------------------------
    def noun_phrase(self, s: Sentence, *, cls: str, number: str, adj: int | None = None,
                    modifier: str | None = None, rel_prior: int = 0, nouns=None) -> int:
        """Emit [det] [adj] noun [PP | relative clause]; return the noun's index.

        ``adj`` is the adjective's prior polarity (None: no adjective). A PP or relative clause
        usually holds a noun of the other number (an agreement attractor).
        """
        rng = self.rng
        r = rng.random() if nouns is None and cls == "t" else 1.0
        if r < 0.6:
            sing, plur = rng.choice(NOUN_VERB_NOUNS)  # watch, book, plays, runs ...
        elif r < 0.73 and number == "Sing":
            sing = plur = rng.choice(lex.ING_NOUNS)  # the painting, their cooking
        elif nouns is None and cls == "p" and rng.random() < 0.12:
            sing, plur = rng.choice(AMBIGUOUS_PERSONS)  # the cooks, a patient, the judges
        else:
            sing, plur = rng.choice(nouns or NOUNS[cls])
        noun = sing if number == "Sing" else plur
        adj_form = adjective(rng, adj, cls) if adj is not None else None
        det = None
        if rng.random() < 0.08:
            form = rng.choice(list(lex.POSSESSIVES))
            pnum, person = lex.POSSESSIVES[form]
            feats = {"Person": person, "Poss": "Yes", "PronType": "Prs"} | ({"Number": pnum} if pnum else {})
            det = s.add(form, form, "PRON", "PRP$", feats, "nmod:poss")
        else:
            table = lex.DETERMINERS[number]
            form = rng.choices(list(table), weights=[v[3] for v in table.values()])[0]
            if form == "#":  # a number in digits
                form = str(rng.choice([rng.randint(4, 30), rng.randint(31, 999)]))
                det = s.add(form, None, "NUM", "CD", {"NumType": "Card"}, "nummod")
            elif form:
                upos, xpos, feats, _ = table[form]
                lemma = form
                if form == "a" and (adj_form or noun)[0] in "aeiou":
                    form = "an"
                det = s.add(form, lemma, upos, xpos, feats, lex.DET_DEPREL[upos])
        a = s.add(adj_form, None, "ADJ", "JJ", {"Degree": "Pos"}, "amod") if adj_form else None
        n = s.add(noun, sing, "NOUN", "NNS" if number == "Plur" else "NN", {"Number": number})
        for d in (det, a):
            if d is not None:
                s.attach(d, n)
        if modifier == "pp":
            prep = rng.choice(lex.NP_PREPS[cls])
            p = s.add(prep, None, "ADP", "IN", None, "case")
            inner = other(number) if rng.random() < 0.7 else number
            m = self.noun_phrase(s, cls="p" if prep == "with" else rng.choice("pt"), number=inner)
            s.attach(p, m)
            s.attach(m, n, "nmod")
        elif modifier == "rel":
            self.relative_clause(s, n, cls=cls, number=number, prior=rel_prior)
        return n

    def relative_clause(self, s: Sentence, head: int, *, cls: str, number: str, prior: int) -> None:
        """A subject relative (``who/that`` + verb + object) or an object relative (``that`` + subject + verb)."""
        rng = self.rng
        s.relative = True
        tense = rng.choice(["Past", "Pres", "Fut"])
        if rng.random() < 0.6:
            who = cls == "p" and rng.random() < 0.6
            rel = s.add("who" if who else "that", None, "PRON", "WP" if who else "WDT", {"PronType": "Rel"}, "nsubj")
            obj_cls = rng.choice("pt")
            verb = pick_verb(rng, prior, transitive=True, obj=obj_cls)
            root, v = self.verb_group(s, verb, tense=tense, number=number, person="3")
            s.attach(rel, root)
            inner = other(number) if rng.random() < 0.6 else number
            o = self.noun_phrase(s, cls=verb["obj"] if verb["obj"] != "a" else obj_cls, number=inner)
            s.attach(o, v, "obj")
        else:
            rel = s.add("that", None, "PRON", "WDT", {"PronType": "Rel"}, "obj")
            inner = other(number) if rng.random() < 0.6 else number
            subj = self.noun_phrase(s, cls="p", number=inner)
            verb = pick_verb(rng, prior, transitive=True, obj=cls)
            root, v = self.verb_group(s, verb, tense=tense, number=inner, person="3")
            s.attach(rel, v)
            s.attach(subj, root, "nsubj")
        s.attach(root, head, "acl:relcl")

    def subject(self, s: Sentence, *, kind: str, cls: str, adj: int | None = None, modifier: str | None = None,
                rel_prior: int = 0, you: bool = False) -> tuple[int, str | None, str, str]:
        """Emit the subject; return (head index, Number, Person, noun class). ``kind``: pron, name, dem or np."""
        rng = self.rng
        if kind == "pron":
            forms = [f for f in lex.PRONOUNS if (cls == "t") == (f == "it") and (you or f != "you")]
            form = rng.choice(forms)
            number, person = lex.PRONOUNS[form]
            feats = {"Case": "Nom", "Person": person, "PronType": "Prs"} | ({"Number": number} if number else {})
            return s.add(form, None, "PRON", "PRP", feats, "nsubj"), number, person, cls
        if kind == "name":  # first name, sometimes with a surname (flat)
            name = s.add(rng.choice(lex.NAMES), None, "PROPN", "NNP", {"Number": "Sing"}, "nsubj")
            if rng.random() < 0.4:
                s.add(rng.choice(lex.SURNAMES), None, "PROPN", "NNP", {"Number": "Sing"}, "flat", head=name)
            return name, "Sing", "3", "p"
        if kind == "dem":
            number = rng.choice(["Sing", "Plur"])
            form = rng.choice(lex.DEMONSTRATIVES[number])
            return s.add(form, None, "PRON", "DT", {"Number": number, **lex.DEM}, "nsubj"), number, "3", "t"
        number = rng.choice(["Sing", "Plur"])
        n = self.noun_phrase(s, cls=cls, number=number, adj=adj, modifier=modifier, rel_prior=rel_prior)
        s.tokens[n]["deprel"] = "nsubj"
        return n, number, "3", cls

    def obj(self, s: Sentence, *, cls: str, adj: int | None, modifier: str | None = None) -> int:
        rng = self.rng
        r = rng.random()
        if adj is None and modifier is None and r < 0.3:
            if cls == "p" and r < 0.1:  # a name
                name = s.add(rng.choice(lex.NAMES), None, "PROPN", "NNP", {"Number": "Sing"}, "obj")
                if rng.random() < 0.4:
                    s.add(rng.choice(lex.SURNAMES), None, "PROPN", "NNP", {"Number": "Sing"}, "flat", head=name)
                return name
            if cls == "p" and r < 0.24:
                form = rng.choice(list(lex.OBJ_PRONOUNS))
                number, person = lex.OBJ_PRONOUNS[form]
                feats = {"Case": "Acc", "Person": person, "PronType": "Prs"} | ({"Number": number} if number else {})
                return s.add(form, None, "PRON", "PRP", feats, "obj")
            if cls == "t" and r < 0.2:
                number = rng.choice(["Sing", "Plur"])
                form = rng.choice(lex.DEMONSTRATIVES[number])
                return s.add(form, None, "PRON", "DT", {"Number": number, **lex.DEM}, "obj")
        n = self.noun_phrase(s, cls=cls, number=rng.choice(["Sing", "Plur"]), adj=adj, modifier=modifier)
        s.tokens[n]["deprel"] = "obj"
        return n

    # verbs ---------------------------------------------------------------------------------------
    def verb_group(self, s: Sentence, verb: dict, *, tense: str, number: str | None, person: str,
                   negated: bool = False, aspect: str = "simple", fut: str = "will", passive: bool = False,
                   manner: str | None = None) -> tuple[int, int]:
        """Emit auxiliaries, ``not``, a pre-verbal adverb and the verb; return (clause head, main verb).

        ``tense`` is the clause's time (Past/Pres/Fut); Fut is expressed by ``fut``: ``will`` + VB,
        ``going`` (``is going to`` + VB, headed by ``going``) or ``present`` (present morphology; the
        caller adds a future time adverbial). Words carry their own morphological Tense (UD EWT):
        finite forms Past/Pres, VBG Pres, VBN Past; ``will`` none.
        """
        a = agree(number, person)
        deps: list[int] = []

        def finite(lemma: str, t: str, deprel: str = "aux") -> int:
            form, xpos = AUX_TABLES[lemma][(t, a)]
            return s.add(form, lemma, "AUX", xpos, finite_feats(t, number, person), deprel)

        def neg() -> None:
            if negated:
                deps.append(s.add("not", None, "PART", "RB", {"Polarity": "Neg"}, "advmod"))

        going = None
        if tense == "Fut" and fut == "going":
            deps.append(finite("be", "Pres"))
            neg()
            going = s.add("going", "go", "VERB", "VBG", {"Tense": "Pres", "VerbForm": "Part"}, "root")
            for d in deps:
                s.attach(d, going)
            deps = [s.add("to", None, "PART", "TO", None, "mark")]
            if passive:
                deps.append(s.add("be", None, "AUX", "VB", {"VerbForm": "Inf"}, "aux:pass"))
            form = "pp" if passive else "inf"
        elif tense == "Fut" and fut == "will":
            deps.append(s.add("will", None, "AUX", "MD", WILL_FEATS, "aux"))
            neg()
            if passive or aspect == "prog":
                deps.append(s.add("be", None, "AUX", "VB", {"VerbForm": "Inf"}, "aux:pass" if passive else "aux"))
            form = "pp" if passive else "ing" if aspect == "prog" else "inf"
        else:
            t = "Pres" if tense == "Fut" else tense
            if passive or aspect == "prog":
                deps.append(finite("be", t, "aux:pass" if passive else "aux"))
                form = "pp" if passive else "ing"
            elif aspect == "perf":
                deps.append(finite("have", t))
                form = "pp"
            elif negated:
                deps.append(finite("do", t))
                form = "inf"
            else:
                form = t
            neg()
        if manner:
            deps.append(s.add(manner, None, "ADV", "RB", None, "advmod"))
        if form == "inf":
            v = s.add(verb["base"], verb["base"], "VERB", "VB", {"VerbForm": "Inf"})
        elif form == "ing":
            v = s.add(verb["ing"], verb["base"], "VERB", "VBG", {"Tense": "Pres", "VerbForm": "Part"})
        elif form == "pp":
            feats = {"Tense": "Past", "VerbForm": "Part"} | ({"Voice": "Pass"} if passive else {})
            v = s.add(verb["pp"], verb["base"], "VERB", "VBN", feats)
        elif form == "Past":
            v = s.add(verb["past"], verb["base"], "VERB", "VBD", finite_feats("Past", number, person))
        elif a == "3sg":
            v = s.add(verb["s"], verb["base"], "VERB", "VBZ", finite_feats("Pres", number, person))
        else:
            v = s.add(verb["base"], verb["base"], "VERB", "VBP", finite_feats("Pres", number, person))
        for d in deps:
            s.attach(d, v)
        if going is not None:
            s.attach(v, going, "xcomp")
            return going, v
        return v, v

    # clauses -------------------------------------------------------------------------------------
    def time_phrase(self, s: Sentence, tense: str, head: int | None) -> list[int]:
        """Emit a time adverbial of ``tense``; return its phrase heads (attached to ``head`` when given)."""
        rng = self.rng
        if tense == "Past" and rng.random() < 0.15:
            year = str(rng.randint(1950, 2019))
            tokens = [("in", "ADP", "IN", {}, "case", 1), (year, "NUM", "CD", {"NumType": "Card"}, "obl", None)]
        else:
            phrase = rng.choice(lex.TIME_ADV[tense])
            tokens = lex.TIME_PHRASES.get(phrase, [(phrase, "ADV", "RB", {}, "advmod", None)])
        start = len(s.tokens)
        heads = []
        for i, (form, upos, xpos, feats, deprel, off) in enumerate(tokens):
            s.add(form, None, upos, xpos, feats, deprel)
            if off is not None:
                s.attach(start + i, start + i + off)
            else:
                heads.append(start + i)
                if head is not None:
                    s.attach(start + i, head)
        return heads

    def adverbial_pp(self, s: Sentence, head: int) -> None:
        rng = self.rng
        r = rng.random()
        prep = rng.choice(["in", "from", "to", "near"] if r < 0.2 else lex.PLACE_PREPS if r < 0.75 else lex.EVENT_PREPS)
        p = s.add(prep, None, "ADP", "IN", None, "case")
        if r < 0.2:
            n = s.add(rng.choice(lex.CITIES), None, "PROPN", "NNP", {"Number": "Sing"})
        else:
            n = self.noun_phrase(s, cls="t", number=rng.choices(["Sing", "Plur"], weights=[3, 1])[0],
                                 nouns=PLACE_NOUNS if r < 0.75 else EVENT_NOUNS)
        s.attach(p, n)
        s.attach(n, head, "obl")

    def manner_adverb(self, prior: int) -> str:
        if prior:
            return self.rng.choice(lex.POS_ADV if prior > 0 else lex.NEG_ADV)
        return self.rng.choice(lex.NEUTRAL_ADV)

    def tense_shape(self, tense: str, kind: str) -> tuple[str, str]:
        """(aspect, future construction) of a clause."""
        rng = self.rng
        aspect = rng.choices(["simple", "prog", "perf"], weights=[12, 5, 4])[0]
        fut = rng.choices(FUTURE_KINDS, weights=[9, 6, 5])[0] if tense == "Fut" else "will"
        if kind in ("pass", "cop") or (tense == "Fut" and fut != "will"):
            aspect = "simple" if fut != "present" or kind == "pass" else rng.choice(["simple", "prog"])
        if kind == "pass" and fut == "present":
            fut = "will"
        if kind == "cop" and fut == "going":
            fut = "will"
        return aspect, fut

    def core(self, s: Sentence, kind: str, polarity: int, tense: str, *, negatable: bool = True,
             you: bool = False, front_time: bool = True) -> tuple[int, str | None]:
        """A declarative clause of ``kind`` (trans, intrans, cop, pass, phrasal); return (head, subject Number).

        ``polarity`` 0 gives a neutral clause (no evaluative word, no negation).
        """
        rng = self.rng
        aspect, fut = self.tense_shape(tense, kind)
        negated = bool(polarity) and negatable and kind != "phrasal" and rng.random() < 0.2
        time = fut == "present" and tense == "Fut" or rng.random() < 0.2
        fronted = time and front_time and rng.random() < 0.4
        subj_kind = rng.choices(["np", "pron", "name", "dem"], weights=[7, 2, 2, 1 if kind == "cop" else 0])[0]
        subj_mod = rng.choices([None, "pp", "rel"], weights=[4, 2, 4])[0] if subj_kind == "np" else None
        main_slot = "pred" if kind == "cop" else "verb"
        slots = [main_slot] if kind != "phrasal" else ["obj_adj"]
        slots += ["subj_adj"] * (subj_kind == "np") + ["rel_verb"] * (subj_mod == "rel" and not negated)
        slots += ["obj_adj"] * (kind == "trans") + ["manner"] * (kind in ("trans", "intrans") and rng.random() < 0.35)
        prior = plan(rng, slots, polarity, main_slot if negated else None)
        heads = self.time_phrase(s, tense, None) + [s.add(",", None, "PUNCT", ",", None, "punct")] if fronted else []
        subj_adj = prior.get("subj_adj")
        if subj_adj == 0 and rng.random() < 0.6:
            subj_adj = None
        cls = "p" if kind in ("trans", "intrans") or subj_mod == "rel" or rng.random() < 0.4 else "t"
        subj, number, person, cls = self.subject(s, kind=subj_kind, cls=cls, adj=subj_adj, modifier=subj_mod,
                                                 rel_prior=prior.get("rel_verb", 0), you=you)
        if kind == "cop":
            root = self.copula(s, prior["pred"], cls, tense=tense, fut=fut, number=number, person=person,
                               negated=negated)
            v = root
        else:
            manner = self.manner_adverb(prior["manner"]) if "manner" in prior else None
            pre = manner and aspect == "simple" and manner.endswith("ly") and rng.random() < 0.4
            obj_cls = rng.choice("ptp")
            if kind == "phrasal":
                base, particle = rng.choice(lex.PHRASAL).split(",")
                verb = VERB_BY_BASE[base]
            elif kind == "pass":
                verb = pick_verb(rng, prior["verb"], transitive=True, obj=cls)
            else:
                trans = kind == "trans"
                verb = pick_verb(rng, prior["verb"], transitive=trans, obj=obj_cls if trans else None)
            root, v = self.verb_group(s, verb, tense=tense, number=number, person=person, negated=negated,
                                      aspect=aspect, fut=fut, passive=kind == "pass", manner=manner if pre else None)
            if kind in ("trans", "phrasal"):
                obj_adj = prior.get("obj_adj")
                if obj_adj == 0 and rng.random() < 0.6:
                    obj_adj = None
                ocls = "t" if kind == "phrasal" else verb["obj"] if verb["obj"] != "a" else obj_cls
                late = kind == "phrasal" and rng.random() < 0.4
                modifier = "rel" if rng.random() < 0.2 else "pp" if rng.random() < 0.12 else None
                late = late and modifier is None  # "picked the book up", not "picked the book that ... up"
                if kind == "phrasal" and not late:
                    s.attach(s.add(particle, None, "ADP", "RP", None, "compound:prt"), v)
                s.attach(self.obj(s, cls=ocls, adj=obj_adj, modifier=modifier), v)
                if late:
                    s.attach(s.add(particle, None, "ADP", "RP", None, "compound:prt"), v)
            if kind == "trans" and verb["base"] in lex.GIVING_VERBS and rng.random() < 0.6:  # to + recipient
                to = s.add("to", None, "ADP", "IN", None, "case")
                recipient = self.noun_phrase(s, cls="p", number=rng.choice(["Sing", "Plur"]))
                s.attach(to, recipient)
                s.attach(recipient, v, "obl")
            if kind == "pass" and rng.random() < 0.5:
                by = s.add("by", None, "ADP", "IN", None, "case")
                agent = self.noun_phrase(s, cls="p", number=rng.choice(["Sing", "Plur"]))
                s.attach(by, agent)
                s.attach(agent, v, "obl")
            if kind == "intrans" and rng.random() < 0.3:
                s.attach(s.add(rng.choice(lex.PARTICLE_ADVERBS + ["there"] * 3), None, "ADV", "RB", None, "advmod"), v)
            if manner and not pre:
                s.attach(s.add(manner, None, "ADV", "RB", None, "advmod"), v)
            if kind != "trans" and rng.random() < 0.4:
                self.adverbial_pp(s, v)
        s.attach(subj, root, "nsubj:pass" if kind == "pass" else "nsubj")
        if time and not fronted:
            heads += self.time_phrase(s, tense, None)
        for h in heads:
            s.attach(h, root)
        return root, number

    def copula(self, s: Sentence, prior: int, cls: str, *, tense: str, fut: str, number: str | None,
               person: str, negated: bool) -> int:
        """``be`` (``will be``) [not] [intensifier] adjective; return the adjective (the clause head)."""
        rng = self.rng
        deps = []
        if tense == "Fut" and fut == "will":
            deps.append(s.add("will", None, "AUX", "MD", WILL_FEATS, "aux"))
            if negated:
                deps.append(s.add("not", None, "PART", "RB", {"Polarity": "Neg"}, "advmod"))
            deps.append(s.add("be", None, "AUX", "VB", {"VerbForm": "Inf"}, "cop"))
        else:
            t = "Pres" if tense == "Fut" else tense
            form, xpos = BE[(t, agree(number, person))]
            deps.append(s.add(form, "be", "AUX", xpos, finite_feats(t, number, person), "cop"))
            if negated:
                deps.append(s.add("not", None, "PART", "RB", {"Polarity": "Neg"}, "advmod"))
        if rng.random() < 0.25:
            deps.append(s.add(rng.choice(lex.INTENSIFIERS), None, "ADV", "RB", None, "advmod"))
        ed = cls == "p" and rng.random() < 0.35
        if prior:
            word = rng.choice(lex.POS_ED_ADJ if prior > 0 else lex.NEG_ED_ADJ) if ed else adjective(rng, prior, cls)
        else:
            word = rng.choice(lex.NEUTRAL_ED_ADJ if ed else lex.NEUTRAL_PRED)
        pred = s.add(word, None, "ADJ", "JJ", {"Degree": "Pos"}, "root")
        for d in deps:
            s.attach(d, pred)
        return pred
