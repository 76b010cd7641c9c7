"""The database: an engine for SQLite (WAL) or PostgreSQL, migrated to the newest schema.

On SQLite every transaction is `BEGIN IMMEDIATE` (SQLAlchemy's pysqlite recipe: the driver's own
transaction handling is switched off, and the engine emits the BEGIN itself), so a read that
decides a write happens inside the write lock; pysqlite alone would begin only at the first
write, after the read. Foreign keys are enforced on every SQLite connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger(__name__)


def engine_url(url: str) -> str:
    """Pick the drivers we ship: psycopg 3 for PostgreSQL, the standard library for SQLite."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(engine_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def make_engine(url: str) -> Engine:
    url = engine_url(url)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_connected)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_connected(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.isolation_level = None  # no implicit BEGIN: `_sqlite_begin` emits it
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def upsert(connection: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that can say `ON CONFLICT …` (`on_conflict_do_update` / `_do_nothing`) in the
    connection's dialect: one statement, no read-then-write race between instances."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def migrate(engine: Engine, site_url: str | None = None, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default); a no-op when it is there already.

    `site_url` is the address feeds were published under until now: the migration that fixed
    feed ids records the ids of stored items with it (the settings' address when not given).

    On SQLite, foreign keys are off while migrations run (SQLite's procedure for rebuilding a
    table: dropping a table that others reference would otherwise delete or refuse their rows)
    and checked before the migration commits, only when a migration ran (the check reads every
    row that references another: seconds for a million subscribers, at every start)."""
    _run_migrations(engine, site_url, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision` ("base": nothing)."""
    _run_migrations(engine, None, lambda config: command.downgrade(config, revision))


def _run_migrations(engine: Engine, site_url: str | None, run: Callable[[Config], None]) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["site_url"] = site_url
    with engine.connect() as connection:
        on_sqlite = connection.dialect.name == "sqlite"
        if on_sqlite:
            _driver(connection).execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                before = _revisions(connection)
                run(config)
                if on_sqlite and _revisions(connection) != before:
                    _check_foreign_keys(connection)
        finally:
            if on_sqlite:
                _driver(connection).execute("PRAGMA foreign_keys=ON")


def _driver(connection: Connection) -> Any:
    return connection.connection.driver_connection


def _revisions(connection: Connection) -> tuple[str, ...]:
    """The schema's revisions as recorded in the database (none before the first migration)."""
    return MigrationContext.configure(connection).get_current_heads()


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.execute(text("PRAGMA foreign_key_check")).all()
    if broken:
        raise RuntimeError(f"migration left rows without the rows they belong to: {broken[:5]}")


def open_database(url: str, site_url: str | None = None) -> Engine:
    """An engine on the newest schema (see `migrate` for `site_url`)."""
    engine = make_engine(url)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    migrate(engine, site_url)
    return engine
