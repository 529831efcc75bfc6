"""Hostile corpus input (issue 10, items 9 and 11): NUL bytes, TSV headers, CoNLL-U ID gaps, spaces in FORM;
and property tests: any text, any damaged CoNLL-U -> a Corpus or one located CorpusError, never another exception."""
from __future__ import annotations

import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuronlab.corpus import read_corpus
from neuronlab.corpus.readers import read_conllu, read_text, read_tsv
from neuronlab.errors import CorpusError, NeuronlabError

GOOD_CONLLU = (
    "# sent_id = 1\n"
    "1\tDogs\tdog\tNOUN\tNNS\tNumber=Plur\t2\tnsubj\t_\t_\n"
    "2\tbarked\tbark\tVERB\tVBD\tTense=Past\t0\troot\t_\t_\n\n"
    "# sent_id = 2\n"
    "1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "1\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_\n"
    "2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_\n"
    "3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n\n"
)


def write(tmp_path, name, text, mode="w"):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("name, fmt", [("c.txt", None), ("c.tsv", None), ("c.conllu", None)])
def test_nul_byte_is_a_located_corpus_error(tmp_path, name, fmt):
    body = {"c.txt": b"the cat\nsat \x00here\n", "c.tsv": b"1\tthe cat\n0\tsat \x00here\n",
            "c.conllu": GOOD_CONLLU.replace("barked", "bar\x00ked").encode()}[name]
    p = write(tmp_path, name, body)
    line = 3 if name == "c.conllu" else 2
    with pytest.raises(CorpusError, match=rf"c\.{name[2:]}, line {line}: contains a NUL byte"):
        read_corpus(p, format=fmt)


def test_tsv_header_sentiment_text_is_detected_and_reported(tmp_path, caplog):
    p = write(tmp_path, "s.tsv", "sentiment\ttext\npositive\ta fine film\nnegative\tdull .\n")
    with caplog.at_level(logging.INFO, logger="neuronlab.corpus"):
        c = read_tsv(p)
    assert c.sentences == [["a", "fine", "film"], ["dull", "."]]
    assert c.sentence_labels == {"label": ["positive", "negative"]}
    assert any("read as a header" in r.getMessage() and "--no-header" in r.getMessage() for r in caplog.records)


def test_tsv_text_label_header_puts_the_label_second(tmp_path):
    p = write(tmp_path, "s.tsv", "text\tsentiment\na fine film\tpos\n")
    assert read_tsv(p).sentence_labels == {"label": ["pos"]}


def test_tsv_header_flags(tmp_path):
    p = write(tmp_path, "s.tsv", "gold\tthis\n1\ta fine film\n")
    # forced header: the first line is dropped; --no-header: it is data
    assert read_corpus(p, header=True).sentences == [["a", "fine", "film"]]
    c = read_corpus(p, header=False)
    assert c.sentences == [["this"], ["a", "fine", "film"]] and c.sentence_labels["label"] == ["gold", "1"]
    with pytest.raises(NeuronlabError, match=r"header= is only used by the formats tsv"):
        read_corpus(write(tmp_path, "t.txt", "a b\n"), header=True)


def test_tsv_data_that_looks_like_words_is_not_a_header(tmp_path):
    p = write(tmp_path, "s.tsv", "1\tgreat\n0\tawful\n")
    assert read_tsv(p).sentences == [["great"], ["awful"]]


@pytest.mark.parametrize("ids, line, got, want", [
    (("1", "3"), 3, "3", 2),  # a gap
    (("1", "1"), 3, "1", 2),  # a repeat
    (("2", "3"), 2, "2", 1),  # not starting at 1
])
def test_conllu_ids_must_run_without_gaps(tmp_path, ids, line, got, want):
    body = (f"# sent_id = 1\n{ids[0]}\tDogs\tdog\tNOUN\tNNS\t_\t2\tnsubj\t_\t_\n"
            f"{ids[1]}\tbarked\tbark\tVERB\tVBD\t_\t0\troot\t_\t_\n\n")
    p = write(tmp_path, "g.conllu", body)
    with pytest.raises(CorpusError, match=rf"g\.conllu, line {line}: word ID {got} where {want} was expected"):
        read_conllu(p)


