"""RFC 5005 archives: which entries each monthly archive document of a feed holds.

A feed is its subscription document (the newest `feed_entries` entries) plus one archive
document per month for every older entry, each entry in exactly one document: following
`prev-archive` from the subscription document reaches every entry once. A month's document holds
the entries published in that month (site time zone) that the subscription document does not.

A month is *finished* once it has ended and none of its entries is in the subscription document
any more: its documents then only change if an old item is edited, and are served with a long
Cache-Control (the build leaves a `.final` marker in the month's folder for the server).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any  # hashlib's hash objects have no public type
from zoneinfo import ZoneInfo

from bot.feeds.common import archive_folder
from bot.storing.browse import ItemMark

FINAL_MARKER = ".final"


@dataclass(frozen=True, slots=True)
class MonthDoc:
    """One month's archive documents of one feed."""

    feed_path: str  # "" or "c/<slug>/"
    month: str  # "2025-11"
    start_ts: float
    end_ts: float
    current_ids: frozenset[str]  # entries of the month shown by the subscription document
    mark: str  # changes whenever the documents' bytes may change
    prev_month: str | None  # older
    next_month: str | None  # newer
    finished: bool

    @property
    def folder(self) -> str:
        return self.feed_path + archive_folder(self.month)


class MonthIndex:
    """Month keys of timestamps in a time zone, by binary search over the month starts."""

    def __init__(self, zone: ZoneInfo, first_ts: float, last_ts: float) -> None:
        self.zone = zone
        start = datetime.fromtimestamp(first_ts, zone)
        year, month = start.year, start.month
        self.starts: list[float] = []
        self.keys: list[str] = []
        while True:
            moment = datetime(year, month, 1, tzinfo=zone).timestamp()
            if moment > last_ts:
                self.starts.append(moment)  # the end of the last month
                break
            self.starts.append(moment)
            self.keys.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def key(self, ts: float) -> int:
        return bisect.bisect_right(self.starts, ts) - 1

    def bounds(self, index: int) -> tuple[float, float]:
        return self.starts[index], self.starts[index + 1]


def plan_months(
    marks: Sequence[ItemMark],
    names: Sequence[str] | None,
    feed_path: str,
    limit: int,
    months: MonthIndex,
    now_ts: float,
) -> list[MonthDoc]:
    """The archive documents of one feed (all items, or the items of category `names`),
    newest month first. `marks` are every item, newest first."""
    chosen = marks if names is None else [m for m in marks if any(n in m.categories for n in names)]
    current = chosen[:limit]
    shown: dict[int, set[str]] = {}
    for mark in current:
        shown.setdefault(months.key(mark.published_ts), set()).add(mark.id)
    hashes: dict[int, Any] = {}
    order: list[int] = []
    for mark in chosen[limit:]:
        index = months.key(mark.published_ts)
        digest = hashes.get(index)
        if digest is None:
            digest = hashes[index] = hashlib.sha256()
            order.append(index)
        digest.update(f"{mark.id}\x1f{mark.digest_id}\x1f{mark.version}\x1e".encode())
    docs = []
    for position, index in enumerate(order):
        newer = months.keys[order[position - 1]] if position > 0 else None
        older = months.keys[order[position + 1]] if position + 1 < len(order) else None
        start, end = months.bounds(index)
        in_current = frozenset(shown.get(index, ()))
        finished = end <= now_ts and not in_current
        digest = hashes[index]
        digest.update(f"{older}|{newer}|{finished}|{sorted(in_current)}".encode())
        docs.append(
            MonthDoc(
                feed_path=feed_path,
                month=months.keys[index],
                start_ts=start,
                end_ts=end,
                current_ids=in_current,
                mark=digest.hexdigest(),
                prev_month=older,
                next_month=newer,
                finished=finished,
            )
        )
    return docs
