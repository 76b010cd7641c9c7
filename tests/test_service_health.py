"""/healthz of the service: the database, the last scan, and jobs that stopped."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.scheduling.service import Service
from bot.scheduling.watcher import DigestWatcher
from bot.settings import load_settings
from bot.storing.database import open_database
from bot.storing.outbox import Outbox


async def test_health_reports_a_job_that_stopped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        digests_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/state/db.sqlite"
    )
    service = Service(settings)
    service.engine = open_database(settings.database_url)
    service.outbox = Outbox(service.engine)

    async def nothing(path: Path, noticed: float) -> None:
        return None

    service.watcher = DigestWatcher(tmp_path, nothing)
    assert service.health()[0] is False  # never scanned yet
    await service.watcher.rescan()
    healthy, body = service.health()
    assert healthy and body["database"] == "ok" and body["stopped_jobs"] == []

    async def broken() -> None:
        raise RuntimeError("boom")

    job = asyncio.create_task(broken(), name="dispatch")
    service._watch_task(job)
    with caplog.at_level(logging.ERROR):
        await asyncio.gather(job, return_exceptions=True)
        await asyncio.sleep(0)  # the done-callback runs on the next loop turn
    healthy, body = service.health()
    assert not healthy and body["stopped_jobs"] == ["dispatch"]
    assert "the dispatch job stopped" in caplog.text and "boom" in caplog.text
    service.engine.dispose()
