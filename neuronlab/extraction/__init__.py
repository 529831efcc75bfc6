"""neuronlab.extraction."""
