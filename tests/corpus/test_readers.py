"""Tests of the corpus readers: exact values on tiny files, real UD/SST-2 files, and bad input."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from neuronlab.corpus import READERS, read_conllu, read_corpus, read_neurox, read_text, read_tsv
from neuronlab.errors import CorpusError, InvalidParameterError

SHARED = Path(os.environ.get("NEURONLAB_SHARED_DATA",
                             Path(__file__).resolve().parents[2].parent / "shared" / "data"))
EWT_DEV = SHARED / "ud-english-ewt" / "en_ewt-ud-dev.conllu"
SST2_DEV = SHARED / "sst2" / "dev.tsv"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- text -----------------------------------------------------------------------------------

def test_text_reads_whitespace_tokens(tmp_path):
    p = write(tmp_path, "a.txt", "the cat  sat\n\tdogs bark \nünïcode ok\n")
    c = read_corpus(p)
    assert c.sentences == [["the", "cat", "sat"], ["dogs", "bark"], ["ünïcode", "ok"]]
    assert c.word_labels == {} and c.sentence_labels == {}
    assert c.source == str(p)


def test_text_without_final_newline_and_crlf(tmp_path):
    p = write(tmp_path, "a.txt", "a b\r\nc d")
    assert read_text(p).sentences == [["a", "b"], ["c", "d"]]


@pytest.mark.parametrize("body, line", [("a b\n\nc\n", 2), ("a\n   \n", 2), ("a\nb\n\n", 3)])
def test_text_empty_line_is_an_error(tmp_path, body, line):
    p = write(tmp_path, "a.txt", body)
    with pytest.raises(CorpusError, match=rf"a\.txt, line {line}: empty line"):
        read_text(p)


def test_empty_corpus_and_missing_file(tmp_path):
    with pytest.raises(CorpusError, match=r"empty\.txt: the corpus is empty"):
        read_text(write(tmp_path, "empty.txt", ""))
    with pytest.raises(CorpusError, match=r"nope\.txt: file not found"):
        read_corpus(tmp_path / "nope.txt")


def test_non_utf8_names_line(tmp_path):
    p = write(tmp_path, "latin.txt", "ok line\nna\xefve caf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin\.txt, line 2: not valid UTF-8.*UTF-8"):
        read_text(p)


# --- neurox ---------------------------------------------------------------------------------

def test_neurox_default_label_path(tmp_path):
    p = write(tmp_path, "train.in", "the cat sat\ndogs bark\n")
    write(tmp_path, "train.label", "DT NN VBD\nNNS VBP\n")
    c = read_corpus(p)  # .in -> neurox, labels from train.label
    assert c.sentences == [["the", "cat", "sat"], ["dogs", "bark"]]
    assert c.word_labels == {"label": [["DT", "NN", "VBD"], ["NNS", "VBP"]]}


def test_neurox_explicit_labels_and_name(tmp_path):
    p = write(tmp_path, "x.txt", "a b\n")
    lab = write(tmp_path, "tags.txt", "X Y\n")
    c = read_corpus(p, format="neurox", labels=lab, label_name="pos")
    assert c.word_labels == {"pos": [["X", "Y"]]}


def test_neurox_count_mismatch_names_both_counts(tmp_path):
    p = write(tmp_path, "t.in", "a b\nc d e\n")
    write(tmp_path, "t.label", "X Y\nX Y\n")
    with pytest.raises(CorpusError, match=r"t\.label, line 2: 2 labels for 3 tokens"):
        read_neurox(p)


@pytest.mark.parametrize("labels, counts", [("X\n", "has 1 lines but .* has 2 lines"),
                                            ("X\nY\nZ\n", "has 3 lines but .* has 2 lines")])
def test_neurox_line_count_mismatch(tmp_path, labels, counts):
    p = write(tmp_path, "t.in", "a\nb\n")
    write(tmp_path, "t.label", labels)
    with pytest.raises(CorpusError, match=rf"t\.label: {counts}"):
        read_neurox(p)


def test_neurox_empty_label_line_and_missing_label_file(tmp_path):
    p = write(tmp_path, "t.in", "a\nb\n")
    write(tmp_path, "t.label", "X\n\n")
    with pytest.raises(CorpusError, match=r"t\.label, line 2: empty line"):
        read_neurox(p)
    with pytest.raises(CorpusError, match=r"other\.label: file not found"):
        read_neurox(p, labels=tmp_path / "other.label")


# --- tsv ------------------------------------------------------------------------------------

def test_tsv_label_first_without_header(tmp_path):
    p = write(tmp_path, "s.tsv", "1\ta fine film\n0\tdull .\n")
    c = read_corpus(p)
    assert c.sentences == [["a", "fine", "film"], ["dull", "."]]
    assert c.sentence_labels == {"label": ["1", "0"]}
    assert c.word_labels == {}


@pytest.mark.parametrize("header, rows", [
    ("sentence\tlabel", ["a fine film\t1", "dull .\t0"]),
    ("label\tsentence", ["1\ta fine film", "0\tdull ."]),
    ("label\tcontent", ["1\ta fine film", "0\tdull ."]),  # GLUE SST-2 dev header
])
def test_tsv_header_fixes_column_order(tmp_path, header, rows):
    p = write(tmp_path, "s.tsv", "\n".join([header, *rows]) + "\n")
    c = read_tsv(p, label_name="sentiment")
    assert c.sentences == [["a", "fine", "film"], ["dull", "."]]
    assert c.sentence_labels == {"sentiment": ["1", "0"]}


@pytest.mark.parametrize("body, message", [
    ("1\tgood\n\n0\tbad\n", r"s\.tsv, line 2: empty line"),
    ("1\tgood\n0\tbad\textra\n", r"s\.tsv, line 2: expected 2 tab-separated columns .*found 3"),
    ("1 good\n", r"s\.tsv, line 1: expected 2 tab-separated columns .*found 1"),
    ("label\tsentence\n \tgood\n", r"s\.tsv, line 2: empty label"),
    ("1\t  \n", r"s\.tsv, line 1: empty sentence"),
    ("label\tsentence\n", r"s\.tsv: the corpus is empty"),
])
def test_tsv_bad_input(tmp_path, body, message):
    p = write(tmp_path, "s.tsv", body)
    with pytest.raises(CorpusError, match=message):
        read_tsv(p)


@pytest.mark.skipif(not SST2_DEV.is_file(), reason=f"SST-2 not found at {SST2_DEV} (set NEURONLAB_SHARED_DATA)")
def test_tsv_on_sst2_dev():
    c = read_corpus(SST2_DEV)
    lines = SST2_DEV.read_text(encoding="utf-8").splitlines()
    assert len(c) == len(lines) - 1 == 872  # header + 872 sentences (data README)
    assert set(c.sentence_labels["label"]) == {"0", "1"}
    assert c.sentences[0] == lines[1].split("\t")[1].split()


# --- conllu ---------------------------------------------------------------------------------

CONLLU = """\
# sent_id = s1
# text = Don't go.
# sent_tense = Pres
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\tMood=Imp|VerbForm=Fin\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\tPolarity=Neg\t3\tadvmod\t_\t_
3\tgo\tgo\tVERB\tVB\tVerbForm=Inf\t0\troot\t_\t_
3.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t3:conj\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\tSpaceAfter=No

