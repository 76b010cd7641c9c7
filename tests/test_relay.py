"""A standby's requests relayed to the sender: the answer's round trip and the table's life."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError, TimedOut

from bot.dispatching.limiter import retry_seconds
from bot.dispatching.relay import answer_of, encoded, error_answer, result_of
from bot.storing.database import open_database
from bot.storing.relay import Relayed


def test_a_result_and_every_kind_of_refusal_come_back_as_they_were() -> None:
    assert result_of(answer_of({"message_id": 7})) == {"message_id": 7}
    assert result_of(answer_of(True)) is True
    for error in (BadRequest("Message is not modified"), Forbidden("bot was blocked")):
        with pytest.raises(type(error), match=error.message):
            result_of(error_answer(error))
    with pytest.raises(RetryAfter) as flood:
        result_of(error_answer(RetryAfter(timedelta(seconds=3))))
    assert retry_seconds(flood.value) == 3
    with pytest.raises(ChatMigrated) as moved:
        result_of(error_answer(ChatMigrated(-1001234)))
    assert moved.value.new_chat_id == -1001234
    with pytest.raises(TimedOut):
        result_of(error_answer(TimedOut("slow")))
    with pytest.raises(TelegramError, match="could not make the request"):
        result_of(error_answer(ValueError("a bug")))


def test_parameters_are_encoded_as_telegram_is_sent_them() -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("订阅", callback_data="sub:ai")]])
    params = json.loads(encoded({"chat_id": 5, "text": "你好", "reply_markup": markup}) or "")
    assert params["chat_id"] == "5" and params["text"] == "你好"
    assert json.loads(params["reply_markup"])["inline_keyboard"][0][0]["text"] == "订阅"


@pytest.mark.postgres
def test_a_request_is_taken_once_answered_read_and_offered_again_if_its_sender_died(
    postgres_url: str,
) -> None:
    engine = open_database(postgres_url)
    try:
        relayed = Relayed(engine)
        first = relayed.ask("sendMessage", '{"chat_id": "5", "text": "a"}')
        second = relayed.ask("sendMessage", '{"chat_id": "6", "text": "b"}')
        taken = relayed.take(1, "sender-a")
        assert [t.id for t in taken] == [first]
        assert [t.id for t in relayed.take(10, "sender-b")] == [second]  # nobody takes it twice
        assert relayed.take(10, "sender-b") == []
        relayed.answer(first, answer_of({"message_id": 1}))
        assert relayed.answer_of(second) is None
        answer = relayed.answer_of(first)
        assert answer is not None and result_of(answer) == {"message_id": 1}
        relayed.forget(first)
        assert relayed.offer_again() == 1  # sender-b died with it: the next sender makes it
        assert [t.id for t in relayed.take(10, "sender-c")] == [second]
        relayed.answer(second, answer_of(True))
        assert relayed.waiting() == 0
        assert relayed.forget_answered(before=0.0) == 0  # read soon enough: kept for its asker
        assert relayed.forget_answered(before=float("inf")) == 1
    finally:
        engine.dispose()


class _Bot:
    """Stands in for the sender's ExtBot: records what it is asked to make."""

    def __init__(self) -> None:
        self.made: list[tuple[str, dict]] = []

    async def _post(self, endpoint: str, data: dict) -> object:
        self.made.append((endpoint, data))
        if data.get("chat_id") == "403":
            raise Forbidden("Forbidden: bot was blocked by the user")
        return {"message_id": len(self.made), "chat": {"id": int(data["chat_id"])}}


@pytest.mark.postgres
@pytest.mark.timeout(60)
async def test_a_request_asked_while_no_sender_runs_is_made_once_one_does(
    postgres_url: str,
) -> None:
    import asyncio

    from bot.dispatching.relay import Relay, RelayWorker
    from bot.storing.notify import PlannedListener
    from bot.storing.relay import RELAY, RELAYED

    engine = open_database(postgres_url)
    relay = Relay(Relayed(engine))
    bot = _Bot()
    worker = RelayWorker(Relayed(engine), bot, "sender")  # type: ignore[arg-type]
    listener = PlannedListener(
        engine, lambda: None, {RELAY: worker.wake, RELAYED: relay.answered}
    ).start()
    stop = asyncio.Event()
    try:
        await asyncio.to_thread(listener.listening.wait, 30)
        asked = [
            asyncio.create_task(relay.ask("sendMessage", json.dumps({"chat_id": str(c)})))
            for c in (7, 8, 403)
        ]
        while Relayed(engine).waiting() < 3:  # written, and nobody makes them yet
            await asyncio.sleep(0.01)
        assert not any(task.done() for task in asked) and bot.made == []
        running = asyncio.create_task(worker.run(stop))  # a sender comes (a failover)
        first, second = await asyncio.gather(*asked[:2])
        assert first["chat"]["id"] == 7 and second["chat"]["id"] == 8
        with pytest.raises(Forbidden, match="blocked"):
            await asked[2]
        assert sorted(data["chat_id"] for _, data in bot.made) == ["403", "7", "8"]  # each once
        again = await relay.ask("sendMessage", json.dumps({"chat_id": "9"}))  # woken by notice
        assert again["chat"]["id"] == 9 and len(bot.made) == 4
        stop.set()
        await running
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM relayed_requests")).scalar() == 0
    finally:
        stop.set()
        listener.close()
        engine.dispose()
