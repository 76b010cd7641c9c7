"""Odd input at the parsing stage: dates outside the sane window, very high item numbers, files
that are no regular file (real FIFOs, device symlinks, sparse files), digests cut off mid-write."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.model import DigestError
from bot.parsing import inside_folder, parse_bytes, parse_file, read_digest_file
from bot.parsing.cutoff import cut_off_reason

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 11, 27, 12, tzinfo=UTC)
SAMPLE = Path(__file__).parent / "data" / "digests" / "sample" / "2025.11.27.12.md"


def digest(date: str, body: str = "1. [t](https://e.com/1) - a\n   A summary.\n") -> bytes:
    return f'---\ntitle: "T"\ndate: {date}\n---\n\n{body}'.encode()


@pytest.mark.parametrize(
    ("date", "why"),
    [
        ("9999-12-31T23:59:59-12:00", "more than a year ahead"),
        ("0001-01-01T00:00:00+14:00", "before 1970"),
        ("1969-12-31T23:59:59Z", "before 1970"),
        ("2026-12-28T00:00:00+08:00", "more than a year ahead"),
    ],
)
def test_date_outside_the_window_is_an_error_on_its_line(date: str, why: str) -> None:
    with pytest.raises(DigestError, match=why) as caught:
        parse_bytes(digest(date), "odd.md", zone=SHANGHAI, now=NOW)
    assert caught.value.line == 3  # the `date:` line
    assert str(caught.value).startswith("odd.md:3: ")


def test_dates_at_the_edges_of_the_window_are_read() -> None:
    for date in ("1970-01-01T00:00:00Z", "2026-11-27T12:00:00Z"):
        assert parse_bytes(digest(date), "ok.md", zone=SHANGHAI, now=NOW).date is not None


def test_date_from_the_file_name_is_held_to_the_window_too() -> None:
    data = b"---\ntitle: T\n---\n\n1. [t](https://e.com/1) - a\n   s.\n"
    with pytest.raises(DigestError, match="more than a year ahead") as caught:
        parse_bytes(data, "9999.12.31.23.md", zone=SHANGHAI, now=NOW)
    assert caught.value.line == 1


def test_check_reports_the_odd_date_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "odd.md").write_bytes(digest("9999-12-31T23:59:59-12:00"))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "DIGESTBOT_TELEGRAM__TOKEN": ""},
        timeout=60,
    )
    assert result.returncode != 0
    assert "odd.md:3:" in result.stdout + result.stderr


def test_items_numbered_ten_thousand_and_more_are_items() -> None:
    body = "".join(
        f"{n}. [item {n}](https://e.com/{n}) - a\n   Summary {n}.\n" for n in (9999, 10000, 123456)
    )
    items = parse_bytes(digest("2025-11-27T12:00:00Z", body), "d.md", zone=SHANGHAI, now=NOW).items
    assert [item.position for item in items] == [9999, 10000, 123456]
    assert [item.summary_text for item in items] == [f"Summary {n}." for n in (9999, 10000, 123456)]


# Files that are no regular file ----------------------------------------------------------------


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "x.md"
    os.mkfifo(fifo)
    # A blocking open() would never return (no writer ever comes): getting here is the test.
    with pytest.raises(DigestError, match=r"not a regular file \(a FIFO\)"):
        read_digest_file(fifo)
    with pytest.raises(DigestError, match="a FIFO"):
        parse_file(fifo, zone=SHANGHAI)


def test_symlink_to_dev_zero_is_refused_unread(tmp_path: Path) -> None:
    link = tmp_path / "zero.md"
    link.symlink_to("/dev/zero")
    with pytest.raises(DigestError, match=r"not a regular file \(a character device\)"):
        read_digest_file(link)


def test_sparse_6_gb_file_is_refused_by_its_size_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.md"
    subprocess.run(["truncate", "-s", "6G", str(huge)], check=True)
    with pytest.raises(DigestError, match=r"file too large: 6144\.0 MB, more than the 10 MB limit"):
        read_digest_file(huge)
    with pytest.raises(DigestError, match="file too large"):
        parse_file(huge, zone=SHANGHAI)


def test_read_stops_at_the_cap_when_the_file_is_bigger_than_it_said(tmp_path: Path) -> None:
    path = tmp_path / "d.md"
    path.write_bytes(b"x" * 2000)
    assert read_digest_file(path, limit=2000) == b"x" * 2000
    with pytest.raises(DigestError, match="file too large"):
        read_digest_file(path, limit=1999)


def test_symlinks_leading_outside_the_folder_are_not_inside(tmp_path: Path) -> None:
    folder, outside = tmp_path / "digests", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (outside / "secret.md").write_text("x")
    (folder / "real.md").write_text("x")
    (folder / "out.md").symlink_to(outside / "secret.md")
    (folder / "in.md").symlink_to(folder / "real.md")
    (folder / "loop.md").symlink_to(folder / "loop.md")
    (folder / "sub").symlink_to(outside, target_is_directory=True)
    assert inside_folder(folder / "real.md", folder)
    assert inside_folder(folder / "in.md", folder)
    assert not inside_folder(folder / "out.md", folder)
    assert not inside_folder(folder / "sub" / "secret.md", folder)
    assert not inside_folder(folder / "loop.md", folder)


# Cut off mid-write -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("---\ntitle: T\n---\n1. [t](https://e.com) - a\n", "no summary"),
        ("---\n---\n1. [t](https://e.com) - a\n   It has **bold", "unclosed `**`"),
        ("---\n---\n1. [t](https://e.com) - a\n   See [the pa", "link left open"),
        ("---\n---\n1. [t](https://e.com) - a\n   See [x](https://e.c", "link left open"),
        ("---\n---\n1. [t](https://e.com) - a\n   The company said", "mid-sentence"),
        ("---\n---\n1. [t](https://e.com) - a\n   公司宣布，", "mid-sentence"),
        ("---\n---\n1. [t](https://e.com) - a\n   s.\n2. [u](https://e", "no summary"),
    ],
)
def test_text_that_looks_cut_off(text: str, why: str) -> None:
    reason = cut_off_reason(text)
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    "ending",
    [
        "It shipped.",
        "它发布了。",
        "Really?!",
        "(see **this**)",
        "分类: AI工具",
        "More at https://e.com/x",
        "🚀",
    ],
)
def test_text_that_looks_finished(ending: str) -> None:
    assert cut_off_reason(f"---\n---\n1. [t](https://e.com) - a\n   {ending}\n\n") is None


def test_sample_digest_looks_finished_and_every_cut_of_it_does_not() -> None:
    data = SAMPLE.read_bytes()
    assert cut_off_reason(data.decode()) is None
    size = len(data) // 10 + 1
    for end in range(size, len(data), size):
        assert cut_off_reason(data[:end].decode("utf-8", "ignore")) is not None, end
