"""Routing (pure), planning into the outbox, and the outbox's claim order, on a real database."""

from __future__ import annotations

import time

import pytest
from fakebot.html import parse_html
from sqlalchemy import func, select
from test_dispatch_support import (
    TABLE,
    items_in,
    make_digest,
    make_item,
    settings_for,
    store,
)

from bot.dispatching.planner import plan_digest
from bot.dispatching.routing import ALL, Recipient, recipients, route
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.outbox import (
    CANCELLED,
    PENDING,
    SENDING,
    SENT,
    Outbox,
    Retry,
    Sent,
)
from bot.storing.subscribers import BLOCKED, Subscribers
from bot.storing.tables import delivery_texts

ITEMS = [
    make_item("a-tools", ("AI工具",)),
    make_item("b-industry", ("AI产业",)),
    make_item("c-both", ("AI工具", "AI应用")),
    make_item("d-hardware", ("硬件设施",)),
]


def test_recipients_merge_channels_and_subscribers_in_canonical_names() -> None:
    found = recipients(
        [("@tools", ["ai-tools"]), ("-1001", []), ("@gone", ["AI Tools"])],
        {"5": {"AI Industry"}, "-1001": {"AI工具"}, "6": {ALL}},
        TABLE,
        moves={"@gone": "-1002"},
        inactive=["6"],
    )
    by_chat = {r.chat_id: r for r in found}
    assert set(by_chat) == {"@tools", "-1001", "-1002", "5"}
    assert by_chat["@tools"].categories == {"AI工具"} and by_chat["@tools"].channel
    assert by_chat["-1001"].everything  # a configured channel without filter takes everything
    assert by_chat["-1002"].categories == {"AI工具"}  # followed to where it moved
    assert by_chat["5"].categories == {"AI产业"} and not by_chat["5"].channel


def test_route_selects_by_category_skips_delivered_and_empty() -> None:
    targets = [
        Recipient("1", frozenset({"AI工具"})),
        Recipient("2", frozenset({"AI应用", "硬件设施"})),
        Recipient("3", frozenset({"AI伦理"})),
        Recipient("4", frozenset({ALL})),
        Recipient("5", frozenset({"ai-tools"})),  # not canonical: route does not guess
        Recipient("6", frozenset({"AI工具"})),
    ]
    routed = route(ITEMS, targets, TABLE, {"6": {"a-tools"}})
    ids = {chat: [it.id for it in chosen] for chat, chosen in routed.items()}
    assert ids == {
        "1": ["a-tools", "c-both"],
        "2": ["c-both", "d-hardware"],
        "4": ["a-tools", "b-industry", "c-both", "d-hardware"],
        "6": ["c-both"],
    }
    again = route(ITEMS, [Recipient("x", frozenset({"AI工具"})), targets[0]], TABLE)
    assert again["x"] is again["1"]  # one tuple per distinct selection


def _setup(database_url: str):  # type: ignore[no-untyped-def]
    engine = open_database(database_url)
    subscribers = Subscribers(engine)
    for chat, categories in {
        "101": ["AI工具"],
        "102": ["AI产业", "硬件设施"],
        "103": [ALL],
        "104": ["AI伦理"],
        "105": ["AI工具"],
    }.items():
        subscribers.upsert_chat(chat, "private")
        subscribers.subscribe(chat, categories)
    settings = settings_for(
        database_url,
        channels=[{"chat": "@tools_channel", "categories": ["ai-tools"]}, {"chat": -100777}],
    )
    return engine, subscribers, settings


def _plan(engine, subscribers, settings, digest_id):  # type: ignore[no-untyped-def]
    return plan_digest(
        engine,
        digest_id,
        archive=Archive(engine),
        subscribers=subscribers,
        table=TABLE,
        settings=settings,
    )


def _items_by_chat(outbox: Outbox, digest_id: str | None = None) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in outbox.rows(digest_id):
        found.setdefault(row["chat_id"], []).extend(row["item_ids"])
        assert items_in(parse_html(row["text"]).text) == row["item_ids"]
    return found


def test_plan_writes_each_recipients_selection_once(database_url: str) -> None:
    engine, subscribers, settings = _setup(database_url)
    outbox = Outbox(engine)
    digest_id = store(engine, make_digest(27, ITEMS))

    result = _plan(engine, subscribers, settings, digest_id)
    assert _items_by_chat(outbox) == {
        "101": ["a-tools", "c-both"],
        "102": ["b-industry", "d-hardware"],
        "103": ["a-tools", "b-industry", "c-both", "d-hardware"],
        "105": ["a-tools", "c-both"],
        "@tools_channel": ["a-tools", "c-both"],
        "-100777": ["a-tools", "b-industry", "c-both", "d-hardware"],
    }
    assert (result.chats, result.deliveries, result.skipped) == (6, 6, 1)  # 104: nothing
    with engine.connect() as connection:  # identical messages share their text
        texts = connection.execute(select(func.count()).select_from(delivery_texts)).scalar()
    # 101, 105 and the tools channel share one (the footer links the category's feed);
    # 103 and the unfiltered channel share another
    assert texts == 3
    rows = {r["chat_id"]: r for r in outbox.rows()}
    assert "c/ai-tools/rss.xml" in rows["101"]["text"]
    assert "https://news.example.com/rss.xml" in rows["103"]["text"]

    again = _plan(engine, subscribers, settings, digest_id)
    assert (again.deliveries, again.items) == (0, 0)  # idempotent
    assert len(outbox.rows()) == 6


