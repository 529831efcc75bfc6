"""aggregate_rows against a direct numpy computation, with and without the in-place (whole-buffer) reduction."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neuronlab.extraction import ExtractionConfig  # noqa: E402
from neuronlab.extraction.aggregate import aggregate_rows  # noqa: E402


def _case(seed=0, n_buf=50, width=7):
    rng = np.random.default_rng(seed)
    buf = rng.normal(size=(n_buf, width)).astype(np.float32)
    positions = np.sort(rng.choice(n_buf, size=35, replace=False))  # 15 rows take no part (special tokens)
    groups = np.sort(rng.integers(0, 20, size=positions.size))
    groups = np.unique(groups, return_inverse=True)[1]  # every output row has at least one token
    return buf, positions, groups.astype(np.int64), int(groups.max()) + 1


@pytest.mark.parametrize("mode", ["mean", "max", "first", "last"])
@pytest.mark.parametrize("whole", [False, True])
def test_aggregate_rows_matches_numpy(mode, whole):
    buf, positions, groups, n = _case()
    cfg = ExtractionConfig(granularity="word", aggregation=mode)
    out = aggregate_rows({"s": torch.from_numpy(buf)}, positions, groups, n, cfg, out_dtype=np.dtype("float32"),
                         buffer_rows=buf.shape[0] if whole else None)["s"]
    expected = np.stack([
        {"mean": np.mean, "max": lambda a, axis: np.max(a, axis=axis),
         "first": lambda a, axis: a[0], "last": lambda a, axis: a[-1]}[mode](buf[positions[groups == g]], axis=0)
        for g in range(n)
    ])
    assert out.shape == (n, buf.shape[1])
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_whole_buffer_mean_ignores_rows_that_take_no_part():
    buf, positions, groups, n = _case(seed=1)
    buf_poisoned = buf.copy()
    outside = np.setdiff1d(np.arange(buf.shape[0]), positions)
    buf_poisoned[outside] = 1e30  # special-token rows must not leak into any word
    cfg = ExtractionConfig(granularity="word", aggregation="mean")
    a = aggregate_rows({"s": torch.from_numpy(buf)}, positions, groups, n, cfg, out_dtype=np.dtype("float32"))["s"]
    b = aggregate_rows({"s": torch.from_numpy(buf_poisoned)}, positions, groups, n, cfg,
                       out_dtype=np.dtype("float32"), buffer_rows=buf.shape[0])["s"]
    np.testing.assert_array_equal(a, b)
