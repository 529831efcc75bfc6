"""neuronlab.corpus: corpus readers, the Corpus container and the embedded concept corpus."""
from neuronlab.corpus.base import MISSING, Corpus
from neuronlab.corpus.embedded import EMBEDDED_CORPUS, load_embedded_corpus
from neuronlab.corpus.readers import (
    READERS,
    STREAMS,
    SUFFIX_FORMATS,
    read_conllu,
    read_corpus,
    read_neurox,
    read_text,
    read_tsv,
)
from neuronlab.corpus.stream import CorpusStream, stream_corpus

__all__ = [
    "CorpusStream",
    "stream_corpus",
    "STREAMS",
    "Corpus",
    "MISSING",
    "READERS",
    "SUFFIX_FORMATS",
    "read_corpus",
    "read_text",
    "read_neurox",
    "read_tsv",
    "read_conllu",
    "EMBEDDED_CORPUS",
    "load_embedded_corpus",
]
