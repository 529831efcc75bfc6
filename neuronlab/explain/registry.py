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
_MODE = Param("mode", str, "how a removed word is removed: drop its tokens, or replace each subword by "
              "[MASK]/[UNK]/[PAD]", choices=("drop", "mask", "unk", "pad"))
_BATCH = Param("batch_size", int, "perturbed inputs per forward pass")
register_explainer(ExplainerEntry(
    "leave-one-out", "neuronlab.explain.perturbation:LeaveOneOut",
    "f(x) - f(x without the word): erasure of one word at a time",
    "Li, Monroe & Jurafsky 2016, Understanding neural networks through representation erasure",
    params=(_MODE, _BATCH), family="perturbation", unit="word"))
register_explainer(ExplainerEntry(
    "occlusion", "neuronlab.explain.perturbation:Occlusion",
    "sliding windows of n words removed; each word gets the mean drop of the windows covering it",
    "Zeiler & Fergus 2014, Visualizing and understanding convolutional networks",
    params=(Param("window", int, "words per occluded window"), _MODE, _BATCH), family="perturbation", unit="word"))
register_explainer(ExplainerEntry(
    "input-reduction", "neuronlab.explain.perturbation:InputReduction",
    "remove the least important word while the prediction holds (beam search); scores: removal step",
    "Feng et al. 2018, Pathologies of neural models make interpretations difficult",
    params=(Param("beam", int, "beam width (1: greedy)"), _MODE, _BATCH), family="perturbation", unit="word"))
register_explainer(ExplainerEntry(
    "hotflip", "neuronlab.explain.perturbation:HotFlip",
    "best first-order token swap per word (gradient w.r.t. the one-hot input), verified by a forward pass",
    "Ebrahimi et al. 2018, HotFlip: white-box adversarial examples for text classification",
    params=(Param("candidates", int, "swaps verified per token position"), _BATCH), family="perturbation",
    unit="word"))
register_explainer(ExplainerEntry(
    "lime", "neuronlab.explain.lime:LimeText",
    "LIME for text: word-removal samples, cosine kernel, weighted ridge surrogate (as lime's LimeTextExplainer)",
    "Ribeiro, Singh & Guestrin 2016, Why should I trust you? Explaining the predictions of any classifier",
    params=(Param("n_samples", int, "samples per example, the input included"),
            Param("kernel_width", float, "width of the exponential kernel on cosine distance x 100"),
            Param("feature_selection", str, "words the surrogate uses", choices=("auto", "none",
                                                                               "forward_selection",
                                                                               "highest_weights")),
            Param("num_features", int, "words the surrogate may use"),
            Param("seed", int, "seed of the samples (lime's random_state)"), _MODE, _BATCH),
    family="perturbation", unit="word"))


# ---------------------------------------------------------------- shapley family (explain/shapley.py)
register_explainer(ExplainerEntry(
    "shapley", "neuronlab.explain.shapley:ExactShapley",
    "exact Shapley values of the words, all 2^n coalitions (short inputs)",
    "Shapley 1953; Strumbelj & Kononenko 2010",
    params=(Param("max_words", int, "longest input accepted"), _MODE, _BATCH), family="shapley", unit="word"))
register_explainer(ExplainerEntry(
    "kernel-shap", "neuronlab.explain.shapley:KernelShap",
    "KernelSHAP on word coalitions (shap's sampling and efficiency-constrained solve)",
    "Lundberg & Lee 2017, A unified approach to interpreting model predictions",
    params=(Param("n_samples", (int, str), "coalitions besides the empty and full ones", choices=("auto",)),
            Param("seed", int, "seed of the coalition draws"), _MODE, _BATCH), family="shapley", unit="word"))
_K = Param("k", int, "neighbourhood radius in words")
_CONTEXT = Param("context", str, "words outside the neighbourhood: kept or removed", choices=("keep", "remove"))
register_explainer(ExplainerEntry(
    "l-shapley", "neuronlab.explain.shapley:LShapley",
    "Shapley value of each word in the game of its k-neighbourhood",
    "Chen, Song, Wainwright & Jordan 2019, L-Shapley and C-Shapley",
    params=(_K, _CONTEXT, _MODE, _BATCH), family="shapley", unit="word"))
register_explainer(ExplainerEntry(
    "c-shapley", "neuronlab.explain.shapley:CShapley",
    "Shapley-like values from the connected windows of each word's k-neighbourhood",
    "Chen, Song, Wainwright & Jordan 2019, L-Shapley and C-Shapley",
    params=(_K, _CONTEXT, _MODE, _BATCH), family="shapley", unit="word"))


# ---------------------------------------------------------------- attention family (explain/attention.py)

__all__ += ["Param"]
