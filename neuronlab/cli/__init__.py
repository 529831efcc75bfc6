"""The ``neuronlab`` command line: :mod:`neuronlab.cli.main` (entry point ``main``), the command modules
``commands_*`` and their leaf :mod:`neuronlab.cli.registry`.

The package does not re-export ``main``: ``neuronlab.cli.main`` is the submodule (console script
``neuronlab = neuronlab.cli.main:main``).
"""
