"""``neuronlab rank --method gaussian`` on a synthetic store: the greedy order is the ranking."""
import io
import json
import logging
from contextlib import redirect_stderr, redirect_stdout

import numpy as np

from neuronlab.testing import synthetic_store


def cli(*args):
    from neuronlab.cli.main import main

    logger = logging.getLogger("neuronlab")
    for h in [h for h in logger.handlers if getattr(h, "_neuronlab", False)]:
        logger.removeHandler(h)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def test_rank_gaussian_puts_the_planted_neuron_first(tmp_path):
    rng = np.random.default_rng(0)
    sentences = [[f"w{i}" for i in range(4)] for _ in range(100)]
    n = 400
    labels = rng.choice(["A", "B", "C"], size=n)
    data = {"layers.0": rng.normal(size=(n, 6)), "layers.1": rng.normal(size=(n, 6))}
    code = np.searchsorted(["A", "B", "C"], labels)
    data["layers.1"][:, 4] = rng.normal(size=n) * (0.2 + code)  # separable by its variance only
    path = tmp_path / "s.h5"
    rare = list(labels)
    rare[:3] = ["Z"] * 3
    synthetic_store(path, sentences, data=data, labels={"tag": (list(labels), "row"), "rare": (rare, "row")})
    rc, out, err = cli("rank", path, "--concept", "tag", "--method", "gaussian", "--param", "max_dims=3", "--json")
    assert rc == 0, err
    r = json.loads(out)
    assert r["ranking"][0] == "layers.1:4" and r["n_neurons"] == 12
    rc, _, err = cli("rank", path, "--concept", "rare", "--method", "gaussian", "--param", "max_dims=5")
    assert rc == 2 and "Traceback" not in err
    assert "class 3 has 3 row(s) but max_dims asks for a 5-dimensional Gaussian per class" in err
