"""The arguments of /pause, /quiet, /schedule and /timezone: pure parsers that either return
the setting or raise `TimingError` (the reply then says what is accepted, and nothing changes)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

MAX_PAUSE_SECONDS = 365 * 86400
MAX_SCHEDULE_TIMES = 6
_DURATION = re.compile(r"^(\d{1,4})([mhd])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
_CLOCK = re.compile(r"^([01]?\d|2[0-3])[:：]([0-5]\d)$")  # the full-width colon of a Chinese IME
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")


class TimingError(ValueError):
    """An argument that is not accepted; `kind` names the command whose usage to show."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Quiet:
    start: str | None  # None: quiet hours off
    end: str | None
    silent: bool = False


def parse_duration(raw: str) -> float | None:
    """`8h`, `3d`, `30m` as seconds; "" is None (until /resume)."""
    text = raw.strip().lower()
    if not text:
        return None
    match = _DURATION.match(text)
    if match is None:
        raise TimingError("pause")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not 0 < seconds <= MAX_PAUSE_SECONDS:
        raise TimingError("pause")
    return float(seconds)


def parse_clock(raw: str, kind: str) -> str:
    """ "8:05" or "08:05" as "08:05"."""
    match = _CLOCK.match(raw.strip())
    if match is None:
        raise TimingError(kind)
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def parse_quiet(raw: str) -> Quiet:
    """`23:00-08:00 [silent]` or `off`."""
    words = raw.split()
    if words == ["off"]:
        return Quiet(None, None)
    if len(words) not in (1, 2) or (len(words) == 2 and words[1].lower() != "silent"):
        raise TimingError("quiet")
    window = re.split(r"[-–—~]", words[0])
    if len(window) != 2:
        raise TimingError("quiet")
    start, end = (parse_clock(part, "quiet") for part in window)
    if start == end:
        raise TimingError("quiet")
    return Quiet(start, end, silent=len(words) == 2)


def parse_schedule(raw: str) -> tuple[str, ...]:
    """`instant` (()), or one to six local times `08:00 20:00` (sorted, without repeats)."""
    words = raw.replace(",", " ").split()
    if words == ["instant"]:
        return ()
    if not 1 <= len(words) <= MAX_SCHEDULE_TIMES:
        raise TimingError("schedule")
    return tuple(sorted({parse_clock(word, "schedule") for word in words}))


def parse_zone(raw: str) -> str:
    """An IANA zone name as zoneinfo knows it (`Europe/Berlin`, `UTC`)."""
    name = raw.strip()
    if not _ZONE.match(name) or len(name) > 64:  # no paths, nothing zoneinfo would open blindly
        raise TimingError("timezone")
    if name not in known_zones():  # a folder name ("Europe") is not a zone
        raise TimingError("timezone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise TimingError("timezone") from None
    return name


@functools.cache
def known_zones() -> frozenset[str]:
    return frozenset(available_timezones())
