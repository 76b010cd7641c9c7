"""`digestbot publish FILE` and `digestbot stats`: in-process and as a real process, killed with
SIGKILL in the middle of a broadcast and run again."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from conftest import SAMPLE
from fakebot.html import parse_html
from fakebot.limits import FloodLimits
from fakebot.server import DEFAULT_TOKEN
from test_dispatch_support import ROOT, settings_for

from bot.cli.publish import publish
from bot.cli.stats import format_stats, stats
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.outbox import SENT, Outbox
from bot.storing.subscribers import ALL, Subscribers

CATEGORY_SETS = [["AI工具"], ["AI产业", "硬件设施"], [ALL], ["AI应用"], ["AI发展", "AI伦理"]]


def _environment(database_url: str, base_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    env.update(
        DIGESTBOT_CONFIG=str(ROOT / "config" / "digestbot.toml"),
        DIGESTBOT_CATEGORIES_FILE=str(ROOT / "config" / "categories.toml"),
        DIGESTBOT_DATABASE_URL=database_url,
        DIGESTBOT_TELEGRAM__TOKEN=DEFAULT_TOKEN,
        DIGESTBOT_TELEGRAM__BASE_URL=base_url,
        DIGESTBOT_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def _publish_command(path: Path) -> list[str]:
    return [sys.executable, "-m", "bot", "publish", str(path)]


def test_publish_killed_mid_broadcast_resumes_without_resending(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    telegram.limits = FloodLimits().scaled(10)  # 300/s overall, 10/s per private chat
    database_url = f"sqlite:///{tmp_path}/digestbot.db"
    subscribers = Subscribers(open_database(database_url))
    chats = {}
    for n in range(240):
        chat = 20_000 + n
        subscribers.upsert_chat(chat, "private")
        subscribers.subscribe(chat, CATEGORY_SETS[n % len(CATEGORY_SETS)])
        chats[chat] = set(CATEGORY_SETS[n % len(CATEGORY_SETS)])
    digest = tmp_path / SAMPLE.name
    shutil.copy(SAMPLE, digest)
    env = _environment(
        database_url,
        telegram.base_url,
        DIGESTBOT_TELEGRAM__GLOBAL_PER_SECOND="80",
        DIGESTBOT_TELEGRAM__PRIVATE_PER_SECOND="5",
        DIGESTBOT_TELEGRAM__CHANNELS='[{"chat": -100500, "categories": ["ai-tools"]}]',
    )
    process = subprocess.Popen(
        _publish_command(digest), env=env, cwd=tmp_path, stderr=subprocess.PIPE
    )
    try:
        telegram.wait_for(lambda fake: len(fake.messages()) >= 60, timeout=30)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    at_kill = len(telegram.messages())

    again = subprocess.run(
        _publish_command(digest), env=env, cwd=tmp_path, capture_output=True, timeout=60
    )
    assert again.returncode == 0, again.stderr.decode()

    engine = open_database(database_url)
    outbox = Outbox(engine)
    rows = outbox.rows()
    assert at_kill < len(rows)  # it was killed mid-broadcast
    assert outbox.counts()[SENT] == len(rows)
    entries = Archive(engine).digest_entries(rows[0]["digest_id"])
    duplicates = 0
    for chat, categories in [*chats.items(), (-100500, {"AI工具"})]:
        wanted = {
            e.item.title
            for e in entries
            if ALL in categories or categories & set(e.item.categories)
        }
        planned = [parse_html(r["text"]).text.strip() for r in rows if r["chat_id"] == str(chat)]
        got = [m.plain for m in telegram.messages(chat)]
        assert set(got) == set(planned)  # every message of the chat arrived
        shown = "\n".join(got)
        assert all(f". {title} — " in shown for title in wanted), chat  # by item
        others = {e.item.title for e in entries} - wanted
        assert not any(f". {title} — " in shown for title in others), chat  # and nothing else
        repeated = sum(n - 1 for n in Counter(got).values())
        assert repeated <= 1, chat  # at most the message in flight, once
        duplicates += repeated
    assert duplicates <= 64  # no more than the sends in flight at the kill


def test_publish_bad_digest_and_stats(tmp_path, telegram) -> None:  # type: ignore[no-untyped-def]
    database_url = f"sqlite:///{tmp_path}/digestbot.db"
    bad = tmp_path / "2025.11.27.13.md"
    bad.write_text("---\ntitle: [unclosed\n---\n1.  [x](https://x.example)\n", encoding="utf-8")
    env = _environment(database_url, telegram.base_url)
    result = subprocess.run(
        _publish_command(bad), env=env, cwd=tmp_path, capture_output=True, timeout=60
    )
    assert result.returncode == 1
    assert f"{bad}:" in result.stderr.decode()
    assert telegram.messages() == []

    shown = subprocess.run(
        [sys.executable, "-m", "bot", "stats"], env=env, cwd=tmp_path, capture_output=True
    )
    assert shown.returncode == 0, shown.stderr.decode()
    assert "Deliveries: 0 pending" in shown.stdout.decode()


async def test_publish_in_console_mode_and_stats(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(f"sqlite:///{tmp_path}/digestbot.db")  # no token: console mode
    subscribers = Subscribers(open_database(settings.database_url))
    for chat, categories in ((1, ["AI工具"]), (2, [ALL]), (3, ["AI伦理"])):
        subscribers.upsert_chat(chat, "private")
        subscribers.subscribe(chat, categories)
    digest = tmp_path / SAMPLE.name
    shutil.copy(SAMPLE, digest)
    assert await publish(settings, digest) == 0
    assert await publish(settings, digest) == 0  # again: nothing more to send
    figures = stats(settings)
    assert figures["deliveries"]["sent"] >= 2
    assert figures["deliveries"]["pending"] == 0
    assert figures["subscribers"]["AI工具"] == 1 and figures["subscribers"]["all"] == 1
    text = format_stats(figures)
    assert "AI工具" in text and f"{figures['deliveries']['sent']} sent" in text
    assert "planned 0 message(s)" in capsys.readouterr().err  # the second run added nothing
