"""A per-user command rate limit: about 20 commands a minute, then one polite refusal, then
silence until the window frees.

Only commands that were let through count, so a user who keeps hammering is served again as soon
as their oldest accepted command is a window old.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import Enum


class Verdict(Enum):
    """What to do with one command."""

    ALLOW = "allow"  # handle it
    REFUSE = "refuse"  # say once that the user is going too fast
    SILENT = "silent"  # drop it without a word


class FloodGuard:
    """Sliding-window counter per user; not thread-safe (the bot's event loop owns it)."""

    def __init__(
        self,
        limit: int = 20,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 10_000,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_users = max_users
        self._seen: dict[int, deque[float]] = {}
        self._warned: set[int] = set()

    def check(self, user_id: int) -> Verdict:
        """Count one command of `user_id` if it may go; else say whether to refuse or stay quiet."""
        now = self.clock()
        stamps = self._seen.get(user_id)
        if stamps is None:
            self._forget_idle(now)
            stamps = self._seen[user_id] = deque()
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if len(stamps) < self.limit:
            self._warned.discard(user_id)
            stamps.append(now)
            return Verdict.ALLOW
        if user_id in self._warned:
            return Verdict.SILENT
        self._warned.add(user_id)
        return Verdict.REFUSE

    def retry_in(self, user_id: int) -> float:
        """Seconds until `user_id` may send a command again (0 when they may now)."""
        stamps = self._seen.get(user_id)
        if not stamps or len(stamps) < self.limit:
            return 0.0
        return max(0.0, stamps[0] + self.window - self.clock())

    def _forget_idle(self, now: float) -> None:
        """Keep memory bounded: drop users whose every command is older than the window."""
        if len(self._seen) < self.max_users:
            return
        for user_id in [u for u, s in self._seen.items() if not s or s[-1] <= now - self.window]:
            del self._seen[user_id]
            self._warned.discard(user_id)
