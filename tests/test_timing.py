"""Pause, quiet hours and schedule as pure functions (bot.dispatching.timing), and the parsers of
their commands' arguments (bot.commands.timing_arguments)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.commands.timing_arguments import (
    Quiet,
    TimingError,
    parse_duration,
    parse_quiet,
    parse_schedule,
    parse_zone,
)
from bot.dispatching.timing import (
    Disposition,
    bundle_due_at,
    clock,
    disposition,
    next_at,
    quiet_at,
    release_due,
    silent_at,
)
from bot.storing.chat_settings import ChatSettings

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, zone: ZoneInfo = SHANGHAI) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def test_durations() -> None:
    assert parse_duration("8h") == 8 * 3600
    assert parse_duration("3d") == 3 * 86400
    assert parse_duration("30M") == 1800
    assert parse_duration("") is None
    for bad in ("5x", "8", "h", "-1h", "0h", "99999d", "1.5h"):
        with pytest.raises(TimingError):
            parse_duration(bad)


def test_quiet_arguments() -> None:
    assert parse_quiet("23:00-08:00") == Quiet("23:00", "08:00", False)
    assert parse_quiet("23:00-8:00 silent") == Quiet("23:00", "08:00", True)
    assert parse_quiet("off") == Quiet(None, None)
    assert parse_quiet("22：30-07：00") == Quiet("22:30", "07:00")
    for bad in ("25:00-99", "23:00", "23:00-08:00 loud", "08:00-08:00", "", "a-b", "1-2-3"):
        with pytest.raises(TimingError):
            parse_quiet(bad)


def test_schedule_arguments() -> None:
    assert parse_schedule("instant") == ()
    assert parse_schedule("08:00") == ("08:00",)
    assert parse_schedule("20:00 8:00 08:00") == ("08:00", "20:00")
    for bad in ("8", "", "08:00 25:00", "now", " ".join(["08:00"] * 7) + " 09:00"):
        with pytest.raises(TimingError):
            parse_schedule(bad)


def test_zones() -> None:
    assert parse_zone("Europe/Berlin") == "Europe/Berlin"
    assert parse_zone("UTC") == "UTC"
    for bad in ("Mars/Base", "../../etc/passwd", "", "Europe", "x" * 80, "/etc/localtime"):
        with pytest.raises(TimingError):
            parse_zone(bad)


def test_quiet_window_across_midnight() -> None:
    quiet = ChatSettings(quiet_start="23:00", quiet_end="08:00")
    assert quiet_at(quiet, at("2026-03-01T23:30"), SHANGHAI)
    assert quiet_at(quiet, at("2026-03-02T07:59"), SHANGHAI)
    assert not quiet_at(quiet, at("2026-03-02T08:00"), SHANGHAI)
    assert not quiet_at(quiet, at("2026-03-02T22:59"), SHANGHAI)
    day = ChatSettings(quiet_start="12:00", quiet_end="14:00")
    assert quiet_at(day, at("2026-03-01T13:00"), SHANGHAI)
    assert not quiet_at(day, at("2026-03-01T23:00"), SHANGHAI)
    # the chat's own zone decides: 23:30 in Shanghai is 16:30 in Berlin
    berlin = ChatSettings(quiet_start="23:00", quiet_end="08:00", timezone="Europe/Berlin")
    assert disposition(berlin, at("2026-03-01T23:30"), SHANGHAI) is Disposition.DELIVER
    assert disposition(quiet, at("2026-03-01T23:30"), SHANGHAI) is Disposition.HOLD


def test_dispositions() -> None:
    now = at("2026-03-01T12:00")
    assert disposition(ChatSettings(), now, SHANGHAI) is Disposition.DELIVER
    assert disposition(ChatSettings(schedule=("08:00",)), now, SHANGHAI) is Disposition.HOLD
    paused = ChatSettings(paused=True, paused_since_ts=now - 10, paused_until_ts=now + 10)
    assert disposition(paused, now, SHANGHAI) is Disposition.SKIP
    assert disposition(paused, now + 10, SHANGHAI) is Disposition.DELIVER  # it expired
    forever = ChatSettings(paused=True, paused_since_ts=now)
    assert disposition(forever, now + 10**7, SHANGHAI) is Disposition.SKIP
    silent = ChatSettings(quiet_start="11:00", quiet_end="13:00", quiet_silent=True)
    assert disposition(silent, now, SHANGHAI) is Disposition.DELIVER
    assert silent_at(silent, now, SHANGHAI) and not silent_at(silent, now + 7200, SHANGHAI)
    assert silent_at(ChatSettings(silent=True), now, SHANGHAI)


def test_next_schedule_time_and_release() -> None:
    times = [clock("08:00"), clock("20:00")]
    assert next_at(times, at("2026-03-01T07:00"), SHANGHAI) == at("2026-03-01T08:00")
    assert next_at(times, at("2026-03-01T08:00"), SHANGHAI) == at("2026-03-01T20:00")
    assert next_at(times, at("2026-03-01T21:00"), SHANGHAI) == at("2026-03-02T08:00")
    daily = ChatSettings(schedule=("08:00",))
    held = at("2026-03-01T09:00")
    assert bundle_due_at(daily, held, SHANGHAI) == at("2026-03-02T08:00")
    assert not release_due(daily, held, at("2026-03-02T07:59"), SHANGHAI)
    assert release_due(daily, held, at("2026-03-02T08:00"), SHANGHAI)
    assert release_due(daily, held, at("2026-03-05T10:00"), SHANGHAI)  # the service was down
    # the current settings decide: instant releases at once, quiet hours hold until they end
    assert release_due(ChatSettings(), held, held, SHANGHAI)
    quiet = ChatSettings(quiet_start="23:00", quiet_end="08:00")
    assert not release_due(quiet, held, at("2026-03-01T23:10"), SHANGHAI)
    assert release_due(quiet, held, at("2026-03-02T08:00"), SHANGHAI)
    paused = ChatSettings(paused=True, paused_since_ts=held)
    assert not release_due(paused, held, held + 86400, SHANGHAI)


def test_daylight_saving_time() -> None:
    # Berlin skips 02:00-03:00 on 2026-03-29 and repeats 02:00-03:00 on 2026-10-25
    daily = ChatSettings(schedule=("02:30",), timezone="Europe/Berlin")
    spring = bundle_due_at(daily, at("2026-03-28T12:00", BERLIN), SHANGHAI)
    assert datetime.fromtimestamp(spring, BERLIN).isoformat() == "2026-03-29T03:30:00+02:00"
    autumn = bundle_due_at(daily, at("2026-10-24T12:00", BERLIN), SHANGHAI)
    assert datetime.fromtimestamp(autumn, BERLIN).isoformat() == "2026-10-25T02:30:00+02:00"
    # once a day: the bundle after the repeated hour's first 02:30 is the next day's
    following = bundle_due_at(daily, autumn, SHANGHAI)
    assert datetime.fromtimestamp(following, BERLIN).isoformat() == "2026-10-26T02:30:00+01:00"
    # a day of 23 or 25 hours still has one 08:00
    morning = ChatSettings(schedule=("08:00",), timezone="Europe/Berlin")
    due = bundle_due_at(morning, at("2026-03-28T09:00", BERLIN), SHANGHAI)
    assert due - at("2026-03-28T09:00", BERLIN) == 22 * 3600
