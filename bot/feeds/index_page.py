"""The site's front page: recent items and every feed, with autodiscovery for readers and browsers.

Self-contained HTML with inline CSS: no script, no font, no image, nothing fetched from anywhere
(`<link rel="icon" href="data:,">` even stops the browser's favicon request). Feed links are
relative, so the page works on any host the folder is served from. Deterministic: no build time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from bot.feeds.common import ATOM, JSON, OPML, RSS, FeedEntry, FeedSpec, clean, html_content
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


def _item(entry: FeedEntry, slugs: dict[str, str]) -> str:
    item = entry.item
    url = safe_url(item.url)
    title = _text(item.title) or _text(item.url or "") or _text(entry.id)
    if url:
        title = f'<a href="{_attr(url)}" rel="noopener">{title}</a>'
    author = f" · {_text(item.author)}" if item.author else ""
    tags = "".join(
        f'<a href="#c-{_attr(slugs[c.name])}">#{_text(c.name)}</a>'
        for c in entry.categories
        if c.name in slugs
    )
    return (
        f'<li id="item-{_attr(item.id)}"><div class="title">{title}</div>'
        f'<div class="muted">{_when(entry.published)}{author}</div>'
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
) -> bytes:
    specs = [overall, *categories]
    discovery = "\n".join(
        f'<link rel="alternate" type="{kind}" href="{_attr(spec.path + name)}"'
        f' title="{_attr(spec.title)} ({label})">'
        for spec in specs
        for name, kind, label in FORMATS
    )
    slugs = {spec.category.name: spec.category.slug for spec in categories if spec.category}
    rows = []
    for spec in categories:
        category = spec.category
        assert category is not None
        name = _text(category.name)
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
    items = "".join(_item(entry, slugs) for entry in overall.entries[:recent])
    recent_html = f'<ol class="items">{items}</ol>' if items else '<p class="muted">暂无条目。</p>'
    page = f"""<!DOCTYPE html>
<html lang="{_attr(overall.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_text(title)}</title>
<meta name="description" content="{_attr(overall.description)}">
<link rel="icon" href="data:,">
{discovery}
<link rel="outline" type="text/x-opml" href="{OPML}" title="OPML">
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{_text(title)}</h1>
<p class="muted">{_text(overall.description)} · 更新于 {_when(overall.updated)}</p>
</header>
<section id="feeds">
<h2>订阅全部</h2>
{_feed_links(overall)}
<p class="muted">全部订阅源（OPML，可一次导入阅读器）：
<a href="{OPML}" type="text/x-opml">{OPML}</a></p>
</section>
<section id="categories">
<h2>按分类订阅</h2>
{table}
</section>
<section id="recent">
<h2>最新条目</h2>
{recent_html}
</section>
</body>
</html>
"""
    return page.encode("utf-8")
