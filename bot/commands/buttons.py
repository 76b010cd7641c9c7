"""The inline keyboard of `/subscribe` without arguments: one button per category that toggles
it, and one for all categories. Callback data carries the ASCII slug (`sub:ai-tools`), well within
Telegram's 64 bytes, never the Chinese name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.commands import texts
from bot.commands.texts import Lang
from bot.model import Category

PREFIX = "sub:"
ALL_DATA = PREFIX + "*"
MAX_CALLBACK_BYTES = 64
COLUMNS = 2
MAX_BUTTONS = 98  # Telegram allows 100 buttons in a keyboard; one more is "all"
_BUTTON_CHARS = 40


@dataclass(frozen=True, slots=True)
class Toggle:
    """A pressed button: the slug of the category to toggle, or None for all categories."""

    slug: str | None


def callback_data(category: Category | None) -> str:
    data = ALL_DATA if category is None else PREFIX + category.slug
    if len(data.encode("utf-8")) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def parse_callback(data: str | None) -> Toggle | None:
    """The toggle a button's data asks for; None for data that is not ours or is malformed."""
    if not data or not data.startswith(PREFIX) or len(data.encode("utf-8")) > MAX_CALLBACK_BYTES:
        return None
    rest = data[len(PREFIX) :]
    if rest == "*":
        return Toggle(None)
    if rest and all(c.isascii() and (c.isalnum() or c in "-_") for c in rest):
        return Toggle(rest)
    return None


def keyboard(
    categories: Sequence[Category], subscribed: set[str], all_: bool, lang: Lang
) -> InlineKeyboardMarkup:
    """Buttons marked ✅ where subscribed (every one when subscribed to all)."""
    buttons = []
    for category in categories[:MAX_BUTTONS]:
        mark = "✅ " if all_ or category.name in subscribed else ""
        name = texts.plain_name(category, lang, _BUTTON_CHARS)
        buttons.append(InlineKeyboardButton(mark + name, callback_data=callback_data(category)))
    rows = [buttons[i : i + COLUMNS] for i in range(0, len(buttons), COLUMNS)]
    rows.append(
        [
            InlineKeyboardButton(
                ("✅ " if all_ else "") + texts.all_button(lang), callback_data=ALL_DATA
            )
        ]
    )
    return InlineKeyboardMarkup(rows)
