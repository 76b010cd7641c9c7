"""Corrections: /recategorise through the fake Bot API, stored, applied to the archive, the
feeds and later ingests, and exported as labelled items."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import ROOT, SAMPLE
from fakebot import FakeTelegram, SentMessage
from test_commands import ADMIN, Bot, make_settings, started, stopped, store_digest

from bot.categorising.corrected import export_lines, with_corrections
from bot.categorising.table import load_table
from bot.ingest import Ingester
from bot.storing.archive import Archive
from bot.storing.corrections import Corrections
from bot.storing.database import open_database


@pytest.fixture
async def bot(telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    telegram.limits = None
    monkeypatch.setenv("DIGESTBOT_FEEDS_DIR", str(tmp_path / "feeds"))
    running = await started(make_settings(telegram, tmp_path / "bot.db", monkeypatch), telegram)
    try:
        yield running
    finally:
        await stopped(running)


def categories_of(bot: Bot, item_id: str) -> tuple[str, ...]:
    entry = next(e for e in Archive(bot.engine).digest_entries("digest-12") if e.item.id == item_id)
    return entry.item.categories


async def test_an_admin_recategorises_an_item_of_latest_and_the_feeds_follow(bot: Bot) -> None:
    store_digest(bot.engine, count=4, hour=12)
    assert categories_of(bot, "item-12-3") == ("AI工具",)

    reply = await bot.ask(ADMIN, "/recategorise 3 硬件设施 AI伦理")
    assert "Story 3 of digest 12" in reply.plain and "硬件设施" in reply.plain
    assert categories_of(bot, "item-12-3") == ("硬件设施", "AI伦理")
    # The feeds were rendered again: the hardware feed now carries the story.
    hardware = (bot.settings.feeds_dir / "c" / "hardware" / "feed.json").read_text("utf-8")
    assert "Story 3 of digest 12" in hardware
    tools = (bot.settings.feeds_dir / "c" / "ai-tools" / "feed.json").read_text("utf-8")
    assert "Story 3 of digest 12" not in tools
    # /latest by category sees it too (what deliveries planned from now on use).
    assert "Story 3 of digest 12" in (await bot.ask(ADMIN, "/latest hardware")).plain

    by_id = await bot.ask(ADMIN, "/recategorise item-12-2 ai-tools", language_code="en")
    assert "Corrected" in by_id.plain
    assert categories_of(bot, "item-12-2") == ("AI工具",)
    stored = Corrections(bot.engine).all()
    assert [(c.item_id, c.categories, c.by_user) for c in stored] == [
        ("item-12-3", ("硬件设施", "AI伦理"), str(ADMIN)),
        ("item-12-2", ("AI工具",), str(ADMIN)),
    ]


async def test_recategorise_refuses_others_and_bad_arguments(bot: Bot) -> None:
    store_digest(bot.engine, count=4, hour=12)
    assert "管理员" in (await bot.ask(150, "/recategorise 1 AI伦理")).plain
    assert "用法" in (await bot.ask(ADMIN, "/recategorise")).plain
    assert "用法" in (await bot.ask(ADMIN, "/recategorise 1")).plain
    assert "找不到条目" in (await bot.ask(ADMIN, "/recategorise 99 AI伦理")).plain
    assert "找不到条目" in (await bot.ask(ADMIN, "/recategorise no-such-id AI伦理")).plain
    assert "找不到分类" in (await bot.ask(ADMIN, "/recategorise 1 nonsense")).plain
    assert Corrections(bot.engine).all() == []
    assert categories_of(bot, "item-12-1") == ("AI工具",)


def test_a_correction_survives_a_reingest_and_is_exported(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    archive = Archive(engine)
    table = load_table(ROOT / "config" / "categories.toml")
    digest_file = tmp_path / SAMPLE.name
    digest_file.write_bytes(SAMPLE.read_bytes())
    ingester = Ingester(archive, table, ZoneInfo("Asia/Shanghai"))
    first = ingester.ingest(digest_file).digest
    assert first is not None
    target = first.items[0]
    store = Corrections(engine)
    assert store.correct(target.id, ["AI伦理"], "7") is not None
    assert store.correct("no-such-item", ["AI伦理"], "7") is None

    digest_file.write_bytes(SAMPLE.read_bytes() + b"\n")  # edited: ingested again
    again = ingester.ingest(digest_file).digest
    assert again is not None and again.items[0].categories == ("AI伦理",)
    assert again.items[0].category_rule == "correction"
    assert with_corrections(first, store).items[0].categories == ("AI伦理",)
    stored = archive.digest_entries(again.id)[0].item
    assert stored.categories == ("AI伦理",)

    (line,) = export_lines(store.all())
    row = json.loads(line)
    assert row["labels"] == ["AI伦理"] and row["title"] == target.title
    assert row["summary"] == target.summary_text and row["lang"] == "zh"
    assert set(row) >= {"source", "date", "section", "title", "summary", "url", "lang", "labels"}


def test_categories_export_writes_the_corrections(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = open_database(url)
    store_digest(engine, count=2, hour=12)
    Corrections(engine).correct("item-12-2", ["AI发展"], "1")
    out = tmp_path / "corrections.jsonl"
    env = {"DIGESTBOT_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, "-m", "bot", "categories", "export", "--out", str(out)],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    (row,) = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert row["labels"] == ["AI发展"] and row["title"] == "Story 2 of digest 12"


def button(message: SentMessage, starting: str) -> dict:
    return next(b for b in message.buttons() if b["text"].startswith(starting))


async def test_an_admin_recategorises_by_buttons_under_latest(bot: Bot) -> None:
    store_digest(bot.engine, count=4, hour=12)
    assert (await bot.ask(150, "/latest")).buttons() == []  # not an admin: no buttons

    listing = await bot.ask(ADMIN, "/latest")
    assert [b["text"] for b in listing.buttons()] == ["✎ 1", "✎ 2", "✎ 3", "✎ 4"]
    assert all(len(d.encode()) <= 64 for d in listing.callback_data())
    await bot.press(ADMIN, listing.message_id, button(listing, "✎ 3")["callback_data"])
    opened = bot.fake.messages(ADMIN)[-1]
    assert opened.message_id == listing.message_id
    assert button(opened, "✓ AI工具")  # the item's current category, marked
    assert not any(
        b["text"].startswith("✓") and "AI工具" not in b["text"] for b in opened.buttons()
    )

    # A non-admin pressing the admin's buttons (as in a group) is refused; nothing changes.
    toggle = button(opened, "硬件设施")["callback_data"]
    answer = await bot.press(ADMIN, listing.message_id, toggle, user_id=150)
    assert answer is not None and "管理员" in answer and bot.fake.callback_answers[-1].show_alert
    assert bot.fake.messages(ADMIN)[-1].edit_count == opened.edit_count

    await bot.press(ADMIN, listing.message_id, toggle)
    await bot.press(
        ADMIN, listing.message_id, button(bot.fake.messages(ADMIN)[-1], "✓ AI工具")["callback_data"]
    )
    chosen = bot.fake.messages(ADMIN)[-1]
    assert [b["text"] for b in chosen.buttons() if b["text"].startswith("✓")] == ["✓ 硬件设施"]
    done = button(chosen, "完成")["callback_data"]
    forged = done.rsplit(":", 1)[0] + ":0"
    await bot.press(ADMIN, listing.message_id, done, user_id=150)
    assert Corrections(bot.engine).all() == []
    assert "至少" in (await bot.press(ADMIN, listing.message_id, forged, check_button=False) or "")
    assert Corrections(bot.engine).all() == []

    before = len(bot.fake.messages(ADMIN))
    await bot.press(ADMIN, listing.message_id, done)
    (reply,) = (await bot.fake.wait_for_messages_async(ADMIN, before + 1, timeout=10))[before:]
    assert "已更正" in reply.plain and "Story 3 of digest 12" in reply.plain
    assert "硬件设施" in reply.plain
    assert categories_of(bot, "item-12-3") == ("硬件设施",)
    assert [(c.item_id, c.categories) for c in Corrections(bot.engine).all()] == [
        ("item-12-3", ("硬件设施",))
    ]
    hardware = (bot.settings.feeds_dir / "c" / "hardware" / "feed.json").read_text("utf-8")
    assert "Story 3 of digest 12" in hardware


async def test_the_button_confirmation_speaks_english(bot: Bot) -> None:
    store_digest(bot.engine, count=2, hour=12)
    listing = await bot.ask(ADMIN, "/latest", language_code="en")
    await bot.press(
        ADMIN, listing.message_id, button(listing, "✎ 2")["callback_data"], language_code="en"
    )
    done = button(bot.fake.messages(ADMIN)[-1], "Done")["callback_data"]
    before = len(bot.fake.messages(ADMIN))
    await bot.press(ADMIN, listing.message_id, done, language_code="en")
    (reply,) = (await bot.fake.wait_for_messages_async(ADMIN, before + 1, timeout=10))[before:]
    assert "Corrected" in reply.plain and "Story 2 of digest 12" in reply.plain
    assert categories_of(bot, "item-12-2") == ("AI应用",)
