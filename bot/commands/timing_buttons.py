"""Buttons for pause, quiet hours and schedule (#13): under the replies of /pause, /resume,
/quiet, /schedule and /timezone, and rows the /settings menu can show (`rows`).

A button carries `tm:<setting>:<value>` (ASCII, far within Telegram's 64 bytes); `apply` is the
pure change a press makes (None: data that is not ours, or a value it does not take).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.commands.texts import Lang
from bot.storing.chat_settings import ChatSettings

PREFIX = "tm:"
PATTERN = r"^tm:"
_DATA = re.compile(r"^tm:(pause|resume|quiet|schedule):([a-z0-9]{0,12})$")
PAUSES = {"8h": 8 * 3600.0, "3d": 3 * 86400.0, "forever": None}


@dataclass(frozen=True, slots=True)
class Press:
    setting: str
    value: str


def parse_callback(text: str | None) -> Press | None:
    found = _DATA.match(text or "")
    return Press(found.group(1), found.group(2)) if found else None


def _t(lang: Lang, zh: str, en: str) -> str:
    return en if lang == "en" else zh


_LABELS = {
    "resume": ("▶️ 恢复推送", "▶️ Resume"),
    "pause-8h": ("⏸ 8 小时", "⏸ 8h"),
    "pause-3d": ("⏸ 3 天", "⏸ 3d"),
    "pause-forever": ("⏸ 直到恢复", "⏸ Until resumed"),
    "quiet-off": ("🔔 关闭免打扰", "🔔 Quiet hours off"),
    "instant": ("⚡ 改为即时推送", "⚡ Instant delivery"),
}


def label(lang: Lang, name: str) -> str:
    zh, en = _LABELS[name]
    return _t(lang, zh, en)


def _button(lang: Lang, name: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label(lang, name), callback_data=data)


def rows(settings: ChatSettings, lang: Lang, now: float) -> list[list[InlineKeyboardButton]]:
    """The pause, quiet-hours and schedule rows for a chat's settings as they are now."""
    out: list[list[InlineKeyboardButton]] = []
    if settings.paused_at(now):
        out.append([_button(lang, "resume", "tm:resume:")])
    else:
        out.append([_button(lang, f"pause-{v}", f"tm:pause:{v}") for v in PAUSES])
    if settings.quiet_start:
        out.append([_button(lang, "quiet-off", "tm:quiet:off")])
    if settings.schedule:
        out.append([_button(lang, "instant", "tm:schedule:instant")])
    return out


def keyboard(settings: ChatSettings, lang: Lang, now: float) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(rows(settings, lang, now))


def pausing(settings: ChatSettings, seconds: float | None, now: float) -> ChatSettings:
    """Paused from `now` for `seconds` (None: until /resume); a pause that holds keeps its
    start, so what was missed since then is still offered."""
    since = settings.paused_since_ts if settings.paused_at(now) else now
    until = None if seconds is None else now + seconds
    return replace(settings, paused=True, paused_since_ts=since, paused_until_ts=until)


def resuming(settings: ChatSettings) -> ChatSettings:
    return replace(settings, paused=False, paused_since_ts=None, paused_until_ts=None)


def apply(settings: ChatSettings, press: Press, now: float) -> ChatSettings | None:
    """The settings a press leads to (None: nothing it may change)."""
    if press.setting == "pause" and press.value in PAUSES:
        return pausing(settings, PAUSES[press.value], now)
    if press.setting == "resume" and press.value == "":
        return resuming(settings)
    if press.setting == "quiet" and press.value == "off":
        return replace(settings, quiet_start=None, quiet_end=None, quiet_silent=False)
    if press.setting == "schedule" and press.value == "instant":
        return replace(settings, schedule=())
    return None
