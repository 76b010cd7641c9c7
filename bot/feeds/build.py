"""Render the feeds folder of SPEC §3 from the archive: feeds, archives and pages.

The subscription feeds read only the newest `settings.feed_entries` entries each (one indexed
query per feed). The archive's files (digest pages, month pages, monthly archive documents) are
rendered only when what they show changed since the last build (`bot.feeds.site`), so adding a
digest to a large archive costs that digest's ingest plus a few small renders. Files are written
atomically and only when their bytes change.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.categorising.table import CategoryTable
from bot.feeds.archives import FINAL_MARKER
from bot.feeds.common import FEED_FILES
from bot.feeds.site import Job, SitePlan
from bot.feeds.state import BuildState
from bot.feeds.websub import publish_in_background
from bot.feeds.writer import write_if_changed
from bot.model import Category
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.browse import CHUNK

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a build did: every file it manages and the ones whose bytes changed."""

    files: tuple[Path, ...]
    changed: tuple[Path, ...]
    seconds: float


def feed_categories(archive: Archive, table: CategoryTable) -> list[tuple[Category, list[str]]]:
    """Every category to render, in table order then by name: the table's and those items use.

    Each comes with the names items store it under (normally just its name). Slugs are unique:
    an automatic slug that collides with another category's gets a hash suffix.
    """
    grouped: dict[str, tuple[Category, list[str]]] = {}
    for name in [c.name for c in table.categories] + archive.categories_in_use():
        category = table.get(name)
        names = grouped.setdefault(category.name, (category, []))[1]
        if name not in names:
            names.append(name)
    result: list[tuple[Category, list[str]]] = []
    taken: set[str] = set()
    for category, names in grouped.values():
        if category.slug in taken:
            suffix = hashlib.sha256(category.name.encode("utf-8")).hexdigest()[:8]
            category = Category(category.name, f"{category.slug[:30]}-{suffix}", category.label)
        taken.add(category.slug)
        result.append((category, names))
    return result


def render_all(
    archive: Archive,
    table: CategoryTable,
    settings: Settings,
    *,
    bot_username: str | None = None,
    now: datetime | None = None,
) -> dict[str, bytes]:
    """Every file of the feeds folder as `{relative path: bytes}`, the whole archive rendered
    (for small archives and tests; `build` renders only what changed)."""
    plan = _plan(archive, table, settings, bot_username, now)
    files = plan.current_files()
    jobs = plan.jobs()
    for chunk in _chunks(jobs):
        entries = plan.browse.digest_entries(d for job in chunk for d in job.digests)
        for job in chunk:
            files.update(job.render(entries))
    return files


def _plan(
    archive: Archive,
    table: CategoryTable,
    settings: Settings,
    bot_username: str | None,
    now: datetime | None,
) -> SitePlan:
    username = bot_username or settings.telegram.username
    return SitePlan(archive, table, settings, username, now or datetime.now(settings.zone))


def _chunks(jobs: list[Job]) -> Iterator[list[Job]]:
    """Jobs in runs that need at most about CHUNK digests' entries, so the entries of a large
    archive are fetched a few hundred digests at a time, never all at once."""
    chunk: list[Job] = []
    size = 0
    for job in jobs:
        chunk.append(job)
        size += len(job.digests)
        if size >= CHUNK:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def write_feeds(feeds_dir: Path, files: dict[str, bytes]) -> list[Path]:
    """Write each file atomically when its bytes changed; the paths written, in order."""
    changed = []
    for relative, data in files.items():
        path = feeds_dir / relative
        if write_if_changed(path, data):
            changed.append(path)
    return changed


def remove_stale_categories(feeds_dir: Path, files: dict[str, bytes]) -> list[Path]:
    """Delete the feeds of categories that neither the table nor any item has any more, so
    that no reader keeps polling a feed that silently stopped."""
    rendered = {Path(relative).parts[1] for relative in files if relative.startswith("c/")}
    folder = feeds_dir / "c"
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for stale in sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in rendered):
        for path in sorted(stale.iterdir()):
            if path.is_file() and not path.is_symlink():
                path.unlink()
                removed.append(path)
        with contextlib.suppress(OSError):  # not empty: something of the operator's is there
            stale.rmdir()
    return removed


