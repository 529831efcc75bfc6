"""neuronlab.models."""
