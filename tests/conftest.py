"""Shared fixtures: the embedded minilm, tiny corpora, the shared real data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# tests never reach a model hub: unknown ids must fail at once instead of after network retries
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# under pytest-xdist the worker processes share the cores: OpenMP threads that finish early must sleep, not spin
# (set before torch loads its OpenMP runtime; intra-op thread counts stay as they are)
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def shared_data_dir() -> Path:
    return Path(os.environ.get("NEURONLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if not (d / "ud-english-ewt").exists():
        pytest.skip(f"real data not found at {d} (set NEURONLAB_SHARED_DATA to the folder holding ud-english-ewt/)")
    return d


@pytest.fixture(scope="session")
def minilm():
    """The embedded all-MiniLM-L6-v2, loaded once."""
    pytest.importorskip("torch")
    from neuronlab.models import load_model

    return load_model("minilm")


@pytest.fixture()
def tiny_corpus():
    from neuronlab.corpus.base import Corpus

    sents = [
        ["The", "cats", "sat", "on", "the", "mat", "."],
        ["Unbelievably", ",", "antidisestablishmentarianism", "prevails"],
        ["She", "walked"],
        ["Dogs", "bark", "loudly", "at", "night", "when", "strangers", "pass", "by", "quietly"],
        ["Hi"],
    ]
    pos = [["DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"], ["ADV", "PUNCT", "NOUN", "VERB"],
           ["PRON", "VERB"], ["NOUN", "VERB", "ADV", "ADP", "NOUN", "SCONJ", "NOUN", "VERB", "ADV", "ADV"], ["INTJ"]]
    tense = [[None, None, "Past", None, None, None, None], [None, None, None, "Pres"], [None, "Past"],
             [None, "Pres", None, None, None, None, None, "Pres", None, None], [None]]
    return Corpus(sents, word_labels={"upos": pos, "Tense": tense},
                  sentence_labels={"kind": ["a", "b", "a", "b", "a"]}, source="tiny")


@pytest.fixture(scope="session")
def clf():
    """minilm with a seeded random classification head (the attribution tests' live model)."""
    pytest.importorskip("torch")
    from helpers.live_models import minilm_classifier

    return minilm_classifier()


# ---- tiny generation models (tests/helpers/gen_models.py), one per test module
@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and do not fight the other test processes for the cores)."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    """A tiny random GPT-2 LM saved as a transformers directory."""
    pytest.importorskip("transformers")
    from helpers.gen_models import gpt2_lm_dir

    return gpt2_lm_dir(tmp_path_factory.mktemp("gpt2lm"), tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="module")
def gpt2(gpt2_dir):
    """The tiny GPT-2 LM of ``gpt2_dir`` as a LiveModel."""
    from helpers.gen_models import gpt2_live

    return gpt2_live(gpt2_dir)


@pytest.fixture(scope="module")
def t5(tmp_path_factory):
    """A tiny random T5 LM as a LiveModel."""
    pytest.importorskip("transformers")
    from helpers.gen_models import t5_live

    return t5_live(tmp_path_factory.mktemp("t5"))
