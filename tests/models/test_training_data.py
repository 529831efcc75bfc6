"""Training data for `neuronlab train`: the embedded corpus's sentence concept, TSV files, SST-2; splits and subsets."""
from __future__ import annotations

import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.models.training import sentence_data


def _tsv(path, rows, header="label\tsentence"):
    path.write_text("\n".join([header] + [f"{y}\t{t}" for y, t in rows]) + "\n")
    return path


def test_embedded_polarity_split_is_disjoint_and_seeded():
    from neuronlab.corpus import load_embedded_corpus

    corpus = load_embedded_corpus()
    d = sentence_data("embedded", concept="polarity", dev_fraction=0.1, seed=3)
    n = sum(v is not None for v in corpus.sentence_labels["polarity"])
    assert len(d.dev_texts) == round(0.1 * n) and len(d.train_texts) + len(d.dev_texts) == n
    assert d.label_names == ["negative", "positive"] and d.data == "embedded corpus:polarity"
    assert not {" ".join(t) for t in d.train_texts} & {" ".join(t) for t in d.dev_texts} or len(
        {" ".join(t) for t in corpus.sentences}) < n  # disjoint sentences unless the corpus repeats one
    # labels follow the sentences
    gold = {" ".join(s): v for s, v in zip(corpus.sentences, corpus.sentence_labels["polarity"])}
    assert all(d.label_names[y] == gold[" ".join(t)] for t, y in zip(d.dev_texts[:50], d.dev_labels[:50]))
    again = sentence_data("embedded", dev_fraction=0.1, seed=3)
    assert again.dev_texts == d.dev_texts
    assert sentence_data("embedded", dev_fraction=0.1, seed=4).dev_texts != d.dev_texts


def test_tsv_with_dev_file_numeric_labels_and_subset(tmp_path):
    rows = [(str(i % 3 * 5), f"w{i} x") for i in range(30)]  # labels 0, 5, 10: numeric order, not text order
    train = _tsv(tmp_path / "train.tsv", rows)
    _tsv(tmp_path / "dev.tsv", [("10", "a b"), ("0", "c")], header="label\tcontent")
    d = sentence_data(str(tmp_path))
    assert d.label_names == ["0", "5", "10"] and d.dev_texts == [["a", "b"], ["c"]] and d.dev_labels == [2, 0]
    assert d.train_labels[:3] == [0, 1, 2] and len(d.train_texts) == 30
    assert d.split == f"train: {train}; dev: {tmp_path / 'dev.tsv'}"
    sub = sentence_data(str(train), max_examples=20, seed=1, dev=tmp_path / "dev.tsv")
    assert len(sub.train_texts) == 20 and "20 training examples drawn at random (seed 1)" in sub.split
    assert all(" ".join(t) in {r[1] for r in rows} for t in sub.train_texts)


def test_bad_sources(tmp_path):
    with pytest.raises(InvalidParameterError, match="no sentence-level concept 'upos'"):
        sentence_data("embedded", concept="upos")
    with pytest.raises(InvalidParameterError, match="is not embedded, sst2, a TSV file"):
        sentence_data(str(tmp_path / "none.tsv"))
    with pytest.raises(InvalidParameterError, match="no train.tsv"):
        sentence_data(str(tmp_path))
    _tsv(tmp_path / "t.tsv", [("a", "x"), ("b", "y")])
    _tsv(tmp_path / "d.tsv", [("c", "z")])
    with pytest.raises(InvalidParameterError, match=r"dev labels \['c'\] do not occur"):
        sentence_data(str(tmp_path / "t.tsv"), dev=tmp_path / "d.tsv")
    with pytest.raises(InvalidParameterError, match="max_examples must be a positive int"):
        sentence_data(str(tmp_path / "t.tsv"), max_examples=0)


def test_sst2_from_shared_data(shared_data, monkeypatch):
    if not (shared_data / "sst2" / "dev.tsv").exists():
        pytest.skip("no sst2/ in the shared data")
    monkeypatch.setenv("NEURONLAB_SHARED_DATA", str(shared_data))
    d = sentence_data("sst2", max_examples=100)
    assert d.label_names == ["0", "1"] and len(d.dev_texts) == 872 and len(d.train_texts) == 100
    assert d.data.startswith("SST-2 ") and d.dev_texts[0] == "one long string of cliches .".split()
    assert d.dev_labels[0] == 0


def test_sst2_missing_says_which_variable_to_set(tmp_path, monkeypatch):
    """`--data sst2` without the shared data names NEURONLAB_SHARED_DATA (it used to say 'is not embedded, sst2, ...')."""
    monkeypatch.setenv("NEURONLAB_SHARED_DATA", str(tmp_path))
    with pytest.raises(InvalidParameterError, match=r"no sst2/ .* set NEURONLAB_SHARED_DATA"):
        sentence_data("sst2")
