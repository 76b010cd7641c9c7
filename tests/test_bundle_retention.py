"""Retention reaches bundles (#15, #13): a bundle released long ago and sent loses its history
like a digest (its deliveries, the delivered-item rows they brought, its plan row); a bundle with
a message still waiting, or a recent one, keeps everything. On PostgreSQL a prune step of a
bundle and a revision reaching that bundle never interleave. Clocks are passed in."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, text
from test_dispatch_support import TABLE, make_digest, make_item, store
from test_scale import ITEMS, _plan, _prune_during_revision, _send_all, _world

from bot.dispatching.bundles import release_bundles
from bot.settings import Settings
from bot.storing.chat_settings import ChatSettings, ChatSettingsStore
from bot.storing.database import downgrade, make_engine, migrate
from bot.storing.held import bundle_id
from bot.storing.outbox import PENDING, SENT, Outbox
from bot.storing.retention import Retention
from bot.storing.subscribers import Subscribers
from bot.storing.tables import delivered_items, plans

DAY = 86400.0
SCHEDULED = ("1001", "1002", "1004")  # one bundle at 08:00 each


def _scheduled(subscribers: Subscribers) -> None:
    chosen = ChatSettingsStore(subscribers.engine)
    for chat in SCHEDULED:
        chosen.save(chat, ChatSettings(schedule=("08:00",)))


def _bundled(
    subscribers: Subscribers,
    settings: Settings,
    day: int,
    items: list,  # type: ignore[type-arg]
    at: float,
    keep: frozenset[str] = frozenset(),
) -> str:
    """A digest planned at `at` (the scheduled chats' items held) and sent, the bundles
    released a day later: their digest id (`keep`: chats whose messages wait, retried later)."""
    outbox = Outbox(subscribers.engine)
    digest_id = store(subscribers.engine, make_digest(day, items))
    _plan(subscribers, settings, digest_id, now=at)
    _send_all(outbox, at, keep=set(keep))
    written = release_bundles(subscribers.engine, settings, TABLE, at + DAY)
    assert sorted(written) == sorted(SCHEDULED) and all(written.values())
    return bundle_id(at + DAY)


def _history(engine, digest_id: str) -> tuple[int, int, bool]:  # type: ignore[no-untyped-def]
    """A digest's deliveries, the delivered-item rows they brought, whether it has a plan."""
    with engine.connect() as connection:
        items = connection.execute(
            select(delivered_items.c.chat_id).where(delivered_items.c.digest_id == digest_id)
        ).all()
        plan = connection.execute(select(plans).where(plans.c.digest_id == digest_id)).first()
    return len(Outbox(engine).rows(digest_id)), len(items), plan is not None


def test_old_finished_bundles_are_pruned_and_waiting_or_recent_ones_kept(
    database_url: str,
) -> None:
    subscribers, settings = _world(database_url)
    _scheduled(subscribers)
    engine = subscribers.engine
    outbox = Outbox(engine)
    now = time.time()
    wait = frozenset({"1004"})  # its bundles wait (a retry later)
    old = _bundled(subscribers, settings, 20, ITEMS[:2], now - 50 * DAY)
    _send_all(outbox, now - 49 * DAY)
    tools = [make_item("w-tools", ("AI工具",))]
    waiting = _bundled(subscribers, settings, 21, tools, now - 45 * DAY)
    _send_all(outbox, now - 44 * DAY, keep=set(wait))
    tools = [make_item("r-tools", ("AI工具",))]
    recent = _bundled(subscribers, settings, 22, tools, now - 3 * DAY, keep=wait)
    _send_all(outbox, now - 2 * DAY, keep=set(wait))
    before = {b: _history(engine, b) for b in (old, waiting, recent)}
    assert all(d == len(SCHEDULED) and i > 0 and plan for d, i, plan in before.values())
    cutoff = now - 30 * DAY
    assert old in Retention(engine).expired(cutoff)
    assert waiting not in Retention(engine).expired(cutoff)

    pruned = Retention(engine, batch=2).prune(cutoff)
    assert pruned.deliveries > 0
    assert (pruned.digests, pruned.bundles) == (2, 1), (
        pruned
    )  # digests 20 and 21; the old bundle apart
    assert _history(engine, old) == (0, 0, False)
    assert _history(engine, waiting) == before[waiting]
    assert _history(engine, recent) == before[recent]
    assert [r["state"] for r in outbox.rows(waiting) if r["chat_id"] == "1004"] == [PENDING]
    assert all(r["text"] for r in outbox.rows(waiting))  # its shared text is kept

    # the record went with the window: the old story may be bundled for the chat again
    again = _bundled(subscribers, settings, 23, [ITEMS[0]], now, keep=wait)
    assert [r["item_ids"] for r in outbox.rows(again) if r["chat_id"] == "1001"] == [["a-tools"]]


@pytest.mark.postgres
def test_a_prune_of_a_bundle_and_a_revision_reaching_it_never_interleave(
    postgres_url: str,
) -> None:
    """The prune's step of an old bundle is held up inside its transaction (another session
    locks one of the rows it deletes) while the digest whose items it carried is corrected and
    planned again: the revision waits for the step (the bundle's plan row is locked) and then
    finds nothing of the bundle to edit. Never an edit of a message whose row the prune
    deleted."""
    subscribers, settings = _world(postgres_url)
    _scheduled(subscribers)
    engine = subscribers.engine
    outbox = Outbox(engine)
    long_ago = time.time() - 40 * DAY
    # one chat's message of the digest waits (a retry later): the digest is not expired, so a
    # correction is a revision, which reaches the bundles that carried its items
    wait = frozenset({"1003"})
    bundle = _bundled(subscribers, settings, 20, ITEMS[:2], long_ago, keep=wait)
    _send_all(outbox, long_ago + DAY, keep=set(wait))
    # a summary corrected: the bundles that carried the item would be edited
    digest = make_digest(20, [make_item("a-tools", ("AI工具",), "摘要已更正"), ITEMS[1]])
    assert Retention(engine).expired(time.time() - 30 * DAY) == [bundle]
    bundled = len(outbox.rows(bundle))
    store(engine, digest)  # corrected now: a revision would edit the bundles that were sent
    last = max(r["id"] for r in outbox.rows(bundle))
    pruned, revised = _prune_during_revision(
        engine, postgres_url, last, lambda: _plan(subscribers, settings, digest.id)
    )
    rows = outbox.rows()
    by_id = {r["id"]: r for r in rows}
    edits = [r for r in rows if r["edit_of"] is not None]
    assert all(by_id.get(e["edit_of"], {}).get("state") == SENT for e in edits), edits
    assert bundled == len(SCHEDULED) and outbox.rows(bundle) == []
    assert pruned.deliveries == bundled
    assert revised.edits > 0  # the digest's own messages, sent, are edited
    assert all(by_id[e["edit_of"]]["digest_id"] == digest.id for e in edits)


def test_upgrading_gives_every_bundle_released_before_a_plan_dated_by_its_newest_send(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    migrate(engine, revision="0012_last_part")
    with engine.begin() as connection:  # a bundle sent, and a digest's plan, as 0012 left them
        for chat, sent in (("1", 200), ("2", 300)):
            connection.execute(
                text(
                    "INSERT INTO deliveries (chat_id, digest_id, part, parts, text, item_ids, "
                    "disable_preview, state, attempts, not_before_ts, created_ts, sent_ts, "
                    "plain, revision) VALUES (:chat, 'bundle-100000', 1, 1, 'hi', '[\"x\"]', "
                    "TRUE, 'sent', 1, 0, 100, :sent, FALSE, 0)"
                ),
                {"chat": chat, "sent": sent},
            )
            connection.execute(
                text(
                    "INSERT INTO delivered_items (chat_id, item_id, digest_id) "
                    "VALUES (:chat, 'x', 'bundle-100000')"
                ),
                {"chat": chat},
            )
    migrate(engine)
    retention = Retention(engine)
    assert retention.expired(300) == []  # dated by its newest send
    assert retention.expired(301) == ["bundle-100000"]
    downgrade(engine, "0012_last_part")  # and back: the bundles' plans go
    assert retention.expired(301) == []
    migrate(engine)
    assert retention.prune(301).deliveries == 2
    assert _history(engine, "bundle-100000") == (0, 0, False)
    engine.dispose()
