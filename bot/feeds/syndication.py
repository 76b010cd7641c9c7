"""RSS 2.0 and Atom 1.0 with feedgen, avoiding its traps (see ../shared/notes/feedgen.md):

- every date set explicitly (feedgen defaults to the build time);
- entries appended in our order (newest first), never prepended;
- HTML given once as `content(html, type="html")`: Atom `<content type="html">`, RSS
  `<description>`, escaped exactly once by lxml; no CDATA;
- one link per entry, the source URL (feedgen drops rel/type of entry links); an item without
  a link still has content, which Atom then allows;
- the author's name as Atom `<author><name>` and RSS `<dc:creator>` (RSS `<author>` wants an email);
- categories by term only, so the RSS `<category>` is the name as well;
- the RSS channel `<link>` is the last `link()` call: `self` first, `alternate` last;
- serialised as UTF-8 (not `&#...;` references), under a lock (feedgen's date formatting
  touches the process-wide locale);
- RFC 5005 archive links (`current`, `prev-archive`, `next-archive`) and a WebSub `hub` link as
  `atom:link`s in both formats, and `<fh:archive/>` on archive documents, by a small feedgen
  extension (feedgen puts only the `self` link into RSS).
"""

from __future__ import annotations

import threading

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from bot.feeds.common import ATOM, RSS, FeedSpec, clean, first_image, html_content

GENERATOR = "digestbot"
FAVICON, LOGO = "favicon.ico", "logo.png"
TTL_MINUTES = 60
ATOM_NS = "http://www.w3.org/2005/Atom"
FH_NS = "http://purl.org/syndication/history/1.0"
_lock = threading.Lock()


class _HistoryExtension(BaseExtension):
    """Feed-level links feedgen does not write into RSS, and RFC 5005's archive marker."""

    def __init__(self) -> None:
        self.links: list[tuple[str, str, str | None]] = []  # rel, href, type
        self.archive = False

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH_NS} if self.archive else {}

    def _extend(self, parent: etree._Element, entry_tag: str) -> None:
        first_entry = parent.find(entry_tag)
        at = list(parent).index(first_entry) if first_entry is not None else len(parent)
        added: list[etree._Element] = []
        for rel, href, kind in self.links:
            link = etree.Element(f"{{{ATOM_NS}}}link", href=href, rel=rel)
            if kind:
                link.set("type", kind)
            added.append(link)
        if self.archive:
            added.append(etree.Element(f"{{{FH_NS}}}archive"))
        for offset, element in enumerate(added):
            parent.insert(at + offset, element)

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        self._extend(feed[0], "item")
        return feed

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        self._extend(feed, f"{{{ATOM_NS}}}entry")
        return feed


def _history(spec: FeedSpec, name: str, kind: str) -> list[tuple[str, str, str | None]]:
    links: list[tuple[str, str, str | None]] = []
    if spec.is_archive:
        links.append(("current", spec.link_to(spec.feed_path, name), kind))
    if spec.prev_archive:
        links.append(("prev-archive", spec.link_to(spec.prev_archive, name), kind))
    if spec.next_archive:
        links.append(("next-archive", spec.link_to(spec.next_archive, name), kind))
    if spec.hub and not spec.is_archive:
        links.append(("hub", spec.hub, None))
    return links


def _generator(spec: FeedSpec) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.load_extension("media", atom=False, rss=True)  # an entry's picture: <media:content>
    fg.id(spec.url(ATOM))
    fg.title(clean(spec.title))
    fg.subtitle(clean(spec.description))  # also the RSS <description>
    fg.author({"name": clean(spec.title)})  # Atom: entries without an author inherit it
    fg.language(spec.language)
    fg.generator(GENERATOR)
    fg.ttl(TTL_MINUTES)
    fg.icon(spec.site_url + FAVICON)  # Atom <icon>
    fg.logo(spec.site_url + LOGO)  # Atom <logo>
    fg.image(url=spec.site_url + LOGO, title=clean(spec.title), link=spec.home_url)  # RSS
    fg.updated(spec.updated)
    fg.lastBuildDate(spec.updated)
    fg.pubDate(spec.updated)
    for entry in spec.entries:
        item = entry.item
        fe = fg.add_entry(order="append")
        fe.id(entry.id)
        fe.guid(entry.id, permalink=False)
        fe.title(clean(item.title) or clean(item.url) or entry.id)
        if entry.link:
            fe.link(href=clean(entry.link))
        if item.author:
            fe.author({"name": clean(item.author)})
            fe.dc.dc_creator(clean(item.author))
        html = html_content(item) or clean(item.title) or " "
        fe.description(html)  # RSS <description>; content() below then sets Atom's, typed
        fe.content(html, type="html")  # Atom <content type="html">, RSS <content:encoded>
        image = first_image(item)
        if image:
            fe.media.content(url=image, medium="image")
        if entry.page_url or spec.site_url:  # the digest that told it, as the entry's source
            fe.source(
                url=entry.page_url.split("#")[0] or spec.site_url,
                title=clean(entry.digest_title) or clean(spec.title),
            )
        for category in entry.categories:
            fe.category(term=clean(category.name))
        fe.published(entry.published)
        fe.updated(entry.updated)
    return fg


def render_syndication(spec: FeedSpec, *, self_url: str | None = None) -> dict[str, bytes]:
    """RSS 2.0 and Atom 1.0 of one feed: `{"rss.xml": ..., "atom.xml": ...}`; `self_url` is the
    RSS document's address when it is not a file of the feeds folder (a search's feed)."""
    with _lock:
        fg = _generator(spec)
        if self_url:
            fg.id(self_url)
        fg.register_extension("history", _HistoryExtension, None)
        history: _HistoryExtension = fg.history
        history.archive = spec.is_archive
        history.links = _history(spec, RSS, "application/rss+xml")
        fg.link(href=self_url or spec.url(RSS), rel="self", type="application/rss+xml")
        fg.link(href=spec.home_url, rel="alternate", type="text/html")
        rss = fg.rss_str(pretty=True, encoding="UTF-8")
        history.links = _history(spec, ATOM, "application/atom+xml")
        fg.link(href=spec.url(ATOM), rel="self", type="application/atom+xml", replace=True)
        fg.link(href=spec.home_url, rel="alternate", type="text/html")
        atom = fg.atom_str(pretty=True, encoding="UTF-8")
    return {RSS: rss, ATOM: atom}
