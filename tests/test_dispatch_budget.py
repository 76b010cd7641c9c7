"""One bot, one budget: command replies and deliveries share the token's rate limits, replies go
first and are never dropped on a 429; a delivery that meets an unexpected error fails at once.

python-telegram-bot's real HTTP stack against the fake Bot API, which enforces Telegram-shaped
flood limits and counts every 429 it answers; a real SQLite outbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fakebot import FakeTelegram, FloodLimits
from fakebot.server import DEFAULT_TOKEN
from prometheus_client import generate_latest
from test_dispatch_support import TABLE, make_digest, make_item, settings_for, store

from bot import metrics
from bot.commands import build_application, start_bot, stop_bot
from bot.dispatching import Dispatcher, TelegramSender, plan_digest
from bot.dispatching.pacing import Limits, Pacer, Permit, Priority
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.outbox import FAILED, SENT, Outbox
from bot.storing.subscribers import ALL, Subscribers

TIMEOUT = 60


class Service:
    """What `digestbot run` wires for Telegram: the Application answering commands and the
    dispatcher delivering, both on one `Pacer`."""

    def __init__(self, tmp_path: Any, fake: FakeTelegram, **telegram: Any) -> None:
        self.url = f"sqlite:///{tmp_path}/digestbot.db"
        self.engine = open_database(self.url)
        self.subscribers = Subscribers(self.engine)
        self.outbox = Outbox(self.engine)
        self.fake = fake
        telegram.setdefault("poll_timeout", 5)
        self.settings: Settings = settings_for(
            self.url, token=DEFAULT_TOKEN, base_url=fake.base_url, **telegram
        )

    def subscribe(self, chat: int, categories: list[str]) -> None:
        self.subscribers.upsert_chat(chat, "private" if chat > 0 else "supergroup")
        self.subscribers.subscribe(chat, categories)

    def plan(self, day: int, item_id: str) -> None:
        digest = make_digest(day, [make_item(item_id, ("AI工具",))])
        store(self.engine, digest)
        plan_digest(
            self.engine,
            digest.id,
            archive=Archive(self.engine),
            subscribers=self.subscribers,
            table=TABLE,
            settings=self.settings,
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Dispatcher]:
        pacer = Pacer(Limits.from_settings(self.settings.telegram))
        app = build_application(
            self.settings,
            engine=self.engine,
            table=TABLE,
            subscribers=self.subscribers,
            pacer=pacer,
        )
        sender = TelegramSender(self.settings, pacer=pacer)
        dispatcher = Dispatcher(sender, self.outbox, self.settings, subscribers=self.subscribers)
        stop = asyncio.Event()
        await start_bot(app)
        delivering = asyncio.create_task(dispatcher.run(stop))
        try:
            yield dispatcher
        finally:
            stop.set()
            await asyncio.wait_for(delivering, 10)
            await sender.close()
            await stop_bot(app)
            self.engine.dispose()


def deliveries(fake: FakeTelegram, chat: int) -> list[str]:
    return [m.plain for m in fake.messages(chat) if "新闻 [" in m.plain]


def replies(fake: FakeTelegram, chat: int) -> list[str]:
    return [m.plain for m in fake.messages(chat) if "新闻 [" not in m.plain]


async def test_commands_during_a_broadcast_stay_within_the_limits_and_are_all_answered(
    tmp_path, telegram
) -> None:  # type: ignore[no-untyped-def]
    """Telegram's limits ×4 (120/s overall, 4/s per private chat, 80/min per group): a
    broadcast to 200 chats while 12 of them (two groups) send 4 commands each at once."""
    telegram.limits = FloodLimits().scaled(4)
    service = Service(
        tmp_path, telegram, global_per_second=120, private_per_second=4, group_per_minute=80
    )
    chats = [10_000 + n for n in range(190)] + [-20_000 - n for n in range(10)]
    for chat in chats:
        service.subscribe(chat, [ALL])
    service.plan(27, "b1")
    users = chats[:10] + chats[-2:]
    async with service.running():
        for user in users:
            if user < 0:
                for _ in range(4):  # a group's member asks
                    telegram.push_message(user, "/help", user_id=777, chat_type="supergroup")
            else:
                for _ in range(4):
                    telegram.push_message(user, "/help")
        await telegram.wait_for_async(
            lambda f: (
                all(len(replies(f, u)) == 4 for u in users) and all(deliveries(f, c) for c in chats)
            ),
            timeout=TIMEOUT,
        )
    assert telegram.flood_count == 0, telegram.flood_counts
    assert telegram.max_in_window(1.0) <= 120
    assert all(len(deliveries(telegram, c)) == 1 for c in chats)
    assert service.outbox.counts()[SENT] == len(chats)


async def test_a_reply_goes_before_the_chats_pending_deliveries_and_is_not_dropped(
    tmp_path, telegram
) -> None:  # type: ignore[no-untyped-def]
    """Telegram's own limits, one message a second in a private chat and no burst: a
    /categories sent while three digests go out to that chat is answered next, within the
    chat's limit, and the digests follow."""
    telegram.limits = FloodLimits(private_burst=1)
    service = Service(tmp_path, telegram)
    service.subscribe(7001, [ALL])
    for n in range(3):
        service.plan(20 + n, f"p{n}")
    async with service.running():
        await telegram.wait_for_messages_async(7001, 1, timeout=TIMEOUT)
        telegram.push_message(7001, "/categories")
        await telegram.wait_for_messages_async(7001, 4, timeout=TIMEOUT)
    kinds = ["digest" if "新闻 [" in m.plain else "reply" for m in telegram.messages(7001)]
    assert kinds == ["digest", "reply", "digest", "digest"]
    assert telegram.flood_count == 0
    assert service.outbox.counts()[SENT] == 3


