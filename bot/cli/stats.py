"""`digestbot stats`: subscribers, chats, deliveries and digests waiting to be planned."""

from __future__ import annotations

import unicodedata
from typing import Any

from bot.categorising.table import CategoryTableError, load_table
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.outbox import STATES, Outbox
from bot.storing.status import chats_by_state
from bot.storing.subscribers import ALL, Subscribers


def stats(settings: Settings) -> dict[str, Any]:
    """Subscribers per category, chats per state, deliveries per state, and the digests not
    planned (yet: just arrived, or their planning fails and the service retries it)."""
    engine = open_database(settings.database_url)
    try:
        by_category = Subscribers(engine).counts_by_category()
        archive = Archive(engine)
        n_digests, n_items = archive.counts()
        try:
            known = load_table(settings.categories_file).categories
        except CategoryTableError:
            known = ()
        ordered = {c.name: by_category.get(c.name, 0) for c in known}
        ordered.update({k: v for k, v in sorted(by_category.items()) if k not in ordered})
        if ALL in ordered:
            ordered["all"] = ordered.pop(ALL) + ordered.get("all", 0)
        return {
            "subscribers": ordered,
            "chats": dict(sorted(chats_by_state(engine).items())),
            "deliveries": Outbox(engine).counts(),
            "digests": n_digests,
            "items": n_items,
            "unplanned": archive.unplanned(),
        }
    finally:
        engine.dispose()


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def format_stats(figures: dict[str, Any]) -> str:
    lines = ["Subscribers per category:"]
    subscribers = figures.get("subscribers", {})
    width = max((_width(name) for name in subscribers), default=0)
    for name, count in subscribers.items():
        lines.append(f"  {name}{' ' * (width - _width(name))}  {count}")
    if not subscribers:
        lines.append("  (none)")
    chat_states = figures.get("chats", {})
    if chat_states:
        lines.append("Chats: " + ", ".join(f"{n} {state}" for state, n in chat_states.items()))
    deliveries = figures.get("deliveries", {})
    lines.append(
        "Deliveries: " + ", ".join(f"{deliveries.get(state, 0)} {state}" for state in STATES)
    )
    if "digests" in figures:
        lines.append(f"Archive: {figures['digests']} digest(s), {figures['items']} item(s)")
    unplanned = figures.get("unplanned") or []
    if unplanned:
        lines.append(
            f"Not planned: {len(unplanned)} digest(s) ({', '.join(unplanned[:5])}"
            + (", …" if len(unplanned) > 5 else "")
            + "); if the service runs, their planning fails: see its log and /healthz"
        )
    return "\n".join(lines)
