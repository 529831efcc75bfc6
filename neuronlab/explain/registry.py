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
_REDUCE = (Param("reduction", str, "per-dimension scores to a token score: sum (signed, keeps completeness), l1, "
                 "l2, dot (with the input embedding)", choices=("sum", "l1", "l2", "dot")),
           Param("normalize", bool, "divide each example's token scores by their sum of absolute values"),
           Param("batch_size", int, "rows (examples x steps/samples) per forward and backward pass"))
_BASELINE = Param("baseline", str, "reference: zero, pad, mask, unk (word tokens replaced; special tokens kept) or "
                                   "any vocabulary token")
_SEED = Param("seed", int, "seed of the random draws")
_LEVEL = Param("level", float, "noise sd relative to the embedding range: sigma = level * (max - min) of the "
                               "input's word embeddings")
register_explainer(ExplainerEntry(
    "gradient", "neuronlab.explain.gradients:Saliency",
    "vanilla gradient (saliency) of the target on the word embeddings (default l1: |gradient| summed)",
    "Simonyan et al. 2014", params=_REDUCE, family="gradient"))
register_explainer(ExplainerEntry(
    "gradient_x_input", "neuronlab.explain.gradients:GradientXInput",
    "gradient x input embedding, summed over the embedding", "Shrikumar et al. 2016; Denil et al. 2014",
    params=_REDUCE, family="gradient"))
register_explainer(ExplainerEntry(
    "smoothgrad", "neuronlab.explain.gradients:SmoothGrad",
    "gradient averaged over noisy copies of the word embeddings (Gaussian noise, seeded)", "Smilkov et al. 2017",
    params=_REDUCE + (Param("n_samples", int, "noisy copies per input"), _LEVEL, _SEED,
                      Param("absolute", bool, "average |gradient| (Captum's NoiseTunnel(Saliency) default)")),
    family="gradient"))
register_explainer(ExplainerEntry(
    "integrated_gradients", "neuronlab.explain.gradients:IntegratedGradients",
    "integrated gradients from a baseline on the word embeddings; sum of scores = f(x) - f(baseline)",
    "Sundararajan et al. 2017",
    params=_REDUCE + (Param("steps", int, "quadrature nodes"),
                      Param("rule", str, "quadrature rule", choices=("gausslegendre", "riemann_left", "riemann_right",
                                                                      "riemann_middle", "trapezoid")), _BASELINE),
    family="gradient"))
register_explainer(ExplainerEntry(
    "guided_backprop", "neuronlab.explain.gradients:GuidedBackprop",
    "gradient with negative gradients stopped at every ReLU (ReLU models only; refused for GELU models)",
    "Springenberg et al. 2015", params=_REDUCE, family="gradient"))


# ---------------------------------------------------------------- propagation family (explain/lrp.py, deeplift)
register_explainer(ExplainerEntry(
    "lrp", "neuronlab.explain.lrp:LRP",
    "conservative LRP for transformers: gradient x input with attention probabilities and LayerNorm scale "
    "detached (AH- and LN-rules)", "Ali et al. 2022",
    params=_REDUCE + (Param("ah", bool, "AH-rule: attention probabilities constant in the backward"),
                      Param("ln", bool, "LN-rule: LayerNorm's standard deviation constant in the backward"),
                      Param("activations", bool, "identity rule: activations pass relevance unchanged")),
    family="propagation"))
register_explainer(ExplainerEntry(
    "deeplift", "neuronlab.explain.deeplift:DeepLift",
    "DeepLIFT rescale rule against a baseline, (x - x') times the rescaled gradient", "Shrikumar et al. 2017",
    params=_REDUCE + (_BASELINE, Param("eps", float, "input difference below which the plain derivative is used")),
    family="propagation"))
register_explainer(ExplainerEntry(
    "gradient_shap", "neuronlab.explain.deeplift:GradientShap",
    "GradientSHAP: expected gradients over random baselines with input noise (Captum's GradientShap)",
    "Lundberg & Lee 2017; Erion et al. 2021",
    params=_REDUCE + (Param("baselines", str, "comma-separated: random, zero, pad, mask, unk or tokens"),
                      Param("n_random", int, "random-token baselines per input"),
                      Param("n_samples", int, "draws per input"), _LEVEL, _SEED,
                      Param("reference", bool, "compute f over the baselines (reference_value); false skips it")),
    family="propagation"))


# ---------------------------------------------------------------- perturbation family (explain/perturbation.py)
_MODE = Param("mode", str, "how a removed word is removed: drop its tokens, or replace each subword by "
              "[MASK]/[UNK]/[PAD]", choices=("drop", "mask", "unk", "pad"))
_BATCH = Param("batch_size", int, "perturbed inputs per forward pass")
_ENGINE = Param("engine", str, "forward pass of the perturbed inputs: auto (packed where the model allows it), hf "
                "(transformers' padded forward) or native (packed, or an error saying why not)",
                choices=("auto", "hf", "native"))
register_explainer(ExplainerEntry(
    "leave-one-out", "neuronlab.explain.perturbation:LeaveOneOut",
    "f(x) - f(x without the word): erasure of one word at a time",
    "Li, Monroe & Jurafsky 2016, Understanding neural networks through representation erasure",
    params=(_MODE, _BATCH, _ENGINE), family="perturbation", unit="word"))
