"""Paid broadcasts: the fake applies the paid ceiling only to flagged sends, the pacer grants
beyond the free rate only as paid (and only to deliveries that may be paid), and a dispatcher
with `telegram.paid_broadcast` on goes past the free rate without a 429."""

from __future__ import annotations

import asyncio

import pytest
from fakebot.limits import FloodGate, FloodLimits
from telegram import Bot
from telegram.error import RetryAfter
from test_dispatch_support import TABLE, make_digest, make_item, settings_for, store

from bot.dispatching import Dispatcher, TelegramSender, plan_digest
from bot.dispatching.pacing import Limits, Pacer, Priority
from bot.settings import SettingsError, load_settings
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.outbox import Outbox
from bot.storing.subscribers import ALL, Subscribers


def test_the_fake_counts_flagged_sends_against_the_paid_ceiling_only() -> None:
    gate = FloodGate(FloodLimits(global_per_second=3, paid_per_second=5, private_burst=9))
    now = 100.0
    assert [gate.admit(chat, now) for chat in (1, 2, 3)] == [0, 0, 0]
    assert gate.admit(4, now) == 1  # the free limit: refused without the flag
    assert gate.admit(4, now, paid=True) == 0  # accepted with it
    assert gate.admit(5, now, paid=True) == 0
    assert gate.admit(6, now, paid=True) == 1  # the paid ceiling counts every send
    assert gate.admit(6, now + 1.0) == 0  # a second later both have room again


async def test_the_fake_reads_the_flag_from_a_real_request(telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = FloodLimits(global_per_second=2, paid_per_second=4)
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        for chat in (11, 12):
            await bot.send_message(chat, "free")
        with pytest.raises(RetryAfter):
            await bot.send_message(13, "over the free limit")
        paid = await bot.send_message(13, "paid", allow_paid_broadcast=True)
    assert paid.text == "paid"
    assert [m.paid for m in telegram.messages()] == [False, False, True]
    assert telegram.flood_count == 1


def test_the_setting_is_an_opt_in_above_the_free_rate() -> None:
    assert not load_settings().telegram.paid_broadcast.enabled
    on = load_settings(telegram={"paid_broadcast": {"enabled": True, "per_second": 500}})
    assert Limits.from_settings(on.telegram).overall_per_second == 500
    with pytest.raises(SettingsError, match=r"paid_broadcast\.per_second"):
        load_settings(telegram={"paid_broadcast": {"enabled": True, "per_second": 1001}})
    with pytest.raises(SettingsError, match="must be above global_per_second"):
        load_settings(telegram={"paid_broadcast": {"enabled": True, "per_second": 20}})


@pytest.mark.timeout(30)
async def test_beyond_the_free_rate_only_payable_requests_go_and_as_paid() -> None:
    pacer = Pacer(Limits(global_per_second=3, paid_per_second=100))
    deliveries = [
        await pacer.acquire(str(100 + n), Priority.DELIVERY, payable=True) for n in range(8)
    ]
    assert [p.paid for p in deliveries] == [False] * 3 + [True] * 5
    reply = asyncio.create_task(pacer.acquire("42", Priority.REPLY))  # cannot be paid
    edit = asyncio.create_task(pacer.acquire("43", Priority.DELIVERY))
    more = asyncio.create_task(pacer.acquire("44", Priority.DELIVERY, payable=True))
    await more  # granted (paid) although the reply and the edit wait for free room
    assert more.result().paid and not reply.done() and not edit.done()
    for permit in deliveries:
        pacer.done(permit)
    # the free sends finished; a second after, the free room opens: the reply first
    first = await reply
    assert not first.paid and not edit.done()
    pacer.done(first)
    assert not (await edit).paid


@pytest.mark.timeout(60)
async def test_a_paid_broadcast_passes_the_free_rate_without_a_429(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    free, paid = 10, 40
    telegram.limits = FloodLimits(global_per_second=free, paid_per_second=paid)
    url = f"sqlite:///{tmp_path}/paid.db"
    engine = open_database(url)
    subscribers = Subscribers(engine)
    chats = [str(20_000 + n) for n in range(80)]
    for chat in chats:
        subscribers.upsert_chat(chat, "private")
        subscribers.subscribe(chat, [ALL])
    digest_id = store(engine, make_digest(3, [make_item("paid-1", ("AI产业",))]))
    settings = settings_for(
        url,
        token=telegram.token,
        base_url=telegram.base_url,
        global_per_second=free,
        paid_broadcast={"enabled": True, "per_second": paid},
    )
    plan_digest(
        engine,
        digest_id,
        archive=Archive(engine),
        subscribers=subscribers,
        table=TABLE,
        settings=settings,
    )
    sender = TelegramSender(settings)
    stats = await Dispatcher(sender, Outbox(engine), settings).drain()
    await sender.close()
    messages = telegram.messages()
    assert stats.sent == len(messages) == len(chats) and telegram.flood_count == 0
    assert 0 < sum(m.paid for m in messages) < len(chats)  # the free share went free
    assert telegram.max_in_window(1.0) > free  # beyond the free rate...
    assert telegram.max_in_window(1.0) <= paid  # ...within the paid ceiling
    unflagged = sorted(m.at for m in messages if not m.paid)
    assert all(sum(1 for t in unflagged if start <= t < start + 1.0) <= free for start in unflagged)
    engine.dispose()
