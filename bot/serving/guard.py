"""Bounds on HTTP clients, so that slow or idle connections cannot starve the server.

uvicorn bounds keep-alive idleness but not the time a client takes to send its request headers,
and it accepts connections until the process runs out of file descriptors, after which asyncio
logs a traceback for every failed accept (hundreds of megabytes a minute). So:

- each connection gets `header_seconds` to finish its request headers (a trickle of bytes does
  not reset the clock);
- at most `waiting` connections may be waiting for headers at once: a newcomer beyond that closes
  the connection that has waited longest, so a fresh client (a health check) is always heard;
- the limits are derived from the process's file-descriptor limit, with room left for the
  database, the bot and the watcher;
- a log message repeated in a burst is written once per interval, with a count of the rest.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

# Descriptors kept for everything but HTTP clients: database pool, bot HTTP pool, inotify, logs.
RESERVED_FILES = 128
MAX_BACKLOG = 2048


def raise_open_files_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard one (a common default soft limit is 1024);
    returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


@dataclass(frozen=True, slots=True)
class Limits:
    """How many clients the server takes, and how long it waits for their headers."""

    waiting: int  # connections allowed to wait for their request headers at once
    backlog: int  # the kernel's accept queue, also asyncio's accepts per loop turn
    concurrency: int  # requests being answered at once (uvicorn answers more with 503)
    header_seconds: float

    @classmethod
    def for_open_files(
        cls, open_files: int, *, max_connections: int = 1000, header_seconds: float = 10.0
    ) -> Limits:
        """Limits that never let accepted sockets exhaust `open_files` descriptors: asyncio may
        accept a whole backlog in one turn before any connection is counted."""
        room = max(open_files - RESERVED_FILES, 16)
        backlog = max(min(MAX_BACKLOG, room // 4), 8)
        waiting = max(min(max_connections, (room - backlog) // 2), 4)
        return cls(
            waiting=waiting,
            backlog=backlog,
            concurrency=waiting * 2,
            header_seconds=header_seconds,
        )


class _WaitingRoom:
    """Connections that have not sent complete request headers yet, oldest first."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.waiting: OrderedDict[GuardedH11Protocol, None] = OrderedDict()
        self.evicted = 0
        self.timed_out = 0

    def enter(self, protocol: GuardedH11Protocol) -> None:
        self.waiting[protocol] = None
        while len(self.waiting) > self.limits.waiting:
            oldest, _ = self.waiting.popitem(last=False)
            self.evicted += 1
            oldest.close()

    def leave(self, protocol: GuardedH11Protocol) -> None:
        self.waiting.pop(protocol, None)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for request headers and a bounded waiting room."""

    room: _WaitingRoom  # set on the subclass `protocol_class` makes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_done()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._headers_done()  # a request is being answered: its headers are complete

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request already received
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self._await_headers()  # keep-alive: the next request gets the same deadline

    def close(self) -> None:
        self._headers_done()
        if not self.transport.is_closing():
            self.transport.close()

    def _await_headers(self) -> None:
        self._headers_done()
        self._header_deadline = self.loop.call_later(
            self.room.limits.header_seconds, self._headers_too_slow
        )
        self.room.enter(self)

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        self.room.timed_out += 1
        self.close()

    def _headers_done(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        self.room.leave(self)


def protocol_class(limits: Limits) -> type[GuardedH11Protocol]:
    """A protocol class for one server, its waiting room shared by its connections."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"room": _WaitingRoom(limits)})


class Repeats(logging.Filter):
    """Lets a message through once per `interval` seconds; the next one says how many were
    dropped. For loggers that report every failed accept or bad request of a flood."""

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.msg}"
        now = time.monotonic()
        seen = self._last.get(key)
        if seen is not None and now - seen[0] < self.interval:
            self._last[key] = (seen[0], seen[1] + 1)
            return False
        dropped = seen[1] if seen is not None else 0
        self._last[key] = (now, 0)
        if dropped:
            record.msg = f"{record.msg} (and {dropped} more like it in the last minute)"
        return True


_quieted = False


def quiet_floods() -> None:
    """Install `Repeats` on the loggers a flood of clients would fill (once per process)."""
    global _quieted
    if _quieted:
        return
    for name in ("asyncio", "uvicorn.error"):
        logging.getLogger(name).addFilter(Repeats())
    _quieted = True