def test_conllu_form_with_a_space_stays_one_word_in_rows_and_text(tmp_path):
    body = "1\tpaid\tpay\tVERB\t_\t_\t0\troot\t_\t_\n2\t500 000\t500 000\tNUM\t_\t_\t1\tobj\t_\t_\n\n"
    c = read_conllu(write(tmp_path, "s.conllu", body))
    assert c.sentences == [["paid", "500\u00a0000"]] and c.word_labels["upos"] == [["VERB", "NUM"]]
    # the stored sentence text (words joined by spaces) splits back into the same words
    assert c.texts()[0].split(" ") == c.sentences[0]


def test_conllu_blank_form_is_an_error(tmp_path):
    p = write(tmp_path, "s.conllu", "1\t \t_\tX\t_\t_\t0\troot\t_\t_\n\n")
    with pytest.raises(CorpusError, match=r"s\.conllu, line 1: empty FORM"):
        read_conllu(p)


def test_conllu_unicode_digit_id_is_a_corpus_error(tmp_path):
    p = write(tmp_path, "s.conllu", "\u00b2\tx\t_\tX\t_\t_\t0\troot\t_\t_\n\n")
    with pytest.raises(CorpusError, match=r"s\.conllu, line 1: ID"):
        read_conllu(p)


# --- properties ---------------------------------------------------------------------------------

_ONE_LINE = re.compile(r"^[^\n]+$")
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check(path, reader, **kw):
    """The reader returns a Corpus or raises one single-line CorpusError naming the file."""
    try:
        c = reader(path, **kw)
    except CorpusError as exc:
        msg = str(exc)
        assert _ONE_LINE.match(msg), msg
        assert msg.startswith(str(path)), msg
        return None
    assert len(c) > 0 and all(len(s) > 0 for s in c.sentences)
    for s in c.sentences:  # words survive the store's join-by-space text
        assert " ".join(s).split(" ") == s
    for values in c.word_labels.values():
        assert [len(v) for v in values] == [len(s) for s in c.sentences]
    for values in c.sentence_labels.values():
        assert len(values) == len(c)
    return c


@_SETTINGS
@given(data=st.binary(max_size=300))
def test_any_bytes_as_text_tsv_conllu(tmp_path, data):
    for name, reader in (("p.txt", read_text), ("p.tsv", read_tsv), ("p.conllu", read_conllu)):
        _check(write(tmp_path, name, data), reader)


@_SETTINGS
@given(text=st.text(alphabet=st.sampled_from(list("ab1-._= \t\n#\u00a0\u00b2\x00|")), max_size=200))
def test_structured_noise_as_conllu_and_tsv(tmp_path, text):
    _check(write(tmp_path, "n.conllu", text), read_conllu)
    _check(write(tmp_path, "n.tsv", text), read_tsv)


_DAMAGE = st.sampled_from(["delete_char", "insert_char", "delete_line", "duplicate_line", "swap_lines",
                           "replace_field"])


@_SETTINGS
@given(ops=st.lists(st.tuples(_DAMAGE, st.integers(0, 10_000), st.sampled_from(list("\t\n 1-._=|#x\u00a0\x00"))),
                    min_size=1, max_size=4))
def test_damaged_conllu(tmp_path, ops):
    text = GOOD_CONLLU
    for op, pos, ch in ops:
        lines = text.split("\n")
        i = pos % max(1, len(lines))
        if op == "delete_char" and text:
            k = pos % len(text)
            text = text[:k] + text[k + 1:]
        elif op == "insert_char":
            k = pos % (len(text) + 1)
            text = text[:k] + ch + text[k:]
        elif op == "delete_line":
            del lines[i]
            text = "\n".join(lines)
        elif op == "duplicate_line":
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif op == "swap_lines" and len(lines) > 1:
            j = (i + 1) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif op == "replace_field":
            fields = lines[i].split("\t")
            fields[pos % len(fields)] = ch
            lines[i] = "\t".join(fields)
            text = "\n".join(lines)
    _check(write(tmp_path, "d.conllu", text), read_conllu)
