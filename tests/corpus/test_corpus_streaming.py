"""Streamed corpora (issue 13, "Streaming on one machine"): the streaming readers give the in-memory readers'
sentences and labels, read the file lazily (a bad line far into the file does not stop the first blocks, and
memory does not grow with the file), and raise the same located errors as the whole-file line reader."""
from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuronlab.corpus import Corpus, CorpusStream, read_corpus, stream_corpus
from neuronlab.corpus._io import iter_lines, read_lines
from neuronlab.errors import CorpusError, InvalidParameterError

CONLLU = (
    "# sent_id = 1\n# sent_mood = calm\n"
    "1\tDogs\tdog\tNOUN\tNNS\tNumber=Plur\t2\tnsubj\t_\t_\n"
    "2\tbarked\tbark\tVERB\tVBD\tTense=Past\t0\troot\t_\t_\n\n"
    "1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "1\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_\n"
    "2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_\n"
    "3\tgo\tgo\tVERB\tVB\tMood=Imp|VerbForm=Fin\t0\troot\t_\t_\n\n"
    "1\tcats\tcat\tNOUN\t_\tNumber=Plur\t0\troot\t_\t_\n\n"
)


def _files(tmp_path) -> dict[str, dict]:
    """One small corpus per format, with the reader options that read it."""
    (tmp_path / "c.txt").write_text("the cat sat\n\ufeffa  dog\tran\r\nbirds fly\n", encoding="utf-8")
    (tmp_path / "c.tsv").write_text("sentiment\ttext\npos\tgood film\nneg\tbad one\npos\tfine\n", encoding="utf-8")
    (tmp_path / "c.in").write_text("the cat sat\na dog\n", encoding="utf-8")
    (tmp_path / "c.label").write_text("D N V\nD N\n", encoding="utf-8")
    (tmp_path / "c.conllu").write_text(CONLLU, encoding="utf-8")
    return {"text": {"path": tmp_path / "c.txt"}, "tsv": {"path": tmp_path / "c.tsv"},
            "neurox": {"path": tmp_path / "c.in", "label_name": "pos"}, "conllu": {"path": tmp_path / "c.conllu"}}


def _concat(blocks, word: list[str], sentence: list[str]) -> Corpus:
    """Blocks joined, a concept a block lacks counting as no value (as the extractor reads them)."""
    out = Corpus([], {k: [] for k in word}, {k: [] for k in sentence})
    for b in blocks:
        out.sentences += b.sentences
        for k in word:
            out.word_labels[k] += b.word_labels.get(k) or [[None] * len(s) for s in b.sentences]
        for k in sentence:
            out.sentence_labels[k] += b.sentence_labels.get(k) or [None] * len(b)
    return out


@pytest.mark.parametrize("fmt", ["text", "tsv", "neurox", "conllu"])
@pytest.mark.parametrize("size", [1, 2, 1024])
def test_stream_blocks_equal_the_in_memory_reader(tmp_path, fmt, size):
    opts = _files(tmp_path)[fmt]
    ref = read_corpus(**opts)
    stream = stream_corpus(**opts)
    assert stream.format == fmt and stream.source == ref.source
    got = _concat(stream.blocks(size), list(ref.word_labels), list(ref.sentence_labels))
    assert got.sentences == ref.sentences
    assert got.word_labels == ref.word_labels and got.sentence_labels == ref.sentence_labels
    assert stream.read() == ref
    # a window of the stream equals the same sentences of the corpus
    n = len(ref)
    window = _concat(stream.blocks(size, start=1, stop=n), list(ref.word_labels), list(ref.sentence_labels))
    assert window.sentences == ref.subset(range(1, n)).sentences


