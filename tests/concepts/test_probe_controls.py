"""Control tasks (Hewitt & Liang 2019)."""
import numpy as np
import pytest
from scipy.stats import chisquare

from neuronlab.concepts.probes import ControlTask, LinearProbe, selectivity
from neuronlab.errors import InvalidParameterError, NotFittedError


def test_same_type_same_label_across_calls_and_instances():
    types = ["the", "dog", "ran", "the", "cat", "dog"]
    task = ControlTask(random_state=3).fit(types, [0, 1, 2, 0, 1, 1])
    a = task.transform(types)
    assert a[0] == a[3] and a[1] == a[5]
    np.testing.assert_array_equal(a, ControlTask(random_state=3).fit(types, [0, 1, 2, 0, 1, 1]).transform(types))
    unseen = task.transform(["zebra", "zebra"])  # unseen types: deterministic too
    assert unseen[0] == unseen[1] and unseen[0] == task.transform(["zebra"])[0]


def test_frequencies_follow_empirical_distribution():
    labels = np.repeat([0, 1, 2, 3], [500, 300, 150, 50])
    task = ControlTask(random_state=0).fit([f"w{i}" for i in range(1000)], labels)
    np.testing.assert_allclose(task.probabilities_, [0.5, 0.3, 0.15, 0.05])
    control = task.transform([f"type{i}" for i in range(20000)])
    observed = np.bincount(control, minlength=4)
    p = chisquare(observed, 20000 * task.probabilities_).pvalue
    assert p > 1e-3


def test_control_labels_follow_the_type_across_train_and_test():
    # test rows use the same word types as training (as in real corpora): a per-type control is memorisable,
    # a per-token random label is not, so this fails for a control task that scrambles tokens instead of types
    rng = np.random.default_rng(0)
    n_types, d = 60, 64
    emb = rng.normal(size=(n_types, d))
    real_of_type = np.argmax(emb[:, :3], axis=1)  # the real label is readable from the vector
    tokens = rng.integers(0, n_types, size=4500)
    X = emb[tokens] + 0.1 * rng.normal(size=(4500, d))
    types = [f"t{t}" for t in tokens]
    y = real_of_type[tokens]
    train, test = np.arange(3000), np.arange(3000, 4500)
    control = ControlTask(random_state=0).fit([types[i] for i in train], y[train]).transform(types)
    first = {}
    for t, c in zip(types, control):  # one label per type, the same in train and test rows
        assert first.setdefault(t, c) == c
    probe = LinearProbe(lambda_l1=0, lambda_l2=1e-4)
    acc_task = probe.fit(X[train], y[train]).score(X[test], y[test])
    acc_ctrl = probe.fit(X[train], control[train]).score(X[test], control[test])
    assert acc_task > 0.9
    assert acc_ctrl > 0.9  # memorising 60 types in 64 dimensions is easy: high control accuracy, low selectivity
    assert selectivity(acc_task, acc_ctrl) == pytest.approx(acc_task - acc_ctrl)
    # what a per-token scramble would give: close to the majority share, far below the per-type control
    scrambled = rng.permutation(control)
    acc_scr = probe.fit(X[train], scrambled[train]).score(X[test], scrambled[test])
    assert acc_scr < acc_ctrl - 0.3


def test_probe_does_worse_on_control_for_unseen_types():
    rng = np.random.default_rng(0)
    n_types, d = 400, 16
    emb = rng.normal(size=(n_types, d))
    real_of_type = np.argmax(emb[:, :3], axis=1)
    # training rows use types 0..299, held-out rows types 300..399 (never seen in training)
    tokens = np.concatenate([rng.integers(0, 300, size=4000), rng.integers(300, n_types, size=2000)])
    X = emb[tokens] + 0.3 * rng.normal(size=(6000, d))
    types = [f"t{t}" for t in tokens]
    y = real_of_type[tokens]
    control = ControlTask(random_state=0).fit(types[:4000], y[:4000]).transform(types)
    test = np.arange(4000, 6000)
    probe = LinearProbe(lambda_l1=0, lambda_l2=1e-4)
    acc_task = probe.fit(X[:4000], y[:4000]).score(X[test], y[test])
    acc_ctrl = probe.fit(X[:4000], control[:4000]).score(X[test], control[test])
    assert acc_task > 0.75  # chance is about 1/3
    assert acc_ctrl < acc_task - 0.3


def test_errors():
    with pytest.raises(NotFittedError, match="not fitted"):
        ControlTask().transform(["a"])
    with pytest.raises(InvalidParameterError, match="one label per word type"):
        ControlTask().fit(["a", "b"], [0])
    with pytest.raises(InvalidParameterError, match="sequence of word types"):
        ControlTask().fit("ab", [0, 1])
    with pytest.raises(InvalidParameterError, match="The 'random_state' parameter of ControlTask must be"):
        ControlTask(random_state="seed").fit(["a", "b"], [0, 1])
    with pytest.raises(InvalidParameterError, match="task_accuracy"):
        selectivity(1.5, 0.2)
    assert selectivity(0.9, 0.6) == pytest.approx(0.3)
