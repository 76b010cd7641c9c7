"""The stores of connected channels and forum topics, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from bot.storing.channels import Channels
from bot.storing.database import open_database
from bot.storing.subscribers import ACTIVE, ALL, GONE, Subscribers
from bot.storing.topics import BOUND, BROKEN, Topics

CHANNEL, FORUM, NEW = -1001, -2002, -1002002


def test_connecting_managing_losing_and_disconnecting_a_channel(database_url: str) -> None:
    engine = open_database(database_url)
    channels, subscribers = Channels(engine), Subscribers(engine)
    assert channels.connect(CHANNEL, "News", 1) is True
    assert channels.connect(CHANNEL, "News", 2) is False  # another admin: a manager too
    assert subscribers.subscriptions_of(CHANNEL) == [ALL]
    assert channels.connector(CHANNEL) == 1
    assert [c.id for c in channels.managed_by(2)] == [str(CHANNEL)]
    assert channels.manages(CHANNEL, 2) and not channels.manages(CHANNEL, 3)
    subscribers.unsubscribe(CHANNEL)
    subscribers.subscribe(CHANNEL, ["AI工具"])
    channels.lost(CHANNEL, GONE)
    assert subscribers.chat(CHANNEL).state == GONE  # type: ignore[union-attr]
    # connected again after it was lost: by whoever does it, keeping its categories
    assert channels.connect(CHANNEL, "News", 2) is True
    assert channels.connector(CHANNEL) == 2
    assert subscribers.chat(CHANNEL).state == ACTIVE  # type: ignore[union-attr]
    assert subscribers.subscriptions_of(CHANNEL) == ["AI工具"]
    channels.disconnect(CHANNEL)
    assert subscribers.subscriptions_of(CHANNEL) == [] and channels.managed_by(1) == []
    engine.dispose()


def test_topic_bindings_move_break_and_follow_a_migration(database_url: str) -> None:
    engine = open_database(database_url)
    subscribers, topics = Subscribers(engine), Topics(engine)
    subscribers.upsert_chat(FORUM, "supergroup", "Forum")
    subscribers.subscribe(FORUM, [ALL])
    assert topics.bind(FORUM, 11, ["AI工具", "AI应用"], "Tools") == []
    assert topics.bind(FORUM, 12, ["AI应用"], "Apps") == [(11, "AI应用")]
    assert topics.bind(FORUM, 13, ["AI伦理"], None) == []
    assert topics.bind(FORUM, 13, ["AI伦理", "硬件设施"], None) == []  # replaced, not added
    assert topics.bind(FORUM, 12, ["AI工具", "AI应用"], None) == [(11, "AI工具")]
    layout = topics.layout(FORUM)
    # topic 11 had nothing left: gone; topic 12 keeps its title
    assert [(b.thread_id, b.title, b.categories) for b in layout.bindings] == [
        (12, "Apps", ("AI工具", "AI应用")),
        (13, None, ("AI伦理", "硬件设施")),
    ]
    topics.set_general(FORUM, False)
    topics.mark_broken(FORUM, 13, "Bad Request: TOPIC_CLOSED")
    layout = topics.layout(FORUM)
    assert not layout.general and [b.state for b in layout.bindings] == [BOUND, BROKEN]
    assert [b.thread_id for b in layout.working] == [12]
    with pytest.raises(ValueError):
        topics.bind(FORUM, 0, ["AI工具"], None)
    subscribers.move_chat(FORUM, NEW)
    assert topics.layout(FORUM).bindings == () and topics.layout(FORUM).general
    moved = topics.layout(NEW)
    assert [b.thread_id for b in moved.bindings] == [12, 13] and not moved.general
    assert set(topics.layouts()) == {str(NEW)}
    assert topics.unbind(NEW, 12) is not None and topics.unbind(NEW, 12) is None
    topics.set_general(NEW, True)
    assert topics.layout(NEW).general
    engine.dispose()
