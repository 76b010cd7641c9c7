"""JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), written by hand: feedgen has none.

Keys in a fixed order, compact, UTF-8 without `\\u` escapes, a final newline: the same archive
always gives the same bytes. Ids are the Atom/RSS ids.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.feeds.common import (
    JSON,
    FeedEntry,
    FeedSpec,
    clean,
    first_image,
    html_content,
    short_summary,
    text_language,
)

VERSION = "https://jsonfeed.org/version/1.1"
FAVICON, LOGO = "favicon.ico", "logo.png"


def _time(moment: datetime) -> str:
    return moment.isoformat()  # RFC 3339: whole seconds and the zone's offset


def _item(entry: FeedEntry, language: str) -> dict[str, Any]:
    item = entry.item
    data: dict[str, Any] = {"id": entry.id}
    if entry.link:
        data["url"] = clean(entry.link)
    data["title"] = clean(item.title) or clean(item.url) or entry.id
    data["content_html"] = html_content(item) or clean(item.title) or " "
    if item.summary_text:
        data["summary"] = short_summary(item.summary_text)
    image = first_image(item)
    if image:
        data["image"] = image
    data["date_published"] = _time(entry.published)
    data["date_modified"] = _time(entry.updated)
    if item.author:
        data["authors"] = [{"name": clean(item.author)}]
    if entry.categories:
        data["tags"] = [clean(category.name) for category in entry.categories]
    data["language"] = text_language(f"{item.title} {item.summary_text}")
    return data


def render_json_feed(spec: FeedSpec) -> bytes:
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": clean(spec.title),
        "home_page_url": spec.home_url,
        "feed_url": spec.url(JSON),
        "description": clean(spec.description),
        "language": spec.language,
        "icon": spec.site_url + LOGO,
        "favicon": spec.site_url + FAVICON,
        "authors": [{"name": clean(spec.title), "url": spec.site_url}],
        "items": [_item(entry, spec.language) for entry in spec.entries],
    }
    if spec.hub and not spec.is_archive:
        feed["hubs"] = [{"type": "WebSub", "url": spec.hub}]
    if spec.prev_archive:  # paging: the next (older) page of items is the newest archive month
        feed["next_url"] = spec.link_to(spec.prev_archive, JSON)
    # compact: the C encoder (indent would take the pure-Python one, ten times slower)
    return (json.dumps(feed, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
