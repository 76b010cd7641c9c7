"""Feeds: RSS 2.0, Atom, JSON Feed 1.1, OPML and the index page, rendered from the archive."""

from bot.feeds.build import BuildResult, build, build_feeds, feed_categories, render_all
from bot.feeds.common import entry_id
from bot.feeds.index_page import telegram_link
from bot.feeds.writer import write_if_changed

__all__ = [
    "BuildResult",
    "build",
    "build_feeds",
    "entry_id",
    "feed_categories",
    "render_all",
    "telegram_link",
    "write_if_changed",
]
