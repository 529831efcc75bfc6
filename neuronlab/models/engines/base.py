"""The engine interface: run batches of token sequences and return the activations of requested sites.

An engine owns a model (its weights, its tokenizer, the list of its sites) and one verb, :meth:`Engine.run`:
a batch of sequences in, ``site -> (n_tokens, width)`` activations out, rows packed sequence after
sequence with no padding. The extractor does not care how the activations were obtained:

- ``hf`` (:class:`~neuronlab.models.engines.hf.HFEngine`): a transformers model with scoped forward hooks
  (:class:`~neuronlab.models.capture.SiteCapture`); serves every registered architecture;
- ``native`` (:class:`~neuronlab.models.engines.encoder.EncoderEngine`): the BERT-family encoder computed
  directly from the checkpoint's tensors, without padding, with the sites as its own intermediate values.
  It loads without importing transformers and runs several batches at once on CPU (one per worker thread).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

from ...errors import UnknownSiteError
from ...sites import expand_sites, site_order_key

__all__ = ["Engine", "block_sites"]


def block_sites(n_layers: int, prefix: str = "") -> list[str]:
    """Site names of a single-stack model in model order (see :mod:`neuronlab.sites`)."""
    names = [f"{prefix}embeddings"]
    for L in range(n_layers):
        names += [f"{prefix}layers.{L}.attn.heads", f"{prefix}layers.{L}.attn", f"{prefix}layers.{L}.mlp",
                  f"{prefix}layers.{L}"]
    return names


class Engine(ABC):
    """Runs a model on batches of token sequences and returns site activations.

    Attributes
    ----------
    name : str
        ``"native"`` or ``"hf"`` (recorded in the store's provenance).
    tokenizer : WordTokenizer
        Turns pre-split words into subword ids (see :mod:`neuronlab.models.wordtok`).
    info : dict
        Provenance written to the store: model name, path, architecture, weight fingerprint, versions.
    device : str
    compute_dtype : str
        Arithmetic of the forward pass (:mod:`~neuronlab.models.engines.precision`).
    max_workers : int
        How many batches the engine can run concurrently (threads); 1 for engines that are not thread-safe.
    """

    name = "engine"
    compute_dtype = "float32"

    # ------------------------------------------------------------------ description
    @property
    @abstractmethod
    def sites(self) -> list[str]:
        """Every site of the model, in model order."""

    @abstractmethod
    def widths(self, sites: Sequence[str]) -> dict[str, int]:
        """Neurons per site (resolved names)."""

    @property
    @abstractmethod
    def max_positions(self) -> int | None:
        """The longest input the model accepts (tokens, special tokens included); None if unbounded."""

    def resolve(self, patterns) -> list[str]:
        """Site names (and globs) resolved against this model's sites, in model order.

        Raises
        ------
        UnknownSiteError
            If a pattern matches no site (the message lists the valid ones).
        """
        return expand_sites(patterns, self.sites)

    # ------------------------------------------------------------------ the verb
    @abstractmethod
    def run(self, batch: Sequence[Sequence[int]], sites: Sequence[str]) -> dict:
        """Activations of ``sites`` for a batch of token-id sequences.

        Parameters
        ----------
        batch : sequence of sequence of int
            Token ids of each sequence (special tokens included), longest first.
        sites : sequence of str
            Resolved site names, in model order.

        Returns
        -------
        dict of str to torch.Tensor of shape (sum of sequence lengths, width)
            Rows of sequence 0, then sequence 1, ...: no padding rows. On the engine's device, float32
            (bfloat16 / float16 when the engine's ``compute_dtype`` is that type).
        """

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_resolved(sites: Sequence[str], available: Sequence[str]) -> None:
        missing = [s for s in sites if s not in available]
        if missing:
            raise UnknownSiteError(f"sites {missing} are not sites of this model; valid sites: {list(available)}")

    @staticmethod
    def deepest(sites: Sequence[str]) -> str:
        """The site computed last in a forward pass."""
        return max(sites, key=site_order_key)
