"""neuronlab.store."""
