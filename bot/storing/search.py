"""Search of the whole archive: the newest items whose title, author or summary holds a text.

A query is literal text, never a pattern or an operator: for SQLite's FTS5 it is quoted as one
phrase (so `OR`, `NEAR`, `*`, `-` and quotes are just characters), for LIKE/ILIKE its `%`, `_`
and `\\` are escaped. Queries are bounded (`MAX_QUERY` characters) and answers are bounded
(`limit` rows, newest first).

- SQLite: FTS5 with the trigram tokenizer (migration 0006) finds any substring of three or more
  characters, so Chinese needs no segmenter. A shorter query (a two-character word such as 模型)
  has no trigram; it is a LIKE over the items newest first, which stops at `limit` matches. So
  is a query the index finds more than `COMMON` times (a LIKE is ASCII-only case-insensitive,
  where the trigram index folds other letters too).
- PostgreSQL: ILIKE over the same text, served by the pg_trgm GIN index when there is one.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import Engine, literal_column, select, text

from bot.model import Entry
from bot.storing.archive import _entry
from bot.storing.tables import digests, items

MAX_QUERY = 100
TRIGRAM = 3
COMMON = 500  # FTS matches beyond which a newest-first scan answers sooner (see `_common`)
# What search adds to the schema that `tables.metadata` cannot describe (a virtual table, its
# shadow tables, an expression index): the schema comparison leaves these alone.
SEARCH_OBJECTS = (
    "items_fts",
    "items_fts_data",
    "items_fts_idx",
    "items_fts_content",
    "items_fts_docsize",
    "items_fts_config",
    "ix_items_search",
)
_PG_TEXT = "(items.title || ' ' || coalesce(items.author, '') || ' ' || items.summary_text)"
_SQLITE_TEXT = "(items.title || ' ' || coalesce(items.author, '') || ' ' || items.summary_text)"
_SPACES = re.compile(r"\s+")


class QueryError(ValueError):
    """A query that cannot be searched for; the message says why, in a few words, and
    `too_long` tells an oversized query from an empty one."""

    def __init__(self, message: str, *, too_long: bool = False) -> None:
        super().__init__(message)
        self.too_long = too_long


def normalise_query(raw: str) -> str:
    """The query as searched: invisible characters dropped, spaces collapsed, bounded.

    Raises QueryError for an empty query or one longer than `MAX_QUERY` characters.
    """
    visible = "".join(ch for ch in raw if unicodedata.category(ch)[0] != "C" or ch in "\t\n")
    query = _SPACES.sub(" ", visible).strip()
    if not query:
        raise QueryError("empty query")
    if len(query) > MAX_QUERY:
        raise QueryError(f"query longer than {MAX_QUERY} characters", too_long=True)
    return query


def fts_phrase(query: str) -> str:
    """The query as one FTS5 phrase: in double quotes, its own double quotes doubled."""
    return '"' + query.replace('"', '""') + '"'


def like_pattern(query: str) -> str:
    """`%query%` with LIKE's wildcards and the escape character escaped (ESCAPE '\\')."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Search:
    """Finds items by literal text, newest first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _common(self, query: str) -> bool:
        """Whether the FTS index holds more than `COMMON` matches. Sorting thousands of matches
        by date costs more than reading the items newest first until `limit` of them match,
        which a common text does within a few hundred rows; a rarer one is cheap by the index."""
        probe = text(
            "SELECT count(*) FROM (SELECT rowid FROM items_fts WHERE items_fts MATCH :phrase"
            " LIMIT :most)"
        ).bindparams(phrase=fts_phrase(query), most=COMMON + 1)
        with self.engine.connect() as connection:
            return int(connection.execute(probe).scalar_one()) > COMMON

    def find(self, raw_query: str, limit: int = 10) -> list[Entry]:
        """The newest `limit` entries holding the query; raises QueryError for a bad query."""
        query = normalise_query(raw_query)
        base = select(items, digests.c.title.label("digest_title")).join(
            digests, digests.c.id == items.c.digest_id
        )
        if self.engine.dialect.name == "postgresql":
            condition = text(f"{_PG_TEXT} ILIKE :pattern ESCAPE '\\'").bindparams(
                pattern=like_pattern(query)
            )
            statement = base.where(condition)
        elif len(query) < TRIGRAM or self._common(query):
            condition = text(f"{_SQLITE_TEXT} LIKE :pattern ESCAPE '\\'").bindparams(
                pattern=like_pattern(query)
            )
            statement = base.where(condition)
        else:
            matched = text("SELECT rowid FROM items_fts WHERE items_fts MATCH :phrase").bindparams(
                phrase=fts_phrase(query)
            )
            statement = base.where(literal_column("items.rowid").in_(matched))
        statement = statement.order_by(items.c.published_ts.desc(), items.c.id).limit(limit)
        with self.engine.connect() as connection:
            return [_entry(row) for row in connection.execute(statement)]
