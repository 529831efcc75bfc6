"""Packed attention of the native engine: per-run views (CPU default) and padded buckets (GPU default)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neuronlab.models.engines import load_engine  # noqa: E402
from neuronlab.models.engines.attention import attend, plan_attention  # noqa: E402


def reference(qkv: np.ndarray, lengths, H: int, scale: float) -> np.ndarray:
    """softmax(q k^T * scale) v per sequence and head, in float64, written out."""
    d = qkv.shape[1] // 3
    dh = d // H
    out = np.zeros((qkv.shape[0], d))
    row = 0
    for n in lengths:
        q, k, v = (qkv[row: row + n, i * d:(i + 1) * d].reshape(n, H, dh) for i in range(3))
        for h in range(H):
            s = q[:, h] @ k[:, h].T * scale
            w = np.exp(s - s.max(axis=1, keepdims=True))
            w /= w.sum(axis=1, keepdims=True)
            out[row: row + n, h * dh:(h + 1) * dh] = w @ v[:, h]
        row += n
    return out


@pytest.mark.parametrize("lengths", [[9, 9, 6, 4, 4, 4, 2, 1], [5], [3, 3, 3], [12, 1, 1, 1, 1, 1, 1, 1]])
def test_buckets_and_runs_both_equal_the_written_out_attention(lengths):
    rng = np.random.default_rng(len(lengths))
    H, d = 2, 8
    qkv = rng.normal(size=(sum(lengths), 3 * d))
    ref = reference(qkv, lengths, H, 0.5)
    for buckets in (False, True):
        plan = plan_attention(lengths, "cpu", buckets=buckets)
        ctx = torch.full((sum(lengths), d), float("nan"), dtype=torch.float32)  # every row must be written
        attend(torch.from_numpy(qkv).float(), ctx, plan, H, 0.5)
        np.testing.assert_allclose(ctx.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_buckets_merge_runs_within_the_waste_bound():
    lengths = [9, 9, 6, 4, 4, 4, 2, 1]
    runs = plan_attention(lengths, "cpu", buckets=False).buckets
    assert [(b.b, b.T) for b in runs] == [(2, 9), (1, 6), (3, 4), (1, 2), (1, 1)]
    plan = plan_attention(lengths, "cpu", buckets=True, waste=1.5).buckets
    # greedy: 9,9 + 6 (27 <= 36) + 4,4,4 (54 <= 54) | 2 + 1 (4 <= 4.5)
    assert [(b.start, b.rows, b.b, b.T) for b in plan] == [(0, 36, 6, 9), (36, 3, 2, 2)]
    for bk in plan:
        assert bk.b * bk.T <= 1.5 * bk.rows
    # the scatter index puts packed row r of sequence j at padded row j * T + (position of r in j)
    idx = plan[0].index.tolist()
    assert idx[:9] == list(range(9)) and idx[18:24] == list(range(18, 24)) and idx[24:28] == [27, 28, 29, 30]
    assert idx[-4:] == [45, 46, 47, 48] and plan[1].index.tolist() == [0, 1, 2]
    assert plan[0].mask[:, 0, 0].sum(dim=1).tolist() == [9, 9, 6, 4, 4, 4]


def test_engine_with_buckets_matches_engine_with_runs():
    eng = load_engine("minilm", engine="native")
    batch = [[101] + list(range(2000, 2000 + n)) + [102] for n in (14, 14, 9, 5, 5, 2, 1)]
    sites = ["layers.0.attn.heads", "layers.5"]
    eng.attention_buckets = False
    runs = eng.run(batch, sites)
    eng.attention_buckets = True
    bucketed = eng.run(batch, sites)
    for s in sites:
        torch.testing.assert_close(bucketed[s], runs[s], rtol=1e-4, atol=1e-4)
