"""Typed results: one JSON form, written into the store and read back."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neuronlab.concepts.results import ProbeResult, RankingResult
from neuronlab.concepts.study import probe_concept, rank_concept
from neuronlab.errors import InvalidParameterError
from neuronlab.results import Result
from neuronlab.store import ActivationStore

from concept_stores import tiny_store  # noqa: F401 (fixture)

PROBE_KEYS = ["concept", "store", "test_store", "sites", "n_neurons", "classes", "unseen_test_classes", "n_train", "n_test", "accuracy",
              "train_accuracy", "baselines", "selectivity", "ranking", "per_class", "layer_distribution",
              "evaluation", "probe_iterations", "seconds", "config", "result_path"]
RANKING_KEYS = ["method", "concept", "store", "n_rows", "n_neurons", "classes", "ranking", "scores", "per_class",
                "top", "seconds", "config", "weight_mass", "average_precision", "result_path"]


def test_probe_result_json_store_round_trip(tiny_store):
    with ActivationStore.open(tiny_store) as st:
        result = probe_concept(st, "concept", controls=False)
    assert isinstance(result, ProbeResult) and isinstance(result, Result)
    assert list(result.to_dict()) == PROBE_KEYS  # the published JSON keys, in their order
    assert json.loads(result.to_json()) == json.loads(json.dumps(result.to_dict()))
    assert result.coef.shape == (2, 16)  # NeuroX's two-output softmax and result.neuron_ids[0] == "layers.0:0"
    with ActivationStore.open(tiny_store, mode="r+") as st:
        assert result.to_store(st, "probe_concept") == "/results/probe_concept"
    with ActivationStore.open(tiny_store) as st:
        stored = st.read_result("probe_concept")
        back = ProbeResult.from_store(st, "probe_concept")
    # the layout the CLI has always written, plus the JSON report
    assert set(stored) == {"kind", "config", "coef", "intercept", "classes", "ranking", "neuron_ids", "report"}
    assert stored["kind"] == "probe" and stored["config"] == json.loads(json.dumps(result.config, default=str))
    assert stored["coef"].dtype == np.float32 and list(stored["ranking"]) == result.ranking
    assert back.to_dict() == json.loads(result.to_json())
    np.testing.assert_array_equal(back.coef, np.asarray(result.coef, dtype=np.float32))
    assert back.neuron_ids == result.neuron_ids


def test_ranking_result_round_trip_and_kind_check(tiny_store):
    with ActivationStore.open(tiny_store) as st:
        result = rank_concept(st, "concept", "ap", top_k=3)
    assert isinstance(result, RankingResult) and list(result.to_dict()) == RANKING_KEYS
    assert result.top == result.ranking[:3] and result.class_scores.shape == (2, 16)
    with ActivationStore.open(tiny_store, mode="r+") as st:
        result.to_store(st, "rank_ap_concept")
    with ActivationStore.open(tiny_store) as st:
        stored = st.read_result("rank_ap_concept")
        back = RankingResult.from_store(st, "rank_ap_concept")
        with pytest.raises(InvalidParameterError, match="is a 'ranking' result, not a 'probe' one"):
            ProbeResult.from_store(st, "rank_ap_concept")
    assert set(stored) == {"kind", "config", "ranking", "scores", "neuron_ids", "class_scores", "report"}
    np.testing.assert_array_equal(stored["scores"], np.asarray(result.scores))
    assert back.to_dict() == json.loads(result.to_json())
    np.testing.assert_allclose(back.class_scores, result.class_scores, rtol=1e-6)
