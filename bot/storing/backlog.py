"""The backlog of the outbox: what waits to be sent, and how fast it has been going out."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from bot.storing.outbox import SENT, UNFINISHED
from bot.storing.tables import deliveries

SAMPLE = 1000  # the latest sends the rate is measured over
RECENT = 60.0  # seconds: no send in this long, and nothing is going out now


@dataclass(frozen=True, slots=True)
class Backlog:
    waiting: int  # pending and in-flight deliveries
    rate: float  # messages per second over the latest sends (0: none lately)

    @property
    def drain_seconds(self) -> float | None:
        """The expected time to send the backlog at the current rate (None: nothing is going
        out, so no estimate; 0: nothing waits)."""
        if not self.waiting:
            return 0.0
        return self.waiting / self.rate if self.rate > 0 else None


def backlog(engine: Engine, now: float | None = None) -> Backlog:
    """The backlog now. The rate is that of the latest `SAMPLE` sends (found backwards by the
    index on state and id, not by scanning the history), when the latest is recent."""
    now = time.time() if now is None else now
    d = deliveries
    latest = (
        select(d.c.sent_ts)
        .where(d.c.state == SENT)
        .order_by(d.c.id.desc())
        .limit(SAMPLE)
        .subquery()
    )
    with engine.connect() as connection:
        waiting = connection.execute(
            select(func.count()).where(d.c.state.in_(UNFINISHED))
        ).scalar_one()
        count, first, last = connection.execute(
            select(func.count(), func.min(latest.c.sent_ts), func.max(latest.c.sent_ts))
        ).one()
    rate = 0.0
    if count > 1 and last is not None and now - last < RECENT and last > first:
        rate = (count - 1) / (last - first)
    return Backlog(int(waiting), rate)
