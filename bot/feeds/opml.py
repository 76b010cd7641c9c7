"""OPML 2.0 subscription lists: every feed in one format, so a reader subscribes to all at once.

`opml.xml` lists the RSS 2.0 files (every reader takes them); `opml-atom.xml` and
`opml-json.xml` list the same feeds as Atom and as JSON Feed. Each list is in one format only:
readers import every outline that has a URL (newsboat even takes a bare `url`), so one list
naming all three formats would subscribe each reader to every entry three times, and to
formats it may not read (newsboat 2.21 reads no JSON Feed: such a subscription never shows an
item and is downloaded whole on every reload, since newsboat keeps no validators for it).

Outlines carry `type="rss"` (OPML 2.0's type of a subscription, whatever the feed's format) and
`version` (which format). No `dateCreated`: the bytes depend only on the feeds.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from bot.feeds.common import ATOM, JSON, RSS, FeedSpec, clean

OPML_FILES = {RSS: "opml.xml", ATOM: "opml-atom.xml", JSON: "opml-json.xml"}
# The outline's `version` per format (OPML 2.0 names RSS2; the others are ours to name).
_VERSIONS = {RSS: "RSS2", ATOM: "Atom", JSON: "JSONFeed"}
FORMAT_NAMES = {RSS: "RSS 2.0", ATOM: "Atom", JSON: "JSON Feed"}


def _outline(parent: etree._Element, spec: FeedSpec, feed_file: str) -> None:
    title = clean(spec.title)
    etree.SubElement(
        parent,
        "outline",
        {
            "type": "rss",
            "version": _VERSIONS[feed_file],
            "text": title,
            "title": title,
            "xmlUrl": spec.url(feed_file),
            "htmlUrl": spec.home_url,
            "language": spec.language,
        },
    )


def render_opml(
    title: str, overall: FeedSpec, categories: Sequence[FeedSpec], feed_file: str = RSS
) -> bytes:
    """The subscription list of every feed as `feed_file` (`rss.xml`, `atom.xml`, `feed.json`)."""
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    suffix = "" if feed_file == RSS else f" ({FORMAT_NAMES[feed_file]})"
    etree.SubElement(head, "title").text = clean(title) + suffix
    etree.SubElement(head, "ownerId").text = overall.site_url
    body = etree.SubElement(opml, "body")
    _outline(body, overall, feed_file)
    if categories:
        group = etree.SubElement(body, "outline", text="分类", title="分类")
        for spec in categories:
            _outline(group, spec, feed_file)
    return etree.tostring(opml, xml_declaration=True, encoding="UTF-8", pretty_print=True)
