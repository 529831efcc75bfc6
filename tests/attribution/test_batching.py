"""Interpolation steps batched under a memory bound: any rows-per-pass gives the same values as one pass."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.live_models import INPUTS, tiny_bert

torch = pytest.importorskip("torch")

from neuronlab.attribution import (LayerConductance, LayerIntegratedGradients, NeuronAblation,  # noqa: E402
                                   NeuronConductance)
from neuronlab.attribution._path import rows_per_pass  # noqa: E402
from neuronlab.errors import InvalidParameterError  # noqa: E402

THREE = INPUTS + ["she walked home"]

CASES = {
    "conductance_exact": lambda live, bs: LayerConductance(live, "layers.1", steps=5, batch_size=bs)
    .attribute(THREE, target=1).attributions,
    "conductance_difference": lambda live, bs: LayerConductance(live, "layers.0.mlp", steps=5, rule="trapezoid",
                                                                derivative="difference", batch_size=bs)
    .attribute(THREE, target=1).attributions,
    "integrated_gradients": lambda live, bs: LayerIntegratedGradients(live, "layers.0", steps=5, batch_size=bs)
    .attribute(THREE, target=0).attributions,
    "neuron_conductance": lambda live, bs: NeuronConductance(live, "layers.1", steps=5, batch_size=bs)
    .attribute(THREE, target=1, neuron=3).attributions,
    "neuron_ablation": lambda live, bs: NeuronAblation(live, "layers.1.attn.heads", batch_size=bs)
    .attribute(THREE, target=1)["effects"],
}


@pytest.fixture(scope="module")
def live():
    return tiny_bert()


@pytest.mark.parametrize("name", sorted(CASES))
def test_rows_per_pass_does_not_change_values(live, name):
    whole = CASES[name](live, 10_000)
    for bs in (1, 4, 7):
        np.testing.assert_allclose(CASES[name](live, bs), whole, atol=1e-6, rtol=1e-5)


def test_memory_bound_sets_rows_per_pass(live):
    enc = live.encode(THREE)
    T = enc.input_ids.shape[1]
    per_row = T * 2 * (14 * 16 + 3 * 24 + 3 * 2 * T) * 4  # tokens x layers x (hidden, ffn, attention) x float32
    assert rows_per_pass(live, enc, memory_mb=50, batch_size=None) == 50 * 2**20 // per_row
    assert rows_per_pass(live, enc, memory_mb=1e-6, batch_size=None) == 1
    assert rows_per_pass(live, enc, memory_mb=50, batch_size=3) == 3
    with pytest.raises(InvalidParameterError, match="memory_mb must be positive"):
        rows_per_pass(live, enc, memory_mb=0, batch_size=None)
    with pytest.raises(InvalidParameterError, match="batch_size must be a positive int"):
        rows_per_pass(live, enc, memory_mb=10, batch_size=0)


def test_mean_baseline_from_a_store_of_another_model(live, tmp_path):
    from neuronlab.store import ActivationStore

    path = tmp_path / "other.h5"
    with ActivationStore.create(path, sites={"layers.1": 8}, offsets=np.array([0, 2]), texts=["x y"],
                                tokens=["x", "y"], granularity="word", dtype="float32", model={"name": "other"},
                                config={}) as st:
        st._write_rows(0, 1, {"layers.1": np.ones((2, 8), np.float32)})
    with ActivationStore.open(path) as st, \
            pytest.raises(InvalidParameterError, match="has 8 neurons, the model's has 16: the store comes from another"):
        NeuronAblation(live, "layers.1", baseline="mean", store=st).attribute(INPUTS, target=1)
