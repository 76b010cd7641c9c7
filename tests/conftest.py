"""Shared fixtures: settings isolated per test, and the fake Telegram Bot API server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SAMPLE = SEEDS / "2025.11.27.12.md"

try:  # the fake Bot API server's fixtures, once it exists
    from fakebot.fixtures import *  # noqa: F403
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's DIGESTBOT_* variables or config file by accident."""
    for key in list(os.environ):
        if key.startswith("DIGESTBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DIGESTBOT_CONFIG", str(ROOT / "config" / "digestbot.toml"))