def test_replanning_an_edited_digest_puts_new_items_into_the_unsent_message(
    database_url: str,
) -> None:
    engine, subscribers, settings = _setup(database_url)
    outbox = Outbox(engine)
    store(engine, make_digest(27, ITEMS[:2]))
    _plan(engine, subscribers, settings, "d2712")
    before = {r["chat_id"]: r["id"] for r in outbox.rows()}
    edited = make_digest(27, [*ITEMS[:2], make_item("e-new-tool", ("AI工具",))])
    store(engine, edited)
    result = _plan(engine, subscribers, settings, "d2712")
    rows = outbox.rows()
    # nothing was sent yet: each message simply says the new text, no second message
    assert {r["chat_id"]: r["id"] for r in rows} == before
    added = [r for r in rows if "e-new-tool" in r["item_ids"]]
    assert {r["chat_id"] for r in added} == {"101", "103", "105", "@tools_channel", "-100777"}
    assert all("e-new-tool" in r["text"] for r in added)
    assert (result.deliveries, result.edits, result.rewritten) == (0, 0, 5)
    again = _plan(engine, subscribers, settings, "d2712")
    assert (again.deliveries, again.edits, again.rewritten, again.items) == (0, 0, 0, 0)


def test_an_item_received_in_an_earlier_digest_is_not_sent_again(database_url: str) -> None:
    engine, subscribers, settings = _setup(database_url)
    outbox = Outbox(engine)
    store(engine, make_digest(27, ITEMS[:2]))
    _plan(engine, subscribers, settings, "d2712")
    store(engine, make_digest(28, [ITEMS[0], ITEMS[2]]))  # a-tools again, and c-both
    subscribers.set_state("105", BLOCKED)  # a blocked chat gets nothing more
    _plan(engine, subscribers, settings, "d2812")
    assert _items_by_chat(outbox, "d2812") == {
        "101": ["c-both"],
        "103": ["c-both"],
        "@tools_channel": ["c-both"],
        "-100777": ["c-both"],
    }


def test_claim_takes_only_due_chat_heads_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = open_database(f"sqlite:///{tmp_path}/o.db")
    outbox = Outbox(engine)
    from bot.storing.outbox import NewPart

    with outbox.planning("dA") as writer:
        writer.add("1", [NewPart("a1", ("x",), True), NewPart("a2", ("y",), True)])
        writer.add("2", [NewPart("b1", ("x",), True)])
    with outbox.planning("dB") as writer:
        writer.add("1", [NewPart("a3", ("z",), True)])

    first = outbox.claim(10, instance="t")
    assert [(c.chat_id, c.text) for c in first] == [("1", "a1"), ("2", "b1")]
    assert outbox.claim(10, instance="t") == []  # chat 1's next waits for its head

    now = time.time()
    head = first[0]
    outbox.settle([Retry(head.id, now + 60, "flood", counts=False)])
    assert outbox.claim(10, now=now, instance="t") == []  # the head is delayed: chat 1 waits
    assert [c.text for c in outbox.claim(10, now=now + 61, instance="t")] == ["a1"]
    outbox.settle([Sent(head.id, "1", 11, now, next_not_before=now + 1)], now=now)
    assert outbox.claim(10, now=now + 0.5, instance="t") == []  # paced: 1 s per private chat
    claimed = outbox.claim(10, now=now + 1, instance="t")
    assert [c.text for c in claimed] == ["a2"]
    assert outbox.counts()[SENDING] == 2  # a2 and b1 are in flight

    assert outbox.reset_inflight() == 2  # a crash: both go back, nothing else does
    counts = outbox.counts()
    assert (counts[PENDING], counts[SENT], counts[SENDING]) == (3, 1, 0)

    outbox.cancel_chat("1", "blocked")
    assert outbox.counts()[CANCELLED] == 2
    assert [c.text for c in outbox.claim(10, instance="t")] == ["b1"]


def test_moving_a_chat_keeps_its_order_and_history(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.storing.outbox import NewPart

    engine = open_database(f"sqlite:///{tmp_path}/o.db")
    outbox = Outbox(engine)
    with outbox.planning("dA") as writer:
        writer.add("-5", [NewPart("g1", ("x",), True), NewPart("g2", ("y",), True)])
    assert outbox.move_chat("-5", "-1005") == 2
    assert outbox.move_chat("-1005", "-1009") == 2
    assert outbox.moves() == {"-5": "-1009", "-1005": "-1009"}
    assert [c.chat_id for c in outbox.claim(5, instance="t")] == ["-1009"]
    with outbox.planning("dB") as writer:
        assert writer.delivered(["x", "y"]) == {"-1009": {"x", "y"}}


@pytest.mark.parametrize("count", [3])
def test_planning_is_one_transaction(tmp_path, count: int) -> None:  # type: ignore[no-untyped-def]
    """A failure while planning leaves nothing behind (the caller plans again later)."""
    from bot.storing.outbox import NewPart

    engine = open_database(f"sqlite:///{tmp_path}/o.db")
    outbox = Outbox(engine)
    with pytest.raises(RuntimeError), outbox.planning("dA") as writer:
        for n in range(count):
            writer.add(str(n + 1), [NewPart(f"m{n}", ("x",), True)])
        writer.flush()
        raise RuntimeError("crash mid-plan")
    assert outbox.rows() == []
    with outbox.planning("dA") as writer:
        assert writer.delivered(["x"]) == {}
