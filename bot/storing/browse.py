"""Reads of the archive for its pages and archive feeds: digests with their page slugs, entries of
a time range or of some digests, and the marks that tell a build which pages changed.

Every query here is one indexed scan or one pass over a table; none runs per digest, so a build
of a 10,000-digest archive asks the database a handful of questions, not thousands.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any  # hashlib's hash objects have no public type
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, bindparam, select, update

from bot.model import Entry
from bot.storing.archive import _entry, digest_slug
from bot.storing.tables import digest_items, digests, item_categories, items

CHUNK = 500  # ids per IN (...) list: well under SQLite's limit of bound parameters


@dataclass(frozen=True, slots=True)
class DigestInfo:
    """A digest as its page and the archive pages list it."""

    id: str
    slug: str
    title: str
    date: datetime


@dataclass(frozen=True, slots=True)
class ItemMark:
    """What a page shows of an item, reduced to what tells that it changed."""

    id: str
    digest_id: str
    published_ts: float
    categories: tuple[str, ...]
    version: str  # changes with the item's text or categories


class Browse:
    """Read-only questions of the pages, plus the one write they need: slugs for new digests."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def assign_slugs(self, zone: ZoneInfo) -> int:
        """Give each digest without a slug one (`bot.storing.archive.digest_slug`): those stored
        before slugs were given at ingest. Slugs never change after, so a digest's page keeps
        its address. The number of digests given one."""
        with self.engine.begin() as connection:
            new = connection.execute(
                select(digests.c.id, digests.c.date_ts)
                .where(digests.c.slug.is_(None))
                .order_by(digests.c.ingested_ts, digests.c.id)
            ).all()
            if not new:
                return 0
            taken = set(
                connection.execute(
                    select(digests.c.slug).where(digests.c.slug.is_not(None))
                ).scalars()
            )
            rows = []
            for row in new:
                slug = digest_slug(row.id, row.date_ts, zone, taken=False)
                if slug in taken:
                    slug = digest_slug(row.id, row.date_ts, zone, taken=True)
                taken.add(slug)
                rows.append({"b_id": row.id, "b_slug": slug})
            connection.execute(
                update(digests)
                .where(digests.c.id == bindparam("b_id"))
                .values(slug=bindparam("b_slug")),
                rows,
            )
        return len(rows)

    def digests(self, zone: ZoneInfo) -> list[DigestInfo]:
        """Every digest that has a slug, newest first."""
        query = (
            select(digests.c.id, digests.c.slug, digests.c.title, digests.c.date_ts)
            .where(digests.c.slug.is_not(None))
            .order_by(digests.c.date_ts.desc(), digests.c.id)
        )
        with self.engine.connect() as connection:
            return [
                DigestInfo(r.id, r.slug, r.title, datetime.fromtimestamp(r.date_ts, zone))
                for r in connection.execute(query)
            ]

    def slugs_of(self, digest_ids: Iterable[str]) -> dict[str, str]:
        """The page slugs of some digests (those that have one)."""
        wanted = list(dict.fromkeys(digest_ids))
        found: dict[str, str] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), CHUNK):
                query = select(digests.c.id, digests.c.slug).where(
                    digests.c.id.in_(wanted[start : start + CHUNK]), digests.c.slug.is_not(None)
                )
                found.update({r.id: r.slug for r in connection.execute(query)})
        return found

    def digest_marks(self) -> dict[str, str]:
        """Per digest, a hash of what its page shows of its items (which, in which order, their
        text version and categories)."""
        query = (
            select(
                digest_items.c.digest_id,
                digest_items.c.item_id,
                items.c.updated_ts,
                items.c.categories,
                items.c.content_hash,
            )
            .join(items, items.c.id == digest_items.c.item_id)
            .order_by(digest_items.c.digest_id, digest_items.c.position)
        )
        marks: dict[str, Any] = {}
        with self.engine.connect() as connection:
            for digest_id, item_id, _, categories, content_hash in connection.execute(query):
                mark = marks.get(digest_id)
                if mark is None:
                    mark = marks[digest_id] = hashlib.sha256()
                mark.update(f"{item_id}\x1f{content_hash}\x1f{categories}\x1e".encode())
        return {digest_id: mark.hexdigest() for digest_id, mark in marks.items()}

    def item_marks(self) -> list[ItemMark]:
        """Every item, newest first, as `ItemMark`s."""
        query = select(
            items.c.id,
            items.c.digest_id,
            items.c.published_ts,
            items.c.content_hash,
            items.c.categories,
        ).order_by(items.c.published_ts.desc(), items.c.id)
        # Items share a few category lists: each is parsed once (a build reads every item).
        parsed: dict[str, tuple[str, ...]] = {}
        marks = []
        with self.engine.connect() as connection:
            rows = connection.execute(query)
            for item_id, digest_id, published_ts, content_hash, categories in rows:
                names = parsed.get(categories)
                if names is None:
                    names = parsed[categories] = tuple(json.loads(categories))
                marks.append(
                    ItemMark(item_id, digest_id, published_ts, names, content_hash + categories)
                )
        return marks

    def entries_between(
        self, start_ts: float, end_ts: float, categories: Sequence[str] | None = None
    ) -> list[Entry]:
        """Entries published in [start_ts, end_ts), newest first; with category names, only
        the entries of those categories (each once)."""
        query = select(items, digests.c.title.label("digest_title")).join(
            digests, digests.c.id == items.c.digest_id
        )
        if categories is None:
            query = query.where(items.c.published_ts >= start_ts, items.c.published_ts < end_ts)
        else:
            chosen = (
                select(item_categories.c.item_id)
                .where(
                    and_(
                        item_categories.c.category.in_(list(categories)),
                        item_categories.c.published_ts >= start_ts,
                        item_categories.c.published_ts < end_ts,
                    )
                )
                .distinct()
            )
            query = query.where(items.c.id.in_(chosen))
        query = query.order_by(items.c.published_ts.desc(), items.c.id)
        with self.engine.connect() as connection:
            return [_entry(row) for row in connection.execute(query)]

    def digest_entries(self, digest_ids: Iterable[str]) -> dict[str, list[Entry]]:
        """The entries of each digest, in its order; a few queries for any number of digests."""
        wanted = list(dict.fromkeys(digest_ids))
        result: dict[str, list[Entry]] = {digest_id: [] for digest_id in wanted}
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                query = (
                    select(
                        items,
                        digests.c.title.label("digest_title"),
                        digest_items.c.digest_id.label("page_digest_id"),
                    )
                    .join(digest_items, digest_items.c.item_id == items.c.id)
                    .join(digests, digests.c.id == items.c.digest_id)
                    .where(digest_items.c.digest_id.in_(chunk))
                    .order_by(digest_items.c.digest_id, digest_items.c.position)
                )
                for row in connection.execute(query):
                    result[row.page_digest_id].append(_entry(row))
        return result
