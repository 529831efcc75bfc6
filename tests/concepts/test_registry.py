"""The method registry: entries hold what a caller needs; the CLI offers exactly the registered rankers."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from neuronlab.cli.main import build_parser, main
from neuronlab.concepts.rankers import RANKERS, BaseRanker, RankerEntry, register_ranker
from neuronlab.errors import InvalidParameterError, UnknownKeyError
from neuronlab.registry import Entry, Param, Registry

from concept_stores import tiny_store  # noqa: F401 (fixture)

TINY_PLANTED = {"layers.1:2", "layers.0:5"}  # the neurons tests/concepts/conftest.py plants in tiny_store


class VarianceRanker(BaseRanker):
    """A dummy plug-in ranker: neurons by activation variance raised to ``power``."""

    _parameter_constraints: dict = {"power": [int]}

    def __init__(self, *, power: int = 1) -> None:
        self.power = power

    def fit(self, X, y):
        self._validate_params()
        X = np.asarray(X, dtype=np.float64)
        classes = np.unique(y)
        return self._set_scores(classes, X.var(axis=0) ** self.power, None)


@pytest.fixture()
def variance_ranker():
    entry = register_ranker(RankerEntry("variance", VarianceRanker, "activation variance",
                                        params=(Param("power", int, "exponent of the variance"),)))
    try:
        yield entry
    finally:
        RANKERS.unregister("variance")


def _rank_method_action(parser):
    sub = next(a for a in parser._actions if a.dest == "command")
    return next(a for a in sub.choices["rank"]._actions if a.dest == "method")


def test_cli_method_choices_equal_registry_keys(variance_ranker):
    assert list(_rank_method_action(build_parser()).choices) == list(RANKERS)
    assert "variance" in RANKERS


def test_registered_dummy_ranker_reached_from_the_cli(variance_ranker, tiny_store, capsys):
    rc = main(["rank", str(tiny_store), "--concept", "concept", "--method", "variance", "--param", "power=2",
               "--json", "--quiet"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    report = json.loads(out.out)
    assert report["method"] == "variance" and report["config"]["params"] == {"power": 2}
    assert set(report["ranking"][:2]) == set(TINY_PLANTED)  # the planted neurons have the largest variance


@pytest.mark.parametrize("param, message", [
    ("nosuch=1", "unknown parameter 'nosuch' for ranking method 'iou'; valid: quantile, threshold, chunk_rows"),
    ("quantile=high", "parameter 'quantile' of ranking method 'iou' must be a number; got 'high'"),
    ("noequals", "--param expects NAME=VALUE, got 'noequals'"),
])
def test_cli_bad_param_is_one_error_line(tiny_store, capsys, param, message):
    rc = main(["rank", str(tiny_store), "--concept", "concept", "--method", "iou", "--param", param])
    err = capsys.readouterr().err
    assert rc == 2
    assert err == f"neuronlab: error: {message}\n"


def test_cli_method_outside_registry_is_refused(tiny_store):
    res = subprocess.run([sys.executable, "-m", "neuronlab", "rank", str(tiny_store), "--concept", "concept",
                          "--method", "gini"], capture_output=True, text=True)
    assert res.returncode == 2 and "invalid choice: 'gini'" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("name", sorted(RANKERS))
def test_entry_names_its_module_and_real_parameters(name):
    entry = RANKERS[name]
    assert entry.target == f"neuronlab.concepts.rankers.{name}:{entry.load().__name__}"  # file named after the key
    assert set(entry.param_names) <= set(entry.accepted())
    assert entry.description and entry.reference
    assert entry.level in ("row", "sentence")
    defaults = entry.build().get_params()
    for p in entry.params:  # every CLI parameter's default is a value the CLI could also type
        value = defaults[p.name]
        assert value is None and p.nullable or isinstance(value, p.types) or (float in p.types and
                                                                                 isinstance(value, int))


def test_unknown_key_and_parameter_errors_list_valid_choices():
    with pytest.raises(UnknownKeyError, match="unknown ranking method 'gini'; valid: ap, expert, gaussian, iou, "
                                              "linear, probeless, rf .add one with .*register_ranker"):
        RANKERS["gini"]
    with pytest.raises(InvalidParameterError, match="unknown parameter 'nosuch' for ranking method 'ap'; valid: "
                                                    "max_memory_gb, signed"):
        RANKERS["ap"].build(nosuch=1)
    with pytest.raises(InvalidParameterError, match="already registered"):
        register_ranker(RankerEntry("ap", VarianceRanker, "again"))
    with pytest.raises(InvalidParameterError, match="level must be one of row, sentence"):
        RankerEntry("x", VarianceRanker, "bad level", level="document")


def test_generic_registry_serves_other_families():
    def doubling(*, factor: int = 1) -> int:
        return 2 * factor

    attributors: Registry[Entry] = Registry("attribution method")
    attributors.register(Entry("double", doubling, "doubles", params=(Param("factor", int, "what to double"),)))
    entry = attributors["double"]
    assert entry.build(**entry.parse_params({"factor": "3"})) == 6
    assert entry.kind == "attribution method" and list(attributors) == ["double"] and len(attributors) == 1
    with pytest.raises(UnknownKeyError, match="unknown attribution method 'x'; valid: double"):
        attributors["x"]


def test_param_parsing():
    p = Param("max_features", (str, int, float), "", choices=("sqrt", "log2"), nullable=True)
    assert [p.parse(t) for t in ("sqrt", "3", "0.5", "none")] == ["sqrt", 3, 0.5, None]
    with pytest.raises(InvalidParameterError, match="must be one of sqrt, log2 or an int or a number or none"):
        p.parse("cube")
    assert Param("flag", bool, "").parse("true") is True
    assert Param("x", float, "").parse("2") == 2.0 and isinstance(Param("x", float, "").parse("2"), float)


def test_importing_the_registry_imports_no_estimator():
    code = ("import sys; from neuronlab.concepts.rankers import RANKERS; list(RANKERS); "
            "print('sklearn' in sys.modules, 'neuronlab.concepts.rankers.rf' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["False", "False"]
