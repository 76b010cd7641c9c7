"""Read-only figures and probes of the database, for `/healthz` and `digestbot stats`."""

from __future__ import annotations

from sqlalchemy import Engine, func, select, text

from bot.storing.tables import chats


def ping(engine: Engine) -> bool:
    """Whether the database answers a query now."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def chats_by_state(engine: Engine) -> dict[str, int]:
    """How many chats are in each state (active, blocked, gone, ...)."""
    with engine.connect() as connection:
        rows = connection.execute(select(chats.c.state, func.count()).group_by(chats.c.state))
        return {str(state): int(count) for state, count in rows}