# sent_id = s2
# sent_polarity = negative
1\tCats\tcat\tNOUN\t_\tNumber=Plur\t0\troot\t_\t_
"""


def test_conllu_exact_values(tmp_path):
    c = read_corpus(write(tmp_path, "t.conllu", CONLLU))  # no blank line after the last sentence
    assert c.sentences == [["Do", "n't", "go", "."], ["Cats"]]
    wl = c.word_labels
    assert wl["upos"] == [["AUX", "PART", "VERB", "PUNCT"], ["NOUN"]]
    assert wl["xpos"] == [["VBP", "RB", "VB", "."], [None]]
    assert wl["deprel"] == [["aux", "advmod", "root", "punct"], ["root"]]
    assert wl["Mood"] == [["Imp", None, None, None], [None]]
    assert wl["VerbForm"] == [["Fin", None, "Inf", None], [None]]
    assert wl["Polarity"] == [[None, "Neg", None, None], [None]]
    assert wl["Number"] == [[None, None, None, None], ["Plur"]]
    assert set(wl) == {"upos", "xpos", "deprel", "Mood", "VerbForm", "Polarity", "Number"}
    assert c.sentence_labels == {"tense": ["Pres", None], "polarity": [None, "negative"]}


def test_conllu_all_underscore_column_is_left_out(tmp_path):
    p = write(tmp_path, "t.conllu", "1\ta\ta\tDET\t_\t_\t_\t_\t_\t_\n\n")
    c = read_conllu(p)
    assert set(c.word_labels) == {"upos"}


@pytest.mark.parametrize("line, message", [
    ("1\ta\ta\tDET\tDT\t_\t0\troot\t_", r"line 3: expected 10 tab-separated columns, found 9"),
    ("1 a a DET DT _ 0 root _ _", r"line 3: expected 10 tab-separated columns, found 1"),
    ("x\ta\ta\tDET\tDT\t_\t0\troot\t_\t_", r"line 3: ID 'x' is not an integer"),
    ("1\ta\ta\tDET\tDT\tNumber\t0\troot\t_\t_", r"line 3: malformed FEATS entry 'Number'"),
    ("1\t\ta\tDET\tDT\t_\t0\troot\t_\t_", r"line 3: empty FORM"),
])
def test_conllu_malformed_lines(tmp_path, line, message):
    good = "1\ta\ta\tDET\tDT\t_\t0\troot\t_\t_"
    p = write(tmp_path, "bad.conllu", f"{good}\n\n{line}\n")
    with pytest.raises(CorpusError, match=r"bad\.conllu, " + message):
        read_conllu(p)


def test_conllu_sentence_without_words_and_empty_file(tmp_path):
    p = write(tmp_path, "c.conllu", "# sent_id = 1\n# text = nothing\n\n")
    with pytest.raises(CorpusError, match=r"c\.conllu, line 1: sentence \(lines 1-2\) has no words"):
        read_conllu(p)
    with pytest.raises(CorpusError, match=r"e\.conllu: the corpus is empty"):
        read_conllu(write(tmp_path, "e.conllu", "\n\n"))


@pytest.mark.skipif(not EWT_DEV.is_file(), reason=f"UD EWT not found at {EWT_DEV} (set NEURONLAB_SHARED_DATA)")
def test_conllu_on_ud_ewt_dev():
    c = read_corpus(EWT_DEV)
    lines = EWT_DEV.read_text(encoding="utf-8").splitlines()
    n_sent_id = sum(ln.startswith("# sent_id") for ln in lines)
    ids = [ln.split("\t", 1)[0] for ln in lines if ln and not ln.startswith("#")]
    n_ranges = sum("-" in i for i in ids)
    n_empty = sum("." in i for i in ids)
    assert n_ranges > 0 and n_empty > 0  # the file does exercise both skips
    assert len(c) == n_sent_id == 2001
    assert c.n_words == len(ids) - n_ranges - n_empty
    for concept, values in c.word_labels.items():
        assert [len(v) for v in values] == [len(s) for s in c.sentences], concept
    # first sentence of the file: "From the AP comes this story :"
    assert c.sentences[0] == ["From", "the", "AP", "comes", "this", "story", ":"]
    assert c.word_labels["Tense"][0] == [None, None, None, "Pres", None, None, None]
    assert c.word_labels["upos"][0] == ["ADP", "DET", "PROPN", "VERB", "DET", "NOUN", "PUNCT"]
    # a multiword token "didn't" contributes its two words "did", "n't", never the range form
    words = {w for s in c.sentences for w in s}
    assert "n't" in words and "didn't" not in words


# --- read_corpus dispatch -------------------------------------------------------------------

def test_registry_and_suffix_inference(tmp_path):
    assert set(READERS) == {"text", "neurox", "tsv", "conllu"}
    p = write(tmp_path, "a.data", "1\tgood film\n")
    assert read_corpus(p).sentences == [["1", "good", "film"]]  # unknown suffix -> text
    assert read_corpus(p, format="tsv").sentence_labels == {"label": ["1"]}


def test_unknown_format_lists_valid_ones(tmp_path):
    p = write(tmp_path, "a.txt", "a\n")
    with pytest.raises(InvalidParameterError, match=r"format must be one of conllu, neurox, text, tsv.*got 'csv'"):
        read_corpus(p, format="csv")


def test_labels_rejected_for_formats_without_label_file(tmp_path):
    p = write(tmp_path, "a.txt", "a\n")
    with pytest.raises(InvalidParameterError, match=r"labels= is only used by the formats neurox"):
        read_corpus(p, labels=p)


def test_garbage_collector_restored_after_errors(tmp_path):
    import gc
    assert gc.isenabled()
    with pytest.raises(CorpusError):
        read_conllu(write(tmp_path, "bad.conllu", "1\ta\n"))
    assert gc.isenabled()
    gc.disable()
    try:
        read_text(write(tmp_path, "ok.txt", "a\n"))
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
