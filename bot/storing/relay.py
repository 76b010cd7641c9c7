"""Relayed requests: a standby instance's Bot API requests, made for it by the elected sender.

Every instance takes webhooks (SPEC §6), but only the sender's `Pacer` is the bot's budget. So a
standby that answers a command writes each request its handlers make (`ask`) and waits for the
answer; the sender takes them (`take`, `FOR UPDATE SKIP LOCKED`), makes them through its
`Pacer` at reply priority, before deliveries, and writes Telegram's answer (`answer`). Both ends
are woken by notices sent inside these transactions (delivered at commit): `RELAY` wakes the
sender, `RELAYED` (the request's id as payload) the standby that asked. A request the sender was
making when it died is offered again by the next (`offer_again`): at most that one is repeated.
Nothing is dropped: a request stays until it is answered, even when the standby that asked has
stopped waiting; answers nobody read go with `forget_answered`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update

from bot.storing.tables import relayed_requests

__all__ = ["ANSWERED", "RELAY", "RELAYED", "Asked", "Relayed"]

RELAY = "digestbot_relay"  # a request waits for the sender
RELAYED = "digestbot_relayed"  # a request was answered (payload: its id)
PENDING, SENDING, ANSWERED = "pending", "sending", "answered"


@dataclass(frozen=True, slots=True)
class Asked:
    """A request taken by the sender."""

    id: int
    method: str
    params: str  # JSON object of the request's parameters


def _notify(connection: Connection, channel: str, payload: str = "") -> None:
    connection.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})


class Relayed:
    """The `relayed_requests` table (PostgreSQL only: SQLite has one instance)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def ask(self, method: str, params: str, now: float | None = None) -> int:
        """A standby's request, waiting for the sender; its id."""
        with self.engine.begin() as connection:
            request_id = connection.execute(
                insert(relayed_requests)
                .values(
                    method=method[:64],
                    params=params,
                    state=PENDING,
                    created_ts=time.time() if now is None else now,
                )
                .returning(relayed_requests.c.id)
            ).scalar_one()
            _notify(connection, RELAY)
        return int(request_id)

    def answer_of(self, request_id: int) -> str | None:
        """The answer to a request (JSON), once the sender has made it."""
        r = relayed_requests.c
        with self.engine.connect() as connection:
            return connection.execute(
                select(r.answer).where(r.id == request_id, r.state == ANSWERED)
            ).scalar()

    def forget(self, request_id: int) -> None:
        """The answer was read: the row goes."""
        with self.engine.begin() as connection:
            connection.execute(delete(relayed_requests).where(relayed_requests.c.id == request_id))

    def take(self, limit: int, instance: str) -> list[Asked]:
        """Up to `limit` waiting requests for this sender, oldest first."""
        r = relayed_requests.c
        with self.engine.begin() as connection:
            ids = list(
                connection.execute(
                    select(r.id)
                    .where(r.state == PENDING)
                    .order_by(r.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not ids:
                return []
            rows = connection.execute(
                update(relayed_requests)
                .where(r.id.in_(ids), r.state == PENDING)
                .values(state=SENDING, taken_by=instance[:64])
                .returning(r.id, r.method, r.params)
            ).all()
        return sorted((Asked(row.id, row.method, row.params) for row in rows), key=lambda a: a.id)

    def answer(self, request_id: int, answer: str, now: float | None = None) -> None:
        """Telegram's answer (JSON) to a request; the standby that asked is told at commit."""
        r = relayed_requests.c
        with self.engine.begin() as connection:
            connection.execute(
                update(relayed_requests)
                .where(r.id == request_id)
                .values(
                    state=ANSWERED,
                    answer=answer,
                    answered_ts=time.time() if now is None else now,
                )
            )
            _notify(connection, RELAYED, str(request_id))

    def offer_again(self) -> int:
        """Requests a sender took and never answered (it died) wait again: at a new sender's
        start, once the old one is surely gone."""
        r = relayed_requests.c
        with self.engine.begin() as connection:
            again = connection.execute(
                update(relayed_requests)
                .where(r.state == SENDING)
                .values(state=PENDING, taken_by=None)
            ).rowcount
            if again:
                _notify(connection, RELAY)
        return again

    def waiting(self) -> int:
        """Requests not answered yet."""
        r = relayed_requests.c
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).where(r.state != ANSWERED)).scalar_one()

    def forget_answered(self, before: float) -> int:
        """Answers no standby read (it stopped waiting, or stopped) older than `before`."""
        r = relayed_requests.c
        with self.engine.begin() as connection:
            return connection.execute(
                delete(relayed_requests).where(r.state == ANSWERED, r.answered_ts < before)
            ).rowcount