def build(
    archive: Archive,
    table: CategoryTable,
    settings: Settings,
    *,
    bot_username: str | None = None,
    now: datetime | None = None,
) -> BuildResult:
    """Render the feeds folder: the current files always, the archive's files whose marks
    changed since the last build; write what changed, remove what is gone."""
    started = time.perf_counter()
    feeds_dir = Path(settings.feeds_dir)
    plan = _plan(archive, table, settings, bot_username, now)
    files = plan.current_files()
    changed = write_feeds(feeds_dir, files)
    changed += remove_stale_categories(feeds_dir, files)
    every = [feeds_dir / relative for relative in files]
    previous = BuildState.load(feeds_dir)
    state = BuildState()
    jobs = plan.jobs()
    todo = []
    for job in jobs:
        if previous.is_current(feeds_dir, job.key, job.mark):
            state.jobs[job.key] = previous.jobs[job.key]
        else:
            todo.append(job)
    for chunk in _chunks(todo):
        entries = plan.browse.digest_entries(d for job in chunk for d in job.digests)
        for job in chunk:
            rendered = job.render(entries)
            changed += write_feeds(feeds_dir, rendered)
            state.jobs[job.key] = (job.mark, sorted(rendered))
    for _, paths in state.jobs.values():
        every.extend(feeds_dir / p for p in paths)
    changed += _remove_gone(feeds_dir, previous, state)
    _mark_final(feeds_dir, plan)
    state.save(feeds_dir)
    if plan.hub:
        publish_in_background(plan.hub, _announced(feeds_dir, settings.site_url, changed))
    seconds = time.perf_counter() - started
    log.debug(
        "feeds: %d files, %d jobs rendered of %d, %d changed, %.0f ms",
        len(every),
        len(todo),
        len(jobs),
        len(changed),
        seconds * 1000,
    )
    return BuildResult(tuple(every), tuple(changed), seconds)


def _announced(feeds_dir: Path, site_url: str, changed: list[Path]) -> list[str]:
    """The subscription documents among the changed files, as URLs (archive documents and
    pages are not subscribed to)."""
    urls = []
    for path in changed:
        relative = path.relative_to(feeds_dir).as_posix()
        if path.name in FEED_FILES and "archive/" not in relative and path.is_file():
            urls.append(site_url + relative)
    return urls


def _remove_gone(feeds_dir: Path, previous: BuildState, state: BuildState) -> list[Path]:
    """Delete the files of the last build that this one no longer makes (a removed digest's
    page, a month's documents once its entries are all in the subscription document)."""
    keep = {p for _, paths in state.jobs.values() for p in paths}
    removed = []
    for _, paths in previous.jobs.values():
        for relative in paths:
            path = feeds_dir / relative
            if relative not in keep and path.is_file():
                path.unlink()
                removed.append(path)
                (path.parent / FINAL_MARKER).unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # not empty: other files are still there
                    path.parent.rmdir()
    return removed


def _mark_final(feeds_dir: Path, plan: SitePlan) -> None:
    """Leave `.final` in the folders of finished months (served with a long Cache-Control)."""
    for months in plan.months.values():
        for doc in months:
            marker = feeds_dir / doc.folder / FINAL_MARKER
            if doc.finished:
                if not marker.exists():
                    marker.parent.mkdir(parents=True, exist_ok=True)
                    marker.write_bytes(b"")
            else:
                marker.unlink(missing_ok=True)


def build_feeds(
    archive: Archive,
    table: CategoryTable,
    settings: Settings,
    *,
    bot_username: str | None = None,
) -> list[Path]:
    """Render every feed into `settings.feeds_dir`; the files whose bytes changed."""
    return list(build(archive, table, settings, bot_username=bot_username).changed)
