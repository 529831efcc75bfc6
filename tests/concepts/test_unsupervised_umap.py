"""UMAP maps of neurons and tokens (umap-learn, an optional extra) (issue 12)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from neuronlab.concepts.unsupervised.umap_embed import (
    NeuronUMAP,
    OptionalDependencyError,
    TokenUMAP,
    standardize_columns,
)
from neuronlab.errors import InvalidParameterError


def grouped_neurons(n_rows=400, groups=3, per_group=10, seed=0):
    """Neurons in ``groups`` groups; the neurons of a group share one latent signal plus noise."""
    rng = np.random.default_rng(seed)
    signals = rng.normal(size=(n_rows, groups))
    group = np.repeat(np.arange(groups), per_group)
    X = signals[:, group] * rng.uniform(0.5, 2.0, size=group.size) + 0.3 * rng.normal(size=(n_rows, group.size))
    return X + rng.normal(size=group.size) * 3, group  # offsets per neuron: standardisation removes them


def neighbour_purity(coords, labels, k=5):
    d = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    return float(np.mean(labels[nn] == labels[:, None]))


def test_standardised_profiles_turn_euclidean_distance_into_correlation():
    X = np.random.default_rng(1).normal(size=(30, 5))
    X[:, 4] = 2.0  # a constant neuron becomes 0, not NaN
    Z = standardize_columns(X)
    r = np.corrcoef(X[:, :4].T)
    d = np.sqrt(((Z[:, :4, None] - Z[:, None, :4]) ** 2).sum(0))
    np.testing.assert_allclose(d, np.sqrt(np.clip(2 * (1 - r), 0, None)), atol=1e-7)
    assert np.all(Z[:, 4] == 0)


def test_missing_umap_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap -> ImportError
    X = np.random.default_rng(0).normal(size=(20, 6))
    with pytest.raises(OptionalDependencyError, match=r"pip install 'neuronlab\[umap\]'"):
        NeuronUMAP().fit(X)
    with pytest.raises(ImportError, match="umap-learn"):
        TokenUMAP().fit(X)


@pytest.mark.slow
def test_neuron_map_keeps_planted_groups_together():
    pytest.importorskip("umap")
    X, group = grouped_neurons()
    est = NeuronUMAP(n_neighbors=8, max_rows=300, random_state=0).fit(X)
    assert est.embedding_.shape == (30, 2) and est.rows_.size == 300
    assert neighbour_purity(est.embedding_, group) >= 0.95
    again = NeuronUMAP(n_neighbors=8, max_rows=300, random_state=0).fit(X)
    np.testing.assert_array_equal(again.embedding_, est.embedding_)  # random_state makes it deterministic


@pytest.mark.slow
def test_token_map_separates_classes_and_keeps_their_labels():
    pytest.importorskip("umap")
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=240)
    X = rng.normal(size=(3, 16))[y] * 4 + rng.normal(size=(240, 16))
    est = TokenUMAP(n_neighbors=10, max_rows=150, random_state=0).fit(X, np.array(["NVA"[c] for c in y]))
    assert est.embedding_.shape == (150, 2) and np.all(np.diff(est.rows_) > 0)
    assert est.labels_.tolist() == ["NVA"[c] for c in y[est.rows_]]
    assert neighbour_purity(est.embedding_, est.labels_) >= 0.95
    with pytest.raises(InvalidParameterError, match="one label per row"):
        TokenUMAP().fit(X, y[:3])