def test_conllu_block_has_only_the_concepts_with_values_in_it(tmp_path):
    path = _files(tmp_path)["conllu"]["path"]
    blocks = list(CorpusStream(path).blocks(1))
    assert sorted(blocks[0].word_labels) == ["Number", "Tense", "deprel", "upos", "xpos"]
    assert sorted(blocks[2].word_labels) == ["Number", "deprel", "upos"]  # xpos is _ in the third sentence
    assert blocks[0].sentence_labels == {"mood": ["calm"]} and blocks[1].sentence_labels == {}


def test_stream_is_lazy_a_bad_line_far_into_the_file_does_not_stop_the_first_blocks(tmp_path):
    path = tmp_path / "big.txt"
    with open(path, "wb") as fh:
        fh.write(b"w x y z\n" * 50_000)
        fh.write(b"bad \x00 line\n")
    stream = stream_corpus(path)
    first = next(stream.blocks(100))
    assert first.sentences == [["w", "x", "y", "z"]] * 100
    with pytest.raises(CorpusError, match=r"big\.txt, line 50001: contains a NUL byte"):
        for _ in stream.blocks(1000):
            pass


def _peak_while_streaming(path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        n = sum(len(b) for b in stream_corpus(path).blocks(256))
        return n, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_stream_memory_does_not_grow_with_the_file(tmp_path):
    """Peak Python memory while iterating all blocks of 500 vs 5,000 labelled sentences: the same (one
    block at a time); reading the larger file whole takes several times more."""
    peaks = {}
    for n in (500, 5_000):
        path = tmp_path / f"c{n}.tsv"
        path.write_text("".join(f"{'pos' if i % 3 else 'neg'}\tsentence number {i} is here\n" for i in range(n)))
        count, peaks[n] = _peak_while_streaming(path)
        assert count == n
    assert peaks[5_000] < 1.2 * peaks[500] + 32_000, peaks
    tracemalloc.start()
    try:
        read_corpus(tmp_path / "c5000.tsv")
        whole = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert whole > 3 * peaks[5_000], (whole, peaks)


def test_neurox_stream_reports_both_line_counts(tmp_path):
    (tmp_path / "a.in").write_text("a b\nc\nd e\n")
    (tmp_path / "a.label").write_text("X Y\nZ\n")
    with pytest.raises(CorpusError, match=r"a\.label: has 2 lines but the sentence file .*a\.in has 3 lines"):
        list(stream_corpus(tmp_path / "a.in").records())
    (tmp_path / "a.label").write_text("X Y\nZ\nU V\nW\n")
    with pytest.raises(CorpusError, match=r"a\.label: has 4 lines but the sentence file .*a\.in has 3 lines"):
        list(stream_corpus(tmp_path / "a.in").records())


def test_stream_options_are_checked_before_reading(tmp_path):
    with pytest.raises(InvalidParameterError, match=r"format must be one of"):
        stream_corpus(tmp_path / "missing.txt", format="xml")
    with pytest.raises(InvalidParameterError, match=r"header= is only used by the formats tsv"):
        stream_corpus(tmp_path / "missing.txt", header=True)
    stream = stream_corpus(tmp_path / "missing.txt")  # nothing read yet
    with pytest.raises(CorpusError, match=r"missing\.txt: file not found"):
        next(stream.blocks())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(st.sampled_from([b"a", b" ", b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b"\xc3\xa9", b"\xef\xbb\xbf",
                                      b"\xe2\x80\xa8", b"\t"]), max_size=30))
def test_iter_lines_equals_read_lines(tmp_path, data):
    """The streaming line reader against the whole-file one (the reference): same lines, or the same
    located error (line, byte or character offset)."""
    path = tmp_path / "x.txt"
    path.write_bytes(b"".join(data))
    try:
        want = read_lines(path)
    except CorpusError as exc:
        want = str(exc)
    try:
        got = list(iter_lines(path))
    except CorpusError as exc:
        got = str(exc)
    if isinstance(want, str) and isinstance(got, str) and "NUL" in got and "UTF-8" in want:
        return  # a file with both: the whole-file reader checks UTF-8 first, the stream meets the NUL first
    assert got == want
