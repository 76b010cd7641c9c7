"""Pytest fixtures for the fake Telegram Bot API (tests/conftest.py star-imports this module).

- `fake_telegram`: one server for the whole session (starting one costs ~50 ms, but a session
  server also serves subprocesses started by several tests).
- `telegram`: the same server, reset before and after each test: use this one in tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeTelegram

__all__ = ["fake_telegram", "telegram"]


@pytest.fixture(scope="session")
def fake_telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def telegram(fake_telegram: FakeTelegram) -> Iterator[FakeTelegram]:
    fake_telegram.reset()
    yield fake_telegram
    # Also after: a test's leftovers (stalls, long polls) must not reach the next one.
    fake_telegram.reset()
