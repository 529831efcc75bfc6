"""The registry of input-level explainers: :data:`EXPLAINERS` (key -> :class:`ExplainerEntry`).

An entry holds the class by import path (listing imports no torch), a one-line description, the paper,
the parameters a command line may set (``--param NAME=VALUE``), its family and the unit it scores
(``token``: subword tokens, aggregated to words afterwards; ``word``: words are the features, as in
perturbation methods). ``EXPLAINERS[name](live, target=..., **params)`` builds the explainer.

Each family registers its methods in its own block below (one block per module), so that the registry
lists every method without importing any.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidParameterError, choices
from ..registry import Entry, Param, Registry

__all__ = ["EXPLAINERS", "ExplainerEntry", "register_explainer", "FAMILIES", "UNITS"]

#: families of explainers (the report and ``explain --list`` group by them)
FAMILIES = ("gradient", "propagation", "perturbation", "shapley", "decomposition", "attention")
#: what an explainer scores natively
UNITS = ("token", "word")


@dataclass(frozen=True)
class ExplainerEntry(Entry):
    """A registered explainer.

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`.
    unit : {"token", "word"}
        What the method scores natively (token scores are summed to words; word scores are kept).
    """

    family: str = "gradient"
    unit: str = "token"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InvalidParameterError(f"family must be one of {choices(FAMILIES)}; got {self.family!r}")
        if self.unit not in UNITS:
            raise InvalidParameterError(f"unit must be one of {choices(UNITS)}; got {self.unit!r}")

    def __call__(self, *args, **kwargs):
        return self.load()(*args, **kwargs)


#: explainer key -> :class:`ExplainerEntry`
EXPLAINERS: Registry[ExplainerEntry] = Registry(
    "explainer", how_to_add="register an ExplainerEntry with neuronlab.explain.register_explainer")


def register_explainer(entry: ExplainerEntry) -> ExplainerEntry:
    """Add an explainer; ``neuronlab explain --method`` then offers it."""
    return EXPLAINERS.register(entry)


# ---------------------------------------------------------------- gradient family (explain/gradients.py)


# ---------------------------------------------------------------- propagation family (explain/lrp.py, deeplift)


# ---------------------------------------------------------------- perturbation family (explain/perturbation.py)


# ---------------------------------------------------------------- shapley family (explain/shapley.py)


# ---------------------------------------------------------------- attention family (explain/attention.py)
_FUSION = Param("head_fusion", str, "how the heads of a layer are combined", choices=("mean", "max", "min"))
_RESIDUAL = Param("residual", float, "weight of the identity (residual connection) in r I + (1 - r) A")
register_explainer(ExplainerEntry(
    "attention", "neuronlab.explain.attention:RawAttentionExplainer",
    "attention of the output position over the tokens at one layer, heads fused",
    reference="Jain & Wallace 2019; Wiegreffe & Pinter 2019", family="attention",
    params=(_FUSION, Param("layer", int, "layer (negative: from the top)"))))
register_explainer(ExplainerEntry(
    "rollout", "neuronlab.explain.attention:RolloutExplainer",
    "attention rollout: the product of residual-augmented attention over the layers",
    reference="Abnar & Zuidema 2020", family="attention", params=(_FUSION, _RESIDUAL)))
register_explainer(ExplainerEntry(
    "attention-flow", "neuronlab.explain.attention:AttentionFlowExplainer",
    "attention flow: maximum flow from each token to the output position through the layers",
    reference="Abnar & Zuidema 2020", family="attention", params=(_FUSION, _RESIDUAL)))

__all__ += ["Param"]
