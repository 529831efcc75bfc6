"""``neuronlab crossmodel`` on synthetic stores: rankings, CKA matrix, results in the first store, row checks."""
import io
import json
import logging
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

from neuronlab.concepts.multimodel import CrossModelResult, cross_model
from neuronlab.errors import InvalidParameterError
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store

SENTENCES = [[f"w{(3 * s + i) % 11}" for i in range(5)] for s in range(60)]  # 300 rows


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


@pytest.fixture
def stores(tmp_path):
    rng = np.random.default_rng(0)
    n = sum(len(s) for s in SENTENCES)
    a = {"layers.0": rng.normal(size=(n, 8)), "layers.1": rng.normal(size=(n, 8))}
    b = {"layers.0": rng.normal(size=(n, 8)), "layers.1": rng.normal(size=(n, 8))}
    a["layers.1"][:, 6] = b["layers.0"][:, 2] * 2 + 0.05 * rng.normal(size=n)  # shared neuron
    b["layers.1"] = a["layers.1"] @ np.linalg.qr(rng.normal(size=(8, 8)))[0]  # b's layer 1 = a rotated
    paths = []
    for name, data in (("a", a), ("b", b)):
        path = tmp_path / f"{name}.h5"
        synthetic_store(path, SENTENCES, data=data)
        paths.append(path)
    return paths


def test_maxcorr_json_ranks_the_shared_neuron_and_writes_into_the_first_store(stores):
    rc, out, err = cli("crossmodel", *stores, "--method", "maxcorr", "--json", "--top-k", "3")
    assert rc == 0, err
    r = json.loads(out)
    assert r["models"] == ["a", "b"] and r["n_rows"] == 300
    # a's layer 1 is b's layer 1 rotated, so every a:layers.1 neuron has some correlation; the planted copy is exact
    assert r["ranking"][0] == "layers.1:6"
    assert r["top"][0]["matches"]["b"]["neuron"] == "layers.0:2" and r["top"][0]["matches"]["b"]["r"] > 0.99
    assert r["result_path"] == "/results/crossmodel_maxcorr"
    with ActivationStore.open(stores[0]) as st:
        back = CrossModelResult.from_store(st, "crossmodel_maxcorr")
    assert {**back.to_dict(), "result_path": r["result_path"]} == r  # the path is known after the write
    with ActivationStore.open(stores[1]) as st:
        assert "crossmodel_maxcorr" not in st.result_names()


def test_cka_matrix_over_sites_of_both_models(stores):
    rc, out, err = cli("crossmodel", *stores, "--method", "cka", "--json", "--no-write-back")
    assert rc == 0, err
    r = json.loads(out)
    assert r["blocks"] == ["a:layers.0", "a:layers.1", "b:layers.0", "b:layers.1"]
    sim = np.array(r["similarity"])
    assert sim.shape == (4, 4) and np.allclose(np.diag(sim), 1.0) and np.allclose(sim, sim.T)
    assert sim[1, 3] == pytest.approx(1.0)  # a rotation leaves linear CKA at 1
    assert sim[0, 2] < 0.2
    assert r["result_path"] is None
    rc, out, _ = cli("crossmodel", *stores, "--method", "cka", "--no-write-back")
    assert rc == 0 and "linear CKA" in out and "b:layers.1" in out


@pytest.mark.parametrize("method", ["mincorr", "linreg", "svcca"])
def test_other_methods_run_and_print(stores, method):
    rc, out, err = cli("crossmodel", *stores, "--method", method, "--sites", "layers.1", "--top-k", "2", "--quiet")
    assert rc == 0, err
    assert "layers.1:" in out and f"written to {stores[0]}" in out


def test_svcca_of_a_rotated_layer_is_one(stores):
    r = cross_model(stores, "svcca", sites="layers.1", params={"variance": 1.0})
    assert r.pairs[0]["similarity"] == pytest.approx(1.0)


def test_different_row_counts_are_a_clear_error(stores, tmp_path):
    short = tmp_path / "short.h5"
    synthetic_store(short, SENTENCES[:-1], sites={"layers.0": 8, "layers.1": 8})
    rc, _, err = cli("crossmodel", stores[0], short, "--method", "maxcorr")
    assert rc == 2 and "Traceback" not in err
    assert err.strip() == ("neuronlab: error: 'short' has 295 rows but 'a' has 300; multi-model search needs every "
                           "model run on the same corpus (same sentences, same rows): extract them from one input")


def test_different_words_are_a_clear_error(stores, tmp_path):
    other = [list(s) for s in SENTENCES]
    other[10][2] = "zzz"
    path = tmp_path / "other.h5"
    synthetic_store(path, other, sites={"layers.0": 8, "layers.1": 8})
    with pytest.raises(InvalidParameterError, match="'other' and 'a' differ at row 52 \\('zzz' vs 'w10'\\)"):
        cross_model([stores[0], path], "maxcorr")


def test_user_errors(stores):
    rc, _, err = cli("crossmodel", stores[0], "--method", "maxcorr")
    assert rc == 2 and "give at least 2 stores" in err
    rc, _, err = cli("crossmodel", *stores, "--method", "maxcorr", "--max-memory-gb", "0.0000001")
    assert rc == 2 and "maxcorr on 32 neurons holds their joint covariance: 1.53e-05 GB, more than the budget of " \
                       "1e-07 GB; compare fewer sites (--sites) or raise --max-memory-gb" in err
    rc, _, err = cli("crossmodel", *stores, "--method", "svcca", "--param", "nope=1")
    assert rc == 2 and "unknown parameter 'nope'" in err and "variance" in err
    rc, _, err = cli("crossmodel", *stores, "--method", "maxcorr", "--sites", "layers.9")
    assert rc == 2 and "layers.9" in err
    rc, out, _ = cli("crossmodel", "--help")
    assert rc == 0 and "maxcorr" in out and "Kornblith" in out


def test_cka_on_one_store_compares_its_layers(stores):
    r = cross_model(stores[:1], "cka")
    assert r.blocks == ["a:layers.0", "a:layers.1"]
