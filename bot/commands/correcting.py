"""The inline keyboards with which an admin re-categorises items of `/latest` (SPEC §4).

Under `/latest` each listed item has a button `✎ n` (`rc:<item id>`); it opens one toggle button
per category and "done". The chosen categories travel in the callback data as a hexadecimal bit
mask over the category table's order, so the keyboard itself is the state and a toggle button
carries the selection it leads to (`rt:<item id>:<mask>`; "done" is `rd:<item id>:<mask>`).
Items whose id would push the data over Telegram's 64 bytes get no button.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.commands import texts
from bot.commands.buttons import MAX_BUTTONS, MAX_CALLBACK_BYTES
from bot.commands.texts import Lang
from bot.model import Category

PATTERN = r"^r[ctd]:"
OPEN, TOGGLE, DONE = "rc", "rt", "rd"
ITEM_COLUMNS = 5
CATEGORY_COLUMNS = 2
_BUTTON_CHARS = 40
_DATA = re.compile(r"^(rc):([^:\s]+)$|^(rt|rd):([^:\s]+):([0-9a-f]{1,25})$")


@dataclass(frozen=True, slots=True)
class Press:
    """A pressed re-categorising button: what it asks, for which item, with which selection."""

    action: str
    item_id: str
    mask: int = 0


def _fits(data: str) -> bool:
    return len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES


def parse_callback(data: str | None) -> Press | None:
    """The press a button's data asks for; None for data that is not ours or is malformed."""
    if not data or not _fits(data):
        return None
    found = _DATA.match(data)
    if found is None:
        return None
    if found.group(1):
        return Press(OPEN, found.group(2))
    return Press(found.group(3), found.group(4), int(found.group(5), 16))


def mask_of(categories: Sequence[Category], names: Sequence[str]) -> int:
    chosen = set(names)
    return sum(1 << i for i, c in enumerate(categories[:MAX_BUTTONS]) if c.name in chosen)


def chosen(categories: Sequence[Category], mask: int) -> tuple[Category, ...]:
    return tuple(c for i, c in enumerate(categories[:MAX_BUTTONS]) if mask >> i & 1)


def items_keyboard(item_ids: Sequence[str]) -> InlineKeyboardMarkup | None:
    """One `✎ n` button per listed item (numbered as /latest numbers them); None for none."""
    buttons = [
        InlineKeyboardButton(f"✎ {n}", callback_data=f"{OPEN}:{item_id}")
        for n, item_id in enumerate(item_ids, start=1)
        if _fits(f"{TOGGLE}:{item_id}:{'f' * 25}")  # every later press of it fits too
    ]
    if not buttons:
        return None
    rows = [buttons[i : i + ITEM_COLUMNS] for i in range(0, len(buttons), ITEM_COLUMNS)]
    return InlineKeyboardMarkup(rows)


def categories_keyboard(
    item_id: str, categories: Sequence[Category], mask: int, lang: Lang
) -> InlineKeyboardMarkup:
    """A toggle per category (✓ where chosen), each carrying the selection it leads to; "done"."""
    buttons = []
    for i, category in enumerate(categories[:MAX_BUTTONS]):
        mark = "✓ " if mask >> i & 1 else ""
        name = texts.plain_name(category, lang, _BUTTON_CHARS)
        data = f"{TOGGLE}:{item_id}:{mask ^ (1 << i):x}"
        buttons.append(InlineKeyboardButton(mark + name, callback_data=data))
    rows = [buttons[i : i + CATEGORY_COLUMNS] for i in range(0, len(buttons), CATEGORY_COLUMNS)]
    done = InlineKeyboardButton(texts.done_button(lang), callback_data=f"{DONE}:{item_id}:{mask:x}")
    rows.append([done])
    return InlineKeyboardMarkup(rows)
