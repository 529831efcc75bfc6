"""neuronlab.concepts.evaluation."""
