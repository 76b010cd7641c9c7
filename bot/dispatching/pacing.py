"""Pacing: one budget for every request of one bot token, without waiting on one chat for another.

- Overall: requests are spaced `1/(HEADROOM * global_per_second)` apart (GCRA with no burst
  allowance), and at most `global_per_second` of them are in flight or finished within the
  last second. Telegram counts when a request *arrives*, and arrivals jitter; the second rule
  keeps every one-second window at the server within the limit however uneven the delays (at
  the cost of a lower rate when answers take long: about limit/(1 + round trip in s)).
- Per chat (requests that post or edit messages in a chat): the next one waits
  `1/private_per_second` (private chats) or `60/group_per_minute` (groups and channels) after
  the previous one *finished* (Telegram saw it no later than that), one in flight per chat, and
  a 429 `retry_after` holds back only the chat that got it.
- Paid broadcast (`Limits.paid_per_second`, an operator's opt-in): the overall pace and ceiling
  are the paid rate, and the free limit is a second ceiling counted over free requests only. A
  request is granted free while the free ceiling has room; beyond it only a request that may
  be paid (a delivery's sendMessage, `payable`) is granted, and its `Permit` says `paid`: the
  sender adds `allow_paid_broadcast=True`. Replies and edits cannot be paid: they wait for
  free room, ahead of deliveries as always.
- Priority: a command reply (`REPLY`) goes before deliveries (`DELIVERY`) waiting for the same
  chat and for the overall budget; within a priority, first come first served.

Replies (python-telegram-bot's `ExtBot`, through `bot.dispatching.limiter`) and deliveries (the
dispatcher) share one `Pacer`, so together they stay within Telegram's limits.

The per-chat spacing is also written to the outbox (`not_before_ts` of the chat's next delivery)
so a dispatcher does not claim a chat it would only have to wait for, and so instances sharing
one database respect it together; the in-memory state here is the guard within one process.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from bot.settings import TelegramSettings

__all__ = ["HEADROOM", "Limits", "Pacer", "Permit", "Priority", "is_private"]

HEADROOM = 0.95  # share of the configured overall rate actually used
CATCH_UP = 1 - HEADROOM  # seconds of late grants made up for at once (within the headroom)


def is_private(chat_id: str | int) -> bool:
    """Telegram's convention: users have positive ids; groups and channels negative ids or
    @names."""
    text = str(chat_id).strip()
    return text.isdigit() and int(text) > 0


class Priority(IntEnum):
    """Lower goes first."""

    REPLY = 0
    DELIVERY = 1


@dataclass(frozen=True, slots=True)
class Limits:
    global_per_second: float = 30.0
    private_per_second: float = 1.0
    group_per_minute: float = 20.0
    paid_per_second: float | None = None  # paid broadcast: the ceiling of all requests

    @classmethod
    def from_settings(cls, telegram: TelegramSettings) -> Limits:
        paid = telegram.paid_broadcast
        return cls(
            telegram.global_per_second,
            telegram.private_per_second,
            telegram.group_per_minute,
            paid.per_second if paid.enabled else None,
        )

    @property
    def overall_per_second(self) -> float:
        """Every request together: the paid ceiling when paid broadcast is on."""
        return self.paid_per_second or self.global_per_second

    def chat_interval(self, chat_id: str | int) -> float:
        if is_private(chat_id):
            return 1.0 / self.private_per_second
        return 60.0 / self.group_per_minute


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    future: asyncio.Future[bool] = field(compare=False)  # its result: granted as paid
    payable: bool = field(default=False, compare=False)


class _Queue:
    """Waiters served one at a time, by priority then arrival, when `ready()` allows."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.waiters: list[_Waiter] = []
        self.timer: asyncio.TimerHandle | None = None

    def next_at(self) -> float | None:
        """When the head may go (None: it may not until something else happens)."""
        raise NotImplementedError

    def granted(self, now: float) -> bool:
        """Count the grant; True: it is a paid one."""
        raise NotImplementedError

    def take(self) -> _Waiter:
        """The waiter that goes now (`next_at` has passed): the head."""
        return heapq.heappop(self.waiters)

    async def wait(self, priority: int, seq: int, payable: bool = False) -> bool:
        """Until granted; True when granted as a paid request."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiters, _Waiter(priority, seq, future, payable))
        self.pump()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.returned(future.result())  # granted, but the caller is gone: give it back
            self.pump()
            raise

    def returned(self, paid: bool) -> None:
        """A grant was not used."""

    def pump(self) -> None:
        """Grant the head if it may go now, else wake up when it may."""
        while self.waiters and self.waiters[0].future.done():
            heapq.heappop(self.waiters)  # cancelled while waiting
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.waiters:
            return
        at = self.next_at()
        if at is None:
            return
        now = self.clock()
        if at <= now:
            waiter = self.take()
            waiter.future.set_result(self.granted(now))
            self.pump()  # the next may be due too (catching up), or needs a timer
            return
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(at - now, self.pump)


class _Window:
    """Requests that may reach Telegram within one second: those in flight, and those that
    finished during the last second. At most `ceiling` of them."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.in_flight = 0
        self.finished: deque[float] = deque()

    def room_at(self, now: float) -> float | None:
        """When one more may be granted (now or earlier: at once; None: once one in flight
        finishes)."""
        while self.finished and self.finished[0] <= now - 1.0:
            self.finished.popleft()
        if self.in_flight + len(self.finished) < self.ceiling:
            return -math.inf
        if not self.finished:
            return None
        return self.finished[0] + 1.0

    def done(self, now: float) -> None:
        self.in_flight -= 1
        self.finished.append(now)


