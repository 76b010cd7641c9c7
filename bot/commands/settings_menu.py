"""The /settings keyboard: one row of inline buttons per setting, redrawn in place as pressed.

The keyboard is a list of rows, each made by a small function of a `View` (the chat's settings,
the reader's language, the service's zone, the time) listed in `ROWS`. A button carries
`st:<setting>:<value>` (ASCII, far within Telegram's 64 bytes): the value it leads to. `CHANGES`
maps a setting to the function that applies a pressed value (None for a value it does not
take: nothing changes); a setting in `EXPLAINED` only shows its state, and a press answers with
how to change it by command. Adding a setting is one row function, and one entry in either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.commands import settings_texts as st
from bot.commands.texts import Lang
from bot.formatting.messages import SETTINGS_DATA
from bot.storing.chat_settings import COMPACT, FULL, LANGUAGES, ChatSettings

PREFIX = "st:"
PATTERN = r"^st:"
OPEN = SETTINGS_DATA  # the button under deliveries: sends this menu
_ON_OFF = {"on": True, "off": False}
_DATA = re.compile(r"^st:([a-z]{1,12}):([a-z0-9_-]{0,24})$")


@dataclass(frozen=True, slots=True)
class View:
    """What a row is drawn from."""

    settings: ChatSettings
    lang: Lang
    zone: str  # the service's time zone (a chat without its own has this one)
    now: float


@dataclass(frozen=True, slots=True)
class Press:
    """A pressed settings button: which setting, and the value it leads to."""

    setting: str
    value: str


Row = Callable[[View], list[InlineKeyboardButton]]


def data(setting: str, value: str = "") -> str:
    text = f"{PREFIX}{setting}:{value}"
    if _DATA.match(text) is None:
        raise ValueError(f"not a settings button: {text!r}")
    return text


def parse_callback(text: str | None) -> Press | None:
    """The press a button's data asks for; None for data that is not a setting's."""
    found = _DATA.match(text or "")
    return Press(found.group(1), found.group(2)) if found else None


def _button(label: str, setting: str, value: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=data(setting, value))


# Rows -------------------------------------------------------------------------------------------


def language_row(view: View) -> list[InlineKeyboardButton]:
    reads = view.lang  # the language it reads now: its choice, else Telegram's
    return [_button(st.mark(reads == c, st.language_name(c)), "lang", c) for c in LANGUAGES]


def format_row(view: View) -> list[InlineKeyboardButton]:
    compact = view.settings.format == COMPACT
    return [
        _button(st.mark(not compact, st.format_label(view.lang, False)), "format", FULL),
        _button(st.mark(compact, st.format_label(view.lang, True)), "format", COMPACT),
    ]


def preview_row(view: View) -> list[InlineKeyboardButton]:
    chosen = view.settings.preview  # None: the service's default, neither marked
    return [
        _button(st.mark(chosen is True, st.preview_label(view.lang, True)), "preview", "on"),
        _button(st.mark(chosen is False, st.preview_label(view.lang, False)), "preview", "off"),
    ]


def silent_row(view: View) -> list[InlineKeyboardButton]:
    silent = view.settings.silent
    return [
        _button(st.mark(not silent, st.silent_label(view.lang, False)), "silent", "off"),
        _button(st.mark(silent, st.silent_label(view.lang, True)), "silent", "on"),
    ]


def filter_row(view: View) -> list[InlineKeyboardButton]:
    return [_button(st.filter_label(view.lang, view.settings), "filter")]


def pause_row(view: View) -> list[InlineKeyboardButton]:
    s = view.settings
    until = None
    if s.paused_until_ts is not None:
        zone = ZoneInfo(s.timezone or view.zone)
        until = datetime.fromtimestamp(s.paused_until_ts, zone).strftime("%m-%d %H:%M")
    return [_button(st.pause_label(view.lang, s.paused_at(view.now), until), "pause")]


def quiet_row(view: View) -> list[InlineKeyboardButton]:
    s = view.settings
    return [_button(st.quiet_label(view.lang, s.quiet_start, s.quiet_end), "quiet")]


def schedule_row(view: View) -> list[InlineKeyboardButton]:
    return [_button(st.schedule_label(view.lang, view.settings.schedule), "schedule")]


def timezone_row(view: View) -> list[InlineKeyboardButton]:
    return [_button(st.timezone_label(view.lang, view.settings.timezone or view.zone), "timezone")]


ROWS: list[Row] = [
    language_row,
    format_row,
    preview_row,
    silent_row,
    filter_row,
    pause_row,
    quiet_row,
    schedule_row,
    timezone_row,
]


def keyboard(view: View) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([row(view) for row in ROWS])


# Presses ----------------------------------------------------------------------------------------


def _language(settings: ChatSettings, value: str) -> ChatSettings | None:
    return replace(settings, language=value) if value in LANGUAGES else None


def _format(settings: ChatSettings, value: str) -> ChatSettings | None:
    return replace(settings, format=value) if value in (FULL, COMPACT) else None


def _preview(settings: ChatSettings, value: str) -> ChatSettings | None:
    on = _ON_OFF.get(value)
    return None if on is None else replace(settings, preview=on)


def _silent(settings: ChatSettings, value: str) -> ChatSettings | None:
    on = _ON_OFF.get(value)
    return None if on is None else replace(settings, silent=on)


CHANGES: dict[str, Callable[[ChatSettings, str], ChatSettings | None]] = {
    "lang": _language,
    "format": _format,
    "preview": _preview,
    "silent": _silent,
}
EXPLAINED: dict[str, Callable[[Lang], str]] = {
    "filter": st.filter_explained,
    "pause": lambda lang: st.info(lang, "pause"),
    "quiet": lambda lang: st.info(lang, "quiet"),
    "schedule": lambda lang: st.info(lang, "schedule"),
    "timezone": lambda lang: st.info(lang, "timezone"),
}


def apply(settings: ChatSettings, press: Press) -> ChatSettings | None:
    """The settings a press leads to; None when it changes nothing it may (unknown setting or
    value, or a row that only explains)."""
    change = CHANGES.get(press.setting)
    return change(settings, press.value) if change else None
