"""A large audience: planning in batches (claimable at once, resumed after a crash, nobody twice),
retention (old history pruned in small steps, nothing waiting ever), the backlog figures."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from test_dispatch_support import TABLE, make_digest, make_item, settings_for, store

from bot.cli.stats import format_stats, stats
from bot.dispatching.planner import PlanResult, plan_digest
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.backlog import backlog
from bot.storing.database import make_engine, migrate, open_database
from bot.storing.outbox import PENDING, SENT, Outbox, Retry, Sent
from bot.storing.retention import Pruned, Retention
from bot.storing.subscribers import ALL, Subscribers

ROOT = Path(__file__).resolve().parent.parent
ITEMS = [
    make_item("a-tools", ("AI工具",)),
    make_item("b-industry", ("AI产业",)),
    make_item("c-both", ("AI工具", "AI应用")),
]
SUBSCRIBERS = 23  # five batches of five, the configured channel first


class Crash(Exception):
    pass


def _world(database_url: str) -> tuple[Subscribers, Settings]:
    engine = open_database(database_url)
    subscribers = Subscribers(engine)
    for n in range(SUBSCRIBERS):
        chat = str(1000 + n)
        subscribers.upsert_chat(chat, "private")
        subscribers.subscribe(chat, [ALL] if n % 3 == 0 else ["AI工具"])
    settings = settings_for(database_url, channels=[{"chat": "@tools", "categories": ["ai-tools"]}])
    return subscribers, settings


def _plan(subscribers: Subscribers, settings: Settings, digest_id: str, **options) -> PlanResult:  # type: ignore[no-untyped-def]
    engine = subscribers.engine
    return plan_digest(
        engine,
        digest_id,
        archive=Archive(engine),
        subscribers=subscribers,
        table=TABLE,
        settings=settings,
        **options,
    )


def _everyone_once(outbox: Outbox, digest_id: str) -> dict[str, list[str]]:
    """chat -> the items its messages carry; asserts that no chat has two messages of it."""
    rows = outbox.rows(digest_id)
    per_chat = Counter(row["chat_id"] for row in rows)
    assert max(per_chat.values()) == 1, per_chat
    return {row["chat_id"]: row["item_ids"] for row in rows}


def test_the_first_batch_is_claimable_before_planning_ends(tmp_path: Path) -> None:
    subscribers, settings = _world(f"sqlite:///{tmp_path}/d.db")
    outbox = Outbox(subscribers.engine)
    digest_id = store(subscribers.engine, make_digest(27, ITEMS))
    seen: list[int] = []
    claimed: list[str] = []

    def released() -> None:  # what the dispatcher does when woken: claim what is due
        seen.append(len(outbox.rows(digest_id)))
        claimed.extend(c.chat_id for c in outbox.claim(100))

    result = _plan(subscribers, settings, digest_id, released=released, batch=5)
    assert result.batches == 6 and result.chats == SUBSCRIBERS + 1
    assert seen[0] == 1 and seen[1] == 6 and seen[-1] == SUBSCRIBERS + 1  # channel, then 5 by 5
    assert claimed[:1] == ["@tools"]  # sent while the rest was not even read
    assert sorted(claimed) == sorted(_everyone_once(outbox, digest_id))


def test_a_plan_crashed_between_batches_resumes_after_the_last_one_written(
    database_url: str,
) -> None:
    subscribers, settings = _world(database_url)
    outbox = Outbox(subscribers.engine)
    digest_id = store(subscribers.engine, make_digest(27, ITEMS))
    batches = 0

    def crash_after_three() -> None:
        nonlocal batches
        batches += 1
        if batches == 3:
            raise Crash("killed between batches")

    with pytest.raises(Crash):
        _plan(subscribers, settings, digest_id, released=crash_after_three, batch=5)
    assert len(outbox.rows(digest_id)) == 11  # the channel and two batches of five
    assert Archive(subscribers.engine).unplanned() == [digest_id]  # so the service plans again

    resumed = _plan(subscribers, settings, digest_id, batch=5)
    assert resumed.batches == 3  # the three batches left; the first ones are not read again
    assert resumed.chats == SUBSCRIBERS + 1 - 11 and resumed.skipped == 0
    planned = _everyone_once(outbox, digest_id)
    assert len(planned) == SUBSCRIBERS + 1
    assert planned["1000"] == ["a-tools", "b-industry", "c-both"]  # "*"
    assert planned["1001"] == ["a-tools", "c-both"]
    again = _plan(subscribers, settings, digest_id, batch=5)  # done: from the start, adds nothing
    assert (again.batches, again.deliveries, again.items) == (6, 0, 0)


CHILD = """
import os, signal, sys
sys.path[:0] = [{root!r}, {tests!r}]
from test_scale import _plan, _world
subscribers, settings = _world({url!r})
written = []
def released():
    written.append(1)
    print("batch", flush=True)
    if len(written) == 2:
        signal.pause()  # killed here, between two batches
