"""Render every feed of SPEC §3 from the archive into the feeds folder.

Only the newest `settings.feed_entries` entries of each feed are read from the database (one
indexed query per feed), so the cost of a build does not grow with the archive: adding a digest
to a large archive costs that digest's ingest plus one small render. Files are written atomically
and only when their bytes change.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.categorising.table import CategoryTable
from bot.feeds.common import INDEX, OPML, FeedEntry, FeedSpec, feed_updated, prepare
from bot.feeds.index_page import render_index
from bot.feeds.jsonfeed import render_json_feed
from bot.feeds.opml import render_opml
from bot.feeds.syndication import render_syndication
from bot.feeds.writer import write_if_changed
from bot.model import Category, Entry
from bot.settings import Settings
from bot.storing.archive import Archive

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


def _recent(archive: Archive, limit: int, names: list[str]) -> list[Entry]:
    if len(names) == 1:
        return archive.recent(limit, names[0])
    merged: dict[str, Entry] = {}
    for name in names:
        for entry in archive.recent(limit, name):
            merged.setdefault(entry.item.id, entry)
    ordered = sorted(merged.values(), key=lambda e: e.item.id)
    ordered.sort(key=lambda e: e.published.timestamp(), reverse=True)
    return ordered[:limit]


def render_all(
    archive: Archive,
    table: CategoryTable,
    settings: Settings,
    *,
    bot_username: str | None = None,
    now: datetime | None = None,
) -> dict[str, bytes]:
    """Every file of the feeds folder as `{relative path: bytes}`; reads the archive only."""
    zone: ZoneInfo = settings.zone
    site = settings.site_url
    limit = settings.feed_entries
    now = now or datetime.now(zone)
    categories = feed_categories(archive, table)
    by_name: dict[str, Category] = {}
    for category, names in categories:
        for name in names:
            by_name[name] = category

    def category_of(name: str) -> Category:
        return by_name.get(name) or table.get(name)

    def spec(entries: list[Entry], category: Category | None) -> FeedSpec:
        prepared: tuple[FeedEntry, ...] = tuple(prepare(e, zone, category_of, now) for e in entries)
        if category is None:
            title, description = settings.site_title, f"{settings.site_title}：全部条目"
        else:
            title = f"{settings.site_title} · {category.name}"
            extra = f"（{category.label}）" if category.label != category.name else ""
            description = f"{settings.site_title}：{category.name}{extra}分类的条目"
        return FeedSpec(
            site_url=site,
            title=title,
            description=description,
            entries=prepared,
            updated=feed_updated(prepared, zone),
            category=category,
        )

    overall = spec(archive.recent(limit), None)
    per_category = [spec(_recent(archive, limit, names), c) for c, names in categories]
    files: dict[str, bytes] = {}
    for feed in [overall, *per_category]:
        for name, data in render_syndication(feed).items():
            files[feed.path + name] = data
        files[feed.path + "feed.json"] = render_json_feed(feed)
    files[OPML] = render_opml(settings.site_title, overall, per_category)
    username = bot_username or settings.telegram.username
    files[INDEX] = render_index(settings.site_title, overall, per_category, bot_username=username)
    return files


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
) -> BuildResult:
    started = time.perf_counter()
    feeds_dir = Path(settings.feeds_dir)
    files = render_all(archive, table, settings, bot_username=bot_username)
    changed = write_feeds(feeds_dir, files)
    changed += remove_stale_categories(feeds_dir, files)
    seconds = time.perf_counter() - started
    log.debug("feeds: %d files, %d changed, %.0f ms", len(files), len(changed), seconds * 1000)
    return BuildResult(tuple(feeds_dir / r for r in files), tuple(changed), seconds)


def build_feeds(
    archive: Archive,
    table: CategoryTable,
    settings: Settings,
    *,
    bot_username: str | None = None,
) -> list[Path]:
    """Render every feed into `settings.feeds_dir`; the files whose bytes changed."""
    return list(build(archive, table, settings, bot_username=bot_username).changed)
