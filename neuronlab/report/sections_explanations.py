"""Report sections ``compositional`` (formulas, alignment, generation) and ``contexts`` (``neuronlab describe``).

``compositional`` reads ``compositional`` results (:class:`~neuronlab.concepts.compositional.result.
CompositionalResult`; Mu & Andreas 2020: a logical formula of concepts per neuron, with its IoU against the
neuron's top-quantile mask), ``alignment`` (concepts ranked by their degree of alignment, Na et al. 2019) and
``generation`` results (n-grams that maximise the neuron, Poerner et al. 2018). ``contexts`` reads ``contexts``
results (:class:`~neuronlab.concepts.corpus_methods.result.ContextsResult`): each neuron's top contexts and top
n-grams in the corpus. These are tables: one row per neuron or per candidate.
"""
from __future__ import annotations

from .data import ReportData
from .markup import esc, table
from .sections import Fragment
from .sections_common import missing

__all__ = ["compositional_section", "contexts_section", "MAX_NEURONS"]

#: neurons listed per result (a result over whole sites can hold thousands; the rest are in the store and its JSON)
MAX_NEURONS = {"compositional": 200, "contexts": 25}


def _more(shown: int, total: int, name: str) -> str:
    if total <= shown:
        return ""
    text = f"The first {shown} of {total} neurons; all of them are in the result {name!r} of the store."
    return f'<p class="note">{esc(text)}</p>'


def compositional_section(data: ReportData) -> Fragment:
    """The best formula of each explained neuron; concept alignment and generated n-grams of single neurons."""
    comp, align, gen = data.of_kind("compositional"), data.of_kind("alignment"), data.of_kind("generation")
    frag = Fragment()
    if not (comp or align or gen):
        return frag.add(missing("neuron explanations (compositional, alignment, generation)",
                                "neuronlab describe STORE --method compositional --neurons SITE:INDEX"))
    for name, res in comp:
        frag.add(f"<h3>{esc(name)}: compositional explanations</h3>", table(
            ["neuron", "formula", "IoU", "coverage", "precision", "mask rows", "best single atom", "its IoU"],
            [(n["neuron"], n["formula"] or "(never fires)", n["iou"], n["coverage"], n["precision"], n["mask_size"],
              n["atomic_formula"], n["atomic_iou"]) for n in res.neurons[:MAX_NEURONS["compositional"]]]))
        frag.add(_more(MAX_NEURONS["compositional"], len(res.neurons), name))
        frag.add(f'<p class="ref">{int(res.n_rows)} rows, {int(res.n_concept_atoms)} concept atoms, '
                 f"{int(res.n_words)} word atoms; formulas of at most {esc(res.config.get('max_length'))} atoms "
                 "(Mu &amp; Andreas 2020).</p>")
    for name, res in align:
        frag.add(f"<h3>{esc(name)}: concept alignment of {esc(res.neuron)}</h3>", table(
            ["concept", "degree of alignment", "z (vs random sentences)"],
            [(c["concept"], c["activation"], c["z"]) for c in res.concepts]))
        frag.add(f'<p class="ref">Random sentences: {float(res.random_mean):.3f} &plusmn; {float(res.random_std):.3f} '
                 "(Na et al. 2019).</p>")
    for name, res in gen:
        n = max(len(res.generated), len(res.corpus))
        rows = []
        for i in range(n):
            g = res.generated[i] if i < len(res.generated) else {}
            c = res.corpus[i] if i < len(res.corpus) else {}
            rows.append((g.get("ngram"), g.get("activation"), c.get("ngram"), c.get("activation")))
        frag.add(f"<h3>{esc(name)}: n-grams generated for {esc(res.neuron)}</h3>", table(
            ["generated n-gram", "activation", "best corpus n-gram", "activation"], rows))
        frag.add('<p class="ref">Gumbel-softmax search over the vocabulary (Poerner et al. 2018).</p>')
    return frag


def contexts_section(data: ReportData) -> Fragment:
    """Top contexts and top n-grams of each described neuron."""
    results = data.of_kind("contexts")
    frag = Fragment()
    if not results:
        return frag.add(missing("top contexts", "neuronlab describe STORE --method contexts --neurons SITE:INDEX"))
    for name, res in results:
        frag.add(f"<h3>{esc(name)}</h3>")
        for n in res.neurons[:MAX_NEURONS["contexts"]]:
            grams = "; ".join(f"{size}-grams: " + ", ".join(f"{g['ngram']} ({g['activation']:.2f}, x{g['count']})"
                                                           for g in items)
                              for size, items in n["ngrams"].items() if items)
            frag.add(f"<h4>{esc(n['neuron'])}</h4>", table(
                ["activation", "context", "sentence"],
                [(c["activation"], c["context"], c.get("sentence")) for c in n["contexts"]]))
            if grams:
                frag.add(f"<p>Top n-grams (mean activation, count): {esc(grams)}</p>")
        frag.add(_more(MAX_NEURONS["contexts"], len(res.neurons), name))
    return frag
