"""Each chat's own settings (#13): language, pause, quiet hours, schedule, time zone, keyword
filters, format and link previews; one row per chat that changed anything, defaults otherwise.

The row is keyed by the chat id as text, like deliveries, and has no foreign key: a channel known
only from the settings file has no chat row, and may still be given settings."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

from sqlalchemy import Connection, Engine, Row, delete, func, select

from bot.storing.database import upsert
from bot.storing.tables import chat_settings, chats

FULL, COMPACT = "full", "compact"
LANGUAGES = ("zh", "en")


def reading_language(chosen: str | None, telegram: str | None) -> str:
    """The language a chat reads: the one it chose with `/lang`, else English for a Telegram
    language of English (en, en-US, ...), else Chinese."""
    if chosen in LANGUAGES:
        return chosen
    return "en" if telegram and telegram.lower().startswith("en") else "zh"


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """What one chat chose. The defaults are what a chat that never chose anything gets.

    Times of day are "HH:MM" in the chat's `timezone` (None: the service's zone). A pause with
    `paused_until_ts` None lasts until `/resume`; `paused_since_ts` is when it began (what was
    missed since then is offered on `/resume`)."""

    language: str | None = None  # "zh" / "en"; None: the language Telegram reports
    paused: bool = False
    paused_since_ts: float | None = None
    paused_until_ts: float | None = None
    quiet_start: str | None = None
    quiet_end: str | None = None
    quiet_silent: bool = False  # deliver during quiet hours without sound instead of holding
    silent: bool = False  # every delivery without sound
    schedule: tuple[str, ...] = ()  # () is instant delivery; else one bundle at each time
    timezone: str | None = None  # an IANA name
    include_words: tuple[str, ...] = ()
    exclude_words: tuple[str, ...] = ()
    format: str = FULL
    preview: bool | None = None  # link previews; None: the service's default

    @property
    def is_default(self) -> bool:
        return self == DEFAULT

    def paused_at(self, now: float) -> bool:
        """Whether a pause holds at `now` (one with an end that passed no longer does)."""
        return self.paused and (self.paused_until_ts is None or now < self.paused_until_ts)


DEFAULT = ChatSettings()
_LISTS = {"schedule", "include_words", "exclude_words"}
_COLUMNS = [f.name for f in fields(ChatSettings)]


class ChatSettingsStore:
    """Reads and writes `chat_settings`; a chat without a row has `DEFAULT`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, chat_id: str | int) -> ChatSettings:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(chat_settings).where(chat_settings.c.chat_id == str(chat_id))
            ).first()
        return _from_row(row) if row else DEFAULT

    def many(self, chat_ids: Iterable[str] | None = None) -> dict[str, ChatSettings]:
        """The settings of every chat that has a row (of the given chats only, if given): the
        planner's read for a batch of its audience; chats not in the result have `DEFAULT`."""
        query = select(chat_settings)
        wanted = None if chat_ids is None else [str(c) for c in chat_ids]
        result: dict[str, ChatSettings] = {}
        with self.engine.connect() as connection:
            if wanted is None:
                rows = connection.execute(query).all()
            else:
                rows = []
                for start in range(0, len(wanted), 500):  # bounded IN lists
                    batch = wanted[start : start + 500]
                    rows += connection.execute(
                        query.where(chat_settings.c.chat_id.in_(batch))
                    ).all()
        for row in rows:
            result[row.chat_id] = _from_row(row)
        return result

    def for_sending(self, chat_ids: Iterable[str]) -> tuple[dict[str, ChatSettings], set[str]]:
        """Every one of these chats' settings, `language` resolved to the language it reads
        (its `/lang`, else its Telegram language), and which of them are channels (their
        messages get no settings button): the dispatcher's one read per claim."""
        wanted = list(dict.fromkeys(str(c) for c in chat_ids))
        chosen = self.many(wanted)
        telegram: dict[str, str | None] = {}
        channels: set[str] = set()
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), 500):
                batch = wanted[start : start + 500]
                query = select(chats.c.id, chats.c.language, chats.c.type).where(
                    chats.c.id.in_(batch)
                )
                for row in connection.execute(query):
                    telegram[row.id] = row.language
                    if row.type == "channel":
                        channels.add(row.id)
        result: dict[str, ChatSettings] = {}
        for chat_id in wanted:
            have = chosen.get(chat_id, DEFAULT)
            lang = reading_language(have.language, telegram.get(chat_id))
            result[chat_id] = replace(have, language=lang)
        return result, channels

    def english_among(self, chat_ids: Iterable[str]) -> set[str]:
        """Which of these chats' Telegram language is English: they read English unless they
        chose otherwise (the planner's read of languages, batch by batch; every other chat
        reads Chinese)."""
        wanted = list(dict.fromkeys(str(c) for c in chat_ids))
        english = func.lower(chats.c.language).like("en%")
        found: set[str] = set()
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), 500):  # bounded IN lists, by primary key
                batch = wanted[start : start + 500]
                query = select(chats.c.id).where(chats.c.id.in_(batch), english)
                found.update(connection.execute(query).scalars())
        return found

    def save(self, chat_id: str | int, settings: ChatSettings) -> None:
        """Store a chat's settings (a chat back at the defaults loses its row)."""
        key = str(chat_id)
        with self.engine.begin() as connection:
            if settings.is_default:
                connection.execute(delete(chat_settings).where(chat_settings.c.chat_id == key))
                return
            values = _to_row(settings)
            connection.execute(
                upsert(connection, chat_settings)
                .values(chat_id=key, updated_ts=time.time(), **values)
                .on_conflict_do_update(
                    index_elements=[chat_settings.c.chat_id],
                    set_={**values, "updated_ts": time.time()},
                )
            )

    def delete(self, chat_id: str | int) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(chat_settings).where(chat_settings.c.chat_id == str(chat_id)))

    @staticmethod
    def move_in(connection: Connection, old: str, new: str) -> None:
        """A group that became a supergroup keeps its settings (inside the caller's move)."""
        query = select(chat_settings).where(chat_settings.c.chat_id == old)
        row = connection.execute(query).first()
        if row is None:
            return
        values = {c: getattr(row, c) for c in _COLUMNS}
        connection.execute(
            upsert(connection, chat_settings)
            .values(chat_id=new, updated_ts=time.time(), **values)
            .on_conflict_do_nothing(index_elements=[chat_settings.c.chat_id])
        )
        connection.execute(delete(chat_settings).where(chat_settings.c.chat_id == old))


def _to_row(settings: ChatSettings) -> dict[str, object]:
    values: dict[str, object] = {}
    for name in _COLUMNS:
        value = getattr(settings, name)
        values[name] = json.dumps(list(value), ensure_ascii=False) if name in _LISTS else value
    return values


def _from_row(row: Row) -> ChatSettings:
    values: dict[str, object] = {}
    for name in _COLUMNS:
        value = getattr(row, name)
        values[name] = tuple(json.loads(value or "[]")) if name in _LISTS else value
    values["paused"] = bool(values["paused"])
    values["quiet_silent"] = bool(values["quiet_silent"])
    values["silent"] = bool(values["silent"])
    return ChatSettings(**values)  # type: ignore[arg-type]
