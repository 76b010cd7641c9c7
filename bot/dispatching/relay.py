"""A standby's replies, made by the elected sender: every instance answers commands, one budget.

On PostgreSQL every instance takes webhooks and runs the command handlers of the updates it
gets, but only the sender's `Pacer` is the bot's budget. So on a standby the Application's
limiter (`RelayingLimiter`) does not make a request itself: it writes it to the database
(`storing.relay.Relayed`) and waits for the answer (`Relay`); the sender's `RelayWorker` makes
it through its own `SharedLimiter`, at reply priority (before any delivery, to that chat too),
and writes back Telegram's result or error, which the standby's handler gets as if it had made
the request. Start-up requests that post nothing in a chat (`DIRECT`) are made directly.

A request is never dropped: it stays in the database until the sender answers it, across a
failover (the next sender offers again what the dead one had taken: at most that is repeated);
a handler that stops waiting (`WAIT_SECONDS`, longer than a reply's patience and a failover)
gets `TimedOut`, and the request is still made.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.dispatching.limiter import PATIENCE, SharedLimiter, retry_seconds
from bot.dispatching.pacing import Pacer, Permit
from bot.storing.relay import Asked, Relayed

log = logging.getLogger(__name__)

__all__ = ["DIRECT", "Relay", "RelayWorker", "RelayingLimiter"]

# made by every instance itself: once at start-up, never in a chat
DIRECT = frozenset(
    {"getMe", "setMyCommands", "getMyCommands", "deleteMyCommands", "setWebhook",
     "deleteWebhook", "getWebhookInfo", "getUpdates", "logOut", "close"}
)  # fmt: skip
WAIT_SECONDS = PATIENCE + 30.0  # a reply's patience at the sender, and a failover
RECHECK_SECONDS = 1.0  # a missed notice (the listener reconnecting) costs at most this
IN_FLIGHT = 32  # requests the sender makes at once for the standbys
GRACE = 5.0  # seconds the sender's requests in flight get to finish when it stands by
_making: ContextVar[bool] = ContextVar("making_a_relayed_request", default=False)

_ERRORS: dict[str, type[TelegramError]] = {
    cls.__name__: cls
    for cls in (BadRequest, Forbidden, Conflict, EndPointNotFound, InvalidToken, NetworkError)
}


def encoded(data: dict[str, Any]) -> str | None:
    """A request's parameters as the JSON object Telegram is sent (None: it uploads files)."""
    # python-telegram-bot's own conversion (what `Bot._post` does before a request is made): it
    # has no public name, and the version is pinned below 23 in pyproject.toml
    request = RequestData([RequestParameter.from_input(k, v) for k, v in data.items()])
    if request.contains_files:
        return None
    return json.dumps(request.json_parameters, ensure_ascii=False)


def answer_of(result: object) -> str:
    return json.dumps({"ok": True, "result": result}, ensure_ascii=False)


def error_answer(error: Exception) -> str:
    """Telegram's refusal (or the sender's failure) as an answer the standby raises again."""
    if not isinstance(error, TelegramError):
        error = TelegramError(f"the sender could not make the request: {error!r}")
    kind = type(error).__name__
    answer: dict[str, object] = {"ok": False, "kind": kind, "message": error.message}
    if isinstance(error, RetryAfter):
        answer["retry_after"] = retry_seconds(error)
    if isinstance(error, ChatMigrated):
        answer["migrate_to"] = error.new_chat_id
    return json.dumps(answer, ensure_ascii=False)


def result_of(answer: str) -> Any:
    """The result of an answer, or its error raised."""
    found = json.loads(answer)
    if found.get("ok"):
        return found.get("result")
    kind, message = str(found.get("kind")), str(found.get("message"))
    if kind == "RetryAfter":
        raise RetryAfter(timedelta(seconds=max(1, math.ceil(float(found["retry_after"])))))
    if kind == "ChatMigrated":
        raise ChatMigrated(int(found["migrate_to"]))
    if kind == "TimedOut":
        raise TimedOut(message)
    raise _ERRORS.get(kind, TelegramError)(message)


