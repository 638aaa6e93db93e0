"""Shared test fixtures. Real recorded payloads are read from ../shared/fixtures, never copied here."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SIGNALS_SHARED_DIR", REPO.parent / "shared"))


def shared_fixture(*parts: str) -> Path:
    """Path of a recorded payload under ../shared/fixtures.

    Under CI=true a missing file fails the test (CI must have ../shared); elsewhere it skips.
    """
    path = SHARED.joinpath("fixtures", *parts)
    if not path.exists():
        message = f"recorded fixture missing: {path} (is ../shared beside the checkout?)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def fixture_path():
    return shared_fixture
