"""neuronlab.corpus."""
