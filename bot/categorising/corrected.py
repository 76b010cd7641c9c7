"""Administrators' corrections applied to a digest, and written out as labelled items.

A corrected item keeps its corrected categories whatever the rules say on the next ingest of
its digest; `export_lines` gives the corrections in the corpus's JSON-lines shape so the next
training run (`digestbot categories train`) learns from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime

from bot.model import Digest
from bot.storing.corrections import RULE_CORRECTION, Correction, Corrections

SOURCE = "corrections"


def with_corrections(digest: Digest, store: Corrections) -> Digest:
    """The digest with each corrected item's categories replaced by its correction."""
    corrected = store.for_items(item.id for item in digest.items)
    if not corrected:
        return digest
    items = tuple(
        replace(item, categories=corrected[item.id], category_rule=RULE_CORRECTION)
        if item.id in corrected
        else item
        for item in digest.items
    )
    return replace(digest, items=items)


def export_lines(found: Iterable[Correction]) -> Iterator[str]:
    """One JSON line per correction: {"source", "date", "section", "title", "summary", "url",
    "lang", "labels"}, as the training corpus has them."""
    for c in found:
        yield json.dumps(
            {
                "source": SOURCE,
                "date": datetime.fromtimestamp(c.created_ts, UTC).date().isoformat(),
                "section": "",
                "title": c.title,
                "summary": c.summary_text,
                "url": "",
                "lang": _language(f"{c.title}{c.summary_text}"),
                "labels": list(c.categories),
                "item_id": c.item_id,
            },
            ensure_ascii=False,
        )


def _language(text: str) -> str:
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return "zh" if han * 5 >= len(text.strip() or "x") else "en"