_plan(subscribers, settings, {digest!r}, released=released, batch=5)
"""


def test_a_planning_process_killed_mid_plan_is_resumed_and_plans_everyone_once(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    subscribers, settings = _world(url)
    digest_id = store(subscribers.engine, make_digest(27, ITEMS))
    script = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), url=url, digest=digest_id)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "batch\n"
        assert child.stdout.readline() == "batch\n"  # the channel, then five subscribers
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    outbox = Outbox(subscribers.engine)
    assert len(outbox.rows(digest_id)) == 6
    resumed = _plan(subscribers, settings, digest_id, batch=5)
    assert resumed.batches == 4 and resumed.chats == SUBSCRIBERS + 1 - 6
    assert len(_everyone_once(outbox, digest_id)) == SUBSCRIBERS + 1


def test_a_digest_changed_mid_plan_starts_again_and_revises_what_was_planned(
    tmp_path: Path,
) -> None:
    subscribers, settings = _world(f"sqlite:///{tmp_path}/d.db")
    outbox = Outbox(subscribers.engine)
    digest = make_digest(27, ITEMS)
    store(subscribers.engine, digest)

    def crash() -> None:
        raise Crash("stopped after the channels")

    with pytest.raises(Crash):
        _plan(subscribers, settings, digest.id, released=crash, batch=5)
    changed = make_digest(27, [*ITEMS, make_item("d-tools", ("AI工具",))])
    store(subscribers.engine, changed)
    result = _plan(subscribers, settings, changed.id, batch=5)
    assert result.batches == 6  # a new version: from the start
    planned = _everyone_once(outbox, digest.id)
    assert planned["@tools"] == ["a-tools", "c-both", "d-tools"]  # its unsent message revised
    assert planned["1001"] == ["a-tools", "c-both", "d-tools"]


# Retention -------------------------------------------------------------------------------------


def _send_all(outbox: Outbox, at: float, keep: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Send every due delivery (those of the chats in `keep` stay waiting: retried later)."""
    while claimed := outbox.claim(1000, now=at):
        outbox.settle(
            [
                Retry(c.id, at + 3600, "429", counts=False)
                if c.chat_id in keep
                else Sent(c.id, c.chat_id, 1, at)
                for c in claimed
            ],
            now=at,
        )
        if all(c.chat_id in keep for c in claimed):
            return


