"""The registry of attribution methods: :data:`METHODS` (key -> :class:`MethodEntry`).

An entry holds the class (by import path, so that listing the registry imports no torch), a one-line
description, the paper, the hyper-parameters a command line may set (``--param NAME=VALUE``), the
command that offers it (``attribute`` or ``ablate``) and its short name there (``--method conductance``).
Add a method with :func:`register_method`; ``neuronlab attribute --method`` then offers it.

Examples
--------
>>> METHODS["layer_conductance"].short, METHODS["layer_conductance"].command
('conductance', 'attribute')
>>> [e.short for e in METHODS.values() if e.command == "attribute"]
['conductance', 'neuron-conductance', 'ig', 'grad-x-act', 'attention']
>>> METHODS.by_short("ig").name
'layer_integrated_gradients'
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidParameterError, UnknownKeyError, choices
from ..registry import Entry, Param, Registry

__all__ = ["METHODS", "MethodEntry", "MethodRegistry", "register_method", "COMMANDS", "LAYER_ATTRIBUTORS"]

#: the commands that offer methods: ``attribute`` (an AttributionResult) and ``ablate`` (a dict of effects)
COMMANDS = ("attribute", "ablate", "")


@dataclass(frozen=True)
class MethodEntry(Entry):
    """A registered attribution method.

    Parameters
    ----------
    short : str
        Its name on the command line (``conductance``); defaults to the key.
    command : {"attribute", "ablate", ""}
        The CLI command that offers it (empty: library only).

    Calling the entry calls the class: ``METHODS[name](live, site, **hyper_parameters)``.
    """

    short: str = ""
    command: str = "attribute"

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise InvalidParameterError(f"command must be one of {choices(COMMANDS)}; got {self.command!r}")
        if not self.short:
            object.__setattr__(self, "short", self.name)

    def accepted(self) -> list[str]:
        import inspect

        sig = inspect.signature(self.load().__init__)
        return [n for n, p in sig.parameters.items() if p.kind == p.KEYWORD_ONLY]

    def __call__(self, *args, **kwargs):
        return self.load()(*args, **kwargs)


class MethodRegistry(Registry[MethodEntry]):
    """:class:`~neuronlab.registry.Registry` plus the look-up by command-line name."""

    def by_short(self, short: str, command: str | None = None) -> MethodEntry:
        """The entry whose short name (or key) is ``short``, among those of ``command`` if given."""
        pool = [e for e in self.values() if command is None or e.command == command]
        for e in pool:
            if short in (e.short, e.name):
                return e
        raise UnknownKeyError(f"unknown {self.kind} {short!r}; valid: {choices([e.short for e in pool])}")


METHODS: MethodRegistry = MethodRegistry(
    "attribution method", how_to_add="add one with neuronlab.attribution.register_method(MethodEntry(...))")


def register_method(entry: MethodEntry, *, replace: bool = False) -> MethodEntry:
    """Add a method to :data:`METHODS` (the CLI then offers it under ``entry.short``)."""
    return METHODS.register(entry, replace=replace)


_P = "neuronlab.attribution."
_RULE = Param("rule", str, "quadrature rule (riemann_left, riemann_right, riemann_middle, trapezoid, gausslegendre)")
_STEPS = Param("steps", int, "interpolation steps")
_MEM = Param("memory_mb", float, "memory bound of one forward/backward pass (sets the rows per pass)")
_BATCH = Param("batch_size", int, "rows per pass (overrides memory_mb)", nullable=True)
_INPUT = Param("input_site", str, "site where the path is interpolated")
_HAO = ("Hao, Dong, Wei & Xu 2021, Self-Attention Attribution: Interpreting Information Interactions Inside "
        "Transformer, AAAI")
_DC = "Dhamdhere, Sundararajan & Yan 2018, How important is a neuron? arXiv:1805.12233"
for _entry in (
    MethodEntry("layer_conductance", _P + "layer_conductance:LayerConductance",
                "conductance of every neuron of the site at every token", _DC,
                params=(_RULE, _STEPS, _INPUT, Param("derivative", str, "dy/da by forward-mode AD or differences",
                                                     choices=("exact", "difference")), _MEM, _BATCH),
                short="conductance"),
    MethodEntry("neuron_conductance", _P + "neuron_conductance:NeuronConductance",
                "one neuron's conductance split over the input tokens (needs --neuron)", _DC,
                params=(_RULE, _STEPS, _INPUT, _MEM, _BATCH), short="neuron-conductance"),
    MethodEntry("layer_integrated_gradients", _P + "layer_integrated_gradients:LayerIntegratedGradients",
                "integrated gradients with the site's value as the input",
                "Sundararajan, Taly & Yan 2017, Axiomatic attribution for deep networks, ICML",
                params=(_RULE, _STEPS, _MEM, _BATCH), short="ig"),
    MethodEntry("layer_gradient_x_activation", _P + "layer_gradient_x_activation:LayerGradientXActivation",
                "activation times gradient, one forward/backward pass", "Shrikumar et al. 2016, arXiv:1605.01713",
                short="grad-x-act"),
    MethodEntry("self_attention_attribution", _P + "self_attention:SelfAttentionAttribution",
                "integrated gradients over the attention probabilities of the site's layer, per head, query and key "
                "token (--site layers.L or layers.L.attn.probs)", _HAO, params=(_RULE, _STEPS, _MEM, _BATCH),
                short="attention"),
    MethodEntry("neuron_ablation", _P + "ablation:NeuronAblation",
                "target change when each neuron (or a group) is set to a baseline",
                "Dalvi et al. 2019, What is one grain of sand in the desert?, AAAI", params=(_MEM, _BATCH),
                short="ablation", command="ablate"),
    MethodEntry("greedy_ablation", _P + "greedy_ablation:GreedyAblation",
                "the k neurons whose joint ablation moves the target most, chosen greedily",
                "Durrani, Sajjad & Dalvi 2021, NAACL tutorial", params=(_MEM, _BATCH),
                short="greedy", command="ablate"),
    MethodEntry("concept_bridge", _P + "bridge:ConceptBridge",
                "share of attribution and ablation effect of a concept's neurons against random neuron sets",
                "Durrani, Sajjad & Dalvi 2021, NAACL tutorial: connecting concept analysis and neuron causation",
                command=""),
    MethodEntry("head_pruning", _P + "head_pruning:HeadPruning",
                "head importance by self-attention attribution and the accuracy of pruning heads by it vs attention "
                "weight and random order", _HAO, command=""),
    MethodEntry("tcav", _P + "tcav:TCAV",
                "concept activation vectors and the class's sensitivity to them, with significance tests",
                "Kim et al. 2018, Interpretability beyond feature attribution: TCAV, ICML", command=""),
):
    register_method(_entry)
del _entry


#: registered layer attributors the concept bridge can use (their results are (examples, tokens, width)), with a name
#: for prose (here, not in bridge.py, so that the CLI offers them without importing torch)
LAYER_ATTRIBUTORS = {"layer_conductance": "conductance", "layer_integrated_gradients": "integrated gradients",
                     "layer_gradient_x_activation": "gradient x activation"}
