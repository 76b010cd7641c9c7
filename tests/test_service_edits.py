"""`digestbot run` as a subprocess: a digest corrected after it was delivered edits the message
the channel got, in place, and the feeds show the corrected text."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from fakebot.server import FakeTelegram
from service_process import ServiceProcess

CHANNEL = -1001000000002
pytestmark = pytest.mark.timeout(180)

HEAD = """---
title: "2025.11.28.08 过去4小时全球AI发生了什么？"
date: 2025-11-28T08:00:00+08:00
categories: ["AI工具", "AI产业"]
---

"""
FIRST = """1.  [一款新的代码助手发布](https://example.com/edits/assistant) - 作者甲
    这款代码助手支持 **十种语言**，并于周一发布。

2.  [芯片公司完成新一轮融资](https://example.com/edits/chips) - 作者乙
    该公司融资 **一亿美元**，用于扩建工厂。
"""
CORRECTED = FIRST.replace("并于周一发布", "并于周二发布（更正）")
ADDED = """
3.  [开源模型登上排行榜](https://example.com/edits/leaderboard) - 作者丙
    一个开源模型在排行榜上名列前茅。
"""


def hand_over(folder: Path, name: str, text: str) -> None:
    """Written elsewhere and renamed in, as a writer should hand a digest over."""
    scratch = folder.parent / f".{name}.tmp"
    scratch.write_text(text, "utf-8")
    os.replace(scratch, folder / name)


def test_a_corrected_digest_edits_the_delivered_message(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.reset()
    fake_telegram.limits = None
    service = ServiceProcess(
        tmp_path,
        {
            "DIGESTBOT_TELEGRAM__TOKEN": fake_telegram.token,
            "DIGESTBOT_TELEGRAM__BASE_URL": fake_telegram.base_url,
            "DIGESTBOT_TELEGRAM__CHANNELS": json.dumps([{"chat": CHANNEL, "categories": []}]),
            "DIGESTBOT_TELEGRAM__POLL_TIMEOUT": "1",
        },
    )
    try:
        service.start()
        name = "2025.11.28.08.md"
        hand_over(service.digests, name, HEAD + FIRST)
        (sent,) = fake_telegram.wait_for_messages(CHANNEL, 1, timeout=30)
        assert "并于周一发布" in sent.plain
        service.wait_for_line(rf"{name}: digest \w+ published")
        since = len(service.lines)

        hand_over(service.digests, name, HEAD + CORRECTED + ADDED)
        fake_telegram.wait_for(lambda fake: fake.messages(CHANNEL)[0].edit_count >= 1, timeout=30)
        service.wait_for_line(rf"{name}: digest \w+ published", since=since)

        messages = fake_telegram.messages(CHANNEL)
        assert len(messages) == 1  # edited in place: no second copy, no follow-up
        (edited,) = messages
        assert edited.message_id == sent.message_id
        assert "并于周二发布（更正）" in edited.plain and "并于周一发布" not in edited.plain
        assert "开源模型登上排行榜" in edited.plain
        assert len(fake_telegram.requests_for("sendMessage")) == 1

        rss = httpx.get(f"{service.url}/rss.xml", timeout=5).text
        assert "并于周二发布（更正）" in rss and "并于周一发布" not in rss
        assert "开源模型登上排行榜" in rss
        metrics = httpx.get(f"{service.url}/metrics", timeout=5).text
        assert "digestbot_messages_edited_total 1.0" in metrics
    finally:
        service.kill()
