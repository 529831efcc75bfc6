"""benchmarks/explain_sst2_table.py: the SST-2 table of every explainer (issue 15's real-data bar).

The script's logic on a tiny BERT and four sentences: sentence loading, the seeded chunks, one method's row equal to
``compare_explainers`` and ``randomization_check`` called directly, the chunk aggregation (exact weighted means; the
explanation's metrics do not depend on the chunking), the table, refusals, and an end-to-end run that resumes
without recomputing. A realdata check runs one method on SST-2 dev with the trained classifier when both exist.
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
SENTS = [["a", "good", "movie"], ["the", "plot", "was", "terrible", "and", "boring"], ["nobody", "liked", "it"],
         ["a", "quiet", ",", "moving", "film", "that", "stays", "with", "you", "for", "days", "after"]]


def _load_script():
    spec = importlib.util.spec_from_file_location("explain_sst2_table", ROOT / "benchmarks" / "explain_sst2_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def script():
    return _load_script()


@pytest.fixture(scope="module")
def tiny():
    from helpers.live_models import tiny_bert

    return tiny_bert(seed=3)


@pytest.fixture()
def tsv(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("label\tcontent\n" + "".join(f"{i % 2}\t{' '.join(s)}\n" for i, s in enumerate(SENTS)))
    return path


def test_load_sentences_first_n_and_seeded_sample(script, tsv):
    words, gold = script.load_sentences(tsv, 3)
    assert words == SENTS[:3] and gold == [0, 1, 0]
    words, gold = script.load_sentences(tsv, 2, sample_seed=1)
    idx = sorted(np.random.default_rng(1).permutation(4)[:2].tolist())
    assert words == [SENTS[i] for i in idx] and gold == [i % 2 for i in idx]


def test_chunks_are_a_seeded_partition(script):
    parts = script.chunks(11, 4, seed=5)
    assert [len(p) for p in parts] == [4, 4, 3]
    assert sorted(i for p in parts for i in p) == list(range(11))
    assert all(p == sorted(p) for p in parts)
    order = np.random.default_rng(5).permutation(11)
    assert parts[0] == sorted(order[:4].tolist())
    assert script.chunks(11, 4, seed=5) == parts and script.chunks(11, 4, seed=6) != parts


def test_method_order_runs_the_costly_methods_last(script):
    from neuronlab.explain import EXPLAINERS

    names = script.method_order(list(EXPLAINERS))
    assert sorted(names) == sorted(EXPLAINERS)
    tail = [m for m in script.MODERATE + script.EXPENSIVE if m in EXPLAINERS]
    assert names[len(names) - len(tail):] == tail
    fams = [EXPLAINERS[m].family for m in names[:len(names) - len(tail)]]
    ranks = [script.FAMILY_ORDER.index(f) if f in script.FAMILY_ORDER else 99 for f in fams]
    assert ranks == sorted(ranks)


def test_run_method_equals_compare_explainers_and_randomization_check(script, tiny):
    from neuronlab.explain import EXPLAINERS
    from neuronlab.explain.compare import compare_explainers
    from neuronlab.explain.faithfulness import randomization_check
    from neuronlab.models.targets import Target

    classes = script.predicted_classes(tiny, SENTS)
    rec = script.run_method(tiny, "leave-one-out", SENTS, classes, seed=2, sanity_n=2, sanity_seed=7)
    target = Target(index=tuple(classes))
    ref = compare_explainers(tiny, SENTS, ["leave-one-out"], target=target, seed=2).rows[0]
    for key in ("comprehensiveness", "sufficiency", "aopc", "insertion", "random_comprehensiveness",
                "random_sufficiency", "random_aopc", "forward_passes"):
        assert rec[key] == pytest.approx(ref[key], abs=1e-12), key
    check = randomization_check(lambda m: EXPLAINERS["leave-one-out"](m, target=Target(index=tuple(classes[:2]))),
                                tiny, SENTS[:2], seed=7, steps=2)
    assert rec["sanity_n"] == 2 and rec["sanity_steps"] == ["head", "layers.1"] and rec["sanity_seed"] == 7
    assert rec["sanity_curve"] == pytest.approx(check.spearman, abs=1e-12)
    assert rec["sanity_spearman"] == pytest.approx(check.spearman[-1], abs=1e-12)
    assert rec["n"] == 4 and rec["comprehensiveness"] > rec["random_comprehensiveness"]


def test_shapley_only_on_short_sentences_and_refusals_are_recorded(script, tiny):
    classes = script.predicted_classes(tiny, SENTS)
    rec = script.run_method(tiny, "shapley", SENTS, classes, sanity_n=0, shapley_max_words=6)
    assert rec["n"] == 3 and rec["n_offered"] == 4 and rec["params"]["max_words"] == 6
    # every coalition of the short ones (the full coalition is f(x), which the base pass computed once)
    assert rec["forward_passes"] == 2 ** 3 + 2 ** 6 + 2 ** 3
    assert rec["sanity_n"] == 0 and "sanity_spearman" not in rec
    rec = script.run_method(tiny, "guided_backprop", SENTS, classes, sanity_n=2)
    assert "ReLU networks only" in rec["skipped"]


def test_aggregate_weights_chunks_by_their_sentences(script, tiny):
    classes = script.predicted_classes(tiny, SENTS)
    whole = script.run_method(tiny, "leave-one-out", SENTS, classes, sanity_n=0)
    parts = [script.run_method(tiny, "leave-one-out", SENTS[:1], classes[:1], sanity_n=1),
             script.run_method(tiny, "leave-one-out", SENTS[1:], classes[1:], sanity_n=0)]
    row = script.aggregate(parts)
    assert row["n"] == 4 and row["chunks"] == 2
    for key in ("comprehensiveness", "sufficiency", "aopc", "insertion"):  # the random order is drawn per chunk
        assert row[key] == pytest.approx(whole[key], abs=1e-12), key
        assert row[key] == pytest.approx((parts[0][key] + 3 * parts[1][key]) / 4, abs=1e-12)
    assert row["forward_passes"] == whole["forward_passes"]
    assert row["forward_rows_per_sentence"] == whole["forward_passes"] / 4
    assert row["sanity_n"] == 1 and row["sanity_spearman"] == parts[0]["sanity_spearman"]
    assert script.aggregate([{**parts[0], "skipped": "refused"}])["skipped"] == "refused"


def test_markdown_table_best_first_with_notes(script):
    base = dict(family="gradient", reference="", params={}, note="", n=4, n_offered=4, sanity_n=2,
                sanity_spearman=0.5, sanity_curve=[0.99, 0.5], seconds_per_sentence=0.1, forward_rows_per_sentence=2.0,
                **{f"{p}{m}": 0.1 for p in ("", "random_") for m in ("comprehensiveness", "sufficiency", "aopc")})
    rows = [dict(base, method="weak", comprehensiveness=0.2, sufficiency=0.1),
            dict(base, method="strong", comprehensiveness=0.5, sufficiency=-0.1, params={"n_samples": 200}, n=3),
            {"method": "refused", "skipped": "ReLU networks only"}]
    md = script.markdown_table(rows).splitlines()
    assert md[2] == "| `strong` | gradient | 3 | 0.500 (0.100) | -0.100 (0.100) | 0.100 (0.100) | 0.99 / 0.50 (2) " \
                    "| 0.1000 | 2.0 |"
    assert md[3].startswith("| `weak` ")
    assert "- `refused` skipped: ReLU networks only" in md
    assert "- `strong`: n_samples=200; 3 of the 4 sentences offered" in md


def test_main_writes_chunks_and_resumes_without_recomputing(script, tiny, tsv, tmp_path, monkeypatch):
    model_dir = tmp_path / "model"
    tiny.model.save_pretrained(model_dir)
    tiny.tokenizer.save_pretrained(model_dir)
    out = tmp_path / "out"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["--model", str(model_dir), "--data", str(tsv), "--n", "4", "--chunk", "2", "--sanity-n", "1",
            "--methods", "guided_backprop,leave-one-out", "--threads", "1", "--out", str(out)]
    assert script.main(argv) == 0
    assert sorted(p.name for p in (out / "methods" / "leave-one-out").iterdir()) == ["chunk000.json", "chunk001.json"]
    assert sorted(p.name for p in (out / "methods" / "guided_backprop").iterdir()) == ["chunk000.json"]
    table = json.loads((out / "table.json").read_text())
    loo = next(r for r in table["methods"] if r["method"] == "leave-one-out")
    assert loo["n"] == 4 and loo["sanity_n"] == 1 and table["runs"][0]["n"] == 4
    assert "| `leave-one-out` | perturbation | 4 |" in (out / "table.md").read_text()

    def fail(*a, **k):
        raise AssertionError("a finished chunk was recomputed")

    real_run = script.run_method
    monkeypatch.setattr(script, "run_method", fail)
    assert script.main(argv) == 0  # every chunk is on disk: nothing runs
    assert script.main(["--table-only", "--out", str(out)]) == 0
    # another re-initialisation seed: only the sanity check of chunk 0 runs again, the faithfulness is kept
    before = json.loads((out / "methods" / "leave-one-out" / "chunk000.json").read_text())
    calls = []
    real = script.run_sanity
    monkeypatch.setattr(script, "run_sanity", lambda *a, **k: calls.append(k["seed"]) or real(*a, **k))
    assert script.main(argv + ["--sanity-seed", "5"]) == 0
    after = json.loads((out / "methods" / "leave-one-out" / "chunk000.json").read_text())
    assert calls == [5] and before["sanity_seed"] == 1 and after["sanity_seed"] == 5
    assert {k: after[k] for k in ("comprehensiveness", "aopc", "seconds")} == \
        {k: before[k] for k in ("comprehensiveness", "aopc", "seconds")}
    # --chunks: a worker runs only the chunks it is given
    monkeypatch.setattr(script, "run_method", real_run)
    other = tmp_path / "other"
    assert script.main(argv[:-1] + [str(other), "--chunks", "1", "--methods", "leave-one-out"]) == 0
    assert [p.name for p in (other / "methods" / "leave-one-out").iterdir()] == ["chunk001.json"]
    assert json.loads((other / "methods" / "leave-one-out" / "chunk001.json").read_text())["sentences"] == \
        script.chunks(4, 2, 0)[1]


@pytest.mark.realdata
@pytest.mark.slow
def test_sst2_leave_one_out_beats_random_order(script):
    model = Path(os.environ.get("NEURONLAB_SST2_MODEL", script.DEFAULT_MODEL))
    data = script.default_data()
    if not (model / "config.json").is_file() or not data.is_file():
        pytest.skip(f"needs the trained SST-2 classifier ({model}) and SST-2 dev ({data})")
    from neuronlab.models.live import load_live

    live = load_live(str(model))
    words, gold = script.load_sentences(data, 8)
    classes = script.predicted_classes(live, words)
    assert np.mean(np.asarray(classes) == np.asarray(gold)) >= 0.75
    rec = script.run_method(live, "leave-one-out", words, classes, sanity_n=0)
    assert rec["comprehensiveness"] > rec["random_comprehensiveness"] + 0.05
    assert rec["sufficiency"] < rec["random_sufficiency"]
