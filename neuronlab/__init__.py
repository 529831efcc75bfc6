"""neuronlab: neuron-level interpretation of NLP models.

Importing the package does no work: torch, transformers and h5py are imported only by the
modules that need them.
"""
__version__ = "0.1.0"
__all__ = ["__version__"]
