"""Issue 10 on the extraction side: resume off a chunk boundary (item 5), non-finite activations (item 7),
window_overlap recorded as used (item 11)."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neuronlab.corpus.base import Corpus  # noqa: E402
from neuronlab.errors import InvalidParameterError, NonFiniteError  # noqa: E402
from neuronlab.extraction import ExtractionConfig, Extractor  # noqa: E402
from neuronlab.models import load_model  # noqa: E402
from neuronlab.store import ActivationStore  # noqa: E402
from neuronlab.testing import datasets_bytes  # noqa: E402

WORDS = "the cat sat on a mat while dogs ran far away in the park at night".split()
SENTS = [WORDS[i % 7: i % 7 + 3 + i % 5] for i in range(24)]
CFG = dict(sites="embeddings,layers.1", memory_mb=1, dtype="float32")


def _forget_after(path, done):
    """Make a store look as if only sentences [0, done) were written: counter, markers and NaN rows."""
    with h5py.File(path, "r+") as f:
        r = int(f["sentences/offsets"][done])
        for ds in f["sites"].values():
            ds[r:] = np.nan
        if "sentences/written" in f:
            f["sentences/written"][done:] = 0
        f["sentences/done"][0] = done


@pytest.mark.parametrize("memory_mb", [1, 256], ids=["several chunks", "one chunk"])
def test_resume_off_a_chunk_boundary_recomputes_the_chunk(tiny_loaded, tmp_path, memory_mb, monkeypatch):
    from neuronlab.extraction import planning

    lm = tiny_loaded("bert")
    cfg = ExtractionConfig(**dict(CFG, memory_mb=memory_mb))
    corpus = Corpus(SENTS)
    ex = Extractor(lm, cfg, progress=False)
    if memory_mb == 1:  # tiny chunks: a few sentences each
        real = planning.plan_extraction

        def small_chunks(tokenizer, corpus, config, widths, **kw):
            plan = real(tokenizer, corpus, config, widths, **kw)
            plan.chunks = [(i, min(i + 5, len(corpus))) for i in range(0, len(corpus), 5)]
            return plan

        monkeypatch.setattr("neuronlab.extraction.extractor.plan_extraction", small_chunks)
    chunks = ex.plan_chunks(corpus)
    assert (len(chunks) > 2) == (memory_mb == 1)
    ref, part = tmp_path / "ref.h5", tmp_path / "part.h5"
    Extractor(lm, cfg, progress=False).extract(corpus, ref).close()
    Extractor(lm, cfg, progress=False).extract(corpus, part).close()
    done = chunks[1][0] + 2 if len(chunks) > 2 else 2  # inside a chunk
    _forget_after(part, done)
    Extractor(lm, cfg, progress=False).extract(corpus, part, resume=True).close()
    with ActivationStore.open(part) as st:
        assert st.complete and np.isfinite(st["layers.1"][:]).all()
    assert datasets_bytes(part) == datasets_bytes(ref)


def test_non_finite_activations_from_the_model_are_an_error(tiny_model_dir, tmp_path):
    lm = load_model(str(tiny_model_dir("bert")))
    cat = lm.tokenizer.convert_tokens_to_ids("cat")
    with torch.no_grad():
        lm.model.base_model.embeddings.word_embeddings.weight[cat] = float("nan")
    corpus = Corpus([["the", "dog"], ["a", "dog", "ran"], ["the", "cat", "sat"], ["dogs", "ran"]])
    for engine in ("native", "hf"):
        out = tmp_path / f"{engine}.h5"
        with pytest.raises(NonFiniteError, match=r"non-finite activations \(NaN or inf\) at site embeddings, "
                                                 r"sentence 2 \('the cat sat'\).*allow_nonfinite=True"):
            Extractor(lm, ExtractionConfig(sites="embeddings,layers.0", engine=engine), progress=False).extract(
                corpus, out)
        with ActivationStore.open(out, allow_incomplete=True) as st:
            assert not st.complete  # nothing unchecked was marked written
    cfg = ExtractionConfig(sites="embeddings", engine="native", allow_nonfinite=True)
    with Extractor(lm, cfg, progress=False).extract(corpus, tmp_path / "allowed.h5") as st:
        assert st.complete and np.isnan(st["embeddings"][st.offsets[2]: st.offsets[3]]).any()


def test_window_overlap_beyond_the_window_is_refused_and_the_used_value_recorded(tiny_loaded, tmp_path):
    lm = tiny_loaded("bert")  # [CLS] ... [SEP]: a window of 16 holds 14 tokens, consecutive ones share at most 13
    with pytest.raises(InvalidParameterError, match=r"window_overlap 14 is too large.*use window_overlap=13 or less"):
        Extractor(lm, ExtractionConfig(sites="layers.0", max_length=16, window_overlap=14), progress=False)
    corpus = Corpus([WORDS * 2])
    for requested, used in ((13, 13), (None, 4)):
        cfg = ExtractionConfig(sites="layers.0", max_length=16, window_overlap=requested)
        with Extractor(lm, cfg, progress=False).extract(corpus, tmp_path / f"{requested}.h5") as st:
            assert st.config["window_overlap"] == used
