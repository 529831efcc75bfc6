"""neuronlab.cli."""
