"""neuronlab.concepts.rankers."""
