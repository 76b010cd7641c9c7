"""`digestbot run` end to end: a subprocess, the fake Bot API server, real files and real HTTP."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_process import ServiceProcess

from bot.categorising.assign import categorise
from bot.categorising.table import load_table
from bot.model import Digest
from bot.parsing import parse_file

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"
CHANNEL = -1001000000001
USER = 5550001
ZONE = ZoneInfo("Asia/Shanghai")

pytestmark = pytest.mark.timeout(180)


def categorised(path: Path) -> Digest:
    return categorise(parse_file(path, zone=ZONE), load_table(ROOT / "config" / "categories.toml"))


def second_digest(folder: Path, name: str = "2025.11.27.16.md", hour: int = 16) -> Path:
    """The sample with new links and title, as the next digest of the day."""
    text = SAMPLE.read_text("utf-8")
    text = text.replace("2025.11.27.12", f"2025.11.27.{hour}")
    text = text.replace("T12:00:10", f"T{hour}:00:10").replace("/status/", f"/status/{hour}")
    path = folder / name
    path.write_text(text, "utf-8")
    return path


def copy_slowly(source: Path, target: Path, chunks: int = 8) -> None:
    """Write a digest in place the way a slow writer does: several chunks, flushed apart."""
    data = source.read_bytes()
    size = len(data) // chunks + 1
    with target.open("wb") as out:
        for start in range(0, len(data), size):
            out.write(data[start : start + size])
            out.flush()
            time.sleep(0.03)  # the writer's own pace, shorter than the settle time


def urls_in(messages) -> list[str]:  # type: ignore[no-untyped-def]
    """The item links of messages, in order (the footer's feed link left out)."""
    return [
        url
        for message in messages
        for url in re.findall(r'<a href="([^"]+)"', message.text)
        if not url.startswith("http://127.0.0.1")
    ]


@pytest.fixture
def service(tmp_path: Path, fake_telegram):  # type: ignore[no-untyped-def]
    fake_telegram.reset()
    fake_telegram.limits = None
    process = ServiceProcess(
        tmp_path,
        {
            "DIGESTBOT_TELEGRAM__TOKEN": fake_telegram.token,
            "DIGESTBOT_TELEGRAM__BASE_URL": fake_telegram.base_url,
            "DIGESTBOT_TELEGRAM__CHANNELS": json.dumps([{"chat": CHANNEL, "categories": []}]),
            "DIGESTBOT_TELEGRAM__POLL_TIMEOUT": "1",
        },
    )
    yield process
    process.kill()


def test_digest_reaches_subscriber_channel_and_feeds(service, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    service.start()
    fake_telegram.push_message(USER, "/start", user_id=USER)
    fake_telegram.push_message(USER, "/subscribe AI工具", user_id=USER)
    fake_telegram.wait_for(lambda f: len(f.messages(USER)) >= 2, timeout=20)
    before = len(fake_telegram.messages(USER))

    target = service.digests / SAMPLE.name
    copy_slowly(SAMPLE, target)
    digest = categorised(target)
    tools = [i.url for i in digest.items if "AI工具" in i.categories]
    assert 0 < len(tools) < len(digest.items)

    fake_telegram.wait_for(
        lambda f: len(urls_in(f.messages(CHANNEL))) >= len(digest.items), timeout=30
    )
    fake_telegram.wait_for(lambda f: len(urls_in(f.messages(USER)[before:])) >= len(tools))
    assert urls_in(fake_telegram.messages(CHANNEL)) == [i.url for i in digest.items]
    assert urls_in(fake_telegram.messages(USER)[before:]) == tools

    service.wait_for_line(rf"{target.name}: digest \w+ published")
    rss = httpx.get(f"{service.url}/rss.xml", timeout=5)
    assert rss.status_code == 200
    assert all(item.url in rss.text for item in digest.items)
    slug = load_table(ROOT / "config" / "categories.toml").get("AI工具").slug
    per_category = httpx.get(f"{service.url}/c/{slug}/rss.xml", timeout=5).text
    assert all(url in per_category for url in tools)
    outside = [i.url for i in digest.items if i.url not in tools]
    assert not any(url in per_category for url in outside)

    metrics = {
        sample.name: sample.value
        for family in text_string_to_metric_families(httpx.get(f"{service.url}/metrics").text)
        for sample in family.samples
    }
    sent = len(fake_telegram.messages(CHANNEL)) + len(fake_telegram.messages(USER)[before:])
    assert metrics["digestbot_deliveries_sent_total"] == sent
    assert metrics["digestbot_digests_ingested_total"] >= 1
    assert metrics["digestbot_items_ingested_total"] == len(digest.items)
    assert metrics["digestbot_file_to_first_send_seconds_count"] == 1
    assert metrics["digestbot_flood_waits_total"] == 0


def test_bad_digest_is_skipped_and_service_goes_on(service, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    service.start()
    bad = service.digests / "2025.11.27.14.md"
    bad.write_text("---\ntitle: [unclosed\n---\n1. [a](https://a.example)\n", "utf-8")
    line = service.wait_for_line(r"2025\.11\.27\.14\.md:\d+: ", timeout=20)
    assert "skipped bad digest" in line
    good = second_digest(service.digests)
    expected = [i.url for i in categorised(good).items]
    fake_telegram.wait_for(lambda f: len(urls_in(f.messages(CHANNEL))) >= len(expected))
    assert urls_in(fake_telegram.messages(CHANNEL)) == expected
    health = httpx.get(f"{service.url}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["database"] == "ok"


def test_sigterm_then_restart_sends_nothing_twice(service, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    shutil.copy(SAMPLE, service.digests / SAMPLE.name)
    service.start()
    first = [i.url for i in categorised(SAMPLE).items]
    fake_telegram.wait_for(lambda f: len(urls_in(f.messages(CHANNEL))) >= len(first))

    code, took = service.terminate()
    assert code == 0 and took < 10

    later = second_digest(service.workdir, "2025.11.27.16.md")  # arrives while it is down
    shutil.move(later, service.digests / later.name)
    service.start()
    second = [i.url for i in categorised(service.digests / later.name).items]
    fake_telegram.wait_for(lambda f: len(urls_in(f.messages(CHANNEL))) >= len(first + second))
    service.terminate()
    assert urls_in(fake_telegram.messages(CHANNEL)) == first + second


def test_second_instance_on_same_state_refuses(service, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    service.start()
    twin = ServiceProcess(service.workdir, dict(service.env))
    twin.env["DIGESTBOT_HTTP__PORT"] = str(twin.port)
    twin.start(wait_for="")
    assert twin.process is not None
    assert twin.process.wait(timeout=30) == 1
    assert "another digestbot run" in twin.output()
    publish = subprocess.run(
        [sys.executable, "-m", "bot", "publish", str(SAMPLE)],
        cwd=service.workdir,
        env=service.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert publish.returncode == 2
    assert "another digestbot run" in publish.stderr


def test_console_mode_builds_serves_and_logs_messages(tmp_path: Path) -> None:
    process = ServiceProcess(
        tmp_path, {"DIGESTBOT_TELEGRAM__CHANNELS": json.dumps([{"chat": "@ai_news_cn"}])}
    )
    shutil.copy(SAMPLE, process.digests.parent / "incoming.md")
    try:
        process.start()
        assert "console mode" in process.output()
        shutil.move(process.digests.parent / "incoming.md", process.digests / SAMPLE.name)
        first_title = categorised(SAMPLE).items[0].title
        process.wait_for_line(r"@ai_news_cn", timeout=20)
        feed = httpx.get(f"{process.url}/atom.xml", timeout=5)
        assert feed.status_code == 200 and first_title in feed.text
        assert "charset=utf-8" in feed.headers["content-type"]
        code, _ = process.terminate()
        assert code == 0
    finally:
        process.kill()


def test_webhook_mode_takes_updates_with_the_secret(tmp_path: Path, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    fake_telegram.reset()
    process = ServiceProcess(tmp_path)
    process.env |= {
        "DIGESTBOT_TELEGRAM__TOKEN": fake_telegram.token,
        "DIGESTBOT_TELEGRAM__BASE_URL": fake_telegram.base_url,
        "DIGESTBOT_TELEGRAM__WEBHOOK_URL": f"{process.url}/telegram",
    }
    try:
        process.start()
        assert fake_telegram.webhook and fake_telegram.webhook["url"] == f"{process.url}/telegram"
        fake_telegram.push_message(USER, "/subscribe AI工具", user_id=USER)
        reply = fake_telegram.wait_for_messages(USER, 1, timeout=20)[0]
        assert "AI工具" in reply.plain
        forged = httpx.post(
            f"{process.url}/telegram",
            json={"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "/stop"}},
            headers={"X-Telegram-Bot-Api-Secret-Token": "guess"},
            timeout=5,
        )
        assert forged.status_code == 403
        assert not fake_telegram.requests_for("getUpdates")
    finally:
        process.kill()


def test_refused_token_stops_start_up_with_one_line_and_no_token(
    tmp_path: Path,
    fake_telegram,  # type: ignore[no-untyped-def]
) -> None:
    wrong = "987654:WRONG-token-for-this-test-000000000"
    process = ServiceProcess(
        tmp_path,
        {
            "DIGESTBOT_TELEGRAM__TOKEN": wrong,
            "DIGESTBOT_TELEGRAM__BASE_URL": fake_telegram.base_url,
            "DIGESTBOT_LOG_LEVEL": "DEBUG",
        },
    )
    process.start(wait_for="")
    try:
        assert process.process is not None and process.process.wait(timeout=60) == 2
        output = process.output()
        assert "telegram.token (DIGESTBOT_TELEGRAM__TOKEN)" in output
        assert wrong not in output and wrong.split(":")[1] not in output
    finally:
        process.kill()


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        process = ServiceProcess(tmp_path, {"DIGESTBOT_HTTP__PORT": str(taken.getsockname()[1])})
        process.start(wait_for="")
        try:
            assert process.process is not None and process.process.wait(timeout=60) == 1
            assert "cannot serve on 127.0.0.1" in process.output()
            assert "Traceback" not in process.output()
        finally:
            process.kill()


def test_channel_that_refused_is_tried_again_after_restart(service, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    fake_telegram.block(CHANNEL, "Forbidden: bot is not a member of the channel chat")
    service.start()
    shutil.copy(SAMPLE, service.digests / SAMPLE.name)
    service.wait_for_line(r"digest \w+ published")
    fake_telegram.wait_for(lambda f: any(r.status == 403 for r in f.requests_for("sendMessage")))
    service.terminate()

    fake_telegram.unblock(CHANNEL)  # the operator made the bot an admin
    service.start()
    assert any("trying it again" in line for line in service.lines)
    later = second_digest(service.digests)
    expected = [i.url for i in categorised(later).items]
    fake_telegram.wait_for(lambda f: len(urls_in(f.messages(CHANNEL))) >= len(expected))
    assert urls_in(fake_telegram.messages(CHANNEL)) == expected
