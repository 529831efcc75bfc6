"""HDF5 layout of an activation store (documented in docs/store.md).

::

    /                     attrs: format, schema_version, neuronlab_version, model (JSON), config (JSON),
                                 granularity, dtype, sites (JSON list, in model order), created
    /sentences/text       vlen str  [n_sentences]
    /sentences/offsets    int64     [n_sentences + 1]   rows of sentence i: offsets[i]:offsets[i+1]
    /sentences/done       int64     [1]                 sentences written so far (a prefix of the corpus)
    /rows/tokens          vlen str  [n_rows]            the word, subword or sentence each row stands for
    /rows/word            int32     [n_rows]            token granularity: word index in its sentence (-1: special)
    /sites/<site>         float16|float32 [n_rows, n_neurons], chunked by rows
    /labels/<concept>     int32 [n_rows] or [n_sentences], attrs: vocabulary (JSON), level ("row"|"sentence");
                          -1 means "no value" (e.g. Tense of a noun)
    /results/<name>/...   datasets written back by analyses, attrs: kind, config (JSON), created
"""
from __future__ import annotations

FORMAT = "neuronlab-activations"
SCHEMA_VERSION = 1
GRANULARITIES = ("word", "token", "sentence")
DTYPES = ("float16", "float32")
MISSING_LABEL = -1
#: target size of one HDF5 chunk in bytes (rows x neurons x itemsize)
CHUNK_BYTES = 1 << 20


def chunk_rows(n_neurons: int, itemsize: int, n_rows: int) -> int:
    """Rows per HDF5 chunk so that a chunk holds about :data:`CHUNK_BYTES`."""
    rows = max(1, CHUNK_BYTES // max(1, n_neurons * itemsize))
    return int(max(1, min(rows, n_rows)))
