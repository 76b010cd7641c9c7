"""The PostgreSQL poller lock when its connection drops: the holder notices and stops polling,
another instance takes over after the grace period, and never do both poll."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from bot.storing.database import engine_url, migrate
from bot.storing.locks import _POLLER_KEY, POLLER_CHECK_SECONDS, PollerLock, PollerRole

pytestmark = pytest.mark.postgres


def _terminate_holder(url: str) -> None:
    admin = create_engine(engine_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        ended = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND classid = 0 AND objid = :k"
                # this test's database only: other tests' instances use the same key elsewhere
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"k": _POLLER_KEY},
        ).all()
    admin.dispose()
    assert ended == [(True,)]


def test_a_dropped_connection_loses_the_lock(postgres_url: str) -> None:
    engine = create_engine(engine_url(postgres_url), pool_pre_ping=True)
    migrate(engine)
    holder, other = PollerLock(engine), PollerLock(engine)
    assert holder.try_acquire() and holder.held()
    assert not other.try_acquire()
    _terminate_holder(postgres_url)
    assert not holder.held()  # noticed, and the dead connection let go
    assert other.try_acquire()
    assert not holder.try_acquire()  # never both
    other.release()
    assert holder.try_acquire()
    holder.release()
    engine.dispose()


async def test_the_poller_stops_and_another_takes_over_never_both(postgres_url: str) -> None:
    engine = create_engine(engine_url(postgres_url), pool_pre_ping=True)
    migrate(engine)
    polling: set[str] = set()
    log: list[str] = []

    def role(name: str, lock: PollerLock, polling_now: bool) -> PollerRole:
        async def start() -> None:
            assert not polling, f"{name} would poll beside {polling}"
            polling.add(name)
            log.append(f"{name} starts")

        async def stop() -> None:
            polling.discard(name)
            log.append(f"{name} stops")

        async def wait(seconds: float) -> None:  # the grace period: the old holder checks in it
            log.append(f"{name} waits {seconds}")
            await others[name].check()

        return PollerRole(lock, start, stop, polling=polling_now, grace=20, sleep=wait)

    first_lock, second_lock = PollerLock(engine), PollerLock(engine)
    assert first_lock.try_acquire()
    first = role("first", first_lock, True)
    polling.add("first")
    second = role("second", second_lock, False)
    others = {"first": second, "second": first}

    await second.check()  # the lock is held: nothing changes
    await first.check()
    assert polling == {"first"} and log == []

    _terminate_holder(postgres_url)
    await second.check()  # takes the lock; during its grace, the first checks and stops
    assert log == ["second waits 20", "first stops", "second starts"]
    assert polling == {"second"} and second.grace > POLLER_CHECK_SECONDS
    await first.check()  # the first tries to take it back: held by the second
    assert polling == {"second"} and not first.polling
    second_lock.release()
    first_lock.release()
    engine.dispose()
