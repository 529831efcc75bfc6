"""neuronlab.concepts.probes."""
