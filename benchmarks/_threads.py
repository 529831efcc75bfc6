"""Thread pinning shared by the benchmarks: ``--threads`` is read and exported before numpy or torch load their BLAS.

Import it first, before numpy (the script's own folder is on ``sys.path`` when it runs as ``python benchmarks/X.py``)::

    from _threads import THREADS_PARSER, pin_threads

    THREADS = pin_threads()  # then import numpy / torch; add ``parents=[THREADS_PARSER]`` to the script's parser
"""
from __future__ import annotations

import argparse
import os

#: the ``--threads`` option alone (``parents=[THREADS_PARSER]`` gives a script's parser the same option)
THREADS_PARSER = argparse.ArgumentParser(add_help=False)
THREADS_PARSER.add_argument("--threads", type=int, default=2)


def pin_threads(*, offline_hub: bool = False) -> int:
    """Read ``--threads`` from the command line (default 2), export it to OpenMP, OpenBLAS and MKL, and return it.

    ``offline_hub`` also sets ``HF_HUB_OFFLINE=1`` (unless already set): the benchmarks load their models from disk.
    """
    threads = THREADS_PARSER.parse_known_args()[0].threads
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if offline_hub:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return threads
