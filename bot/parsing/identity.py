"""Stable ids: of a digest (date + title) and of an item (its normalised link, else its title).

Ids are the first 16 hex digits of a SHA-256, so they survive renames, re-parses and edits of
the file: the same story in a later digest keeps its id, which is what keeps it from being
published or sent twice.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from bot.parsing.text import key_text

ID_LENGTH = 16

# Query parameters that only say where a click came from.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
        "li_fat_id", "mc_cid", "mc_eid", "igshid", "igsh", "si", "ref", "ref_src", "ref_url",
        "referrer", "spm", "scm", "_hsenc", "_hsmi", "mkt_tok", "share_source", "share_medium",
        "share_from", "sharer_shareinfo", "sharer_shareinfo_first", "vd_source", "wt_mc",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
_X_HOSTS = frozenset(
    {"x.com", "twitter.com", "mobile.twitter.com", "m.twitter.com", "mobile.x.com", "m.x.com"}
)
_X_TRACKING = frozenset({"s", "t"})
# Browsers read these as the dot between the labels of a host name.
_IDEOGRAPHIC_DOTS_RE = re.compile("[\u3002\uff0e\uff61]")
# `/<user>/status/<id>/photo/1`, `/i/web/status/<id>`: one post, however it is addressed.
_X_STATUS_RE = re.compile(r"/(?:[^/]+|i/web)/status(?:es)?/(\d+)(?:/.*)?", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/:@!$'()*,;-._~"


def short_hash(key: str) -> str:
    """First 16 hex digits of the SHA-256 of `key`."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:ID_LENGTH]


def digest_id(date: datetime, title: str) -> str:
    """A digest's id, from its date and its title (not its file name or content)."""
    return short_hash(f"{date.isoformat()}\x1f{key_text(title)}")


def normalise_link(url: str) -> str:
    """The form of a link used for identity (not for display).

    Scheme and host lower-cased, an international host in its `xn--` form, `www.` dropped,
    twitter.com = x.com (and a post's URL reduced to its number, without any query), default
    port, tracking parameters and fragment dropped, query parameters
    sorted, percent-escapes made canonical, trailing slash removed.  Anything that is not an
    absolute URL comes back stripped but otherwise unchanged.
    """
    raw = url.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return raw
    scheme = parts.scheme.lower()
    host = _ascii_host(parts.hostname or "").rstrip(".")
    if not scheme or not host:
        return raw
    while host.startswith("www."):
        host = host[4:]
    is_x = host in _X_HOSTS
    if is_x:
        host = "x.com"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    if is_x and (status := _X_STATUS_RE.fullmatch(parts.path)):
        # A post is its number; `?lang=en`, `?s=20`, `?t=…` only say how it was shared.
        return urlunsplit((scheme, host, f"/i/status/{status[1]}", "", ""))
    return urlunsplit((scheme, host, _path(parts.path), _query(parts.query, is_x), ""))


def _ascii_host(host: str) -> str:
    """The host with each non-ASCII label in its punycode `xn--` form (NFC, lower-cased).

    `例子.com` and `xn--fsqu00a.com` are one site.  Labels are converted one by one with plain
    punycode rather than Python's IDNA 2003 codec, which would make `straße` `strasse`, a
    different domain.  A label that is not valid punycode is kept as it is.
    """
    if host.isascii() and "xn--" not in host:
        return host
    labels = []
    for label in _IDEOGRAPHIC_DOTS_RE.sub(".", host).split("."):
        text = label
        if label.startswith("xn--"):
            try:
                text = label[4:].encode("ascii").decode("punycode")
            except ValueError:  # UnicodeError: not valid punycode
                text = label
        text = unicodedata.normalize("NFC", text.lower())
        labels.append(text if text.isascii() else "xn--" + text.encode("punycode").decode("ascii"))
    return ".".join(labels)


def _path(path: str) -> str:
    path = _PERCENT_RE.sub(_canonical_escape, quote(path, safe=_PATH_SAFE, errors="surrogatepass"))
    return path.rstrip("/") or "/"


def _canonical_escape(m: re.Match[str]) -> str:
    char = chr(int(m[1], 16))
    return char if char in _UNRESERVED else f"%{m[1].upper()}"


def _query(query: str, is_x: bool) -> str:
    pairs = [
        (name, value)
        for name, value in parse_qsl(query, keep_blank_values=True)
        if not _is_tracking(name, is_x)
    ]
    return urlencode(sorted(pairs), safe=_QUERY_SAFE, errors="surrogatepass", quote_via=quote)


def _is_tracking(name: str, is_x: bool) -> bool:
    lowered = name.lower()
    return (
        lowered in _TRACKING_PARAMS
        or lowered.startswith(_TRACKING_PREFIXES)
        or (is_x and lowered in _X_TRACKING)
    )


def item_key(
    url: str | None, title: str, *, digest_id: str, shared_link: bool = False, occurrence: int = 0
) -> str:
    """What an item's id hashes.

    The normalised link; with the title joined when the link stands for several different items
    of one digest (`shared_link`); digest id + title for an item without a link.  `occurrence`
    tells apart exact repeats inside one digest (the second gets `#1`, and so on).
    """
    return _key(normalise_link(url) if url else "", title, digest_id, shared_link, occurrence)


def _key(link: str, title: str, digest_id: str, shared_link: bool, occurrence: int) -> str:
    if link:
        key = f"{link}\x1f{key_text(title)}" if shared_link else link
    else:
        key = f"{digest_id}\x1f{key_text(title)}"
    return f"{key}\x1f#{occurrence}" if occurrence else key


def item_id(
    url: str | None, title: str, *, digest_id: str, shared_link: bool = False, occurrence: int = 0
) -> str:
    """An item's stable id: `short_hash(item_key(...))`."""
    return short_hash(
        item_key(url, title, digest_id=digest_id, shared_link=shared_link, occurrence=occurrence)
    )


def assign_item_ids(digest_id: str, items: Sequence[tuple[str | None, str]]) -> list[str]:
    """Ids for the (url, title) items of one digest, in order, each different from the others."""
    links = [normalise_link(url) if url else "" for url, _ in items]
    titles_by_link: dict[str, set[str]] = defaultdict(set)
    for link, (_, title) in zip(links, items, strict=True):
        if link:
            titles_by_link[link].add(key_text(title))
    seen: Counter[str] = Counter()
    ids = []
    for link, (_, title) in zip(links, items, strict=True):
        shared = bool(link) and len(titles_by_link[link]) > 1
        key = _key(link, title, digest_id, shared, 0)
        ids.append(short_hash(_key(link, title, digest_id, shared, seen[key])))
        seen[key] += 1
    return ids
