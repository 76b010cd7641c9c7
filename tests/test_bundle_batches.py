"""Bundles are released in batches of chats (#15): each batch one transaction that writes its
bundles and deletes what they hold, the dispatcher woken after each; a crash between batches
leaves the later chats holding their items, released once at the next run, and a crash inside a
batch writes nothing of it. SQLite and PostgreSQL; clocks passed in."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from test_dispatch_support import TABLE, make_digest, store
from test_scale import ITEMS, _plan, _send_all, _world

from bot.dispatching.bundles import release_bundles
from bot.storing.chat_settings import ChatSettings, ChatSettingsStore
from bot.storing.held import HeldItems, bundle_id
from bot.storing.outbox import NewPart, Outbox
from bot.storing.retention import Retention
from bot.storing.subscribers import Subscribers

DAY = 86400.0
SCHEDULED = ("1001", "1002", "1004", "1005", "1007")


class Crash(Exception):
    pass


def _held_world(database_url: str) -> tuple[Subscribers, object, float]:
    subscribers, settings = _world(database_url)
    chosen = ChatSettingsStore(subscribers.engine)
    for chat in SCHEDULED:
        chosen.save(chat, ChatSettings(schedule=("08:00",)))
    at = time.time() - DAY
    _plan(subscribers, settings, store(subscribers.engine, make_digest(20, ITEMS)), now=at)
    held = HeldItems(subscribers.engine)
    assert sorted(held.holding()) == sorted(SCHEDULED)
    return subscribers, settings, at + DAY


def _bundles(outbox: Outbox) -> Counter[str]:
    """chat -> how many bundle messages it has."""
    return Counter(
        r["chat_id"]
        for r in outbox.rows()
        if r["digest_id"].startswith("bundle-") and r["part"] == 1
    )


def test_a_release_goes_in_batches_each_waking_the_dispatcher(database_url: str) -> None:
    subscribers, settings, due = _held_world(database_url)
    engine = subscribers.engine
    woken: list[int] = []
    outbox = Outbox(engine)

    def released() -> None:
        woken.append(sum(_bundles(outbox).values()))  # what is committed when it is called

    written = release_bundles(engine, settings, TABLE, due, released=released, batch=2)  # type: ignore[arg-type]
    assert sorted(written) == sorted(SCHEDULED) and all(written.values())
    assert woken == [2, 4, 5]  # after each batch, its bundles already claimable
    assert _bundles(outbox) == Counter(SCHEDULED)
    assert HeldItems(engine).holding() == {}
    assert bundle_id(due) not in Retention(engine).expired(due)  # its plan row: recent
    _send_all(outbox, due)
    assert bundle_id(due) in Retention(engine).expired(due + 30 * DAY)  # done, once sent


def test_a_crash_between_batches_leaves_the_rest_held_and_nobody_gets_two(
    database_url: str,
) -> None:
    subscribers, settings, due = _held_world(database_url)
    engine = subscribers.engine
    outbox = Outbox(engine)

    def crash() -> None:
        raise Crash

    with pytest.raises(Crash):
        release_bundles(engine, settings, TABLE, due, released=crash, batch=2)  # type: ignore[arg-type]
    first = _bundles(outbox)
    assert sum(first.values()) == 2 and set(first.values()) == {1}
    assert sorted(HeldItems(engine).holding()) == sorted(set(SCHEDULED) - set(first))
    again = release_bundles(engine, settings, TABLE, due + 60, batch=2)  # type: ignore[arg-type]
    assert sorted(again) == sorted(set(SCHEDULED) - set(first))
    assert _bundles(outbox) == Counter(SCHEDULED)  # each chat once
    assert HeldItems(engine).holding() == {}


def test_a_crash_inside_a_batch_writes_nothing_of_it(database_url: str) -> None:
    subscribers, _, due = _held_world(database_url)
    engine = subscribers.engine
    held = HeldItems(engine)
    laid_out: list[str] = []

    def bundle_of(chat_id: str):  # type: ignore[no-untyped-def]
        def lay_out(entries, slugs):  # type: ignore[no-untyped-def]
            laid_out.append(chat_id)
            if chat_id == SCHEDULED[1]:
                raise Crash
            return [(None, [NewPart("<b>bundle</b>", tuple(e.item.id for e in entries), True)])]

        return lay_out

    with pytest.raises(Crash):
        held.release_many([(chat, bundle_of(chat)) for chat in SCHEDULED], due)
    assert laid_out == list(SCHEDULED[:2])  # the first chat's bundle was laid out, not kept
    assert sorted(held.holding()) == sorted(SCHEDULED)
    assert _bundles(Outbox(engine)) == Counter()
    assert held.release_many([], due) == {}  # nothing held: no plan row left behind either
    assert bundle_id(due) not in Retention(engine).expired(due + 30 * DAY)
