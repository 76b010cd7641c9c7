"""The pipeline every command shares: a digest file is ingested, its deliveries planned, the feeds
rendered. `run` drives it from the watcher, `publish` for one file, `build` for a folder.

A digest whose planning fails is remembered with its error and tried again with backoff (the
service asks for due retries at every scan); it never stops other digests or start-up. Feed
rendering failures are remembered the same way, under the name `feeds`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from bot import metrics
from bot.categorising.table import CategoryTable
from bot.dispatching.planner import PlanResult, plan_digest
from bot.feeds import build_feeds
from bot.ingest import Ingester, Outcome
from bot.settings import Settings
from bot.storing.archive import Archive, source_key
from bot.storing.outbox import Outbox
from bot.storing.subscribers import Subscribers

log = logging.getLogger(__name__)

FIRST_RETRY = 30.0  # seconds; doubled at each failure
LAST_RETRY = 3600.0
FEEDS = "feeds"  # the failure key of feed rendering (digest ids are `yyyy-mm-dd...`)


class Planner(Protocol):
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
        clock: Callable[[], float] = ...,
    ) -> PlanResult: ...


@dataclass(slots=True)
class Failure:
    """A digest (or the feeds) that could not be planned (rendered), and when to try again."""

    error: str
    attempts: int
    next_try: float

    def as_dict(self) -> dict[str, object]:
        return {"error": self.error, "attempts": self.attempts, "next_try": round(self.next_try)}


@dataclass
class Failures:
    """Failing work by key, with exponential backoff; each key is logged with its traceback on
    its first failure only."""

    clock: Callable[[], float] = time.time
    first_retry: float = FIRST_RETRY
    last_retry: float = LAST_RETRY
    by_key: dict[str, Failure] = field(default_factory=dict)

    def failed(self, key: str, error: BaseException) -> Failure:
        known = self.by_key.get(key)
        attempts = known.attempts + 1 if known else 1
        delay = min(self.first_retry * 2 ** (attempts - 1), self.last_retry)
        failure = Failure(f"{type(error).__name__}: {error}", attempts, self.clock() + delay)
        self.by_key[key] = failure
        metrics.pipeline_failing.set(len(self.by_key))
        metrics.pipeline_failures.labels("feeds" if key == FEEDS else "plan").inc()
        if known is None:
            log.error("%s failed; trying again in %.0fs", _what(key), delay, exc_info=error)
        else:
            log.debug("%s failed again (attempt %d): %s", _what(key), attempts, failure.error)
        return failure

    def succeeded(self, key: str) -> None:
        if self.by_key.pop(key, None) is not None:
            metrics.pipeline_failing.set(len(self.by_key))
            log.info("%s succeeded after failing", _what(key))

    def due(self, key: str) -> bool:
        known = self.by_key.get(key)
        return known is None or known.next_try <= self.clock()

    def report(self) -> dict[str, dict[str, object]]:
        return {key: failure.as_dict() for key, failure in sorted(self.by_key.items())}


def _what(key: str) -> str:
    return "rendering the feeds" if key == FEEDS else f"planning digest {key}"


class Pipeline:
    """Ingest → plan → render over one database, one category table and the settings."""

    def __init__(
        self,
        engine: Engine,
        table: CategoryTable,
        settings: Settings,
        *,
        bot_username: str | None = None,
        planner: Planner = plan_digest,
        failures: Failures | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.table = table
        self.settings = settings
        self.bot_username = bot_username
        self.archive = Archive(engine)
        self.subscribers = Subscribers(engine)
        self.outbox = Outbox(engine)
        self.ingester = Ingester(self.archive, table, settings.zone)
        self.planner = planner
        self.clock = clock  # when chats' pause, schedule and quiet hours are decided
        self.failures = failures if failures is not None else Failures()
        # called after each batch of a plan is written (the service wakes the dispatcher)
        self.released: Callable[[], None] | None = None

    # Ingest --------------------------------------------------------------------------------

    def ingest(self, path: Path) -> Outcome:
        return self.ingester.ingest(path)

    def changed_files(self, paths: list[Path]) -> list[Path]:
        return self.ingester.changed_files(paths)

    def digest_of(self, outcome: Outcome) -> str | None:
        """The digest a file holds: the one just stored, else the one stored from it before."""
        if outcome.digest is not None:
            return outcome.digest.id
        record = self.archive.file_record(source_key(outcome.path))
        return record.digest_id if record else None

    # Plan ----------------------------------------------------------------------------------

    def plan(self, digest_id: str) -> PlanResult | None:
        """Plan one digest now; None when it failed (remembered for a retry) or is gone."""
        row = self.archive.digest_row(digest_id)
        if row is None:
            self.failures.succeeded(digest_id)
            return None
        try:
            result = self.planner(
                self.engine,
                digest_id,
                archive=self.archive,
                subscribers=self.subscribers,
                table=self.table,
                settings=self.settings,
                released=self.released,
                clock=self.clock,
            )
        except Exception as error:
            if _is_storage_error(error):
                raise  # the database itself is in trouble: not this digest's fault
            self.failures.failed(digest_id, error)
            return None
        self.archive.mark_planned(digest_id, row.content_hash)
        self.failures.succeeded(digest_id)
        return result

    def plan_due(self) -> list[PlanResult]:
        """Every unplanned digest that has not failed lately: start-up, and each scan's retry."""
        results = []
        for digest_id in self.archive.unplanned():
            if self.failures.due(digest_id):
                result = self.plan(digest_id)
                if result is not None:
                    log.info("digest %s planned: %s", digest_id, result)
                    results.append(result)
        return results

    # Render --------------------------------------------------------------------------------

    def render(self) -> list[Path] | None:
        """Write the feeds; None when that failed (remembered; `render_due` tries again)."""
        try:
            written = build_feeds(
                self.archive, self.table, self.settings, bot_username=self.bot_username
            )
        except Exception as error:
            if _is_storage_error(error):
                raise
            self.failures.failed(FEEDS, error)
            return None
        self.failures.succeeded(FEEDS)
        return list(written)

    def render_due(self) -> None:
        if FEEDS in self.failures.by_key and self.failures.due(FEEDS):
            self.render()


def _is_storage_error(error: BaseException) -> bool:
    """Errors of the database itself (locked, read-only, gone), which are no digest's fault:
    the caller (the service's state guard) handles them."""
    return isinstance(error, OperationalError)
