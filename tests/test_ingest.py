"""Ingest: each digest file is parsed once per content; renames, touches and broken files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.categorising.table import load_table
from bot.ingest import Ingester, digest_files, is_digest_name
from bot.storing.archive import Archive
from bot.storing.database import open_database

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"


@pytest.fixture
def ingester(tmp_path: Path) -> Ingester:
    archive = Archive(open_database(f"sqlite:///{tmp_path}/db.sqlite"))
    return Ingester(archive, load_table(ROOT / "config" / "categories.toml"), ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("2025.11.27.12.md", True),
        ("digest.markdown", True),
        (".2025.11.27.12.md", False),
        ("2025.11.27.12.md~", False),
        ("2025.11.27.12.md.tmp", False),
        ("2025.11.27.12.md.part", False),
        (".2025.11.27.12.md.swp", False),
        ("#2025.11.27.12.md#", False),
        ("notes.txt", False),
    ],
)
def test_only_digest_names_are_taken(name: str, taken: bool) -> None:
    assert is_digest_name(Path(name)) is taken


def test_first_ingest_stores_then_unchanged_and_touch_change_nothing(
    ingester: Ingester, tmp_path: Path
) -> None:
    folder = tmp_path / "seeds"
    folder.mkdir()
    path = folder / SAMPLE.name
    shutil.copy(SAMPLE, path)
    first = ingester.ingest(path)
    assert first.status == "stored" and first.ingested and first.ingested.new_digest
    assert len(first.ingested.new_items) == 11
    assert ingester.ingest(path).status == "unchanged"
    os.utime(path)  # touched: new mtime, same bytes
    assert ingester.changed_files([path]) == [path]
    assert ingester.ingest(path).status == "unchanged"
    assert ingester.changed_files([path]) == []


def test_renamed_digest_adds_nothing(ingester: Ingester, tmp_path: Path) -> None:
    path = tmp_path / SAMPLE.name
    shutil.copy(SAMPLE, path)
    ingester.ingest(path)
    renamed = path.rename(tmp_path / "renamed-2025.11.27.12.md")
    outcome = ingester.ingest(renamed)
    assert outcome.ingested is not None and not outcome.ingested.changed


def test_edited_digest_reports_only_what_changed(ingester: Ingester, tmp_path: Path) -> None:
    path = tmp_path / SAMPLE.name
    text = SAMPLE.read_text("utf-8")
    path.write_text(text, "utf-8")
    ingester.ingest(path)
    extra = (
        "\n12. [新条目](https://example.com/new-story) - 作者\n    一个新的 **AI 工具** 发布。\n"
    )
    edited = text.replace("4000 万美元融资**", "4000 万美元（约 2.9 亿元）融资**") + extra
    path.write_text(edited, "utf-8")
    outcome = ingester.ingest(path)
    assert outcome.ingested is not None and not outcome.ingested.new_digest
    assert len(outcome.ingested.new_items) == 1
    assert len(outcome.ingested.edited_items) == 1


def test_broken_digest_is_reported_once_and_retried_when_it_changes(
    ingester: Ingester, tmp_path: Path
) -> None:
    path = tmp_path / "2025.11.27.12.md"
    path.write_text("---\ntitle: [broken\n---\n", "utf-8")
    broken = ingester.ingest(path)
    assert broken.status == "error" and broken.error is not None
    assert str(broken.error).startswith(f"{path}:")
    assert ingester.ingest(path).status == "unchanged"  # not re-reported on every scan
    shutil.copy(SAMPLE, path)
    assert ingester.ingest(path).status == "stored"


def test_digest_files_skip_hidden_folders_and_temporaries(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.md").write_text("x")
    (tmp_path / "2025").mkdir()
    for name in ("2025/b.md", "a.md", "a.md.tmp", ".c.md"):
        (tmp_path / name).write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in digest_files(tmp_path)] == [
        "a.md",
        "2025/b.md",
    ]


def test_edited_title_replaces_the_digest_instead_of_adding_one(
    ingester: Ingester, tmp_path: Path
) -> None:
    path = tmp_path / SAMPLE.name
    text = SAMPLE.read_text("utf-8") + "\n12. 没有链接的条目 - 作者\n    摘要。\n"
    path.write_text(text, "utf-8")
    first = ingester.ingest(path)
    path.write_text(text.replace("过去4小时全球AI发生了什么？", "过去 4 小时 AI 要闻"), "utf-8")
    second = ingester.ingest(path)
    assert first.digest and second.digest and first.digest.id != second.digest.id
    archive = ingester.archive
    assert archive.counts() == (1, 12)  # one digest; the linkless item is not kept twice
    assert archive.latest_digest_id() == second.digest.id
    assert len(archive.recent(100)) == 12


def test_a_digest_has_its_page_slug_once_stored_and_keeps_it(
    ingester: Ingester, tmp_path: Path
) -> None:
    """The slug is given at ingest (before planning: messages link to the page) and kept; an
    edited title (a new digest id) keeps the page's address."""
    path = tmp_path / SAMPLE.name
    path.write_text(SAMPLE.read_text("utf-8"), "utf-8")
    first = ingester.ingest(path)
    assert first.digest
    archive = ingester.archive
    row = archive.digest_row(first.digest.id)
    assert row is not None and row.slug == "2025-11-27-0400"  # its time in the zone (UTC)
    edited = SAMPLE.read_text("utf-8").replace("过去4小时全球AI发生了什么？", "过去 4 小时要闻")
    path.write_text(edited, "utf-8")
    second = ingester.ingest(path)
    assert second.digest and second.digest.id != first.digest.id
    row = archive.digest_row(second.digest.id)
    assert row is not None and row.slug == "2025-11-27-0400"
    # another digest at the same minute (another file) gets its id's start after the date
    twin = tmp_path / "twin.md"
    twin.write_text(edited.replace("过去 4 小时要闻", "另一期"), "utf-8")
    third = ingester.ingest(twin)
    assert third.digest
    row = archive.digest_row(third.digest.id)
    assert row is not None and row.slug == f"2025-11-27-0400-{third.digest.id[:8]}"
    # stored again unchanged or edited: the slug stays
    twin.write_text(edited.replace("过去 4 小时要闻", "另一期") + "\n", "utf-8")
    ingester.ingest(twin)
    assert archive.digest_row(third.digest.id).slug == row.slug  # type: ignore[union-attr]
