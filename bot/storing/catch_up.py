"""What a paused chat missed (#13, `/resume`): the items of its categories published while it
was paused, newest first."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine, and_, func, select

from bot.model import Entry
from bot.storing.archive import entry_of
from bot.storing.tables import digests, item_categories, items


def missed(
    engine: Engine, categories: Collection[str] | None, since: float, until: float, limit: int
) -> tuple[int, list[Entry]]:
    """How many items of `categories` (None: all) were published in [since, until), and the
    newest `limit` of them."""
    window = and_(items.c.published_ts >= since, items.c.published_ts < until)
    if categories is not None:
        chosen = (
            select(item_categories.c.item_id)
            .where(item_categories.c.category.in_(list(categories)))
            .scalar_subquery()
        )
        window = and_(window, items.c.id.in_(chosen))
    query = (
        select(items, digests.c.title.label("digest_title"))
        .join(digests, digests.c.id == items.c.digest_id)
        .where(window)
        .order_by(items.c.published_ts.desc(), items.c.id)
    )
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(items).where(window)).scalar()
        rows = connection.execute(query.limit(limit)).all()
    return int(count or 0), [entry_of(row) for row in rows]
