"""Search results as a page (`/search?q=`) and as an RSS feed of a search (`/search.xml?q=`),
rendered on demand from `bot.storing.search`.

The page has the look of the other pages, holds the search form (no script: a GET form), and
says plainly when a query is empty or too long. The feed is an ordinary RSS 2.0 document of the
newest matches, so a reader can follow a keyword.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from bot.categorising.table import CategoryTable
from bot.feeds.common import RSS, FeedSpec, feed_updated, prepare
from bot.feeds.index_page import PageContext, attr, item_html, text
from bot.feeds.pages import layout
from bot.feeds.syndication import render_syndication
from bot.model import Entry
from bot.settings import Settings
from bot.storing.browse import Browse
from bot.storing.search import MAX_QUERY, QueryError, Search, normalise_query

PAGE_RESULTS = 30
FEED_RESULTS = 50


@dataclass(frozen=True, slots=True)
class Rendered:
    """An answer: HTTP status and body."""

    status: int
    body: bytes


class SearchSite:
    """Renders searches of the archive for the web."""

    def __init__(self, search: Search, table: CategoryTable, settings: Settings) -> None:
        self.search = search
        self.browse = Browse(search.engine)
        self.table = table
        self.settings = settings

    def _context(self, entries: list[Entry]) -> PageContext:
        slugs = {c.name: c.slug for c in self.table.categories}
        for entry in entries:
            for name in entry.item.categories:
                slugs.setdefault(name, self.table.get(name).slug)
        digests = self.browse.slugs_of(e.digest_id for e in entries)
        return PageContext(self.settings.site_title, "zh-CN", slugs, digests)

    def _spec(self, query: str, entries: list[Entry], context: PageContext) -> FeedSpec:
        zone, site = self.settings.zone, self.settings.site_url
        prepared = tuple(
            prepare(
                e,
                zone,
                self.table.get,
                datetime.now(zone),
                site_url=site,
                slugs=context.digest_slugs,
            )
            for e in entries
        )
        return FeedSpec(
            site_url=site,
            title=f"{self.settings.site_title} · 搜索：{query}",
            description=f"{self.settings.site_title}中含有“{query}”的最新条目",
            entries=prepared,
            updated=feed_updated(prepared, zone),
            home_page=f"{site}search?q={quote(query)}",
        )

    def page(self, raw_query: str | None) -> Rendered:
        """The search page: the form, and the newest matches of the query if there is one."""
        up = ""  # /search lives at the site's root
        shown = raw_query or ""
        status, results = 200, ""
        if raw_query is not None and raw_query.strip():
            try:
                query = normalise_query(raw_query)
                entries = self.search.find(query, PAGE_RESULTS)
            except QueryError as error:
                status = 400
                reason = (
                    f"搜索词不能超过 {MAX_QUERY} 个字符。" if error.too_long else "请输入搜索词。"
                )
                results = f'<p class="error">{text(reason)}</p>'
                shown = raw_query[:MAX_QUERY]
            else:
                context = self._context(entries)
                spec = self._spec(query, entries, context)
                feed = f"search.xml?q={quote(query)}"
                items = "".join(item_html(e, context, up=up) for e in spec.entries)
                found = (
                    f'<ol class="items">{items}</ol>'
                    if items
                    else f'<p class="muted">没有找到含有“{text(query)}”的条目。</p>'
                )
                results = (
                    f'<p class="muted">“{text(query)}”的最新 {len(entries)} 条结果 · '
                    f'<a href="{attr(feed)}" type="application/rss+xml">订阅这个搜索（RSS）</a></p>'
                    + found
                )
        body = f"""<header>
<h1>搜索</h1>
<form class="search" action="search" method="get" role="search">
<input type="search" name="q" maxlength="{MAX_QUERY}" value="{attr(shown)}"
 aria-label="搜索" autofocus>
<button type="submit">搜索</button>
</form>
</header>
<main>
{results}
</main>"""
        context = PageContext(self.settings.site_title, "zh-CN", {}, {})
        return Rendered(status, layout(context, "搜索", body, up=up))

    def feed(self, raw_query: str) -> Rendered:
        """RSS 2.0 of the newest matches (400 with a line of text for a bad query)."""
        try:
            query = normalise_query(raw_query)
            entries = self.search.find(query, FEED_RESULTS)
        except QueryError as error:
            return Rendered(400, f"400 {error}\n".encode())
        context = self._context(entries)
        spec = self._spec(query, entries, context)
        rss = render_syndication(spec, self_url=f"{spec.site_url}search.xml?q={quote(query)}")[RSS]
        return Rendered(200, rss)