def test_pruning_takes_old_history_in_small_steps_and_never_anything_waiting(
    database_url: str,
) -> None:
    subscribers, settings = _world(database_url)
    engine = subscribers.engine
    outbox = Outbox(engine)
    old = store(engine, make_digest(20, ITEMS[:2]))
    waiting = store(engine, make_digest(21, [make_item("e-tools", ("AI工具",))]))
    _plan(subscribers, settings, old)
    _send_all(outbox, time.time())
    _plan(subscribers, settings, waiting)
    _send_all(outbox, time.time(), keep={"1003"})  # one chat's message waits (a retry later)
    window_start = time.time() + 0.001
    time.sleep(0.002)  # the recent digest is planned after the window's start
    recent = store(engine, make_digest(22, [make_item("f-tools", ("AI工具",))]))
    _plan(subscribers, settings, recent)
    retention = Retention(engine, batch=7)
    before = {d: len(outbox.rows(d)) for d in (old, waiting, recent)}
    assert retention.expired(window_start) == [old]  # `waiting` waits; `recent` is recent

    items_before = retention.storage().delivered_items
    first = retention.prune(window_start, steps=1)
    assert first.deliveries == 7 and len(outbox.rows(old)) == before[old] - 7
    assert first.items == retention_items(first, items_before, retention) > 0
    pruned = retention.prune(window_start)
    assert pruned.digests == 1 and pruned.texts >= 1
    assert outbox.rows(old) == []
    assert {d: len(outbox.rows(d)) for d in (waiting, recent)} == {
        waiting: before[waiting],
        recent: before[recent],
    }
    assert [r["state"] for r in outbox.rows(waiting) if r["chat_id"] == "1003"] == [PENDING]
    assert all(r["text"] for r in outbox.rows(waiting))  # their shared texts are all kept
    assert retention.expired(window_start) == []
    kept = {
        (r["chat_id"], i) for d in (waiting, recent) for r in outbox.rows(d) for i in r["item_ids"]
    }
    assert retention.storage().delivered_items == len(kept)  # only those of the old digest went

    # the record that a chat had a story went with the window: it may be offered again
    repeat = store(engine, make_digest(23, [ITEMS[0]]))
    _plan(subscribers, settings, repeat)
    assert _everyone_once(outbox, repeat)["1001"] == ["a-tools"]


def retention_items(pruned, before: int, retention: Retention) -> int:  # type: ignore[no-untyped-def]
    """The delivered-item rows a prune really removed."""
    return before - retention.storage().delivered_items


def test_a_digest_revised_within_the_window_keeps_its_history(tmp_path: Path) -> None:
    subscribers, settings = _world(f"sqlite:///{tmp_path}/d.db")
    engine = subscribers.engine
    outbox = Outbox(engine)
    digest = make_digest(20, ITEMS[:2])
    store(engine, digest)
    _plan(subscribers, settings, digest.id)
    _send_all(outbox, time.time())
    window_start = time.time() + 0.001
    time.sleep(0.002)
    store(engine, make_digest(20, ITEMS))  # revised now: edits of the messages sent
    result = _plan(subscribers, settings, digest.id)
    assert result.edits > 0
    assert Retention(engine).expired(window_start) == []
    _send_all(outbox, time.time())
    assert Retention(engine).prune(window_start).deliveries == 0
    assert all(r["state"] == SENT for r in outbox.rows(digest.id))


def test_upgrading_keeps_the_history_and_dates_it_for_retention(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    engine = make_engine(url)
    migrate(engine, revision="0006_search")
    with engine.begin() as connection:  # an outbox as 0006 left it
        connection.execute(
            text(
                "INSERT INTO deliveries (chat_id, digest_id, part, parts, text, item_ids, "
                "disable_preview, state, attempts, not_before_ts, created_ts, sent_ts, plain, "
                "revision) VALUES ('1', 'dOld', 1, 1, 'hi', '[\"x\"]', 1, 'sent', 1, 0, 100, "
                "200, 0, 0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO delivered_items (chat_id, item_id, digest_id) VALUES "
                "('1', 'x', 'dOld'), ('2', 'y', 'dGone')"
            )
        )
    migrate(engine)
    retention = Retention(engine)
    assert retention.expired(201) == ["dOld"]  # dated by its newest send
    assert retention.expired(time.time()) == ["dOld"]  # dGone: rows without a delivery stay
    with engine.connect() as connection:
        schema = connection.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'delivered_items'")
        ).scalar_one()
        assert "WITHOUT ROWID" in schema
        assert connection.execute(text("SELECT count(*) FROM delivered_items")).scalar() == 2
    assert retention.prune(201).digests == 1
    assert retention.storage().delivered_items == 1
    engine.dispose()


# The backlog -----------------------------------------------------------------------------------