register_explainer(ExplainerEntry(
    "occlusion", "neuronlab.explain.perturbation:Occlusion",
    "sliding windows of n words removed; each word gets the mean drop of the windows covering it",
    "Zeiler & Fergus 2014, Visualizing and understanding convolutional networks",
    params=(Param("window", int, "words per occluded window"), _MODE, _BATCH, _ENGINE), family="perturbation", unit="word"))
register_explainer(ExplainerEntry(
    "input-reduction", "neuronlab.explain.perturbation:InputReduction",
    "remove the least important word while the prediction holds (beam search); scores: removal step",
    "Feng et al. 2018, Pathologies of neural models make interpretations difficult",
    params=(Param("beam", int, "beam width (1: greedy)"), _MODE, _BATCH, _ENGINE), family="perturbation", unit="word"))
register_explainer(ExplainerEntry(
    "hotflip", "neuronlab.explain.perturbation:HotFlip",
    "best first-order token swap per word (gradient w.r.t. the one-hot input), verified by a forward pass",
    "Ebrahimi et al. 2018, HotFlip: white-box adversarial examples for text classification",
    params=(Param("candidates", int, "swaps verified per token position"), _BATCH, _ENGINE), family="perturbation",
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
            Param("seed", int, "seed of the samples (lime's random_state)"), _MODE, _BATCH, _ENGINE),
    family="perturbation", unit="word"))


# ---------------------------------------------------------------- shapley family (explain/shapley.py)
register_explainer(ExplainerEntry(
    "shapley", "neuronlab.explain.shapley:ExactShapley",
    "exact Shapley values of the words, all 2^n coalitions (short inputs)",
    "Shapley 1953; Strumbelj & Kononenko 2010",
    params=(Param("max_words", int, "longest input accepted"), _MODE, _BATCH, _ENGINE), family="shapley", unit="word"))
register_explainer(ExplainerEntry(
    "kernel-shap", "neuronlab.explain.shapley:KernelShap",
    "KernelSHAP on word coalitions (shap's sampling and efficiency-constrained solve)",
    "Lundberg & Lee 2017, A unified approach to interpreting model predictions",
    params=(Param("n_samples", (int, str), "coalitions besides the empty and full ones", choices=("auto",)),
            Param("seed", int, "seed of the coalition draws"), _MODE, _BATCH, _ENGINE), family="shapley", unit="word"))
_K = Param("k", int, "neighbourhood radius in words")
_CONTEXT = Param("context", str, "words outside the neighbourhood: kept or removed", choices=("keep", "remove"))
register_explainer(ExplainerEntry(
    "l-shapley", "neuronlab.explain.shapley:LShapley",
    "Shapley value of each word in the game of its k-neighbourhood",
    "Chen, Song, Wainwright & Jordan 2019, L-Shapley and C-Shapley",
    params=(_K, _CONTEXT, _MODE, _BATCH, _ENGINE), family="shapley", unit="word"))
register_explainer(ExplainerEntry(
    "c-shapley", "neuronlab.explain.shapley:CShapley",
    "Shapley-like values from the connected windows of each word's k-neighbourhood",
    "Chen, Song, Wainwright & Jordan 2019, L-Shapley and C-Shapley",
    params=(_K, _CONTEXT, _MODE, _BATCH, _ENGINE), family="shapley", unit="word"))


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


# ---- attention analysis (explain/value_zeroing.py)
register_explainer(ExplainerEntry(
    "value_zeroing", "neuronlab.explain.value_zeroing:ValueZeroing",
    "value zeroing: cosine distance of each layer's outputs when a token's value vectors are zeroed, rolled out",
    reference="Mohebbi, Zuidema, Chrupala & Alishahi 2023, Quantifying Context Mixing in Transformers",
    family="attention",
    params=(Param("rollout", bool, "score by the rolled-out map (false: by the map of one layer)"),
            Param("layer", int, "layer whose map scores the tokens when rollout is false"),
            Param("batch_size", int, "forward rows (zeroed tokens) per pass"))))
# ---- decomposition (explain/decomposition.py)
register_explainer(ExplainerEntry(
    "cd", "neuronlab.explain.decomposition:ContextualDecomposition",
    "contextual decomposition (CD-T): each word's part of the class logit, decomposed layer by layer "
    "(BERT/RoBERTa classifiers, target kind logit)",
    "Murdoch, Liu & Yu 2018; Singh, Murdoch & Yu 2019; Hsu et al. 2024 (CD-T)",
    params=(Param("activation", str, "rule for activations: shapley (Shapley linearisation of CD) or cdt "
                  "(CD-T code: context f(g), phrase f(b+g)-f(g))", choices=("shapley", "cdt")),
            Param("sign_fix", bool, "CD-T's stabilisation: opposite-signed parts, the larger takes the sum"),
            Param("dtype", str, "precision of the decomposition", choices=("float32", "float64")),
            Param("batch_size", int, "decomposed rows (input x phrase) per pass")),
    family="decomposition", unit="word"))
