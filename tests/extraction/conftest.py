"""Session-scoped tiny random models of every architecture family, saved and loaded like a user's model."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # make tests/helpers importable

from helpers.tiny_models import FAMILIES, build_tiny_model  # noqa: E402

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """``family -> directory`` of a tiny random model with its tokenizer (built once per session)."""
    root = tmp_path_factory.mktemp("tiny_models")
    built: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = build_tiny_model(family, root / family)
        return built[family]

    return get


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir):
    """``family -> LoadedModel`` loaded with ``neuronlab.models.load_model(str(dir))`` (cached)."""
    from neuronlab.models import load_model

    cache: dict = {}

    def get(family: str):
        if family not in cache:
            cache[family] = load_model(str(tiny_model_dir(family)))
        return cache[family]

    return get


@pytest.fixture(params=FAMILIES)
def family(request) -> str:
    return request.param
