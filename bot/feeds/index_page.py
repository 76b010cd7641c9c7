"""The site's front page: recent items and every feed, with autodiscovery for readers and browsers.

Self-contained HTML with inline CSS: no script, no font, no image, nothing fetched from anywhere
(`<link rel="icon" href="data:,">` even stops the browser's favicon request). Feed links are
relative, so the page works on any host the folder is served from. Deterministic: no build time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from bot.feeds.common import (
    ATOM,
    JSON,
    OPML,
    RSS,
    FeedEntry,
    FeedSpec,
    clean,
    html_content,
    item_anchor,
)
from bot.feeds.opml import FORMAT_NAMES, OPML_FILES
from bot.sanitizer import escape_attribute, escape_text, safe_url

RECENT_ITEMS = 50

FORMATS = (
    (RSS, "application/rss+xml", "RSS"),
    (ATOM, "application/atom+xml", "Atom"),
    (JSON, "application/feed+json", "JSON Feed"),
)

_CSS = """
:root { color-scheme: light dark; --fg: #1d1d1f; --muted: #6e6e73; --line: #d2d2d7;
  --accent: #0a66c2; --bg: #fff; --card: #f5f5f7; }
@media (prefers-color-scheme: dark) { :root { --fg: #f5f5f7; --muted: #a1a1a6; --line: #3a3a3c;
  --accent: #5ea8ff; --bg: #111113; --card: #1c1c1e; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 52rem; padding: 1.5rem 1rem 3rem; background: var(--bg);
  color: var(--fg); font: 16px/1.65 system-ui, -apple-system, "PingFang SC", "Noto Sans CJK SC",
  "Microsoft YaHei", sans-serif; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .75rem; }
.muted, time { color: var(--muted); font-size: .875rem; }
.feeds { display: flex; flex-wrap: wrap; gap: .5rem; padding: 0; margin: .5rem 0;
  list-style: none; }
.feeds a { display: inline-block; padding: .15rem .6rem; border: 1px solid var(--line);
  border-radius: 999px; font-size: .875rem; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: .5rem .4rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
td .feeds { margin: 0; }
ol.items { list-style: none; padding: 0; margin: 0; }
ol.items > li { padding: .9rem 1rem; margin: 0 0 .75rem; background: var(--card);
  border-radius: .6rem; }
.title { font-weight: 600; font-size: 1.05rem; }
.summary { margin: .35rem 0; overflow-wrap: anywhere; }
.tags a { margin-right: .5rem; font-size: .8rem; }
code { font-size: .9em; }
nav { margin-bottom: 1rem; }
ul.digests { padding-left: 1.2rem; } ul.digests li { margin: .2rem 0; }
section h2 a { color: inherit; }
.pager { display: flex; flex-wrap: wrap; gap: 1rem; justify-content: space-between; }
form.search { display: flex; gap: .5rem; margin: .75rem 0; }
form.search input { flex: 1; min-width: 0; padding: .4rem .6rem; font: inherit;
  border: 1px solid var(--line); border-radius: .4rem; background: var(--bg); color: var(--fg); }
form.search button, a.button { padding: .4rem .9rem; font: inherit; border-radius: .4rem;
  border: 1px solid var(--accent); background: var(--accent); color: #fff; }
img { max-width: 100%; height: auto; }
@media (max-width: 40rem) { body { padding: 1rem .75rem 2rem; } h1 { font-size: 1.35rem; } }
"""


def _attr(value: str) -> str:
    return escape_attribute(clean(value))


def _text(value: str) -> str:
    return escape_text(clean(value))


def _when(moment: datetime) -> str:
    return (
        f'<time datetime="{moment.isoformat()}">{moment.strftime("%Y-%m-%d %H:%M")}'
        f" {moment.strftime('%z')[:3]}:{moment.strftime('%z')[3:]}</time>"
    )


def telegram_link(username: str, slug: str) -> str:
    """A t.me deep link that subscribes to a category (`/start sub-<slug>`)."""
    return f"https://t.me/{quote(username)}?start=sub-{quote(slug)}"


def _feed_links(spec: FeedSpec) -> str:
    links = "".join(
        f'<li><a href="{_attr(spec.path + name)}" type="{kind}">{label}</a></li>'
        for name, kind, label in FORMATS
    )
    return f'<ul class="feeds">{links}</ul>'


@dataclass(frozen=True, slots=True)
class PageContext:
    """What every page needs to know about the site."""

    site_title: str
    language: str
    category_slugs: Mapping[str, str]  # category name -> slug
    digest_slugs: Mapping[str, str]  # digest id -> slug


def item_html(entry: FeedEntry, context: PageContext, *, up: str, number: int | None = None) -> str:
    """One item as every page shows it, `up` being the way from the page to the site's root.

    Numbered on its digest's page; elsewhere it names the digest it comes from (linked to the
    item's anchor there), and an item without a link of its own links to that anchor."""
    item = entry.item
    url = safe_url(item.url)
    slug = context.digest_slugs.get(entry.digest_id)
    anchor = f"{up}d/{_attr(slug)}/#{_attr(item_anchor(item.id))}" if slug else None
    title = _text(item.title) or _text(item.url or "") or _text(entry.id)
    if url:
        title = f'<a href="{_attr(url)}" rel="noopener">{title}</a>'
    elif anchor and number is None:
        title = f'<a href="{anchor}">{title}</a>'
    if number is not None:
        title = f"{number}. {title}"
    author = f" · {_text(item.author)}" if item.author else ""
    source = (
        f' · <a href="{anchor}">{_text(entry.digest_title)}</a>'
        if anchor and number is None
        else ""
    )
    tags = "".join(
        f'<a href="{up}c/{_attr(context.category_slugs[c.name])}/">#{_text(c.name)}</a>'
        for c in entry.categories
        if c.name in context.category_slugs
    )
    return (
        f'<li id="{_attr(item_anchor(item.id))}"><div class="title">{title}</div>'
        f'<div class="muted">{_when(entry.published)}{author}{source}</div>'
        f'<div class="summary">{html_content(item)}</div>'
        + (f'<div class="tags">{tags}</div>' if tags else "")
        + "</li>"
    )


def render_index(
    title: str,
    overall: FeedSpec,
    categories: Sequence[FeedSpec],
    *,
    bot_username: str | None = None,
    recent: int = RECENT_ITEMS,
    context: PageContext | None = None,
    digests: Sequence[tuple[str, str, datetime]] = (),
    months: Sequence[str] = (),
) -> bytes:
    """The front page. `digests` are the newest digests as (slug, title, date), `months` the
    months of the archive, newest first: both link to their pages."""
    specs = [overall, *categories]
    discovery = "\n".join(
        f'<link rel="alternate" type="{kind}" href="{_attr(spec.path + name)}"'
        f' title="{_attr(spec.title)} ({label})">'
        for spec in specs
        for name, kind, label in FORMATS
    )
    slugs = {spec.category.name: spec.category.slug for spec in categories if spec.category}
    context = context or PageContext(title, overall.language, slugs, {})
    rows = []
    for spec in categories:
        category = spec.category
        assert category is not None
        name = f'<a href="c/{_attr(category.slug)}/">{_text(category.name)}</a>'
        label = (
            f' <span class="muted">{_text(category.label)}</span>'
            if (category.label and category.label != category.name)
            else ""
        )
        telegram = (
            f'<a href="{_attr(telegram_link(bot_username, category.slug))}">Telegram 订阅</a>'
            if bot_username
            else ""
        )
        rows.append(
            f'<tr id="c-{_attr(category.slug)}"><td>{name}{label}</td>'
            f"<td>{_feed_links(spec)}</td><td>{telegram}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>分类</th><th>订阅源</th><th>Telegram</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else '<p class="muted">暂无分类。</p>'
    )
    items = "".join(item_html(entry, context, up="") for entry in overall.entries[:recent])
    recent_html = f'<ol class="items">{items}</ol>' if items else '<p class="muted">暂无条目。</p>'
    digest_links = "".join(
        f'<li><a href="d/{_attr(slug)}/">{_text(name)}</a> {_when(date)}</li>'
        for slug, name, date in digests
    )
    month_links = "".join(f'<li><a href="archive/{_attr(m)}/">{_text(m)}</a></li>' for m in months)
    archive_html = (
        '<section id="digests"><h2>最近的简报</h2>'
        f'<ul class="digests">{digest_links}</ul></section>'
        if digest_links
        else ""
    ) + (
        f'<section id="archive"><h2>按月归档</h2><ul class="feeds">{month_links}</ul></section>'
        if month_links
        else ""
    )
    page = f"""<!DOCTYPE html>
<html lang="{_attr(overall.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_text(title)}</title>
<meta name="description" content="{_attr(overall.description)}">
<link rel="icon" href="favicon.ico">
{discovery}
<link rel="outline" type="text/x-opml" href="{OPML}" title="OPML">
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{_text(title)}</h1>
<p class="muted">{_text(overall.description)} · 更新于 {_when(overall.updated)}</p>
<form class="search" action="search" method="get" role="search">
<input type="search" name="q" maxlength="100" placeholder="搜索全部条目" aria-label="搜索">
<button type="submit">搜索</button>
</form>
</header>
<section id="feeds">
<h2>订阅全部</h2>
{_feed_links(overall)}
<p class="muted">全部订阅源（OPML，可一次导入阅读器）：
{_opml_links()}</p>
</section>
<section id="categories">
<h2>按分类订阅</h2>
{table}
</section>
<section id="recent">
<h2>最新条目</h2>
{recent_html}
</section>
{archive_html}
</body>
</html>
"""
    return page.encode("utf-8")


def _opml_links() -> str:
    """The subscription lists, one per format (`bot.feeds.opml`)."""
    return " · ".join(
        f'<a href="{_attr(name)}" type="text/x-opml">{_text(name)}</a> ({_text(FORMAT_NAMES[f])})'
        for f, name in OPML_FILES.items()
    )


# The names the other pages use (the page helpers above stay private to keep this module's hunks
# small where the sanitizer switch-over touches them).
CSS = _CSS
attr = _attr
text = _text
when = _when
