"""Input-level explanations: which words of an input led to a prediction (issue 15).

Every method is an :class:`~neuronlab.explain.base.Explainer` registered in
:data:`~neuronlab.explain.registry.EXPLAINERS` and runs on the live-model layer
(:class:`~neuronlab.models.live.LiveModel`, :mod:`neuronlab.models.targets`), the same one as the neuron
attribution methods, so that the explanation of a prediction and the neurons it used come from one model,
one target and one tokenisation. An explanation is an :class:`~neuronlab.explain.base.Explanation`
(a typed :class:`~neuronlab.results.Result`: JSON, and written into a store's /results).
"""
from .registry import EXPLAINERS, ExplainerEntry, register_explainer

__all__ = ["EXPLAINERS", "ExplainerEntry", "register_explainer"]
