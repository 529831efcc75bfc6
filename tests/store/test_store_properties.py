"""Property-based tests (hypothesis) of the store: random sequences of writes (rows in any order, labels,
results, rewrites), a SIGKILL after any of them or a truncated file, then reopen. Never a traceback (only
neuronlab's one-line errors), never a store that reads as valid with wrong content."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.crash import label_values, op_rows, result_arrays, run_store_ops

from neuronlab.errors import NeuronlabError
from neuronlab.store import ActivationStore
from neuronlab.testing import synthetic_store

SENTS = [["a", "b"], ["c"], ["d", "e", "f"], ["g"], ["h", "i"]]
SITES = {"layers.0": 3, "layers.1": 2}

rows_op = st.tuples(st.just("rows"), st.integers(0, 5), st.integers(0, 5)).map(
    lambda t: ("rows", min(t[1], t[2]), max(t[1], t[2])))
label_op = st.tuples(st.just("label"), st.sampled_from(["pos", "tense"]), st.integers(0, 50))
result_op = st.tuples(st.just("result"), st.sampled_from(["probe_pos", "rank_x"]), st.integers(0, 50))
ops_strategy = st.lists(st.one_of(rows_op, label_op, result_op), min_size=1, max_size=8)


def expected_state(ops, upto):
    """What the store must hold after ops[:upto + 1]."""
    written = np.zeros(len(SENTS), dtype=bool)
    labels, results = {}, {}
    for op in ops[: upto + 1]:
        if op[0] == "rows":
            written[op[1]: op[2]] = True
        elif op[0] == "label":
            labels[op[1]] = op[2]
        else:
            results[op[1]] = op[2]
    done = int(np.argmin(written)) if not written.all() else len(SENTS)
    return done, labels, results


def check_store(path, ops, upto):
    done, labels, results = expected_state(ops, upto)
    try:
        store = ActivationStore.open(path, allow_incomplete=True)
    except NeuronlabError as exc:
        assert "\n" not in str(exc)
        return "refused"
    with store:
        assert store.n_done == done and store.complete == (done == len(SENTS))
        offs = store.offsets
        for s, w in SITES.items():
            r1 = int(offs[done])
            np.testing.assert_array_equal(store[s][:r1], op_rows(s, w, 0, r1))
        assert store.label_names() == sorted(labels)
        for name, seed in labels.items():
            np.testing.assert_array_equal(store.label(name).values, label_values(seed, store.n_rows))
        assert store.result_names() == sorted(results) and not store.damaged_results()
        for name, seed in results.items():
            got, want = store.read_result(name), result_arrays(seed)
            assert got["config"] == {"seed": seed}
            np.testing.assert_array_equal(got["scores"], want["scores"])
            assert list(got["ranking"]) == list(want["ranking"])
    return "ok"


_NAMES = itertools.count()


@pytest.fixture()
def empty_store(tmp_path):
    def make(prefix):
        p = tmp_path / f"{prefix}{next(_NAMES)}.h5"
        synthetic_store(p, SENTS, sites=SITES, written=[])
        return p
    return make


@settings(max_examples=20, deadline=None, derandomize=True, report_multiple_bugs=False, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops_strategy, data=st.data())
def test_kill_after_any_write_then_reopen(empty_store, ops, data):
    kill_after = data.draw(st.one_of(st.none(), st.integers(0, len(ops) - 1)), label="kill_after")
    path = empty_store("k")
    code = run_store_ops(path, ops, kill_after)
    assert code == (0 if kill_after is None else -9)
    executed = ops if kill_after is None else ops[: kill_after + 1]
    assert check_store(path, executed, len(executed) - 1) == "ok"
    # and the store takes further writes after the kill: finish every sentence
    assert run_store_ops(path, [("rows", 0, len(SENTS))], None) == 0
    assert check_store(path, executed + [("rows", 0, len(SENTS))], len(executed)) == "ok"


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops_strategy, fraction=st.floats(0.0, 0.999))
def test_truncated_file_is_refused_or_right(empty_store, ops, fraction):
    path = empty_store("t")
    assert run_store_ops(path, ops, None) == 0
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    assert check_store(path, ops, len(ops) - 1) in ("refused", "ok")
