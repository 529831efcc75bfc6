"""neuronlab.concepts."""
