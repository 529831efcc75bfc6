"""Fixtures: minilm with a seeded random classification head."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def clf():
    pytest.importorskip("torch")
    from helpers.live_models import minilm_classifier

    return minilm_classifier()
