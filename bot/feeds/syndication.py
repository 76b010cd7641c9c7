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
  touches the process-wide locale).
"""

from __future__ import annotations

import threading

from feedgen.feed import FeedGenerator

from bot.feeds.common import ATOM, RSS, FeedSpec, clean, html_content

GENERATOR = "digestbot"
TTL_MINUTES = 60
_lock = threading.Lock()


def _generator(spec: FeedSpec) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.id(spec.url(ATOM))
    fg.title(clean(spec.title))
    fg.subtitle(clean(spec.description))  # also the RSS <description>
    fg.author({"name": clean(spec.title)})  # Atom: entries without an author inherit it
    fg.language(spec.language)
    fg.generator(GENERATOR)
    fg.ttl(TTL_MINUTES)
    fg.updated(spec.updated)
    fg.lastBuildDate(spec.updated)
    fg.pubDate(spec.updated)
    for entry in spec.entries:
        item = entry.item
        fe = fg.add_entry(order="append")
        fe.id(entry.id)
        fe.guid(entry.id, permalink=False)
        fe.title(clean(item.title) or clean(item.url) or entry.id)
        if item.url:
            fe.link(href=clean(item.url))
        if item.author:
            fe.author({"name": clean(item.author)})
            fe.dc.dc_creator(clean(item.author))
        fe.content(html_content(item) or clean(item.title) or " ", type="html")
        for category in entry.categories:
            fe.category(term=clean(category.name))
        fe.published(entry.published)
        fe.updated(entry.updated)
    return fg


def render_syndication(spec: FeedSpec) -> dict[str, bytes]:
    """RSS 2.0 and Atom 1.0 of one feed: `{"rss.xml": ..., "atom.xml": ...}`."""
    with _lock:
        fg = _generator(spec)
        fg.link(href=spec.url(RSS), rel="self", type="application/rss+xml")
        fg.link(href=spec.home_url, rel="alternate", type="text/html")
        rss = fg.rss_str(pretty=True, encoding="UTF-8")
        fg.link(href=spec.url(ATOM), rel="self", type="application/atom+xml", replace=True)
        fg.link(href=spec.home_url, rel="alternate", type="text/html")
        atom = fg.atom_str(pretty=True, encoding="UTF-8")
    return {RSS: rss, ATOM: atom}
