"""The plan of the whole site: every file the feeds folder holds, and what each depends on.

Small files that change with every digest (the subscription feeds, the OPML, the index and the
category pages) are rendered on every build. The many files of the archive (a page per digest,
a page per month, the monthly archive documents of each feed) are `Job`s, each with a `mark`: a
hash of everything its bytes depend on. A build renders a job only when its mark differs from the
one recorded the last time (see `bot.feeds.state`), so adding a digest to a 10,000-digest archive
renders that digest's page, its neighbour's, its month's page and the newest archive documents,
not the whole archive.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path

from bot.categorising.table import CategoryTable
from bot.feeds.archives import MonthDoc, MonthIndex, plan_months
from bot.feeds.common import (
    INDEX,
    JSON,
    FeedEntry,
    FeedSpec,
    archive_folder,
    feed_updated,
    prepare,
)
from bot.feeds.index_page import PageContext, render_index
from bot.feeds.jsonfeed import render_json_feed
from bot.feeds.opml import OPML_FILES, render_opml
from bot.feeds.pages import (
    month_of,
    render_category_page,
    render_digest_page,
    render_month_page,
)
from bot.feeds.syndication import render_syndication
from bot.model import Category, Entry
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.browse import Browse, DigestInfo

# Bump when the markup of pages or feeds changes: every archive file is then rendered again.
RENDER_VERSION = "1"
INDEX_DIGESTS = 20
FAVICON, LOGO = "favicon.ico", "logo.png"
_HERE = Path(__file__).parent

Files = dict[str, bytes]
EntriesOf = Mapping[str, list[Entry]]


@dataclass(frozen=True, slots=True)
class Job:
    """Some files of the archive, rendered only when `mark` changed since the last build.

    `digests` are the digests whose entries `render` is given (fetched in batches by the build).
    """

    key: str
    mark: str
    render: Callable[[EntriesOf], Files]
    digests: tuple[str, ...] = ()


@dataclass
class SitePlan:
    """Everything a build needs to know about the archive, read in a few queries."""

    archive: Archive
    table: CategoryTable
    settings: Settings
    bot_username: str | None
    now: datetime
    browse: Browse = field(init=False)
    categories: list[tuple[Category, list[str]]] = field(init=False)
    digests: list[DigestInfo] = field(init=False)
    context: PageContext = field(init=False)
    context_mark: str = field(init=False)
    months: dict[str, list[MonthDoc]] = field(init=False)  # feed path -> its archive months

    def __post_init__(self) -> None:
        from bot.feeds.build import feed_categories  # one definition of the category list

        zone = self.settings.zone
        self.browse = Browse(self.archive.engine)
        self.browse.assign_slugs(zone)
        self.categories = feed_categories(self.archive, self.table)
        self.by_name = {name: c for c, names in self.categories for name in names}
        self.digests = self.browse.digests(zone)
        self.context = PageContext(
            self.settings.site_title,
            "zh-CN",
            {name: c.slug for c, names in self.categories for name in names},
            {d.id: d.slug for d in self.digests},
        )
        self.context_mark = hashlib.sha256(
            repr(
                (
                    RENDER_VERSION,
                    self.settings.site_url,
                    self.settings.site_title,
                    self.settings.timezone,
                    self.settings.feed_entries,
                    self.hub,
                    self.bot_username,
                    [(c.name, c.slug, c.label, names) for c, names in self.categories],
                )
            ).encode()
        ).hexdigest()
        marks = self.browse.item_marks()
        self.months = {}
        if marks:
            index = MonthIndex(zone, marks[-1].published_ts, marks[0].published_ts)
            limit, now_ts = self.settings.feed_entries, self.now.timestamp()
            self.months[""] = plan_months(marks, None, "", limit, index, now_ts)
            for category, names in self.categories:
                path = f"c/{category.slug}/"
                self.months[path] = plan_months(marks, names, path, limit, index, now_ts)

    @property
    def hub(self) -> str | None:
        return self.settings.feeds.websub_hub

    # Feeds -------------------------------------------------------------------------------------

    def category_of(self, name: str) -> Category:
        return self.by_name.get(name) or self.table.get(name)

    def spec(
        self, entries: Sequence[Entry], category: Category | None, **extra: object
    ) -> FeedSpec:
        settings = self.settings
        prepared: tuple[FeedEntry, ...] = tuple(
            prepare(
                e,
                settings.zone,
                self.category_of,
                self.now,
                site_url=settings.site_url,
                slugs=self.context.digest_slugs,
            )
            for e in entries
        )
        if category is None:
            title, description = settings.site_title, f"{settings.site_title}：全部条目"
        else:
            title = f"{settings.site_title} · {category.name}"
            label = f"（{category.label}）" if category.label != category.name else ""
            description = f"{settings.site_title}：{category.name}{label}分类的条目"
        spec = FeedSpec(
            site_url=settings.site_url,
            title=title,
            description=description,
            entries=prepared,
            updated=feed_updated(prepared, settings.zone),
            category=category,
            hub=self.hub,
        )
        return replace(spec, **extra) if extra else spec  # type: ignore[arg-type]

    def _recent(self, names: list[str] | None) -> list[Entry]:
        limit = self.settings.feed_entries
        if names is None:
            return self.archive.recent(limit)
        if len(names) == 1:
            return self.archive.recent(limit, names[0])
        merged: dict[str, Entry] = {}
        for name in names:
            for entry in self.archive.recent(limit, name):
                merged.setdefault(entry.item.id, entry)
        ordered = sorted(merged.values(), key=lambda e: e.item.id)
        ordered.sort(key=lambda e: e.published.timestamp(), reverse=True)
        return ordered[:limit]

    def _newest_month(self, feed_path: str) -> str | None:
        months = self.months.get(feed_path)
        return months[0].folder if months else None

    def current_files(self) -> Files:
        """The subscription documents, the OPML, the index, the category pages, the icon."""
        overall = self.spec(self._recent(None), None, prev_archive=self._newest_month(""))
        per_category = [
            self.spec(self._recent(names), c, prev_archive=self._newest_month(f"c/{c.slug}/"))
            for c, names in self.categories
        ]
        files: Files = {}
        for feed in [overall, *per_category]:
            for name, data in render_syndication(feed).items():
                files[feed.path + name] = data
            files[feed.path + JSON] = render_json_feed(feed)
        for feed_file, name in OPML_FILES.items():
            files[name] = render_opml(self.settings.site_title, overall, per_category, feed_file)
        files[INDEX] = render_index(
            self.settings.site_title,
            overall,
            per_category,
            bot_username=self.bot_username,
            context=self.context,
            digests=[(d.slug, d.title, d.date) for d in self.digests[:INDEX_DIGESTS]],
            months=list(dict.fromkeys(month_of(d) for d in self.digests)),
        )
        for spec in per_category:
            assert spec.category is not None
            months = [m.month for m in self.months.get(spec.feed_path, [])]
            files[f"{spec.feed_path}{INDEX}"] = render_category_page(
                self.context, spec, months, self.bot_username
            )
        for name in (FAVICON, LOGO):
            files[name] = (_HERE / name).read_bytes()
        return files

    # The archive -------------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        marks = self.browse.digest_marks()
        return [*self._archive_jobs(), *self._digest_jobs(marks), *self._month_jobs(marks)]

    def _mark(self, *parts: object) -> str:
        return hashlib.sha256(repr((self.context_mark, *parts)).encode()).hexdigest()

    def _archive_jobs(self) -> list[Job]:
        names_of = {f"c/{c.slug}/": (c, names) for c, names in self.categories}
        jobs = []
        for feed_path, months in self.months.items():
            category, names = names_of.get(feed_path, (None, None))
            for doc in months:
                render = partial(self._render_month_doc, doc, category, names)
                jobs.append(Job(f"feed:{doc.folder}", self._mark(doc.mark), render))
        return jobs

    def _render_month_doc(
        self, doc: MonthDoc, category: Category | None, names: list[str] | None, _: EntriesOf
    ) -> Files:
        entries = [
            e
            for e in self.browse.entries_between(doc.start_ts, doc.end_ts, names)
            if e.item.id not in doc.current_ids
        ]
        older = f"{doc.feed_path}{archive_folder(doc.prev_month)}" if doc.prev_month else None
        newer = f"{doc.feed_path}{archive_folder(doc.next_month)}" if doc.next_month else None
        spec = self.spec(entries, category, month=doc.month, prev_archive=older, next_archive=newer)
        files = {doc.folder + name: data for name, data in render_syndication(spec).items()}
        files[doc.folder + JSON] = render_json_feed(spec)
        return files

    def _digest_jobs(self, marks: Mapping[str, str]) -> list[Job]:
        jobs = []
        for position, info in enumerate(self.digests):
            newer = self.digests[position - 1] if position > 0 else None
            older = self.digests[position + 1] if position + 1 < len(self.digests) else None
            mark = self._mark(
                info,
                marks.get(info.id),
                newer and (newer.slug, newer.title),
                older and (older.slug, older.title),
            )
            render = partial(self._render_digest, info, newer, older)
            jobs.append(Job(f"page:d/{info.slug}/", mark, render, (info.id,)))
        return jobs

    def _month_jobs(self, marks: Mapping[str, str]) -> list[Job]:
        by_month: dict[str, list[DigestInfo]] = {}
        for info in self.digests:
            by_month.setdefault(month_of(info), []).append(info)
        feed_months = {doc.month for doc in self.months.get("", [])}
        keys = list(by_month)
        jobs = []
        for position, month in enumerate(keys):
            newer = keys[position - 1] if position > 0 else None
            older = keys[position + 1] if position + 1 < len(keys) else None
            members = by_month[month]
            has_feeds = month in feed_months
            mark = self._mark(
                month, newer, older, has_feeds, [(d, marks.get(d.id)) for d in members]
            )
            render = partial(self._render_month, month, members, newer, older, has_feeds)
            key = f"page:{archive_folder(month)}"
            jobs.append(Job(key, mark, render, tuple(d.id for d in members)))
        return jobs

    def _render_digest(
        self,
        info: DigestInfo,
        newer: DigestInfo | None,
        older: DigestInfo | None,
        entries: EntriesOf,
    ) -> Files:
        shown = self.spec(entries[info.id], None).entries
        page = render_digest_page(self.context, info, shown, newer, older)
        return {f"d/{info.slug}/{INDEX}": page}

    def _render_month(
        self,
        month: str,
        members: list[DigestInfo],
        newer: str | None,
        older: str | None,
        has_feeds: bool,
        entries: EntriesOf,
    ) -> Files:
        shown = [(d, self.spec(entries[d.id], None).entries) for d in members]
        page = render_month_page(self.context, month, shown, newer, older, has_feeds=has_feeds)
        return {f"{archive_folder(month)}{INDEX}": page}