def test_stats_show_the_backlog_its_drain_time_and_the_outbox_storage(tmp_path: Path) -> None:
    subscribers, settings = _world(f"sqlite:///{tmp_path}/d.db")
    engine = subscribers.engine
    outbox = Outbox(engine)
    digest_id = store(engine, make_digest(27, ITEMS))
    _plan(subscribers, settings, digest_id)
    now = time.time()
    claimed = outbox.claim(11, now=now)
    outbox.settle([Sent(c.id, c.chat_id, 1, now - 10 + n) for n, c in enumerate(claimed)])
    figures = backlog(engine, now=now)
    assert figures.waiting == SUBSCRIBERS + 1 - 11
    assert figures.rate == pytest.approx(1.0)  # 11 sends over 10 s
    assert figures.drain_seconds == pytest.approx(SUBSCRIBERS + 1 - 11)
    assert backlog(engine, now=now + 3600).drain_seconds is None  # nothing going out lately

    shown = stats(settings)
    assert shown["backlog"]["waiting"] == SUBSCRIBERS + 1 - 11
    assert shown["outbox"]["deliveries"] == SUBSCRIBERS + 1
    assert shown["outbox"]["bytes"] > 0
    assert "Outbox storage:" in format_stats(shown) and "Backlog: 13" in format_stats(shown)


def test_retention_days_must_be_a_positive_number_of_days(tmp_path: Path) -> None:
    from pydantic import ValidationError

    assert settings_for(f"sqlite:///{tmp_path}/d.db").retention_days == 30
    with pytest.raises(ValidationError, match="retention_days"):
        Settings(retention_days=0)


@pytest.mark.postgres
def test_a_prune_and_a_revision_of_one_digest_never_interleave(postgres_url: str) -> None:
    """The prune's step of an old digest is held up inside its transaction (another session
    locks one of the rows it deletes) while the digest is revised from another thread: the
    revision waits for the step (the plan's row is locked), then revises what is left. Never an
    edit of a message whose row the prune deleted, nor an item counted as had by a chat whose
    history went."""
    subscribers, settings = _world(postgres_url)
    engine = subscribers.engine
    outbox = Outbox(engine)
    digest = make_digest(20, ITEMS[:2])
    store(engine, digest)
    long_ago = time.time() - 40 * 86400
    _plan(subscribers, settings, digest.id, now=long_ago)
    _send_all(outbox, long_ago)
    store(engine, make_digest(20, ITEMS))  # corrected now: a revision would edit what was sent
    last = max(r["id"] for r in outbox.rows(digest.id))
    pruned, revised = _prune_during_revision(
        engine, postgres_url, last, lambda: _plan(subscribers, settings, digest.id)
    )
    rows = outbox.rows(digest.id)
    by_id = {r["id"]: r for r in rows}
    edits = [r for r in rows if r["edit_of"] is not None]
    assert all(by_id.get(e["edit_of"], {}).get("state") == SENT for e in edits), edits
    with engine.connect() as connection:
        had = set(connection.execute(text("SELECT chat_id, item_id FROM delivered_items")).all())
    carried = {(r["chat_id"], i) for r in rows for i in r["item_ids"]}
    assert had == carried  # every item a chat counts as had is in a message it has or gets
    # the step went first: the history was pruned, then the revision planned it anew
    assert pruned.deliveries == SUBSCRIBERS + 1 and revised.edits == 0
    assert all(r["state"] == PENDING for r in rows) and _everyone_once(outbox, digest.id)


def _prune_during_revision(
    engine: Engine, postgres_url: str, blocked_id: int, revise: Callable[[], PlanResult]
) -> tuple[Pruned, PlanResult]:
    """Prune history older than 30 days in one thread while another session holds delivery
    `blocked_id` locked (the prune's step waits inside its transaction), then `revise` in a
    second thread; let both finish once the revision waits for a lock or is done."""
    blocker = make_engine(postgres_url).connect()
    blocker.execute(text("SELECT id FROM deliveries WHERE id = :i FOR UPDATE"), {"i": blocked_id})
    done: dict[str, object] = {}

    def prune() -> None:
        done["pruned"] = Retention(engine).prune(time.time() - 30 * 86400)

    def revision() -> None:
        done["revised"] = revise()

    threads = [threading.Thread(target=prune), threading.Thread(target=revision)]
    try:
        threads[0].start()
        _wait_for_lock_waits(engine, 1)  # the prune's DELETE waits for the blocker's row
        threads[1].start()
        # the revision either waits for the prune's lock on the plan, or (without it) is done
        deadline = time.monotonic() + 60
        while "revised" not in done and _lock_waits(engine) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        blocker.rollback()
        blocker.close()
        for thread in threads:
            thread.join(timeout=60)
    pruned, revised = done["pruned"], done["revised"]
    assert isinstance(pruned, Pruned) and isinstance(revised, PlanResult)
    return pruned, revised


