"""When a chat gets what it selected (#13): pause, quiet hours and schedule as pure functions.

`disposition` is the planner's decision for one recipient at one moment (deliver now, hold for a
later bundle, or skip because the chat is paused); `release_due` says whether a chat's held items
are due as one bundle now. Times of day are the chat's local "HH:MM" in its IANA zone; "now" is
always passed in (Unix seconds), so nothing here reads a clock.

Local times are turned into instants with `zoneinfo`: a time that does not exist on a day (the
hour skipped when clocks go forward) falls after the gap, a time that exists twice (clocks go
back) is its first occurrence, so a bundle is due once a day either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from bot.storing.chat_settings import ChatSettings


class Disposition(Enum):
    DELIVER = "deliver"  # plan the message now
    HOLD = "hold"  # keep the items for the chat's next bundle (schedule, or quiet hours)
    SKIP = "skip"  # paused: nothing now, nothing later (`/resume` offers a catch-up)


def clock(text: str) -> time:
    """ "HH:MM" (as stored; checked when it was set) as a time of day."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def zone_of(settings: ChatSettings, default: ZoneInfo) -> ZoneInfo:
    return ZoneInfo(settings.timezone) if settings.timezone else default


def local_instant(day: date, at: time, zone: ZoneInfo) -> float:
    """The Unix time of local `at` on `day` in `zone` (see the module docstring on DST)."""
    # fold=0 (PEP 495): a skipped wall time is read with the offset before the gap, which is
    # the instant just after it; a repeated one is its first occurrence.
    aware = datetime.combine(day, at).replace(tzinfo=zone)
    return aware.timestamp()


def in_window(start: time, end: time, at: time) -> bool:
    """Whether the local time `at` is within [start, end), a window that may cross midnight."""
    if start < end:
        return start <= at < end
    return at >= start or at < end


def next_at(times: Sequence[time], after: float, zone: ZoneInfo) -> float:
    """The first instant strictly after `after` whose local time in `zone` is one of `times`."""
    today = datetime.fromtimestamp(after, zone).date()
    for offset in range(0, 3):  # tomorrow at the latest; a third day covers DST edge cases
        day = today + timedelta(days=offset)
        found = sorted(t for t in (local_instant(day, at, zone) for at in times) if t > after)
        if found:
            return found[0]
    raise ValueError("no time of day given")


def quiet_at(settings: ChatSettings, now: float, zone: ZoneInfo) -> bool:
    """Whether `now` is within the chat's quiet hours."""
    if not settings.quiet_start or not settings.quiet_end:
        return False
    local = datetime.fromtimestamp(now, zone).time()
    return in_window(clock(settings.quiet_start), clock(settings.quiet_end), local)


def quiet_end_after(settings: ChatSettings, now: float, zone: ZoneInfo) -> float:
    """When the quiet hours that hold at `now` end."""
    assert settings.quiet_end is not None
    return next_at([clock(settings.quiet_end)], now, zone)


def holds_for_quiet(settings: ChatSettings, now: float, zone: ZoneInfo) -> bool:
    """Quiet hours that hold deliveries back (silent quiet hours deliver, without sound)."""
    return not settings.quiet_silent and quiet_at(settings, now, zone)


def silent_at(settings: ChatSettings, now: float, zone: ZoneInfo) -> bool:
    """Whether a message sent at `now` goes without sound."""
    return settings.silent or (settings.quiet_silent and quiet_at(settings, now, zone))


def disposition(settings: ChatSettings, now: float, default_zone: ZoneInfo) -> Disposition:
    """What planning does with a recipient's new items at `now`; a function of one recipient,
    so that planning in batches calls it per chat."""
    if settings.paused_at(now):
        return Disposition.SKIP
    if settings.schedule:
        return Disposition.HOLD
    if holds_for_quiet(settings, now, zone_of(settings, default_zone)):
        return Disposition.HOLD
    return Disposition.DELIVER


def bundle_due_at(settings: ChatSettings, held_since: float, default_zone: ZoneInfo) -> float:
    """When items held since `held_since` are due by the schedule alone (instant: at once)."""
    if not settings.schedule:
        return held_since
    zone = zone_of(settings, default_zone)
    return next_at([clock(t) for t in settings.schedule], held_since, zone)


def release_due(
    settings: ChatSettings, held_since: float, now: float, default_zone: ZoneInfo
) -> bool:
    """Whether a chat's items held since `held_since` go out as one bundle at `now`: its bundle
    time came (at once for an instant chat), it is not paused and not in holding quiet hours.
    The current settings decide, so `/schedule instant` or `/quiet off` release at the next
    check, and a bundle time that passed while the service was down is due at start."""
    if settings.paused_at(now):
        return False
    if holds_for_quiet(settings, now, zone_of(settings, default_zone)):
        return False
    return now >= bundle_due_at(settings, held_since, default_zone)
