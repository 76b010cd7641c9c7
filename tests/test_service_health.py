"""/healthz of the service: the database, the last scan, jobs that stopped, failing digests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from bot.categorising.table import CategoryTable
from bot.cli.stats import format_stats, stats
from bot.dispatching.planner import PlanResult, plan_digest
from bot.pipeline import Failures
from bot.scheduling.service import Service
from bot.settings import Settings, load_settings
from bot.storing.archive import Archive
from bot.storing.subscribers import Subscribers

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"
CHANNEL = "@ai_news_cn"


def second_digest(folder: Path) -> Path:
    text = SAMPLE.read_text("utf-8").replace("2025.11.27.12", "2025.11.27.16")
    text = text.replace("T12:00:10", "T16:00:10").replace("/status/", "/status/16")
    path = folder / "2025.11.27.16.md"
    path.write_text(text, "utf-8")
    return path


def settings_for(tmp_path: Path) -> Settings:
    digests = tmp_path / "seeds"
    digests.mkdir()
    return load_settings(
        digests_dir=digests,
        feeds_dir=tmp_path / "feeds",
        database_url=f"sqlite:///{tmp_path}/state/db.sqlite",
        http={"host": "127.0.0.1", "port": 0},
        telegram={"channels": [{"chat": CHANNEL}]},
        scan_interval=0.2,
    )


@contextlib.asynccontextmanager
async def running(service: Service) -> AsyncIterator[str]:
    """The service started in this loop; its base URL."""
    task = asyncio.create_task(service.main())
    started = asyncio.create_task(service.running.wait())
    await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    assert not task.done(), "the service did not start"
    assert service.parts is not None
    try:
        yield service.parts.server.url.rstrip("/")
    finally:
        service.stop.set()
        assert await task == 0


class WatchedFailures(Failures):
    """Failures that tell when a key recovers (the pipeline's last step of a plan)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.recovered = threading.Event()

    def succeeded(self, key: str) -> None:
        known = key in self.by_key
        super().succeeded(key)
        if known:
            self.recovered.set()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def counter(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


class FailingFirst:
    """The real planner, except that one digest's planning raises its first `times` tries."""

    def __init__(self, digest_id: str, times: int) -> None:
        self.digest_id = digest_id
        self.times = times
        self.tries = 0
        self.tried = threading.Semaphore(0)  # released at each try of that digest
        self.planned = threading.Event()

    def __call__(
        self,
        engine: Engine,
        digest_id: str,
        *,
        archive: Archive,
        subscribers: Subscribers,
        table: CategoryTable,
        settings: Settings,
        released: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> PlanResult:
        if digest_id == self.digest_id:
            self.tries += 1
            self.tried.release()
            if self.tries <= self.times:
                raise OverflowError("date value out of range")
        result = plan_digest(
            engine,
            digest_id,
            archive=archive,
            subscribers=subscribers,
            table=table,
            settings=settings,
            released=released,
            clock=clock,
        )
        if digest_id == self.digest_id:
            self.planned.set()
        return result


async def test_health_reports_a_job_that_stopped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = Service(settings_for(tmp_path))
    assert service.health()[0] is False  # not started
    async with running(service) as url, httpx.AsyncClient() as client:
        answer = await client.get(f"{url}/healthz")
        body = answer.json()
        assert answer.status_code == 200 and body["status"] == "ok"
        assert body["database"] == "ok" and body["stopped_jobs"] == [] and body["failing"] == {}

        async def broken() -> None:
            raise RuntimeError("boom")

        job = asyncio.create_task(broken(), name="dispatch")
        service._watch_task(job)
        with caplog.at_level(logging.ERROR):
            await asyncio.gather(job, return_exceptions=True)
            await asyncio.sleep(0)  # the done-callback runs on the next loop turn
        answer = await client.get(f"{url}/healthz")
        assert answer.status_code == 503 and answer.json()["stopped_jobs"] == ["dispatch"]
        assert "the dispatch job stopped" in caplog.text and "boom" in caplog.text


async def test_a_digest_whose_planning_fails_is_retried_and_blocks_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path)
    shutil.copy(SAMPLE, settings.digests_dir / SAMPLE.name)  # there before start-up
    failing_id = "c78b71345c6f06f6"  # the sample's digest id
    planner = FailingFirst(failing_id, times=2)
    clock = Clock()
    failures = WatchedFailures(clock=clock, first_retry=30, last_retry=60)
    service = Service(settings, planner=planner, failures=failures)

    async def tried() -> None:
        assert await asyncio.to_thread(planner.tried.acquire, True, 60), "no try"

    with caplog.at_level(logging.DEBUG):
        async with running(service) as url, httpx.AsyncClient() as client:
            await tried()
            assert planner.tries == 1  # at start-up, which went on
            health = await client.get(f"{url}/healthz")
            body = health.json()
            assert health.status_code == 200 and body["status"] == "degraded"
            assert "OverflowError" in body["failing"][failing_id]["error"]
            metrics = (await client.get(f"{url}/metrics")).text
            assert counter(metrics, "digestbot_pipeline_failures_total", stage="plan") == 1
            assert counter(metrics, "digestbot_pipeline_failing") == 1
            figures = await asyncio.to_thread(stats, settings)
            assert figures["unplanned"] == [failing_id]
            assert failing_id in format_stats(figures)

            # Another digest arriving meanwhile is planned at once; no retry before its time.
            second_digest(settings.digests_dir)
            await service.parts.watcher.rescan()  # type: ignore[union-attr]
            figures = await asyncio.to_thread(stats, settings)
            assert figures["unplanned"] == [failing_id] and planner.tries == 1

            clock.now += 31
            await tried()  # the next scan retries, and it fails again
            clock.now += 61
            await tried()
            assert await asyncio.to_thread(failures.recovered.wait, 60)
            assert planner.planned.is_set() and planner.tries == 3

            health = await client.get(f"{url}/healthz")
            assert health.json()["status"] == "ok" and health.json()["failing"] == {}
            metrics = (await client.get(f"{url}/metrics")).text
            assert counter(metrics, "digestbot_pipeline_failures_total", stage="plan") == 2
            assert counter(metrics, "digestbot_pipeline_failing") == 0
            assert (await asyncio.to_thread(stats, settings))["unplanned"] == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and failing_id in errors[0].getMessage()  # logged once
    assert errors[0].exc_info is not None  # with its traceback
    assert json.dumps(failures.report()) == "{}"


class SlowFirstScan(Service):
    """The service, with its first periodic scan held until `release` is set."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = False

    async def _scan(self) -> None:
        if not self.entered.is_set():
            self.entered.set()
            assert await asyncio.to_thread(self.release.wait, 60), "never released"
            await super()._scan()
            self.finished = True
            return
        await super()._scan()


class ReleaseOnStopping(logging.Handler):
    """Lets the held scan go on once the service logs that it is stopping: the scheduler's
    shutdown, which comes next without a pause, then finds the scan still running."""

    def __init__(self, go: threading.Event) -> None:
        super().__init__()
        self.go = go  # not `release`: a Handler's lock method

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "stopping":
            self.go.set()


async def test_a_scan_running_at_shutdown_ends_before_the_parts_close_and_is_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = SlowFirstScan(settings_for(tmp_path))
    handler = ReleaseOnStopping(service.release)
    logging.getLogger("digestbot").addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):  # "stopping" is logged at INFO
            task = asyncio.create_task(service.main())
            assert await asyncio.to_thread(service.entered.wait, 60), "no periodic scan"
            second_digest(service.settings.digests_dir)
            service.stop.set()
            assert await task == 0
    finally:
        logging.getLogger("digestbot").removeHandler(handler)
    assert service.finished  # the scan ran to its end, the database still open
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