class BrokenOnce(TelegramSender):
    """A sender with a bug that shows on its first message only."""

    broken = False

    async def send(
        self,
        chat_id: str,
        text: str,
        *,
        html: bool,
        disable_preview: bool,
        permit: Permit | None = None,
        silent: bool = False,
        button: str | None = None,
    ) -> int:
        if not self.broken:
            self.broken = True
            raise ValueError("a bug in the sender")
        return await super().send(
            chat_id, text, html=html, disable_preview=disable_preview, permit=permit, button=button
        )


async def test_an_unexpected_exception_fails_the_delivery_at_once(
    tmp_path, telegram, caplog
) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = None
    service = Service(tmp_path, telegram, private_per_second=100)
    service.subscribe(7101, [ALL])
    service.plan(20, "u0")
    service.plan(21, "u1")
    sender = BrokenOnce(service.settings)
    dispatcher = Dispatcher(
        sender, service.outbox, service.settings, backoff_base=60, backoff_cap=60
    )
    metrics.count_deliveries_of(lambda: dispatcher.stats)
    with caplog.at_level(logging.WARNING):
        stats = await asyncio.wait_for(dispatcher.drain(), TIMEOUT)
    await sender.close()

    rows = sorted(service.outbox.rows(), key=lambda r: r["digest_id"])
    assert [r["state"] for r in rows] == [FAILED, SENT]  # the next one was not held up
    assert rows[0]["attempts"] <= 1 and "ValueError" in (rows[0]["error"] or "")
    assert stats.failed == 1 and stats.broken == 1 and stats.retried == 0
    logged = [r for r in caplog.records if "a bug in the sender" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None  # once, with its traceback
    assert b"digestbot_deliveries_broken_total 1.0" in generate_latest(metrics.registry)


async def test_an_unexpected_status_is_not_retried_but_5xx_are(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = None
    service = Service(tmp_path, telegram, private_per_second=100)
    for chat in (7201, 7202):
        service.subscribe(chat, [ALL])
    service.plan(20, "s0")
    telegram.fail_next("sendMessage", 418)  # a status the Bot API never answers
    telegram.fail_next("sendMessage", 503)
    sender = TelegramSender(service.settings)
    dispatcher = Dispatcher(sender, service.outbox, service.settings, backoff_base=0.05)
    stats = await asyncio.wait_for(dispatcher.drain(), TIMEOUT)
    await sender.close()
    assert stats.failed == 1 and stats.retried == 1
    assert len(telegram.requests_for("sendMessage")) == 3  # 418 once, 503 then sent
    assert sorted(r["state"] for r in service.outbox.rows()) == [FAILED, SENT]


async def test_an_answer_of_an_unexpected_shape_fails_the_delivery_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A Bot API (or a proxy in front of it) answering 200 with something that is not a
    Message: python-telegram-bot raises what it raises, the delivery fails, nothing retries."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        body = json.dumps({"ok": True, "result": {"unexpected": 1}}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"sqlite:///{tmp_path}/digestbot.db"
    engine = open_database(url)
    settings = settings_for(url, token=DEFAULT_TOKEN, base_url=f"http://127.0.0.1:{port}/bot")
    subscribers = Subscribers(engine)
    for chat in (7301, 7302):
        subscribers.upsert_chat(chat, "private")
        subscribers.subscribe(chat, [ALL])
    digest = make_digest(20, [make_item("x0", ("AI工具",))])
    store(engine, digest)
    plan_digest(
        engine, digest.id, archive=Archive(engine), subscribers=subscribers, table=TABLE,
        settings=settings,
    )  # fmt: skip
    sender = TelegramSender(settings)
    dispatcher = Dispatcher(sender, Outbox(engine), settings, backoff_base=60, backoff_cap=60)
    try:
        stats = await asyncio.wait_for(dispatcher.drain(), TIMEOUT)
    finally:
        await sender.close()
        server.close()
        await server.wait_closed()
    assert stats.failed == stats.broken == 2 and stats.retried == 0
    assert {r["state"] for r in Outbox(engine).rows()} == {FAILED}


async def test_the_budget_serves_replies_first_and_takes_back_cancelled_turns() -> None:
    pacer = Pacer(Limits(global_per_second=40, private_per_second=1000))
    order: list[str] = []

    async def take(name: str, chat: str, priority: Priority) -> None:
        permit = await pacer.acquire(chat, priority)
        order.append(name)
        pacer.done(permit)

    first = asyncio.create_task(take("d0", "1", Priority.DELIVERY))
    await first  # the budget was idle: at once
    waiting = [asyncio.create_task(take(f"d{n}", str(n + 1), Priority.DELIVERY)) for n in (1, 2)]
    doomed = asyncio.create_task(take("gone", "9", Priority.REPLY))
    await asyncio.sleep(0)  # every one queued
    reply = asyncio.create_task(take("r", "5", Priority.REPLY))
    doomed.cancel()
    await asyncio.gather(*waiting, reply, doomed, return_exceptions=True)
    assert order == ["d0", "r", "d1", "d2"]

    # A turn given up while waiting for its chat leaves the chat free for the next.
    held = await pacer.acquire("7", Priority.DELIVERY)
    behind = asyncio.create_task(pacer.acquire("7", Priority.DELIVERY))
    await asyncio.sleep(0)
    behind.cancel()
    pacer.done(held)
    again = await asyncio.wait_for(pacer.acquire("7", Priority.REPLY), 5)
    assert again.chat_id == "7"