def _lock_waits(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


def _wait_for_lock_waits(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while _lock_waits(engine) < n:
        assert time.monotonic() < deadline
        time.sleep(0.01)


async def test_the_service_prunes_old_history_and_keeps_what_waits(tmp_path: Path) -> None:
    """`digestbot run`'s components on a clock 31 days ahead: its retention job (run at start,
    then hourly) deletes the sent history of the digests planned "a month ago", keeps their
    waiting delivery and the recent digest's, and the feeds and stats still show every item."""
    from test_service_health import running

    from bot.cli.stats import stats as read_stats
    from bot.scheduling.service import Service
    from bot.settings import load_settings

    (tmp_path / "seeds").mkdir()
    (tmp_path / "state").mkdir()
    settings = load_settings(
        digests_dir=tmp_path / "seeds",
        feeds_dir=tmp_path / "feeds",
        database_url=f"sqlite:///{tmp_path}/state/db.sqlite",
        site_url="https://news.example.com/",
        http={"host": "127.0.0.1", "port": 0},
        retention_days=30,
    )
    subscribers, _ = _world(settings.database_url)
    engine = subscribers.engine
    outbox = Outbox(engine)
    archive = Archive(engine)
    real = time.time()
    digests = [
        make_digest(20, ITEMS[:2]),
        make_digest(21, [make_item("e-tools", ("AI工具",))]),
        make_digest(22, [make_item("f-tools", ("AI工具",))]),
    ]
    old, waiting, recent = (store(engine, digest) for digest in digests)
    for digest_id in (old, waiting):
        _plan(subscribers, settings, digest_id, now=real - 86400)
    sent_ts = real - 86400
    while claimed := outbox.claim(1000, now=real):
        outbox.settle(  # one chat's message of `waiting` is retried in ten days
            [
                Retry(c.id, real + 10 * 86400, "429", counts=False)
                if c.chat_id == "1003" and c.digest_id == waiting
                else Sent(c.id, c.chat_id, 1, sent_ts)
                for c in claimed
            ],
            now=real,
        )
    _plan(subscribers, settings, recent, now=real + 30 * 86400)  # within the window
    for digest in digests:  # the service does not plan them again
        archive.mark_planned(digest.id, digest.content_hash)
    before = {d: len(outbox.rows(d)) for d in (old, waiting, recent)}
    engine.dispose()

    clock = lambda: real + 31 * 86400  # noqa: E731 - a month later
    service = Service(settings, now=clock)
    async with running(service):
        engine = open_database(settings.database_url)
        outbox = Outbox(engine)
        deadline = time.monotonic() + 60
        while outbox.rows(old) or outbox.pending_count() > 2:  # pruned; the rest "sent"
            assert time.monotonic() < deadline, "the retention job (or the sends) did not end"
            await asyncio.sleep(0.05)
        feed = (tmp_path / "feeds" / "feed.json").read_text(encoding="utf-8")
    # a digest with a message still waiting keeps its history whole (it may be edited)
    kept = outbox.rows(waiting)
    assert len(kept) == before[waiting] and all(r["text"] for r in kept)
    assert [r["chat_id"] for r in kept if r["state"] == PENDING] == ["1003"]
    assert len(outbox.rows(recent)) == before[recent] > 0  # within the window: kept
    for item in [*ITEMS[:2], make_item("e-tools", ("AI工具",))]:  # the feeds keep every item
        assert item.url in feed
    figures = read_stats(settings)  # console mode: the recent digest was "sent" meanwhile
    total = before[waiting] + before[recent]
    # 1003's message of the recent digest waits behind its retried one: order per chat
    assert figures["deliveries"]["pending"] == 2 and figures["deliveries"]["sent"] == total - 2
    assert figures["outbox"]["deliveries"] == total
    kept = {
        (r["chat_id"], i) for d in (waiting, recent) for r in outbox.rows(d) for i in r["item_ids"]
    }
    assert figures["outbox"]["delivered_items"] == len(kept)
    engine.dispose()
