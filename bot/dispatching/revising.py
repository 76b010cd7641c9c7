"""A planned part brought up to date with its new layout: unchanged, given its new text while
it is not sent yet, or edited in place once it was (or is being) sent. Used for a digest's
messages (`planner`) and for a bundle's (`bundles`)."""

from __future__ import annotations

from bot.formatting.messages import Part, plain_text
from bot.storing.outbox import PENDING, NewPart, PlannedPart, PlanWriter, text_hash


def new_parts(parts: list[Part]) -> list[NewPart]:
    return [NewPart(part.html, part.item_ids, part.disable_preview) for part in parts]


def update_part(writer: PlanWriter, planned: PlannedPart, part: Part) -> bool:
    """Queue what brings `planned` to `part`; True when a part not sent yet was rewritten."""
    if shows(planned, part):
        return False
    new = NewPart(part.html, part.item_ids, part.disable_preview)
    if planned.latest_state == PENDING and writer.replace(planned.latest_id, new):
        return True
    writer.edit(planned, new)
    return False


def shows(planned: PlannedPart, part: Part) -> bool:
    """Whether a planned part already says what `part` says."""
    if planned.disable_preview != part.disable_preview:
        return False
    if planned.text_hash is not None:
        return planned.text_hash == text_hash(part.html)
    return planned.text in (part.html, plain_text(part.html))  # resent as plain text
