"""`digestbot stats`: subscribers, chats, deliveries, the backlog and the time to send it, the
outbox's storage, and digests waiting to be planned."""

from __future__ import annotations

import unicodedata
from typing import Any

from bot.categorising.table import CategoryTableError, load_table
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.backlog import backlog
from bot.storing.database import open_database
from bot.storing.outbox import STATES, Outbox
from bot.storing.retention import Retention
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
        waiting = backlog(engine)
        storage = Retention(engine).storage()
        return {
            "subscribers": ordered,
            "chats": dict(sorted(chats_by_state(engine).items())),
            "deliveries": Outbox(engine).counts(),
            "backlog": {
                "waiting": waiting.waiting,
                "per_second": round(waiting.rate, 2),
                "drain_seconds": (
                    None if waiting.drain_seconds is None else round(waiting.drain_seconds, 1)
                ),
            },
            "outbox": {
                "deliveries": storage.deliveries,
                "delivered_items": storage.delivered_items,
                "texts": storage.texts,
                "bytes": storage.bytes,
                "retention_days": settings.retention_days,
            },
            "digests": n_digests,
            "items": n_items,
            "unplanned": archive.unplanned(),
        }
    finally:
        engine.dispose()


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    return f"{size / 2**20:.1f} MB"


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
    waiting = figures.get("backlog")
    if waiting:
        line = f"Backlog: {waiting['waiting']} message(s) waiting"
        if waiting["waiting"]:
            drain = waiting["drain_seconds"]
            line += (
                f", {waiting['per_second']}/s lately: about {_duration(drain)} to send"
                if drain is not None
                else ", none sent in the last minute (no estimate)"
            )
        lines.append(line)
    outbox = figures.get("outbox")
    if outbox:
        size = outbox["bytes"]
        lines.append(
            f"Outbox storage: {_size(size)}, {outbox['deliveries']} deliveries, "
            f"{outbox['delivered_items']} delivered items, {outbox['texts']} texts "
            f"(kept {outbox['retention_days']} days)"
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
