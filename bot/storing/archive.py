"""The archive: every digest and item ever ingested, and which files were already read.

Feeds are rendered from here (the newest entries per category), so adding one digest to a large
archive costs one digest's parse plus one small query, never a re-parse of the folder.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from sqlalchemy import Connection, Engine, Row, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.model import Digest, Entry, Item
from bot.storing.database import upsert
from bot.storing.tables import digest_items, digests, files, item_categories, items

ALL = "*"
# A digest's page is /d/<slug>/: its local date and time, given when it is first stored.
SLUG_FORMAT = "%Y-%m-%d-%H%M"
# The namespace of items' feed ids (fixed: changing it would give every new item another id).
_FEED_NAMESPACE = uuid.UUID("5d2f8c3e-64b1-4a57-9a0e-2b7f4c1d9e60")


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What the archive remembers of a digest file, to skip it when unchanged."""

    path: str
    size: int
    mtime_ns: int
    content_hash: str
    digest_id: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Ingested:
    """What storing a digest changed: which items are new to the archive and which were edited."""

    digest_id: str
    new_digest: bool
    new_items: tuple[str, ...]
    edited_items: tuple[str, ...]
    removed_items: tuple[str, ...] = ()  # dropped from the digest and carried by no other one

    @property
    def changed(self) -> bool:
        return self.new_digest or bool(self.new_items or self.edited_items or self.removed_items)


def item_published(digest: Digest, index: int, now: datetime | None = None) -> datetime:
    """Items of one digest are staggered a second apart, first item newest, so readers that sort
    by date keep the digest's order (and no entry is later than the digest itself).

    A digest dated after `now` (a writer's skewed clock) counts from `now` instead: its times
    are fixed once, when it is stored, rather than following the clock of every feed build."""
    start = digest.date if now is None else min(digest.date, now.astimezone(digest.date.tzinfo))
    return start - timedelta(seconds=index)


