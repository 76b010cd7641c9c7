"""Shared fixtures: settings isolated per test, and the fake Telegram Bot API server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakebot.fixtures import *  # noqa: F403  (the fake Telegram Bot API server)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SAMPLE = SEEDS / "2025.11.27.12.md"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's DIGESTBOT_* variables or config file by accident."""
    for key in list(os.environ):
        if key.startswith("DIGESTBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DIGESTBOT_CONFIG", str(ROOT / "config" / "digestbot.toml"))


def unavailable(reason: str) -> None:
    """Skip a test whose outside part is missing, but fail it in CI, where everything must be there.

    CI installs PostgreSQL, newsboat, sfeed and Chromium; a skip there would hide a broken install
    step behind a green run.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def _postgres_admin_url() -> str:
    return os.environ.get("DIGESTBOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_url():  # type: ignore[no-untyped-def]
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text

    admin_url = _postgres_admin_url()
    admin = create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    name = f"digestbot_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # pragma: no cover - CI always has the server
        admin.dispose()
        unavailable(f"PostgreSQL not reachable at {admin_url}: {error}")
    yield admin_url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/digestbot.db"
    return request.getfixturevalue("postgres_url")
