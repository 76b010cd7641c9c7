"""Turn a front-matter `date` (a string or what YAML made of it) or a file name into a datetime."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import PurePath
from zoneinfo import ZoneInfo

# `2025-11-27T12:00:10.236+08:00`, `2025-08-01 08:00:00 +0800`, `...Z`, `2025-11-27`; the
# date may also use `/` or `.` since writers copy it from file names.
_DATE_RE = re.compile(
    r"""
    (?P<y>\d{4})[-/.](?P<mo>\d{1,2})[-/.](?P<d>\d{1,2})
    (?:
        (?:[Tt]|[ ]+)
        (?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?
    )?
    [ ]*
    (?P<tz>[Zz]|(?:UTC|GMT)?[+-]\d{1,2}(?::?\d{2})?|UTC|GMT)?
    """,
    re.VERBOSE | re.ASCII,
)
_TZ_RE = re.compile(r"(?:UTC|GMT)?(?P<sign>[+-])(?P<h>\d{1,2}):?(?P<m>\d{2})?", re.ASCII)
# `2025-11-27-12.md`, `2025.11.27.12.md`, `2025_11_27_12.md`; the hour is optional.
_NAME_RE = re.compile(
    r"(?<!\d)(?P<y>\d{4})[-._](?P<mo>\d{1,2})[-._](?P<d>\d{1,2})(?:[-._T ](?P<h>\d{1,2}))?(?!\d)",
    re.ASCII,
)


def to_datetime(value: object, zone: ZoneInfo) -> datetime:
    """An aware datetime from what YAML gave for `date`; raises ValueError with the reason."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=zone)
    if isinstance(value, str):
        return parse_date_string(value, zone)
    raise ValueError(f"date must be an ISO 8601 date or time, not {type(value).__name__}")


def parse_date_string(text: str, zone: ZoneInfo) -> datetime:
    """Parse the date formats of SPEC §2; a value without an offset is read in `zone`."""
    m = _DATE_RE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"date {text.strip()[:60]!r} is not an ISO 8601 date or time")
    frac = (m["frac"] or "").ljust(6, "0")[:6]
    try:
        naive = datetime(
            int(m["y"]), int(m["mo"]), int(m["d"]),
            int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0), int(frac or 0),
        )  # fmt: skip
    except ValueError as exc:
        raise ValueError(f"date {text.strip()!r} is out of range: {exc}") from None
    tz = m["tz"]
    if not tz:
        return naive.replace(tzinfo=zone)
    return naive.replace(tzinfo=_offset(tz, text))


def _offset(tz: str, text: str) -> timezone:
    if tz.upper() in ("Z", "UTC", "GMT"):
        return UTC
    m = _TZ_RE.fullmatch(tz.upper())
    if m is None:  # pragma: no cover - _DATE_RE only lets offsets of this shape through
        raise ValueError(f"date {text!r} has an unreadable offset")
    hours, minutes = int(m["h"]), int(m["m"] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"date {text.strip()!r} has an impossible offset {tz!r}")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if m["sign"] == "-" else delta)


# Digests are news of the day: a date before the Unix epoch or more than a year ahead is a typo
# (or a hostile file), and dates near the ends of Python's range cannot even be converted to UTC.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=366)


def outside_window(when: datetime, now: datetime) -> str | None:
    """Why `when` is no date a digest can have, or None if it lies in the sane window:
    from 1970-01-01 UTC up to a year (366 days) after `now`."""
    # Aware comparisons never overflow, unlike `astimezone(UTC)` on year 1 or 9999.
    if when < EARLIEST:
        return f"date {when.isoformat()} is before 1970-01-01: a digest cannot be that old"
    if when > now + MAX_AHEAD:
        return f"date {when.isoformat()} is more than a year ahead of now ({now:%Y-%m-%d})"
    return None


def date_from_filename(path: str | PurePath, zone: ZoneInfo) -> datetime | None:
    """The date a digest's file name carries (year, month, day, hour), or None."""
    m = _NAME_RE.search(PurePath(path).name)
    if m is None:
        return None
    try:
        return datetime(int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"] or 0), tzinfo=zone)
    except ValueError:
        return None