class _Overall(_Queue):
    """Slots spaced `1/rate` apart, and never more than `ceiling` requests that may reach
    Telegram within one second: a request arrives somewhere between its grant and its finish,
    so one is granted only while fewer than `ceiling` are in flight or finished during the last
    second. However late requests leave or answers come back (a loaded machine, a slow
    network), no one-second window at the server then holds more than `ceiling`.

    `free_ceiling` (paid broadcast): the same rule over free requests only; a payable request
    beyond it is granted as paid, any other waits for free room."""

    def __init__(
        self,
        per_second: float,
        ceiling: int,
        clock: Callable[[], float],
        free_ceiling: int | None = None,
    ) -> None:
        super().__init__(clock)
        self.rate = per_second
        self.interval = 1.0 / per_second
        self.slot = -math.inf  # the earliest time of the next grant
        self.all = _Window(ceiling)
        self.free = _Window(free_ceiling) if free_ceiling else None

    def next_at(self) -> float | None:
        now = self.clock()
        room = self.all.room_at(now)
        if room is None:
            return None  # wait for a request in flight to finish
        if self._free_full(now) and not any(w.payable for w in self.waiters):
            free_room = self.free.room_at(now) if self.free is not None else None
            if free_room is None:
                return None
            room = max(room, free_room)
        return max(self.slot, room)

    def _free_full(self, now: float) -> bool:
        """Paid broadcast, and no free request may go now."""
        if self.free is None:
            return False
        room = self.free.room_at(now)
        return room is None or room > now

    def take(self) -> _Waiter:
        """The head; while the free room is full, the first waiter that may be paid: one
        that cannot waits for free room, which paid requests do not use up."""
        if not self._free_full(self.clock()) or self.waiters[0].payable:
            return heapq.heappop(self.waiters)
        index = min(
            (i for i, w in enumerate(self.waiters) if w.payable), key=self.waiters.__getitem__
        )
        waiter = self.waiters[index]
        self.waiters[index] = self.waiters[-1]
        self.waiters.pop()
        heapq.heapify(self.waiters)
        return waiter

    def returned(self, paid: bool) -> None:
        self.all.in_flight -= 1  # granted but never sent
        if self.free is not None and not paid:
            self.free.in_flight -= 1

    def done(self, now: float, paid: bool) -> None:
        self.all.done(now)
        if self.free is not None and not paid:
            self.free.done(now)
        self.pump()

    def granted(self, now: float) -> bool:
        self.all.in_flight += 1
        # A grant up to CATCH_UP late keeps the schedule (the next slot is one interval after
        # this one's, perhaps also past), so a late timer or a busy event loop does not lower
        # the rate; the few grants that catch up fit in the headroom. After an idle spell, or
        # a longer stall, the schedule restarts from now.
        late = now - self.slot
        self.slot = (self.slot if late <= CATCH_UP else now) + self.interval
        if self.free is None or self._free_full(now):
            return self.free is not None  # a paid grant (`take` chose a payable waiter)
        self.free.in_flight += 1
        return False