class Archive:
    """Digests, items and file records in the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Files -----------------------------------------------------------------------------------

    def file_record(self, path: str) -> FileRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(files).where(files.c.path == path)).first()
        return FileRecord(*row[:6]) if row else None

    def record_file(self, record: FileRecord) -> None:
        values = {
            "size": record.size,
            "mtime_ns": record.mtime_ns,
            "content_hash": record.content_hash,
            "digest_id": record.digest_id,
            "error": record.error,
            "seen_ts": time.time(),
        }
        with self.engine.begin() as connection:
            connection.execute(
                upsert(connection, files)
                .values(path=record.path, **values)
                .on_conflict_do_update(index_elements=[files.c.path], set_=values)
            )

    def file_records(self) -> dict[str, FileRecord]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(files)).all()
        return {row.path: FileRecord(*row[:6]) for row in rows}

    def digest_for_hash(self, content_hash: str) -> str | None:
        """A digest already stored from identical bytes (a renamed or copied file)."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(digests.c.id).where(digests.c.content_hash == content_hash).limit(1)
            ).scalar()

    # Digests and items ----------------------------------------------------------------------

    def store(self, digest: Digest, *, zone: tzinfo | None = None) -> Ingested:
        """Insert or update a digest and its items in one transaction.

        With a `zone` (the ingester's), a new digest is given its page's slug here (its date
        and time in that zone), before it is planned, so that its messages can link to its
        page; the slug never changes after. Without, `page_slug` gives it one when asked.

        Several instances on one PostgreSQL may ingest the same new file at once: the loser of
        that race gets a unique violation, and its second try finds the rows and updates them.
        """
        try:
            return self._store(digest, zone)
        except IntegrityError:
            return self._store(digest, zone)

    def _store(self, digest: Digest, zone: tzinfo | None) -> Ingested:
        now = time.time()
        moment = datetime.fromtimestamp(now, digest.date.tzinfo)
        edited: list[str] = []
        with self.engine.begin() as connection:
            found = connection.execute(
                select(digests.c.id, digests.c.slug).where(digests.c.id == digest.id)
            ).first()
            known = found is not None
            row = {
                "title": digest.title,
                "date": digest.date.isoformat(),
                "date_ts": digest.date.timestamp(),
                "categories": _json(digest.categories),
                "source": str(digest.source),
                "content_hash": digest.content_hash,
            }
            connection.execute(
                upsert(connection, digests)
                .values(id=digest.id, ingested_ts=now, **row)
                .on_conflict_do_update(index_elements=[digests.c.id], set_=row)
            )
            if zone is not None and (found is None or found.slug is None):
                slug = _free_slug(connection, digest.id, digest.date.timestamp(), zone)
                connection.execute(
                    update(digests).where(digests.c.id == digest.id).values(slug=slug)
                )
            ids = [item.id for item in digest.items]
            existing = {
                r.id: r
                for r in connection.execute(
                    select(
                        items.c.id, items.c.content_hash, items.c.categories, items.c.updated_ts
                    ).where(items.c.id.in_(ids))
                )
            }
            # The newest other digest carrying each known item: an older digest stored again
            # (edited, or read late) does not take back the text a newer one gave the item.
            newest_elsewhere = dict(
                connection.execute(
                    select(digest_items.c.item_id, func.max(digests.c.date_ts))
                    .join(digests, digests.c.id == digest_items.c.digest_id)
                    .where(digest_items.c.item_id.in_(ids), digest_items.c.digest_id != digest.id)
                    .group_by(digest_items.c.item_id)
                ).all()
            )
            previous = set(
                connection.execute(
                    select(digest_items.c.item_id).where(digest_items.c.digest_id == digest.id)
                ).scalars()
            )
            connection.execute(delete(digest_items).where(digest_items.c.digest_id == digest.id))
            fresh = []
            for index, item in enumerate(digest.items):
                stored = existing.get(item.id)
                if stored is None:
                    fresh.append((index, item))
                elif newest_elsewhere.get(item.id, float("-inf")) > digest.date.timestamp():
                    continue
                elif self._update_item(
                    connection, item, stored, item_published(digest, index, moment), moment
                ):
                    edited.append(item.id)
            self._insert_items(connection, digest, fresh, moment)
            connection.execute(
                insert(digest_items),
                # The order in the file, whatever numbers the writer used.
                [
                    {"digest_id": digest.id, "item_id": item.id, "position": index}
                    for index, item in enumerate(digest.items)
                ],
            )
            new_items = [item.id for _, item in fresh]
            removed = self._remove_orphans(connection, previous - set(ids))
        return Ingested(digest.id, not known, tuple(new_items), tuple(edited), removed)

    @staticmethod
    def _remove_orphans(connection: Connection, candidates: set[str]) -> tuple[str, ...]:
        """Items dropped from an edited digest (a corrected link gives an item a new id) that no
        other digest carries: they leave the archive, so the feeds do not keep a stale entry."""
        if not candidates:
            return ()
        carried = set(
            connection.execute(
                select(digest_items.c.item_id).where(digest_items.c.item_id.in_(candidates))
            ).scalars()
        )
        orphans = sorted(candidates - carried)
        if orphans:
            connection.execute(
                delete(item_categories).where(item_categories.c.item_id.in_(orphans))
            )
            connection.execute(delete(items).where(items.c.id.in_(orphans)))
        return tuple(orphans)

    @staticmethod
    def _insert_items(
        connection: Connection, digest: Digest, fresh: list[tuple[int, Item]], now: datetime
    ) -> None:
        """New items in two batched statements (one per table): a cold build of a large
        archive is dominated by per-row statement overhead otherwise."""
        if not fresh:
            return
        rows: list[dict[str, object]] = []
        tags: list[dict[str, object]] = []
        for index, item in fresh:
            published = item_published(digest, index, now)
            stamp = published.isoformat()
            rows.append(
                {
                    "id": item.id,
                    "feed_id": new_feed_id(item.id),
                    "digest_id": digest.id,
                    **_item_columns(item),
                    "published": stamp,
                    "published_ts": published.timestamp(),
                    "updated": stamp,
                    "updated_ts": published.timestamp(),
                }
            )
            tags.extend(
                {"category": name, "item_id": item.id, "published_ts": published.timestamp()}
                for name in dict.fromkeys(item.categories)
            )
        connection.execute(insert(items), rows)
        if tags:
            connection.execute(insert(item_categories), tags)

    def _update_item(
        self, connection: Connection, item: Item, stored: Row, told: datetime, now: datetime
    ) -> bool:
        """Keep `published`; move `updated` only when the text changed. True when it did.

        `told` is the item's time in the digest being stored. A later digest retelling the story
        dates the change (the same digests always give the same times, so a rebuild into a fresh
        database gives the same feeds); an edit of the digest that last told it is dated `now`.
        """
        edited = stored.content_hash != _content_hash(item)
        values = _item_columns(item)
        if edited:
            moment = told if told.timestamp() > stored.updated_ts else now
            values |= {"updated": moment.isoformat(), "updated_ts": moment.timestamp()}
        if edited or stored.categories != values["categories"]:
            connection.execute(update(items).where(items.c.id == item.id).values(**values))
            published_ts = connection.execute(
                select(items.c.published_ts).where(items.c.id == item.id)
            ).scalar_one()
            connection.execute(delete(item_categories).where(item_categories.c.item_id == item.id))
            names = dict.fromkeys(item.categories)
            if names:
                connection.execute(
                    insert(item_categories),
                    [
                        {"category": n, "item_id": item.id, "published_ts": published_ts}
                        for n in names
                    ],
                )
        return edited

    def recent(self, limit: int, category: str | None = None) -> list[Entry]:
        """The newest `limit` entries, newest first; with a category, only its entries."""
        query = select(items, digests.c.title.label("digest_title")).join(
            digests, digests.c.id == items.c.digest_id
        )
        if category is not None:
            query = query.join(
                item_categories,
                and_(
                    item_categories.c.item_id == items.c.id,
                    item_categories.c.category == category,
                ),
            ).order_by(item_categories.c.published_ts.desc(), items.c.id)
        else:
            query = query.order_by(items.c.published_ts.desc(), items.c.id)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(limit)).all()
        return [_entry(row) for row in rows]

    def categories_in_use(self) -> list[str]:
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    select(item_categories.c.category)
                    .distinct()
                    .order_by(item_categories.c.category)
                ).scalars()
            )

    def digest_entries(self, digest_id: str) -> list[Entry]:
        """The entries of one digest in its order, as that digest tells them: its id and title
        (not those of the digest that first carried a repeated story), each item keeping the
        time it was first published."""
        own = [column for column in items.c if column.name != "digest_id"]
        query = (
            select(*own, digest_items.c.digest_id, digests.c.title.label("digest_title"))
            .join(digest_items, digest_items.c.item_id == items.c.id)
            .join(digests, digests.c.id == digest_items.c.digest_id)
            .where(digest_items.c.digest_id == digest_id)
            .order_by(digest_items.c.position)
        )
        with self.engine.connect() as connection:
            return [_entry(row) for row in connection.execute(query).all()]

    def item_categories(self, item_id: str) -> tuple[str, ...] | None:
        """The categories an item has now; None if there is no such item."""
        with self.engine.connect() as connection:
            found = connection.execute(
                select(items.c.categories).where(items.c.id == item_id)
            ).scalar()
        return None if found is None else tuple(json.loads(found))

    def latest_digest_id(self) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(digests.c.id).order_by(digests.c.date_ts.desc()).limit(1)
            ).scalar()

    def remove_digest(self, digest_id: str) -> tuple[str, ...]:
        """Forget a digest that its file no longer holds (its title or date was edited, which
        gives it a new id): its items that no other digest carries leave the feeds too."""
        with self.engine.begin() as connection:
            carried = set(
                connection.execute(
                    select(digest_items.c.item_id).where(digest_items.c.digest_id == digest_id)
                ).scalars()
            )
            connection.execute(delete(digest_items).where(digest_items.c.digest_id == digest_id))
            # Items that first appeared in it (carried by it or not: an edit may have dropped
            # one that a later digest repeats) now belong to a digest that carries them on.
            first_here = set(
                connection.execute(
                    select(items.c.id).where(items.c.digest_id == digest_id)
                ).scalars()
            )
            for item_id in first_here:
                other = connection.execute(
                    select(func.min(digest_items.c.digest_id)).where(
                        digest_items.c.item_id == item_id
                    )
                ).scalar()
                if other is not None:
                    connection.execute(
                        update(items).where(items.c.id == item_id).values(digest_id=other)
                    )
            removed = self._remove_orphans(connection, carried | first_here)
            connection.execute(delete(digests).where(digests.c.id == digest_id))
            return removed

    def page_slug(self, digest_id: str, zone: tzinfo) -> str | None:
        """The slug of a digest's page, given now if it has none yet (a digest stored before
        slugs were given at ingest); None when there is no such digest."""
        with self.engine.begin() as connection:
            found = connection.execute(
                select(digests.c.slug, digests.c.date_ts).where(digests.c.id == digest_id)
            ).first()
            if found is None or found.slug is not None:
                return found.slug if found is not None else None
            slug = _free_slug(connection, digest_id, found.date_ts, zone)
            connection.execute(update(digests).where(digests.c.id == digest_id).values(slug=slug))
            return slug

    def take_plain_slug(self, digest_id: str, zone: tzinfo | None = None) -> str | None:
        """Give a digest the plain slug of its date when it was given a suffixed one only
        because another digest held it, and that one is gone: an edited file whose digest
        got a new id (a corrected title) keeps its page's address. Its slug after."""
        with self.engine.begin() as connection:
            found = connection.execute(
                select(digests.c.slug, digests.c.date_ts).where(digests.c.id == digest_id)
            ).first()
            if found is None:
                return None
            slug = _free_slug(connection, digest_id, found.date_ts, zone)
            if found.slug != slug and found.slug == digest_slug(
                digest_id, found.date_ts, zone, taken=True
            ):
                connection.execute(
                    update(digests).where(digests.c.id == digest_id).values(slug=slug)
                )
                return slug
            return found.slug

    def unplanned(self) -> list[str]:
        """Digests stored but not (or not in their current version) planned for delivery, oldest
        first: after a crash between storing and planning, these are planned at start-up."""
        query = (
            select(digests.c.id)
            .where(
                (digests.c.planned_hash.is_(None))
                | (digests.c.planned_hash != digests.c.content_hash)
            )
            .order_by(digests.c.date_ts)
        )
        with self.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def mark_planned(self, digest_id: str, content_hash: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(digests).where(digests.c.id == digest_id).values(planned_hash=content_hash)
            )

    def digest_row(self, digest_id: str) -> Row | None:
        """The stored front matter of one digest (title, date, categories, content_hash)."""
        with self.engine.connect() as connection:
            return connection.execute(select(digests).where(digests.c.id == digest_id)).first()

    def counts(self) -> tuple[int, int]:
        """(digests, items) in the archive."""
        with self.engine.connect() as connection:
            n_digests = connection.execute(select(func.count()).select_from(digests)).scalar_one()
            n_items = connection.execute(select(func.count()).select_from(items)).scalar_one()
        return n_digests, n_items


