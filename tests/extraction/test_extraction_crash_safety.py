"""Issue 10, quality bar: SIGKILL `extract --resume`, `probe` (re-run over an existing result) and `rank` at
seeded random moments, ~40 times, and check after every kill that each store opens, that finished results and
activations are byte-identical to before, and that a re-run completes."""
from __future__ import annotations

import re
import shutil

import h5py
import numpy as np
import pytest

pytest.importorskip("torch")

from helpers.crash import kill_after, kill_in_write, run_cli, write_span  # noqa: E402

from neuronlab.store import ActivationStore  # noqa: E402
from neuronlab.testing import datasets_bytes  # noqa: E402

KILLS = {"extract": 14, "probe": 13, "rank": 13}
WORDS = "the cat sat on a mat while dogs ran far away in the park at night and birds sang".split()


def visible(path) -> dict:
    """datasets_bytes without the hidden work-in-progress groups of interrupted writes; a result's JSON ``report``
    is compared without its run time (``seconds``), the one field a re-run does not reproduce."""
    out = datasets_bytes(path)
    for key, value in out.items():
        if key.startswith("results/") and key.endswith("/report"):
            text = value.decode() if isinstance(value, bytes) else str(value)
            out[key] = re.sub(r'"seconds": [0-9.eE+-]+', '"seconds": _', text)
    return out


def done_rows(path, ref: dict) -> None:
    """The store opens; the rows of its finished sentences equal the reference's, byte for byte."""
    with ActivationStore.open(path, allow_incomplete=True) as st:
        n = st.n_valid_rows
        for site in st.sites:
            assert st[site][:n].tobytes() == ref[site][:n].tobytes(), site


@pytest.fixture(scope="module")
def setup(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crash")
    rng = np.random.default_rng(0)
    sents = [" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(120)]
    (tmp / "c.txt").write_text("\n".join(sents) + "\n")
    ref = tmp / "ref.h5"
    extract = ["extract", "--model", str(tiny_model_dir("bert")), "--corpus", str(tmp / "c.txt"), "--sites", "all",
               "--memory-mb", "1", "--dtype", "float32", "--quiet"]
    assert run_cli(extract + ["--out", str(ref)])[0] == 0  # (also starts the forkserver)
    code, seconds = run_cli(extract + ["--out", str(tmp / "timing.h5")])  # how long a run takes
    assert code == 0
    with ActivationStore.open(ref, mode="r+") as st:
        tokens = st.tokens()
        st.write_label("first", [WORDS.index(t) % 3 for t in tokens], ["a", "b", "c"])
        ref_rows = {s: st[s][:] for s in st.sites}
        assert st.n_sentences == 120
    return {"tmp": tmp, "ref": ref, "extract": extract, "extract_s": seconds, "rows": ref_rows}


def test_sigkill_extract_resume(setup):
    tmp, ref = setup["tmp"], setup["ref"]
    part = tmp / "part.h5"
    shutil.copy(ref, part)

    def forget_all():  # as if nothing had been written yet
        with h5py.File(part, "r+") as f:
            f["sentences/written"][:] = 0
            f["sentences/done"][0] = 0
            for ds in f["sites"].values():
                ds[...] = np.nan

    forget_all()
    argv = setup["extract"] + ["--out", str(part), "--resume"]
    # kills are drawn relative to the first change of the store (its writes began), not to the start of the
    # process, so that they land inside the writes however loaded the machine is; one kill in three stays
    # start-relative. Should the load fall between measuring and killing, a run outlives its kill: the window
    # then shrinks (scale), and attempts continue until KILLS["extract"] runs were killed
    span, _ = write_span(argv, part)
    forget_all()
    rng = np.random.default_rng(1)
    progress, killed, attempts, scale = [], 0, 0, 1.0
    while killed < KILLS["extract"] and attempts < 4 * KILLS["extract"]:
        attempts += 1
        if attempts % 3 == 0:
            code = kill_after(argv, float(rng.uniform(0.1, 1.0) * setup["extract_s"] * scale))
        else:
            code = kill_in_write(argv, part, float(rng.uniform(0.0, 0.9) * span * scale))
        assert code in (None, 0)
        killed += code is None
        scale = scale if code is None else scale * 0.6
        done_rows(part, setup["rows"])
        with ActivationStore.open(part, allow_incomplete=True) as st:
            progress.append(st.n_done)
            complete = st.complete
        if complete:  # a run outlived its kill: the store must equal the reference; start over
            assert visible(part) == visible(ref)
            forget_all()
    assert killed >= KILLS["extract"], (attempts, progress)
    assert run_cli(argv)[0] == 0
    assert visible(part) == visible(ref)
    assert max(progress) > 0


@pytest.mark.parametrize("command", ["probe", "rank"])
def test_sigkill_analysis_rewriting_its_result(setup, command):
    tmp = setup["tmp"]
    store = tmp / f"{command}.h5"
    shutil.copy(setup["ref"], store)
    argv = {"probe": ["probe", str(store), "--concept", "first", "--no-controls", "--seed", "0", "--quiet"],
            "rank": ["rank", str(store), "--concept", "first", "--method", "probeless", "--quiet"]}[command]
    assert run_cli(argv)[0] == 0  # the result exists: every later run rewrites it
    span, seconds = write_span(argv, store)
    before = visible(store)
    name = {"probe": "probe_first", "rank": "rank_probeless_first"}[command]
    assert any(k.startswith(f"results/{name}/") for k in before)
    rng = np.random.default_rng(2)
    for k in range(KILLS[command]):  # one kill in three anywhere, the others while it writes into the store
        if k % 3 == 0:
            kill_after(argv, float(rng.uniform(0.0, seconds)))
        else:
            kill_in_write(argv, store, float(rng.uniform(0.0, 1.2 * span)))
        with ActivationStore.open(store) as st:  # opens, complete
            assert st.result_names() == [name] and not st.damaged_results()
            st.read_result(name)
        assert visible(store) == before  # activations, labels and the (re-computed, identical) result
    assert run_cli(argv)[0] == 0
    assert visible(store) == before
