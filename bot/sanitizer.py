"""The one HTML-safety boundary: which URLs may be links, how text and attributes are escaped,
and which tags summary HTML may keep. Parsing, formatting, commands, feeds and the index page all
use these and nothing of their own.

- `safe_url`: an absolute http(s) URL with a host, a valid port, no user part, no whitespace,
  control or bidirectional characters, quotes, angle brackets or backslashes, at most 2048
  characters.
  International host names are kept as written (Telegram and browsers take them).
- `escape_text` / `escape_attribute`: `&`, `<`, `>` (and `"` in attributes, which are always
  double-quoted). These four named entities are the only ones Telegram's HTML knows, and they
  are enough for HTML5 and XML alike.
- `TAG_MARKS` / `LINK_TAG` + `LINK_ATTRIBUTE`: the allowlist of summary HTML. Every reader of
  summary HTML (`bot.formatting.telegram_html.parse_inline`, which the feeds and the index page
  use too) keeps these and only these; every other tag becomes its text.
- `IMAGE_TAG` / `image_html`: a summary's picture, kept for the web (feeds and pages) as
  `<img src alt>` with a `safe_url` source; Telegram's reader of summary HTML (`parse_inline`)
  keeps no image (its alt text is in the summary's plain text).
- `is_html_tag`: whether `<name …>` in a digest is HTML at all. Names that are no HTML element
  (`<think>`, `Vec<T>`) are text a writer meant to show, and stay text.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_URL = 2048
_URL_START_RE = re.compile(r"https?://", re.IGNORECASE)
# Whitespace, C0/C1 controls, bidirectional controls (they make a link read as another), and
# the characters that end an attribute or confuse URL parsers.
_URL_REFUSED_RE = re.compile('[\\s\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069<>"\\\\]')

# Summary HTML: tag → the mark it gives (Telegram's names); `a` keeps only an `href` that
# `safe_url` accepts.
TAG_MARKS: dict[str, str] = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "code": "code",
    "pre": "code",
    "tt": "code",
}
LINK_TAG = "a"
LINK_ATTRIBUTE = "href"
# Tags that end a line when HTML is reduced to text, and tags whose content is never text.
BREAKING_TAGS = frozenset(
    {"br", "p", "div", "li", "ul", "ol", "tr", "table", "blockquote", "hr"}
    | {"section", "article", "h1", "h2", "h3", "h4", "h5", "h6"}
)
SKIPPED_TAGS = frozenset({"script", "style", "template", "head", "title"})

# The elements of HTML (WHATWG) and the obsolete ones still met in the wild.
HTML_ELEMENTS = frozenset(
    """a abbr address area article aside audio b base bdi bdo blockquote body br button canvas
    caption cite code col colgroup data datalist dd del details dfn dialog div dl dt em embed
    fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe
    img input ins kbd label legend li link main map mark menu meta meter nav noscript object ol
    optgroup option output p param picture pre progress q rp rt ruby s samp script search section
    select slot small source span strong style sub summary sup table tbody td template textarea
    tfoot th thead time title tr track u ul var video wbr center font big strike tt marquee
    frame frameset noframes acronym applet basefont dir nobr""".split()  # noqa: SIM905
)


def safe_url(url: str | None) -> str | None:
    """The URL (stripped) if it may be a link, else None."""
    if not url:
        return None
    url = url.strip()
    if len(url) > MAX_URL or not _URL_START_RE.match(url) or _URL_REFUSED_RE.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        return None
    if not parts.hostname or port == 0 or "@" in parts.netloc:
        return None
    return url


IMAGE_TAG = "img"


def image_html(src: str | None, alt: str) -> str | None:
    """`<img src="…" alt="…">` for a picture whose source may be a link, else None."""
    url = safe_url(src)
    if url is None:
        return None
    return f'<{IMAGE_TAG} src="{escape_attribute(url)}" alt="{escape_attribute(alt)}">'


def escape_text(text: object) -> str:
    """Text for HTML or Telegram HTML content."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(text: object) -> str:
    """Text for a double-quoted attribute value."""
    return escape_text(text).replace('"', "&quot;")


def is_html_tag(name: str) -> bool:
    """Whether a tag name, as written, names an HTML element: lower case, or all upper case
    with two letters or more (`<BR>`). `<T>`, `<A>` and `<think>` are text (type parameters,
    model output), not HTML."""
    if name.islower() or (name.isupper() and len(name) > 1):
        return name.lower() in HTML_ELEMENTS
    return False
