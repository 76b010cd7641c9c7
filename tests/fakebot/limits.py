"""Telegram-shaped flood limits for the fake Bot API: who may send now, and if not, for how long.

Telegram documents its limits loosely (about 30 messages/s overall, about 1/s per private chat
with short bursts tolerated, 20/min per group or channel). The fake enforces them so that a
dispatcher which ignores them gets 429 `retry_after` in tests, as it would in production:
- overall: a sliding one-second window (never more than `global_per_second` sends in any second);
- paid broadcast: a send carrying `allow_paid_broadcast=True` is not counted against that free
  window, only against `paid_per_second` (Telegram's 1,000/s) for all sends together; a send
  without the flag still meets the free limit, however many paid ones go beside it;
- per chat: a token bucket (`*_burst` sends at once, then refilled at the chat's rate).
Private chats are positive ids; groups and channels are negative ids or "@name".
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

__all__ = ["FloodGate", "FloodLimits", "is_private"]


@dataclass(frozen=True)
class FloodLimits:
    """Limits for sendMessage. Rates are per second (per minute for groups)."""

    global_per_second: float = 30
    private_per_second: float = 1.0
    private_burst: int = 3
    group_per_minute: float = 20
    group_burst: int = 3
    paid_per_second: float = 1000  # every send, flagged or not, with allow_paid_broadcast

    def scaled(self, factor: float) -> FloodLimits:
        """The same shape `factor` times faster (benchmarks that cannot wait minutes)."""
        return replace(
            self,
            global_per_second=self.global_per_second * factor,
            private_per_second=self.private_per_second * factor,
            group_per_minute=self.group_per_minute * factor,
            paid_per_second=self.paid_per_second * factor,
        )


def is_private(chat: int | str) -> bool:
    """Telegram's convention: users have positive ids, groups/channels negative ids or @names."""
    return isinstance(chat, int) and chat > 0


class _Bucket:
    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.stamp = now

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0 when one is)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


class FloodGate:
    """Decides each send; not thread-safe by itself (the server calls it under its lock)."""

    def __init__(self, limits: FloodLimits) -> None:
        self.limits = limits
        self._window: deque[float] = deque()  # free sends (no allow_paid_broadcast)
        self._all: deque[float] = deque()  # every send, paid or free
        self._buckets: dict[int | str, _Bucket] = {}

    def _bucket(self, chat: int | str, now: float) -> _Bucket:
        bucket = self._buckets.get(chat)
        if bucket is None:
            lim = self.limits
            if is_private(chat):
                bucket = _Bucket(lim.private_burst, lim.private_per_second, now)
            else:
                bucket = _Bucket(lim.group_burst, lim.group_per_minute / 60, now)
            self._buckets[chat] = bucket
        return bucket

    def admit(self, chat: int | str, now: float, *, paid: bool = False) -> int:
        """0 if the send may go (and it is counted), else Telegram's retry_after in seconds.
        `paid`: the send carries allow_paid_broadcast."""
        for window in (self._window, self._all):
            while window and window[0] <= now - 1.0:
                window.popleft()
        waits = [self._bucket(chat, now).wait(now)]
        if not paid and len(self._window) >= self.limits.global_per_second:
            waits.append(self._window[0] + 1.0 - now)
        if len(self._all) >= self.limits.paid_per_second:
            waits.append(self._all[0] + 1.0 - now)
        wait = max(waits)
        if wait > 0:
            # Telegram answers whole seconds, never 0.
            return max(1, math.ceil(wait))
        self._buckets[chat].take()
        if not paid:
            self._window.append(now)
        self._all.append(now)
        return 0