def digest_slug(digest_id: str, date_ts: float, zone: tzinfo | None, taken: bool) -> str:
    """A digest's page slug: its local date and time (`2025-11-27-1200`), followed by a part of
    its id when another digest has that slug already."""
    slug = datetime.fromtimestamp(date_ts, zone).strftime(SLUG_FORMAT)
    return f"{slug}-{digest_id[:8]}" if taken else slug


def _free_slug(connection: Connection, digest_id: str, date_ts: float, zone: tzinfo | None) -> str:
    plain = digest_slug(digest_id, date_ts, zone, taken=False)
    other = connection.execute(
        select(digests.c.id).where(digests.c.slug == plain, digests.c.id != digest_id).limit(1)
    ).scalar()
    return digest_slug(digest_id, date_ts, zone, taken=other is not None)


def new_feed_id(item_id: str) -> str:
    """The feed id of an item stored for the first time: a name-based UUID of its archive id,
    the same wherever the site is served from (items stored before 0003 keep a tag: id)."""
    return f"urn:uuid:{uuid.uuid5(_FEED_NAMESPACE, item_id)}"


def _json(values: Sequence[str]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


def _content_hash(item: Item) -> str:
    return hashlib.sha256(item.content_key.encode("utf-8")).hexdigest()


def _item_columns(item: Item) -> dict[str, object]:
    return {
        "position": item.position,
        "title": item.title,
        "url": item.url,
        "author": item.author,
        "summary_md": item.summary_md,
        "summary_html": item.summary_html,
        "summary_text": item.summary_text,
        "categories": _json(item.categories),
        "category_rule": item.category_rule,
        "content_hash": _content_hash(item),
    }


def _entry(row: Row) -> Entry:
    item = Item(
        id=row.id,
        position=row.position,
        title=row.title,
        url=row.url,
        author=row.author,
        summary_md=row.summary_md,
        summary_html=row.summary_html,
        summary_text=row.summary_text,
        categories=tuple(json.loads(row.categories)),
        category_rule=row.category_rule,
    )
    return Entry(
        item=item,
        digest_id=row.digest_id,
        digest_title=row.digest_title,
        published=datetime.fromisoformat(row.published),
        updated=datetime.fromisoformat(row.updated),
        feed_id=row.feed_id,
    )


def source_key(path: Path) -> str:
    """Files are remembered by their resolved path."""
    return str(path.resolve())


def entry_of(row: Row) -> Entry:
    """An `Entry` from a row of `items` with its digest's title as `digest_title` (for the
    other stores that read items: held bundles, catch-ups)."""
    return _entry(row)
