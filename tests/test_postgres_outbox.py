"""Several instances sharing one outbox on PostgreSQL: FOR UPDATE SKIP LOCKED claiming."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import defaultdict

import pytest
from sqlalchemy import Engine, text
from test_dispatch_support import TABLE, make_digest, make_item, settings_for, store

from bot.dispatching import Dispatcher, plan_digest
from bot.dispatching.pacing import Pacer, Permit
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.outbox import SENT, NewPart, Outbox
from bot.storing.subscribers import ALL, Subscribers

pytestmark = pytest.mark.postgres


class RecordingSender:
    """Stands in for Telegram: records sends, and fails the test if a chat ever has two
    messages in flight at once (across every instance)."""

    concurrency = 16
    pacer = Pacer(None)  # nothing to pace

    def __init__(self, name: str, log: list[tuple], in_flight: set[str]) -> None:
        self.name, self.log, self.in_flight = name, log, in_flight
        self.overlaps = 0

    async def send(
        self,
        chat_id: str,
        text: str,
        *,
        html: bool,
        disable_preview: bool,
        permit: Permit,
        silent: bool = False,
        button: str | None = None,
    ) -> int:
        if chat_id in self.in_flight:
            self.overlaps += 1
        self.in_flight.add(chat_id)
        await asyncio.sleep(random.uniform(0, 0.003))
        self.in_flight.discard(chat_id)
        self.log.append((self.name, chat_id, text))
        return len(self.log)

    async def close(self) -> None:
        return None


async def test_two_instances_share_the_outbox_without_double_sends(postgres_url: str) -> None:
    engines = [open_database(postgres_url), open_database(postgres_url)]
    outbox = Outbox(engines[0])
    assert outbox.postgres
    chats = [str(30_000 + n) for n in range(150)]
    for digest in ("dA", "dB", "dC"):
        with outbox.planning(digest) as writer:
            for chat in chats:
                writer.add(chat, [NewPart(f"{digest}/{chat}/1", (f"{digest}x",), True)])
                if chat.endswith("7"):
                    writer.add(chat, [NewPart(f"{digest}/{chat}/2", (f"{digest}y",), True)])
    expected: dict[str, list[str]] = {r["chat_id"]: [] for r in outbox.rows()}
    for row in outbox.rows():
        expected[row["chat_id"]].append(row["text"])

    log: list[tuple] = []
    in_flight: set[str] = set()
    settings = settings_for(postgres_url)
    senders = [RecordingSender(n, log, in_flight) for n in ("one", "two")]
    dispatchers = [
        Dispatcher(sender, Outbox(engine), settings, instance=sender.name)
        for sender, engine in zip(senders, engines, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(d.drain() for d in dispatchers)), 60)

    sent: dict[str, list[str]] = defaultdict(list)
    for _, chat, body in log:
        sent[chat].append(body)
    assert sent == expected  # each exactly once, in order per chat
    assert sum(s.overlaps for s in senders) == 0  # never two in flight for one chat
    assert all(d.stats.sent > 0 for d in dispatchers)  # both instances did work
    assert outbox.counts()[SENT] == len(log)


def test_claims_skip_rows_locked_by_another_instance(postgres_url: str) -> None:
    first, second = open_database(postgres_url), open_database(postgres_url)
    outbox = Outbox(first)
    with outbox.planning("dA") as writer:
        for n in range(10):
            writer.add(str(n + 1), [NewPart(f"m{n}", ("x",), True)])
    with first.begin() as connection:  # instance one claims, and has not committed yet
        held = outbox._claim(connection, 4, time.time(), "one")
        with second.connect() as probe:
            probe.execute(text("SET statement_timeout = 3000"))
            probe.commit()
        # Waiting for instance one would never end (it waits for us): the statement timeout
        # would raise instead of returning the six rows nobody holds.
        other = Outbox(second).claim(10, instance="two")
    assert len(held) == 4 and len(other) == 6
    assert {c.id for c in held}.isdisjoint({c.id for c in other})


def test_concurrent_planning_of_one_digest_writes_it_once(postgres_url: str) -> None:
    engine = open_database(postgres_url)
    subscribers = Subscribers(engine)
    for n in range(300):
        subscribers.upsert_chat(40_000 + n, "private")
        subscribers.subscribe(40_000 + n, [ALL])
    digest_id = store(engine, make_digest(27, [make_item("x1", ("AI工具",))]))
    settings = settings_for(postgres_url)
    errors: list[BaseException] = []

    def plan(engine: Engine) -> None:
        try:
            plan_digest(
                engine,
                digest_id,
                archive=Archive(engine),
                subscribers=subscribers,
                table=TABLE,
                settings=settings,
            )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    engines = [open_database(postgres_url) for _ in range(3)]  # migrating is not thread-safe
    threads = [threading.Thread(target=plan, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(Outbox(engine).rows()) == 300