class Relay:
    """The standby's end: a request written, its answer awaited (woken by `answered`)."""

    def __init__(self, store: Relayed, *, wait: float = WAIT_SECONDS) -> None:
        self.store = store
        self.wait = wait
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._asking = 0  # requests being written: their answer may come before their id
        self._early: set[int] = set()

    def answered(self, payload: str) -> None:
        """A notice (from the listener's thread): request `payload` was answered ("": any)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._answered, payload)

    def _answered(self, payload: str) -> None:
        ids = list(self._waiters) if not payload else [int(payload)] if payload.isdigit() else []
        for request_id in ids:
            waiter = self._waiters.get(request_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            elif waiter is None and self._asking:
                self._early.add(request_id)

    async def ask(self, method: str, params: str) -> Any:
        """Make `method` by the sender; its result, or its error raised."""
        self._loop = asyncio.get_running_loop()
        self._asking += 1
        try:
            request_id = await asyncio.to_thread(self.store.ask, method, params)
        finally:
            self._asking -= 1
        early = request_id in self._early
        if not self._asking:
            self._early.clear()
        deadline = time.monotonic() + self.wait
        try:
            while True:
                if not early:
                    waiter = self._waiters[request_id] = self._loop.create_future()
                    left = min(RECHECK_SECONDS, deadline - time.monotonic())
                    await asyncio.wait({waiter}, timeout=max(0.0, left))
                early = False
                answer = await asyncio.to_thread(self.store.answer_of, request_id)
                if answer is not None:
                    await asyncio.to_thread(self.store.forget, request_id)
                    return result_of(answer)
                if time.monotonic() >= deadline:
                    raise TimedOut(f"{method}: the sending instance has not made it yet (it will)")
        finally:
            self._waiters.pop(request_id, None)


class RelayingLimiter(SharedLimiter):
    """The Application's limiter: while `relaying()` (a standby) a request goes to the sender
    through `relay`; otherwise, and for the sender's own requests, it takes a turn of `pacer`."""

    def __init__(self, pacer: Pacer, relay: Relay, relaying: Callable[[], bool]) -> None:
        super().__init__(pacer)
        self.relay = relay
        self.relaying = relaying

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Permit | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if (
            rate_limit_args is None
            and endpoint not in DIRECT
            and not _making.get()
            and self.relaying()
        ):
            params = encoded(data)
            if params is not None:
                result: bool | dict[str, Any] | list[dict[str, Any]] = await self.relay.ask(
                    endpoint, params
                )
                return result
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


class RelayWorker:
    """The sender's end: makes the standbys' requests through `bot` (its `SharedLimiter`, at
    reply priority), `IN_FLIGHT` at a time, woken by notices (`wake`) and by its own answers."""

    def __init__(self, store: Relayed, bot: Bot, instance: str) -> None:
        self.store = store
        self.bot = bot
        self.instance = instance
        self.made = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken = asyncio.Event()

    def wake(self, _payload: str = "") -> None:
        """A request waits (from the listener's thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._woken.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: what waits is made, then what comes; requests in flight finish."""
        self._loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        stopping = asyncio.create_task(stop.wait())
        offered = False
        try:
            while not stop.is_set():
                self._woken.clear()
                room = IN_FLIGHT - len(tasks)
                taken: list[Asked] = []
                try:
                    if not offered:
                        again = await asyncio.to_thread(self.store.offer_again)
                        offered = True
                        if again:
                            log.info(
                                "relay: %d request(s) a dead sender took are made again", again
                            )
                    if room:
                        taken = await asyncio.to_thread(self.store.take, room, self.instance)
                except SQLAlchemyError as error:  # the database away: the deliveries wait too
                    log.warning("relay: requests unavailable, retrying: %s", error)
                    await asyncio.wait({stopping}, timeout=RECHECK_SECONDS)
                    continue
                for asked in taken:
                    task = asyncio.create_task(self._make(asked))
                    tasks.add(task)
                    task.add_done_callback(self._finished(tasks))
                if room and len(taken) == room:
                    continue  # more may wait
                woken = asyncio.create_task(self._woken.wait())
                await asyncio.wait({woken, stopping}, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
        finally:
            stopping.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=GRACE)

    def _finished(self, tasks: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            self._woken.set()  # room for another

        return done

    async def _make(self, asked: Asked) -> None:
        token = _making.set(True)  # through the Pacer, not back to the database
        try:
            # Bot._post: the request as the standby built it (its defaults applied already)
            result = await self.bot._post(asked.method, data=json.loads(asked.params))
            answer = answer_of(result)
        except Exception as error:  # any failure is the asker's to see
            answer = error_answer(error)
        finally:
            _making.reset(token)
        try:
            await asyncio.to_thread(self.store.answer, asked.id, answer)
            self.made += 1
        except Exception as error:  # offered again by the next sender
            log.warning("relay: could not record the answer to request %d: %s", asked.id, error)
