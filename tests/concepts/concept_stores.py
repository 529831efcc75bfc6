"""Fixtures shared by concept tests (import them: ``from concept_stores import tiny_store``).

Not a conftest.py: the doctest collection of the whole tree would import two modules named ``conftest``.
"""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.testing import synthetic_store

#: neuron -> class it fires for, in ``tiny_store``
TINY_PLANTED = {"layers.1:2": 0, "layers.0:5": 1}


@pytest.fixture()
def tiny_store(tmp_path):
    """60 sentences x 5 words, 2 sites of 8 neurons, a 2-class word concept; class c makes its planted neuron fire."""
    rng = np.random.default_rng(3)
    n_sent, n_words = 60, 5
    n = n_sent * n_words
    y = rng.integers(0, 2, size=n)
    words = rng.choice([f"w{i}" for i in range(20)], size=n)
    sites = {"layers.0": 8, "layers.1": 8}
    data = {s: rng.normal(size=(n, w)).astype(np.float32) for s, w in sites.items()}
    for nid, c in TINY_PLANTED.items():
        site, idx = nid.split(":")
        data[site][y == c, int(idx)] += 4.0
    path = tmp_path / "tiny.h5"
    synthetic_store(path, [list(words[i * n_words:(i + 1) * n_words]) for i in range(n_sent)], data=data,
                    labels={"concept": (["AB"[c] for c in y], "row")}, config={"sites": "all"})
    return path
