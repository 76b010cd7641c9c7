"""Several `digestbot run` on one PostgreSQL database (SPEC §6): one polls, all deliver, and
every message goes out exactly once."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from service_process import ServiceProcess
from sqlalchemy import create_engine

from bot.storing.database import engine_url, migrate
from bot.storing.locks import PollerLock

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"
CHANNEL = -1001000000002
USER = 5550002

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


def test_one_poller_lock_per_database(postgres_url: str) -> None:
    engine = create_engine(engine_url(postgres_url))
    migrate(engine)
    first, second = PollerLock(engine), PollerLock(engine)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()
    engine.dispose()


def test_two_instances_share_one_database(tmp_path: Path, postgres_url: str, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    fake_telegram.reset()
    fake_telegram.limits = None
    shared = tmp_path / "seeds"
    shared.mkdir()
    env = {
        "DIGESTBOT_DATABASE_URL": postgres_url,
        "DIGESTBOT_DIGESTS_DIR": str(shared),
        "DIGESTBOT_TELEGRAM__TOKEN": fake_telegram.token,
        "DIGESTBOT_TELEGRAM__BASE_URL": fake_telegram.base_url,
        "DIGESTBOT_TELEGRAM__CHANNELS": json.dumps([{"chat": CHANNEL}]),
        "DIGESTBOT_TELEGRAM__POLL_TIMEOUT": "1",
    }
    instances = [ServiceProcess(tmp_path / name, env) for name in ("a", "b")]
    try:
        for instance in instances:
            instance.start()
        pollers = [i for i in instances if "polling for updates" in i.output()]
        assert len(pollers) == 1
        standby = instances[1 - instances.index(pollers[0])]
        assert "another instance sends and polls Telegram" in standby.output()

        fake_telegram.push_message(USER, "/subscribe all", user_id=USER)
        fake_telegram.wait_for_messages(USER, 1, timeout=20)

        shutil.copy(SAMPLE, shared / SAMPLE.name)
        for instance in instances:
            instance.wait_for_line(rf"{SAMPLE.name}: digest \w+ published|nothing new", timeout=30)
        fake_telegram.wait_for(
            lambda f: len(f.messages(CHANNEL)) >= 1 and len(f.messages(USER)) >= 2
        )
        for instance in instances:
            instance.terminate()
        channel = fake_telegram.messages(CHANNEL)
        links = [u for m in channel for u in re.findall(r'href="(https://x\.com[^"]+)"', m.text)]
        assert len(links) == 11 and len(set(links)) == 11  # the whole digest, once
        assert len(fake_telegram.messages(USER)) == 2  # the reply, then the digest once
        assert all("Traceback" not in i.output() for i in instances)
    finally:
        for instance in instances:
            instance.kill()
