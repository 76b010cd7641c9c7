"""Several instances on PostgreSQL, one budget: planning notices wake the sender (LISTEN/NOTIFY),
instances together stay within the bot's limits, and killing the sender mid-broadcast loses
nothing and repeats at most the message in flight per chat."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from fakebot.limits import FloodLimits
from service_process import ServiceProcess
from sqlalchemy import text
from test_dispatch_support import TABLE, make_digest, make_item, settings_for, store

from bot.dispatching import Dispatcher, TelegramSender, plan_digest
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.notify import PlannedListener, notify_planned
from bot.storing.outbox import Outbox
from bot.storing.subscribers import ALL, Subscribers

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"


def test_a_committed_plan_notifies_a_rolled_back_one_does_not(postgres_url: str) -> None:
    engine = open_database(postgres_url)
    woken = threading.Event()
    listener = PlannedListener(engine, woken.set).start()
    try:
        assert listener.listening.wait(30)
        with engine.connect() as connection:
            notify_planned(connection)
            connection.rollback()
        with engine.begin() as connection:  # a marker: notices arrive in commit order
            connection.execute(text("SELECT pg_notify('digestbot_marker', '')"))
        assert not woken.is_set()
        with engine.begin() as connection:
            notify_planned(connection)
        assert woken.wait(30)
    finally:
        listener.close()
        engine.dispose()


@pytest.mark.timeout(60)
async def test_an_idle_sender_is_woken_by_planning_elsewhere(postgres_url: str, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = None
    engine = open_database(postgres_url)
    settings = settings_for(postgres_url, token=telegram.token, base_url=telegram.base_url)
    sender = TelegramSender(settings)
    # sole: it never looks at the outbox on its own, so only the notice can start the sends
    dispatcher = Dispatcher(sender, Outbox(engine), settings, sole=True)
    listener = PlannedListener(engine, dispatcher.wake).start()
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    planner = open_database(postgres_url)  # another instance: its own engine
    try:
        await asyncio.to_thread(listener.listening.wait, 30)
        subscribers = Subscribers(planner)
        for chat in ("301", "302"):
            subscribers.upsert_chat(chat, "private")
            subscribers.subscribe(chat, [ALL])
        digest_id = store(planner, make_digest(5, [make_item("woken-1", ("AI产业",))]))
        plan_digest(
            planner,
            digest_id,
            archive=Archive(planner),
            subscribers=subscribers,
            table=TABLE,
            settings=settings,
        )
        await telegram.wait_for_messages_async(301, 1, timeout=30)
        await telegram.wait_for_messages_async(302, 1, timeout=30)
    finally:
        stop.set()
        await running
        listener.close()
        await sender.close()
        planner.dispose()
        engine.dispose()


@pytest.mark.timeout(240)
def test_instances_share_one_budget_and_survive_the_sender_killed(
    tmp_path: Path, postgres_url: str, telegram
) -> None:  # type: ignore[no-untyped-def]
    limit = 20
    telegram.limits = FloodLimits(global_per_second=limit)
    engine = open_database(postgres_url)
    subscribers = Subscribers(engine)
    chats = [str(40_000 + n) for n in range(100)]
    for chat in chats:
        subscribers.upsert_chat(chat, "private")
        subscribers.subscribe(chat, [ALL])
    shared = tmp_path / "seeds"
    shared.mkdir()
    env = {
        "DIGESTBOT_DATABASE_URL": postgres_url,
        "DIGESTBOT_DIGESTS_DIR": str(shared),
        "DIGESTBOT_TELEGRAM__TOKEN": telegram.token,
        "DIGESTBOT_TELEGRAM__BASE_URL": telegram.base_url,
        "DIGESTBOT_TELEGRAM__POLL_TIMEOUT": "1",
        "DIGESTBOT_TELEGRAM__GLOBAL_PER_SECOND": str(limit),
        "DIGESTBOT_TELEGRAM__CHANNELS": json.dumps([]),
        # one address for all: links in messages must not differ between instances
        "DIGESTBOT_SITE_URL": "https://news.example.com/",
    }
    instances = [ServiceProcess(tmp_path / name, env) for name in ("a", "b")]
    try:
        for instance in instances:
            instance.start(timeout=60)
        senders = [i for i in instances if "polling for updates" in i.output()]
        assert len(senders) == 1
        sender, standby = senders[0], next(i for i in instances if i is not senders[0])
        shutil.copy(SAMPLE, tmp_path / SAMPLE.name)
        os.replace(tmp_path / SAMPLE.name, shared / SAMPLE.name)  # seen whole by both
        telegram.wait_for(lambda f: len(f.messages()) >= 2 * limit, timeout=60)
        sender.kill()  # SIGKILL mid-broadcast: sends in flight may or may not have arrived
        standby.wait_for_line("now the sender", timeout=60)
        outbox = Outbox(engine)
        planned = Counter(str(r["chat_id"]) for r in outbox.rows())  # planned before the kill
        assert set(planned) == set(chats)

        def delivered(fake) -> bool:  # type: ignore[no-untyped-def]
            got = fake.sent_counts()
            return all(got.get(int(chat), 0) >= n for chat, n in planned.items())

        telegram.wait_for(delivered, timeout=120)  # nothing lost
        assert standby.terminate()[0] == 0  # records the last outcomes as it stops
        assert all(r["state"] == "sent" for r in outbox.rows())
        got = Counter(str(m.chat_id) for m in telegram.messages())
        assert all(got[chat] - n <= 1 for chat, n in planned.items())  # at most one repeat
        assert telegram.flood_count == 0
        assert telegram.max_in_window(1.0) <= limit  # both instances together
        assert "Traceback" not in standby.output()
    finally:
        for instance in instances:
            instance.kill()
        engine.dispose()


def test_a_standby_answers_webhook_commands_through_the_senders_budget(
    tmp_path: Path, postgres_url: str, telegram
) -> None:  # type: ignore[no-untyped-def]
    """Both instances take webhooks: the fake delivers updates to the standby (whose webhook
    was set last), the standby runs the handlers and the sender makes their requests, before
    its pending deliveries, within the one budget."""
    limit = 10
    telegram.limits = FloodLimits(global_per_second=limit)
    engine = open_database(postgres_url)
    subscribers = Subscribers(engine)
    chats = [str(50_000 + n) for n in range(30)]
    for chat in chats:
        subscribers.upsert_chat(chat, "private")
        subscribers.subscribe(chat, [ALL])
    askers = [int(chat) for chat in chats[-6:]]  # planned last: their messages go out last
    shared = tmp_path / "seeds"
    shared.mkdir()
    env = {
        "DIGESTBOT_DATABASE_URL": postgres_url,
        "DIGESTBOT_DIGESTS_DIR": str(shared),
        "DIGESTBOT_TELEGRAM__TOKEN": telegram.token,
        "DIGESTBOT_TELEGRAM__BASE_URL": telegram.base_url,
        "DIGESTBOT_TELEGRAM__GLOBAL_PER_SECOND": str(limit),
        "DIGESTBOT_TELEGRAM__WEBHOOK_SECRET": "the-same-on-every-instance",
        "DIGESTBOT_TELEGRAM__CHANNELS": json.dumps([]),
        "DIGESTBOT_SITE_URL": "https://news.example.com/",
    }
    sender = ServiceProcess(tmp_path / "a", env)
    standby = ServiceProcess(tmp_path / "b", env)
    for instance in (sender, standby):
        instance.env["DIGESTBOT_TELEGRAM__WEBHOOK_URL"] = f"{instance.url}/telegram"
    try:
        sender.start(timeout=60)
        standby.start(timeout=60)
        assert "stands by" in standby.output() and "stands by" not in sender.output()
        assert telegram.webhook and telegram.webhook["url"] == f"{standby.url}/telegram"
        shutil.copy(SAMPLE, tmp_path / SAMPLE.name)
        os.replace(tmp_path / SAMPLE.name, shared / SAMPLE.name)
        telegram.wait_for(lambda f: len(f.messages()) >= limit, timeout=60)  # broadcasting
        for user in askers:
            telegram.push_message(user, "/help")
        telegram.push_message(askers[0], "/mysubs")

        def answered(fake) -> bool:  # type: ignore[no-untyped-def]
            got = [m for user in askers for m in fake.messages(user) if not _digest(m.plain)]
            return len(got) >= len(askers) + 1

        telegram.wait_for(answered, timeout=60)
        outbox = Outbox(engine)
        assert outbox.pending_count() > 0  # the replies did not wait for the broadcast
        deadline = time.monotonic() + 120  # the outbox's last settlement: no request to await
        while outbox.pending_count():
            assert time.monotonic() < deadline, outbox.counts()
            time.sleep(0.05)
        for user in askers:  # each reply before the digest that was waiting for that chat
            kinds = [_digest(m.plain) for m in telegram.messages(user)]
            assert kinds.index(False) < kinds.index(True), kinds
        assert any("AI工具" in m.plain for m in telegram.messages(askers[0]))  # /mysubs read
        assert telegram.flood_count == 0
        assert telegram.max_in_window(1.0) <= limit  # both instances' requests together
        with engine.connect() as connection:
            relayed = connection.execute(
                text("SELECT last_value FROM relayed_requests_id_seq")
            ).scalar_one()
            left = connection.execute(text("SELECT count(*) FROM relayed_requests")).scalar_one()
        assert relayed >= len(askers) + 1 and left == 0  # made by the sender, answers read
        for instance in (standby, sender):
            assert instance.terminate()[0] == 0
            assert "Traceback" not in instance.output()
    finally:
        for instance in (sender, standby):
            instance.kill()
        engine.dispose()


def _digest(plain: str) -> bool:
    return "过去4小时全球AI发生了什么" in plain