class _Chat(_Queue):
    """One chat: one request in flight, the next `interval` after the previous finished."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock)
        self.ready = 0.0
        self.busy = False

    def next_at(self) -> float | None:
        return None if self.busy else self.ready

    def granted(self, now: float) -> bool:
        self.busy = True
        return False

    def returned(self, paid: bool) -> None:
        self.busy = False

    def idle(self, now: float) -> bool:
        return not self.busy and not self.waiters and self.ready <= now


@dataclass(frozen=True, slots=True)
class Permit:
    """A turn in the budget: the request may go now. Give it back with `Pacer.done`."""

    chat_id: str | None
    priority: Priority
    paid: bool = False  # beyond the free rate: send it with allow_paid_broadcast


class Pacer:
    """The budget of one bot token (`limits=None`: no limits, as in console mode)."""

    def __init__(self, limits: Limits | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._overall = (
            _Overall(
                HEADROOM * limits.overall_per_second,
                max(1, math.floor(limits.overall_per_second)),
                clock,
                max(1, math.floor(limits.global_per_second)) if limits.paid_per_second else None,
            )
            if limits
            else None
        )
        self._chats: dict[str, _Chat] = {}
        self._seq = itertools.count()
        self._pruned = clock()

    @property
    def rate(self) -> float | None:
        """Requests per second actually allowed overall (None: no limit)."""
        return self._overall.rate if self._overall else None

    async def acquire(
        self, chat_id: str | int | None, priority: Priority, *, payable: bool = False
    ) -> Permit:
        """Wait for a turn: the chat's (if any), then the overall one. Cancelling the wait
        gives the turn back; nothing is sent before this returns. `payable`: the request may
        be sent as a paid broadcast (the permit says whether it must be)."""
        chat_key = None if chat_id is None else str(chat_id).strip()
        if self.limits is None:
            return Permit(chat_key, priority)
        seq = next(self._seq)
        chat = self._chat(chat_key) if chat_key is not None else None
        if chat is not None:
            await chat.wait(priority, seq)
        try:
            assert self._overall is not None
            paid = await self._overall.wait(priority, seq, payable)
        except BaseException:
            if chat is not None:
                chat.returned(False)
                chat.pump()
            raise
        return Permit(chat_key, priority, paid)

    def done(self, permit: Permit) -> float:
        """The request of `permit` finished (answered, failed or cut off): returns the seconds
        its chat now waits. Call it exactly once per permit."""
        if self.limits is None:
            return 0.0
        assert self._overall is not None
        self._overall.done(self.clock(), permit.paid)
        if permit.chat_id is None:
            return 0.0
        chat = self._chat(permit.chat_id)
        interval = self.limits.chat_interval(permit.chat_id)
        chat.busy = False
        chat.ready = max(chat.ready, self.clock() + interval)
        chat.pump()
        self._prune()
        return interval

    def hold(self, chat_id: str | int, seconds: float) -> None:
        """Nothing goes to the chat for `seconds` (a 429's retry_after, a backoff)."""
        if self.limits is None:
            return
        chat = self._chat(str(chat_id).strip())
        chat.ready = max(chat.ready, self.clock() + seconds)
        chat.pump()

    def ready_at(self, chat_id: str | int) -> float:
        """When the chat may next be sent to (monotonic clock; 0: now)."""
        chat = self._chats.get(str(chat_id).strip())
        return chat.ready if chat is not None else 0.0

    def chat_interval(self, chat_id: str) -> float:
        return self.limits.chat_interval(chat_id) if self.limits else 0.0

    def lookahead(self, horizon: float) -> int | None:
        """How many requests fit in `horizon` seconds at the overall rate (None: no limit)."""
        if self._overall is None:
            return None
        return max(1, math.ceil(self._overall.rate * horizon))

    def _chat(self, chat_id: str) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(self.clock)
        return chat

    def _prune(self) -> None:
        now = self.clock()
        if now - self._pruned < 60:
            return
        self._pruned = now
        for chat_id in [c for c, chat in self._chats.items() if chat.idle(now)]:
            del self._chats[chat_id]
