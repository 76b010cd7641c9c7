"""PostgreSQL LISTEN/NOTIFY: "deliveries were planned", from whichever process planned them.

The planner sends the notice inside its plan's transaction (`notify_planned`), so PostgreSQL
delivers it at commit, never before the rows are visible. The sending instance listens on its
own connection (`PlannedListener`, a thread blocked in psycopg's `notifies()`) and wakes its
dispatcher: an idle instance looks at the outbox only when told, instead of every few seconds.
When the listening connection drops, a notice may have been missed, so after reconnecting the
listener wakes the dispatcher once anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

__all__ = ["CHANNEL", "PlannedListener", "notify_planned"]

CHANNEL = "digestbot_planned"
RECONNECT_SECONDS = 1.0  # before listening again after the connection dropped


def notify_planned(connection: Connection) -> None:
    """Tell listening instances that deliveries were planned (at this transaction's commit;
    nothing on SQLite, whose one process wakes its dispatcher itself)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def _libpq_url(engine: Engine) -> str:
    """The engine's URL as psycopg takes it (no SQLAlchemy driver suffix), password included."""
    url = engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PlannedListener:
    """Calls `wake` (from its own thread) on every planning notice, until `close()`; and for
    each channel of `also`, its callback with the notice's payload ("" after a reconnection:
    anything may have been missed)."""

    def __init__(
        self,
        engine: Engine,
        wake: Callable[[], None],
        also: dict[str, Callable[[str], None]] | None = None,
    ) -> None:
        self.url = _libpq_url(engine)
        self.wake = wake
        self.also = dict(also or {})
        self.listening = threading.Event()  # set while LISTEN is in effect (tests wait on it)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="planned-listener", daemon=True)

    def start(self) -> PlannedListener:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        first = True
        while not self._closed.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as connection:
                    for channel in (CHANNEL, *self.also):
                        connection.execute(f"LISTEN {channel}")
                    self.listening.set()
                    if not first:
                        self.wake()  # a notice may have come while the connection was down
                        for told in self.also.values():
                            told("")
                    first = False
                    while not self._closed.is_set():
                        # a timeout so that close() is noticed within a second
                        for notice in connection.notifies(timeout=1.0):
                            callback = self.also.get(notice.channel)
                            if callback is not None:
                                callback(notice.payload)
                            else:
                                self.wake()
            except psycopg.Error as error:
                self.listening.clear()
                log.warning("listening for planned deliveries failed, retrying: %s", error)
                self._closed.wait(RECONNECT_SECONDS)
        self.listening.clear()
