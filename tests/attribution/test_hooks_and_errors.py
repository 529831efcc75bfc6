"""One common check over every registered method: no hook (or patched forward) survives it, also after an
exception inside the model; and clear one-line errors for bad input."""
from __future__ import annotations

import pytest

from helpers.live_models import INPUTS, tiny_bert

torch = pytest.importorskip("torch")

from neuronlab.attribution import METHODS  # noqa: E402
from neuronlab.errors import InvalidParameterError, NeuronlabError, UnknownSiteError  # noqa: E402

#: how each registered method is run in the common checks (small settings: the checks are about hooks)
RUNS = {
    "layer_conductance": lambda cls, live: cls(live, "layers.0", steps=3).attribute(INPUTS, target=1),
    "neuron_conductance": lambda cls, live: cls(live, "layers.0.mlp", steps=3).attribute(INPUTS, target=1, neuron=2),
    "layer_integrated_gradients": lambda cls, live: cls(live, "layers.0", steps=3).attribute(INPUTS, target=1),
    "layer_gradient_x_activation": lambda cls, live: cls(live, "layers.0.attn").attribute(INPUTS, target=1),
    "neuron_ablation": lambda cls, live: cls(live, "layers.0.mlp").attribute(INPUTS, target=1, neurons=[1, 2]),
    "greedy_ablation": lambda cls, live: cls(live, "layers.0", k=2).attribute(INPUTS, target=1, candidates=[1, 2, 3]),
    "concept_bridge": lambda cls, live: cls(live, n_random=3, method_params={"steps": 2}).attribute(
        INPUTS, neurons=["layers.0:1", "layers.1.mlp:2"], labels=[1, 0]),
    "self_attention_attribution": lambda cls, live: cls(live, "layers.1", steps=3).attribute(INPUTS, target=1),
    "head_pruning": lambda cls, live: cls(live, steps=2).attribute(INPUTS, labels=[1, 0]),
    "tcav": lambda cls, live: cls(live, "layers.0", n_runs=2).attribute(
        INPUTS, target=1, concepts={"c": ["a red car", "a blue hat"]}, random=["he ran", "we ate", "it fell", "I sang"]),
}


def test_every_registered_method_has_a_run():
    assert set(RUNS) == set(METHODS)


def _leftovers(model) -> list[str]:
    out = []
    for name, m in model.named_modules():
        if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks:
            out.append(f"hook on {name or 'model'}")
        if "forward" in m.__dict__:
            out.append(f"patched forward on {name}")
    return out


@pytest.fixture(scope="module")
def live():
    return tiny_bert()


@pytest.mark.parametrize("name", sorted(RUNS))
def test_no_hook_left_after_a_method(live, name):
    attn = live.model.config._attn_implementation
    RUNS[name](METHODS[name], live)
    assert _leftovers(live.model) == []
    assert live.model.config._attn_implementation == attn


@pytest.mark.parametrize("name", sorted(RUNS))
def test_no_hook_left_after_an_exception_inside_the_model(live, name, monkeypatch):
    attn = live.model.config._attn_implementation
    live.width("layers.0.mlp"), live.width("layers.0"), live.width("layers.0.attn")  # widths known beforehand

    def boom(*args, **kwargs):
        raise RuntimeError("boom inside the model")

    monkeypatch.setattr(live.model.classifier, "forward", boom)
    with pytest.raises(RuntimeError, match="boom inside the model"):
        RUNS[name](METHODS[name], live)
    monkeypatch.undo()
    assert _leftovers(live.model) == []
    assert live.model.config._attn_implementation == attn


def test_unknown_target_class(live):
    with pytest.raises(InvalidParameterError, match=r"target class 5 is out of range.*2 classes \(0\.\.1\)"):
        METHODS["layer_gradient_x_activation"](live, "layers.0").attribute(INPUTS, target=5)


def test_site_absent_from_the_model(live):
    with pytest.raises(UnknownSiteError, match=r"'layers\.7' matches no site; valid sites: embeddings"):
        METHODS["layer_conductance"](live, "layers.7")
    with pytest.raises(UnknownSiteError, match="'block3' matches no site"):
        METHODS["layer_integrated_gradients"](live, "block3")


def test_neuron_out_of_range(live):
    with pytest.raises(InvalidParameterError, match=r"neuron 24 is out of range: site 'layers\.0\.mlp' has 24"):
        METHODS["neuron_conductance"](live, "layers.0.mlp", steps=2).attribute(INPUTS, target=1, neuron=24)
    with pytest.raises(InvalidParameterError, match="neuron -1 is out of range"):
        METHODS["greedy_ablation"](live, "layers.0", k=1).attribute(INPUTS, target=1, candidates=[-1])


@pytest.mark.parametrize("kwargs,match", [
    ({"rule": "simpson"}, "rule 'simpson' is unknown; choose one of riemann_left"),
    ({"steps": 0}, "steps must be a positive int"),
    ({"derivative": "numeric"}, "derivative 'numeric' is unknown"),
])
def test_bad_parameters(live, kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        METHODS["layer_conductance"](live, "layers.0", **kwargs)


def test_errors_are_one_line_neuronlab_errors(live):
    for call in (lambda: METHODS["layer_gradient_x_activation"](live, "layers.0").attribute(INPUTS, target=9),
                 lambda: METHODS["layer_conductance"](live, "layers.9"),
                 lambda: live.encode([]),
                 lambda: METHODS["layer_conductance"](live, "layers.0").attribute(INPUTS, target=1,
                                                                                  baselines="noise")):
        with pytest.raises(NeuronlabError) as info:
            call()
        assert "\n" not in str(info.value)
