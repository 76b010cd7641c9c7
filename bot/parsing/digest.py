"""Turn a digest file's bytes into a `Digest`, or a `DigestError` naming the line and the reason."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.model import Digest, DigestError, Item
from bot.parsing.dates import date_from_filename, outside_window
from bot.parsing.failure import ParseFailure
from bot.parsing.file import MAX_BYTES, read_digest_file, too_big
from bot.parsing.frontmatter import read_front_matter
from bot.parsing.identity import assign_item_ids, digest_id
from bot.parsing.items import (
    ItemDraft,
    dedent,
    heading_text,
    is_heading,
    parse_item_line,
    scan_items,
)
from bot.parsing.summary import render
from bot.parsing.tags import hashtags, split_tag_line, unique
from bot.parsing.text import strip_zero_width, structural

# Summaries become messages of at most 4096 characters (SPEC §3); a 100 000-character one is a
# broken file, and refusing it bounds the time any single summary takes to render.
MAX_SUMMARY_CHARS = 100_000
# Realistic digests parse at about 5 MB/s, so 10 MB take 2 s; Markdown built to be slow (runs of
# `[` or `*`) is 50 times slower.  Past this many seconds the digest is refused, not waited on.
TIME_LIMIT_SECONDS = 20.0
_BOM = b"\xef\xbb\xbf"
_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
# Control characters other than tab and line breaks are never text, and XML feeds cannot hold them.
_CONTROL_RE = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def parse_file(path: Path, *, zone: ZoneInfo, now: datetime | None = None) -> Digest:
    """Read (a regular file, at most `MAX_BYTES`) and parse the digest at `path`."""
    return parse_bytes(read_digest_file(path), path, zone=zone, now=now)


def parse_bytes(
    data: bytes, source: Path | str, *, zone: ZoneInfo, now: datetime | None = None
) -> Digest:
    """Parse a digest's bytes; `source` names it in the result and in errors; `now` (default:
    the clock) bounds the digest's date (see `dates.outside_window`)."""
    try:
        return _parse(data, Path(source), zone, now or datetime.now(UTC))
    except ParseFailure as failure:
        raise DigestError(source, failure.line, failure.reason) from None
    except RecursionError:
        raise DigestError(source, 1, "the digest is nested too deeply to read") from None
    except Exception as exc:  # the promise to callers: a DigestError and nothing else
        raise DigestError(
            source, 1, f"unexpected parser error: {type(exc).__name__}: {exc}"
        ) from exc


def _parse(data: bytes, source: Path, zone: ZoneInfo, now: datetime) -> Digest:
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    if len(data) > MAX_BYTES:
        raise ParseFailure(1, too_big(len(data)))
    lines = _decode(data).split("\n")
    front = read_front_matter(lines, zone)
    body = lines[front.body_index :]
    first_body_line = front.body_index + 1
    drafts = scan_items(body, first_body_line)
    if not drafts:
        raise ParseFailure(
            min(first_body_line, len(lines)),
            "no numbered items (expected lines like '1. [title](https://…) - author')",
        )
    title = front.title or _first_heading(body)
    if not title:
        raise ParseFailure(
            front.open_line,
            "no title: the front matter has no `title` and no heading precedes the items",
        )
    date = front.date or date_from_filename(source, zone)
    if date is None:
        raise ParseFailure(
            front.open_line,
            f"no date: the front matter has no `date` and the file name {source.name!r} holds none",
        )
    problem = outside_window(date, now)
    if problem is not None:
        raise ParseFailure(front.date_line if front.date else front.open_line, problem)
    did = digest_id(date, title)
    ids = assign_item_ids(did, [(draft.url, draft.title) for draft in drafts])
    items = tuple(
        _item(draft, item_id, deadline) for draft, item_id in zip(drafts, ids, strict=True)
    )
    return Digest(
        id=did,
        title=title,
        date=date,
        categories=front.categories,
        items=items,
        source=source,
        content_hash=hashlib.sha256(data).hexdigest(),
    )


def _decode(data: bytes) -> str:
    """The text of the file with line breaks made `\\n`; binary content is an error."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ParseFailure(1, "the file is UTF-16; digests must be UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ParseFailure(_line_of(data, nul), "binary file: it holds NUL bytes")
    bom = data.startswith(_BOM)
    if bom:
        data = data[len(_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end == len(data) and exc.reason == "unexpected end of data":
            reason = "the file ends inside a UTF-8 character; is it still being written?"
        else:
            reason = f"not UTF-8 text: invalid byte at offset {exc.start + len(_BOM) * bom}"
        raise ParseFailure(_line_of(data, exc.start), reason) from None
    return _CONTROL_RE.sub("", strip_zero_width(_LINE_BREAK_RE.sub("\n", text)))


def _line_of(data: bytes, offset: int) -> int:
    head = data[:offset]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def _first_heading(body: list[str]) -> str | None:
    """The text of the first Markdown heading before the first item (the fallback title)."""
    for line in body:
        flat = structural(line)
        if parse_item_line(line, flat, 0) is not None:
            return None
        stripped = flat.strip()
        if is_heading(stripped) and len(flat) - len(flat.lstrip(" ")) <= 3:
            return heading_text(line.strip()) or None
    return None


def _item(draft: ItemDraft, item_id: str, deadline: float) -> Item:
    if time.monotonic() > deadline:
        raise ParseFailure(
            draft.line,
            f"gave up after {TIME_LIMIT_SECONDS:.0f} s at item {draft.position}: "
            "the Markdown is too complex",
        )
    lines, written_tags = split_tag_line(draft.summary)
    summary_md = "\n".join(dedent(lines)).strip("\n")
    if len(summary_md) > MAX_SUMMARY_CHARS:
        raise ParseFailure(
            draft.line,
            f"the summary of item {draft.position} is too long: {len(summary_md)} characters, "
            f"at most {MAX_SUMMARY_CHARS}",
        )
    summary_html, summary_text = render(summary_md)
    return Item(
        id=item_id,
        position=draft.position,
        title=draft.title,
        url=draft.url,
        author=draft.author,
        summary_md=summary_md,
        summary_html=summary_html,
        summary_text=summary_text,
        line=draft.line,
        tags=unique(written_tags + hashtags(summary_text)),
    )
