"""The archive on the web: a page per digest, a landing page per category, a page per month.

Same look as the index page (its CSS), `lang` set, a viewport for phones, no script, nothing
fetched from elsewhere. Links between pages are relative, so the folder works from any address;
each item is an `<li id="item-…">`, the anchor that feeds and Telegram use for items without a
link of their own. Deterministic: no build time on any page.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.feeds.common import RSS, FeedEntry, FeedSpec, archive_folder, item_anchor
from bot.feeds.index_page import (
    CSS,
    FORMATS,
    PageContext,
    attr,
    item_html,
    telegram_link,
    text,
    when,
)
from bot.storing.browse import DigestInfo

UP = "../../"  # every page lives two folders down: d/<slug>/, c/<slug>/, archive/<month>/
CATEGORY_RECENT = 50


def layout(context: PageContext, title: str, body: str, *, up: str = UP, head: str = "") -> bytes:
    page = f"""<!DOCTYPE html>
<html lang="{attr(context.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{text(title)}</title>
<link rel="icon" href="{up}favicon.ico">
{head}<style>{CSS}</style>
</head>
<body>
<nav class="muted"><a href="{up}">{text(context.site_title)}</a> ·
<a href="{up}search">搜索</a></nav>
{body}
</body>
</html>
"""
    return page.encode("utf-8")


def _items(entries: Sequence[FeedEntry], context: PageContext, *, numbered: bool) -> str:
    if not entries:
        return '<p class="muted">暂无条目。</p>'
    rows = "".join(
        item_html(e, context, up=UP, number=(n + 1) if numbered else None)
        for n, e in enumerate(entries)
    )
    return f'<ol class="items">{rows}</ol>'


def _neighbours(links: Sequence[tuple[str, str, str]]) -> str:
    """`(rel, href, label)` links to the pages before and after this one."""
    shown = " · ".join(
        f'<a rel="{rel}" href="{attr(href)}">{text(label)}</a>' for rel, href, label in links
    )
    return f'<p class="muted pager">{shown}</p>' if shown else ""


def month_of(info: DigestInfo) -> str:
    return info.date.strftime("%Y-%m")


def render_digest_page(
    context: PageContext,
    info: DigestInfo,
    entries: Sequence[FeedEntry],
    newer: DigestInfo | None,
    older: DigestInfo | None,
) -> bytes:
    month = month_of(info)
    links = []
    if newer is not None:
        links.append(("next", f"{UP}d/{newer.slug}/", f"较新：{newer.title}"))
    if older is not None:
        links.append(("prev", f"{UP}d/{older.slug}/", f"较早：{older.title}"))
    body = f"""<header>
<h1>{text(info.title)}</h1>
<p class="muted">{when(info.date)} · {len(entries)} 条 ·
<a href="{UP}{archive_folder(month)}">{month} 归档</a></p>
</header>
<main>
{_items(entries, context, numbered=True)}
</main>
{_neighbours(links)}"""
    return layout(context, info.title, body)


def render_month_page(
    context: PageContext,
    month: str,
    digests: Sequence[tuple[DigestInfo, Sequence[FeedEntry]]],
    newer: str | None,
    older: str | None,
    *,
    has_feeds: bool = False,
) -> bytes:
    """A month: each digest of it (newest first) with its items' titles; with `has_feeds`, the
    month's archive feed documents (in the same folder) too."""
    sections = []
    for info, entries in digests:
        titles = "".join(
            f'<li><a href="{UP}d/{attr(info.slug)}/#{attr(item_anchor(e.item.id))}">'
            f"{text(e.item.title) or text(e.id)}</a></li>"
            for e in entries
        )
        sections.append(
            f'<section><h2><a href="{UP}d/{attr(info.slug)}/">{text(info.title)}</a></h2>'
            f'<p class="muted">{when(info.date)} · {len(entries)} 条</p><ol>{titles}</ol></section>'
        )
    links = []
    if newer:
        links.append(("next", f"{UP}{archive_folder(newer)}", f"较新：{newer}"))
    if older:
        links.append(("prev", f"{UP}{archive_folder(older)}", f"较早：{older}"))
    feeds = "".join(
        f'<li><a href="{name}" type="{kind}">{label}</a></li>' for name, kind, label in FORMATS
    )
    title = f"{context.site_title} · {month} 归档"
    body = f"""<header>
<h1>{text(month)} 归档</h1>
<p class="muted">{len(digests)} 期</p>
{f'<p class="muted">本月条目的订阅源存档：</p><ul class="feeds">{feeds}</ul>' if has_feeds else ""}
</header>
<main>
{"".join(sections) or '<p class="muted">本月没有简报。</p>'}
</main>
{_neighbours(links)}"""
    return layout(context, title, body)


def render_category_page(
    context: PageContext,
    spec: FeedSpec,
    months: Sequence[str],
    bot_username: str | None,
) -> bytes:
    """A category: its feeds (with autodiscovery), its Telegram link, its recent items."""
    category = spec.category
    assert category is not None
    discovery = "".join(
        f'<link rel="alternate" type="{kind}" href="{name}" title="{attr(spec.title)} ({label})">\n'
        for name, kind, label in FORMATS
    )
    feeds = "".join(
        f'<li><a href="{name}" type="{kind}">{label}</a></li>' for name, kind, label in FORMATS
    )
    telegram = (
        f'<p><a class="button" href="{attr(telegram_link(bot_username, category.slug))}">'
        f"在 Telegram 订阅 {text(category.name)}</a></p>"
        if bot_username
        else ""
    )
    label = (
        f' <span class="muted">{text(category.label)}</span>'
        if category.label and category.label != category.name
        else ""
    )
    archive = "".join(
        f'<li><a href="{archive_folder(m)}{RSS}" type="application/rss+xml">{m}</a></li>'
        for m in months
    )
    archive_html = f'<h2>订阅源存档</h2><ul class="feeds">{archive}</ul>' if archive else ""
    body = f"""<header>
<h1>{text(category.name)}{label}</h1>
<p class="muted">{text(spec.description)}</p>
<ul class="feeds">{feeds}</ul>
{telegram}
</header>
<main>
<h2>最新条目</h2>
{_items(spec.entries[:CATEGORY_RECENT], context, numbered=False)}
{archive_html}
</main>"""
    return layout(context, spec.title, body, head=discovery)
