"""Pacing: stay under Telegram's limits without waiting on one chat for another.

- Overall: sends are spaced `1/(HEADROOM * global_per_second)` apart (GCRA with no burst
  allowance). Telegram counts when a request *arrives*, and arrivals jitter; the 5% headroom
  means a one-second window at the server stays within the rate unless requests are delayed
  unevenly by more than ~50 ms.
- Per chat: the next send to a chat waits `1/private_per_second` (private chats) or
  `60/group_per_minute` (groups and channels) after the previous one *finished* (Telegram saw it
  no later than that), and a 429 `retry_after` holds back only the chat that got it.

The per-chat spacing is also written to the outbox (`not_before_ts` of the chat's next delivery)
so a dispatcher does not claim a chat it would only have to wait for, and so instances sharing
one database respect it together; the in-memory map here is the guard within one process.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.settings import TelegramSettings

__all__ = ["HEADROOM", "ChatPacer", "GlobalPacer", "Limits", "Pacer", "is_private"]

HEADROOM = 0.95  # share of the configured overall rate actually used


def is_private(chat_id: str | int) -> bool:
    """Telegram's convention: users have positive ids; groups and channels negative ids or
    @names."""
    text = str(chat_id).strip()
    return text.isdigit() and int(text) > 0


@dataclass(frozen=True, slots=True)
class Limits:
    global_per_second: float = 30.0
    private_per_second: float = 1.0
    group_per_minute: float = 20.0

    @classmethod
    def from_settings(cls, telegram: TelegramSettings) -> Limits:
        return cls(
            telegram.global_per_second, telegram.private_per_second, telegram.group_per_minute
        )

    def chat_interval(self, chat_id: str | int) -> float:
        if is_private(chat_id):
            return 1.0 / self.private_per_second
        return 60.0 / self.group_per_minute


class GlobalPacer:
    """Send slots spaced `1/rate` apart, handed out in order of asking."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / per_second
        self.rate = per_second
        self.clock = clock
        self._next = 0.0

    def reserve(self) -> float:
        """The time of the next free slot, taken (it may be now)."""
        now = self.clock()
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot

    async def acquire(self) -> None:
        delay = self.reserve() - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)


class ChatPacer:
    """When each chat may be sent to next (monotonic time)."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._ready: dict[str, float] = {}
        self._pruned = clock()

    def ready_at(self, chat_id: str) -> float:
        return self._ready.get(chat_id, 0.0)

    def hold(self, chat_id: str, until: float) -> None:
        self._ready[chat_id] = max(self._ready.get(chat_id, 0.0), until)

    def sent(self, chat_id: str, at: float | None = None) -> float:
        """Note a send that finished at `at`; returns the interval the chat now waits."""
        interval = self.limits.chat_interval(chat_id)
        self.hold(chat_id, (self.clock() if at is None else at) + interval)
        self._prune()
        return interval

    def _prune(self) -> None:
        now = self.clock()
        if now - self._pruned < 60:
            return
        self._pruned = now
        for chat_id in [c for c, t in self._ready.items() if t < now]:
            del self._ready[chat_id]


class Pacer:
    """Both pacers, or none (`limits=None`: console mode, benchmarks without limits)."""

    def __init__(self, limits: Limits | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.overall = GlobalPacer(HEADROOM * limits.global_per_second, clock) if limits else None
        self.chats = ChatPacer(limits, clock) if limits else None

    async def before_send(self, chat_id: str) -> None:
        if self.chats is not None:
            delay = self.chats.ready_at(chat_id) - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
        if self.overall is not None:
            await self.overall.acquire()

    def after_send(self, chat_id: str) -> float:
        """Note a finished send; returns the seconds the chat now waits (0 without limits)."""
        return self.chats.sent(chat_id) if self.chats is not None else 0.0

    def hold(self, chat_id: str, seconds: float) -> None:
        if self.chats is not None:
            self.chats.hold(chat_id, self.clock() + seconds)

    def chat_interval(self, chat_id: str) -> float:
        return self.limits.chat_interval(chat_id) if self.limits else 0.0

    def lookahead(self, horizon: float) -> int | None:
        """How many sends fit in `horizon` seconds at the overall rate (None: no limit)."""
        if self.overall is None:
            return None
        return max(1, math.ceil(self.overall.rate * horizon))
