"""OPML 2.0 listing every feed, so a reader subscribes to all of them in one import.

One outline per feed (its RSS 2.0 file; the Atom and JSON files carry the same entries), the
categories grouped under one outline. No `dateCreated`: the bytes depend only on the feeds.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from bot.feeds.common import RSS, FeedSpec, clean


def _outline(parent: etree._Element, spec: FeedSpec) -> None:
    title = clean(spec.title)
    etree.SubElement(
        parent,
        "outline",
        {
            "type": "rss",
            "text": title,
            "title": title,
            "xmlUrl": spec.url(RSS),
            "htmlUrl": spec.home_url,
            "language": spec.language,
        },
    )


def render_opml(title: str, overall: FeedSpec, categories: Sequence[FeedSpec]) -> bytes:
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = clean(title)
    etree.SubElement(head, "ownerId").text = overall.site_url
    body = etree.SubElement(opml, "body")
    _outline(body, overall)
    if categories:
        group = etree.SubElement(body, "outline", text="分类", title="分类")
        for spec in categories:
            _outline(group, spec)
    return etree.tostring(opml, xml_declaration=True, encoding="UTF-8", pretty_print=True)
