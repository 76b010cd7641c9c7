"""Corrections: the categories an administrator gave an item, stored and applied at once.

A correction replaces the item's categories in `items` and `item_categories` (so the feeds and
every delivery planned from now on use it) and stays in `corrections`, so that a re-ingest of
the item's digest keeps it and `digestbot categories export` can make training data of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update

from bot.storing.tables import corrections, item_categories, items

RULE_CORRECTION = "correction"


@dataclass(frozen=True, slots=True)
class Correction:
    """One item's corrected categories, with the item's text as it was corrected."""

    item_id: str
    categories: tuple[str, ...]
    title: str
    summary_text: str
    by_user: str
    created_ts: float


class Corrections:
    """The `corrections` table and its effect on the archive's items."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def correct(self, item_id: str, categories: Iterable[str], by_user: str) -> Correction | None:
        """Give the item `categories` (stored, and applied to the item); None if no such item."""
        names = tuple(dict.fromkeys(categories))
        now = time.time()
        with self.engine.begin() as connection:
            row = connection.execute(
                select(items.c.title, items.c.summary_text, items.c.published_ts).where(
                    items.c.id == item_id
                )
            ).first()
            if row is None:
                return None
            found = Correction(item_id, names, row.title, row.summary_text, by_user, now)
            values = {
                "categories": json.dumps(list(names), ensure_ascii=False),
                "title": row.title,
                "summary_text": row.summary_text,
                "by_user": by_user,
                "created_ts": now,
            }
            connection.execute(delete(corrections).where(corrections.c.item_id == item_id))
            connection.execute(insert(corrections).values(item_id=item_id, **values))
            connection.execute(
                update(items)
                .where(items.c.id == item_id)
                .values(categories=values["categories"], category_rule=RULE_CORRECTION)
            )
            connection.execute(delete(item_categories).where(item_categories.c.item_id == item_id))
            if names:
                connection.execute(
                    insert(item_categories),
                    [
                        {"category": n, "item_id": item_id, "published_ts": row.published_ts}
                        for n in names
                    ],
                )
        return found

    def for_items(self, item_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The corrected categories of those of `item_ids` that have a correction."""
        ids = list(item_ids)
        if not ids:
            return {}
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(corrections.c.item_id, corrections.c.categories).where(
                    corrections.c.item_id.in_(ids)
                )
            ).all()
        return {row.item_id: tuple(json.loads(row.categories)) for row in rows}

    def all(self) -> list[Correction]:
        """Every correction, oldest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(corrections).order_by(corrections.c.created_ts, corrections.c.item_id)
            ).all()
        return [
            Correction(
                r.item_id,
                tuple(json.loads(r.categories)),
                r.title,
                r.summary_text,
                r.by_user,
                r.created_ts,
            )
            for r in rows
        ]
