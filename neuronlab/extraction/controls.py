"""The random-init control: the same extraction, from a randomly initialised copy of the model.

A probe's accuracy on a random-weights model of the same architecture, on the same corpus and
extracted the same way, tells how much a probe can learn from the input (word identity, position)
alone (e.g. Conneau et al. 2018; Hewitt & Liang 2019). The store's provenance (model path or id,
extraction config, sentences) is enough to rebuild it; the result is cached next to the store.
"""
from __future__ import annotations

import logging
from pathlib import Path


from ..corpus.base import Corpus
from ..errors import StoreError
from ..models.loading import load_model
from ..store.store import ActivationStore
from .config import ExtractionConfig
from .extractor import Extractor

__all__ = ["random_init_store", "corpus_from_store"]

log = logging.getLogger("neuronlab.extraction")


def corpus_from_store(store: ActivationStore) -> Corpus:
    """The sentences a store was extracted from (words exactly for word stores, else texts split on spaces)."""
    if store.granularity == "word":
        toks, offs = store.tokens(), store.offsets
        sentences = [toks[offs[i]:offs[i + 1]] for i in range(store.n_sentences)]
    else:
        sentences = [t.split(" ") for t in store.texts()]
    return Corpus(sentences=sentences, source=store.config.get("corpus", str(store.path)))


def random_init_store(store: ActivationStore, *, seed: int = 0, cache_dir: str | Path | None = None,
                      progress: bool = True) -> ActivationStore:
    """Extract (or reuse from the cache) the random-init twin of ``store``, with the same labels.

    Parameters
    ----------
    store : ActivationStore
        A complete store whose model can be loaded again (its path or hub id is in the provenance).
    seed : int
        Seed of the random initialisation.
    cache_dir : path-like, optional
        Where twins are cached; default ``.neuronlab_cache/`` beside the store.

    Returns
    -------
    ActivationStore
        The twin, opened read-only.
    """
    info = store.model
    spec = info.get("path") or info.get("hub_id") or info.get("name")
    if not spec:
        raise StoreError(f"{str(store.path)!r} does not record which model made it; cannot build the random-init control")
    cache = Path(cache_dir) if cache_dir is not None else store.path.parent / ".neuronlab_cache"
    fingerprint = (info.get("weights_sha256") or "nofp")[:12]
    out = cache / f"{store.path.stem}.random-init-seed{seed}-{fingerprint}.h5"
    if out.exists():
        try:
            twin = ActivationStore.open(out)
            if twin.n_rows == store.n_rows and twin.sites == store.sites:
                return twin
            twin.close()
        except StoreError:
            pass
        log.info("random-init cache %s is stale or incomplete: extracting again", out)
    cfg = ExtractionConfig.from_dict(store.config)
    loaded = load_model(spec, device=cfg.device, random_init=True, seed=seed)
    corpus = corpus_from_store(store)
    log.info("extracting the random-init control of %s into %s", store.path.name, out)
    twin = Extractor(loaded, cfg, progress=progress).extract(corpus, out, overwrite=True)
    if twin.n_rows != store.n_rows:
        twin.close()
        raise StoreError("the random-init extraction produced a different number of rows than the original store")
    for name, lab in store.labels.items():
        twin.write_label(name, lab.values, lab.vocabulary, level=lab.level)
    twin.close()
    return ActivationStore.open(out)


