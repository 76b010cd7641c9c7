"""The send window: how many of the dispatcher's requests are in flight at once.

More requests in flight than the path to the Bot API needs buy nothing and cost CPU: every
open connection is looked at on each request by the HTTP client's pool, and when this process
is what limits the rate (a paid broadcast, a local Bot API server, no limits), extra requests
only wait in the event loop. So the window adapts, as TCP Vegas does: from the shortest
round trip seen lately (`base`) and the mean of the latest ones, `in flight * (1 - base/mean)`
estimates how many requests are queued rather than being served. Below `GROW_BELOW` and with
senders waiting for a slot, the window grows by one; above `SHRINK_ABOVE` it shrinks by one;
once per window's worth of answers. Against Telegram (round trips of tens of milliseconds, the
pacer spacing requests) nothing queues, so the window grows until it no longer limits.

A request that is slow (a chat whose answer hangs until the timeout) stops counting once it
has taken `stuck_after` (several base round trips, at least `MIN_STUCK` seconds), so it never
holds the others up; `ceiling` (the connection pool's size) bounds every slot, slow or not.
A slot is taken before the pacer's turn (a turn is never held idle) and the round trip is
timed from `sending` (the turn granted) to `release`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FLOOR", "SendWindow", "Slot"]

FLOOR = 2  # never fewer in flight: one slow answer must not stop the others until it is stuck
GROW_BELOW = 1.0  # requests estimated queued: fewer -> one more in flight
SHRINK_ABOVE = 3.0  # more -> one fewer
MIN_STUCK = 0.5  # seconds: a request in flight this long (at least) no longer counts
STUCK_ROUND_TRIPS = 8  # ... or this many base round trips, whichever is longer
BASE_PERIOD = 10.0  # seconds the shortest round trip is remembered (the network may change)


@dataclass(slots=True, eq=False)  # each slot is itself (hashed by identity)
class Slot:
    """One request's place in the window."""

    taken: float
    sent: float | None = None  # when its turn was granted (its round trip starts)
    counted: bool = True  # False once stuck


class SendWindow:
    """At most `limit` counted slots (between `floor` and `ceiling`), at most `ceiling` in all."""

    def __init__(
        self, ceiling: int, *, floor: int = FLOOR, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(floor, self.ceiling))
        self.limit = self.floor
        self.clock = clock
        self._slots: set[Slot] = set()
        self._counted = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._timer: asyncio.TimerHandle | None = None
        # the shortest round trip of this period and of the one before
        self._base = (float("inf"), float("inf"))
        self._base_since = clock()
        # the current epoch (one window's worth of answers)
        self._samples = 0
        self._rtt_sum = 0.0
        self._flight_sum = 0
        self._starved = False  # a sender waited for a slot during the epoch

    @property
    def in_flight(self) -> int:
        """Slots taken, stuck ones included."""
        return len(self._slots)

    @property
    def base(self) -> float | None:
        """The shortest round trip seen lately (None: none yet)."""
        base = min(self._base)
        return None if base == float("inf") else base

    def stuck_after(self) -> float:
        base = self.base
        return MIN_STUCK if base is None else max(MIN_STUCK, STUCK_ROUND_TRIPS * base)

    async def acquire(self) -> Slot:
        """Wait for a slot. Cancelling the wait takes none."""
        while not self._room():
            self._starved = True
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            self._arm()
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._wake()  # woken, but not taking it: the next waiter may
                raise
            finally:
                if future in self._waiters:
                    self._waiters.remove(future)
        slot = Slot(self.clock())
        self._slots.add(slot)
        self._counted += 1
        return slot

    def sending(self, slot: Slot) -> None:
        """The slot's request goes now (its pacing turn was granted)."""
        slot.sent = self.clock()

    def release(self, slot: Slot) -> None:
        """The slot's request finished (or never went): free it, learn from its round trip."""
        if slot not in self._slots:
            return
        self._slots.discard(slot)
        if slot.counted:
            self._counted -= 1
        if slot.sent is not None:
            self._learn(self.clock() - slot.sent)
        self._wake()

    # Inside ------------------------------------------------------------------------------------

    def _room(self) -> bool:
        self._excuse_stuck()
        return self._counted < self.limit and len(self._slots) < self.ceiling

    def _excuse_stuck(self) -> None:
        """Slots whose request has been in flight `stuck_after` stop counting."""
        if not self._slots:
            return
        cutoff = self.clock() - self.stuck_after()
        for slot in self._slots:
            if slot.counted and slot.sent is not None and slot.sent <= cutoff:
                slot.counted = False
                self._counted -= 1

    def _wake(self) -> None:
        """Wake the first waiter if there is room now."""
        while self._waiters and self._waiters[0].done():
            self._waiters.pop(0)
        if self._waiters and self._room():
            self._waiters.pop(0).set_result(None)
        self._arm()

    def _arm(self) -> None:
        """While senders wait, look again when the oldest counted request becomes stuck."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiters:
            return
        sent = [slot.sent for slot in self._slots if slot.counted and slot.sent is not None]
        if not sent:
            return
        delay = max(0.0, min(sent) + self.stuck_after() - self.clock())
        self._timer = asyncio.get_running_loop().call_later(delay + 1e-3, self._wake)

    def _learn(self, rtt: float) -> None:
        now = self.clock()
        if now - self._base_since > BASE_PERIOD:
            self._base, self._base_since = (float("inf"), self._base[0]), now
        if rtt < self._base[0]:
            self._base = (rtt, self._base[1])
        self._samples += 1
        self._rtt_sum += rtt
        self._flight_sum += self._counted + 1  # in flight when it finished, itself included
        if self._samples < self.limit:
            return
        mean = self._rtt_sum / self._samples
        base = self.base or mean
        queued = (self._flight_sum / self._samples) * (1 - base / mean) if mean > 0 else 0.0
        if queued < GROW_BELOW and self._starved:
            self.limit = min(self.ceiling, self.limit + 1)
        elif queued > SHRINK_ABOVE:
            self.limit = max(self.floor, self.limit - 1)
        self._samples, self._rtt_sum, self._flight_sum, self._starved = 0, 0.0, 0, False
