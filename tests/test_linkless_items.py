"""An item without a link of its own: its Telegram message links to its anchor on the digest's
page, and that page has the anchor (`digestbot run`, the fake Bot API, real HTTP).

The digest's slug is given when the digest is stored, before it is planned, so the message
already knows the page's address; the page is written by the build that follows.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
from lxml import html
from service_process import ServiceProcess

CHANNEL = -1001000000002
DATA = Path(__file__).resolve().parent / "data" / "linkless.md"

pytestmark = pytest.mark.timeout(120)


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


def test_linkless_item_links_to_its_anchor_in_telegram_and_on_the_page(
    service, fake_telegram
) -> None:  # type: ignore[no-untyped-def]
    service.start()
    shutil.copy(DATA, service.digests / DATA.name)
    fake_telegram.wait_for(lambda f: any("没有链接的条目" in m.plain for m in f.messages(CHANNEL)))
    (message,) = fake_telegram.messages(CHANNEL)
    links = {
        message.plain[e["offset"] : e["offset"] + e["length"]]: e["url"]
        for e in message.entities
        if e["type"] == "text_link"
    }
    assert links["有链接的条目"] == "https://example.com/linked"
    anchored = links["没有链接的条目"]
    site = f"{service.url}/"
    match = re.fullmatch(re.escape(site) + r"d/(2025-11-28-0800)/#(item-[0-9a-f]+)", anchored)
    assert match, anchored

    service.wait_for_line(rf"{DATA.name}: digest \w+ published")
    page = httpx.get(anchored.split("#")[0], timeout=5)
    assert page.status_code == 200
    tree = html.fromstring(page.content)
    (target,) = tree.xpath(f'//*[@id="{match.group(2)}"]')
    assert "没有链接的条目" in target.text_content()
    # the feeds point the same item to the same anchor
    feed = httpx.get(f"{site}feed.json", timeout=5).json()
    urls = {i["title"]: i.get("url") for i in feed["items"]}
    assert urls["没有链接的条目"] == anchored
    assert urls["有链接的条目"] == "https://example.com/linked"
