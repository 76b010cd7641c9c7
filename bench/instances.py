"""Several `digestbot run` on one PostgreSQL database: one budget, failover, paid broadcast.

    .venv/bin/python bench/instances.py [--instances 3] [--recipients 1200] [--kill-after 15]
        [--paid-recipients 4000] [--paid-rate 1000] [--skip shared|paid]

1. Shared budget and failover: `--instances` real `digestbot run` subprocesses
   (tests/service_process.py) on a database of their own, against the fake Bot API (a child
   process) with Telegram's limits (30/s overall, 1/s per private chat, 20/min per group). The
   sample digest goes to `--recipients` subscribers; `--kill-after` seconds into the broadcast
   the instance that sends is SIGKILLed. Reported: the combined rate before the kill as a share
   of 30/s, 429 answers, how long until another instance sent again, and per chat the messages
   Telegram accepted against those planned (every one delivered, at most one repeat per chat).
2. Paid broadcast: the same with `telegram.paid_broadcast` on at `--paid-rate` and one instance
   (the fake applies the paid ceiling only to sends carrying `allow_paid_broadcast`). Reported:
   the rate as a share of the ceiling, how many went paid, 429s; then, in the same run, the
   machine's own ceiling: the same messages sent again by a plain python-telegram-bot
   `asyncio.gather` loop (its defaults, every send flagged, the same limits), and the paid
   rate as a share of it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from broadcast import (  # noqa: E402  (the child-process fake; its --serve is this script's)
    Fake,
    gather_baseline,
    synthetic_audience,
)

SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"
CATEGORIES = ["AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具"]
ADMIN_URL = os.environ.get("DIGESTBOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def serve() -> None:
    """Child mode: the fake Bot API, obeying JSON commands on stdin."""
    from fakebot.limits import FloodLimits
    from fakebot.server import FakeTelegram

    with FakeTelegram(limits=None) as fake:
        print(json.dumps({"base_url": fake.base_url, "token": fake.token}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            if command["op"] == "reset":
                fake.reset()
                limits = command.get("limits")
                fake.limits = FloodLimits(**limits) if limits else None
                answer: dict[str, Any] = {"ok": True}
            elif command["op"] == "stats":
                messages = fake.messages()
                answer = {
                    "times": [m.at for m in messages],
                    "paid": sum(m.paid for m in messages),
                    "flood": fake.flood_count,
                    "per_chat": {str(k): v for k, v in fake.sent_counts().items()},
                    "max_in_second": fake.max_in_window(1.0),
                    "now": time.monotonic(),
                }
            else:
                answer = {"error": "unknown op"}
            print(json.dumps(answer), flush=True)


class Database:
    """A PostgreSQL database of the benchmark's own, migrated, dropped at the end."""

    def __init__(self) -> None:
        from sqlalchemy import create_engine

        from bot.storing.database import engine_url

        self.name = f"digestbot_bench_{uuid.uuid4().hex[:8]}"
        self.admin = create_engine(engine_url(ADMIN_URL), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.url = ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name

    def drop(self) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


def add_subscribers(url: str, recipients: int, seed: int = 1) -> None:
    """`recipients` private chats (plus 2% groups), each subscribed to some categories."""
    from bot.storing.database import open_database
    from bot.storing.subscribers import Subscribers

    engine = open_database(url)
    Subscribers(engine).add_audience(synthetic_audience(recipients, seed, group_every=50))
    engine.dispose()


def planned_per_chat(url: str) -> tuple[Counter[str], Counter[str]]:
    """(deliveries planned per chat, of them not yet sent) from the outbox."""
    from bot.storing.database import open_database
    from bot.storing.outbox import Outbox

    engine = open_database(url)
    rows = Outbox(engine).rows()
    engine.dispose()
    planned = Counter(str(r["chat_id"]) for r in rows)
    unsent = Counter(str(r["chat_id"]) for r in rows if r["state"] in ("pending", "sending"))
    return planned, unsent


def instance_env(url: str, fake: Fake, digests: Path, **telegram: str) -> dict[str, str]:
    env = {
        "DIGESTBOT_DATABASE_URL": url,
        "DIGESTBOT_DIGESTS_DIR": str(digests),
        "DIGESTBOT_TELEGRAM__TOKEN": fake.token,
        "DIGESTBOT_TELEGRAM__BASE_URL": fake.base_url,
        "DIGESTBOT_TELEGRAM__POLL_TIMEOUT": "1",
        "DIGESTBOT_LOG_LEVEL": "INFO",
        # one address for all: links in messages must not differ between instances
        "DIGESTBOT_SITE_URL": "https://news.example.com/",
    }
    env.update({f"DIGESTBOT_TELEGRAM__{k.upper()}": v for k, v in telegram.items()})
    return env


def wait_until(condition: Any, timeout: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def rate(times: list[float], start: float, end: float) -> float:
    inside = sorted(t for t in times if start <= t <= end)
    if len(inside) < 2:
        return 0.0
    return (len(inside) - 1) / (inside[-1] - inside[0])


def plain_loop(url: str, fake: Fake) -> dict[str, Any]:
    """The messages of the outbox at `url` sent again by a plain python-telegram-bot loop, the
    fake's limits off: what this machine carries at all."""
    import asyncio

    from bot.storing.database import open_database
    from bot.storing.outbox import Outbox

    engine = open_database(url)
    rows = Outbox(engine).rows()
    engine.dispose()
    messages = [(str(r["chat_id"]), r["text"], bool(r["disable_preview"])) for r in rows]
    fake.ask(op="reset", limits=None)
    asyncio.run(gather_baseline(fake, messages, paid=True))
    seen = fake.ask(op="stats")
    times = seen["times"]
    return {
        "messages": len(times),
        "rate_per_second": round(rate(times, min(times), max(times)), 1),
        "http_429": seen["flood"],
    }


def broadcast(
    folder: Path,
    fake: Fake,
    *,
    instances: int,
    recipients: int,
    limits: dict[str, float],
    kill_after: float | None,
    timeout: float,
    ceiling: bool = False,
    **telegram: str,
) -> dict[str, Any]:
    """One digest to `recipients` through `instances` services; the sender killed after
    `kill_after` seconds of sending (None: not); `ceiling`: then the same messages by a plain
    loop (`plain_loop`)."""
    from service_process import ServiceProcess

    database = Database()
    services: list[ServiceProcess] = []
    try:
        add_subscribers(database.url, recipients)
        digests = folder / f"seeds-{database.name}"
        digests.mkdir()
        env = instance_env(database.url, fake, digests, **telegram)
        fake.ask(op="reset", limits=limits)
        for n in range(instances):
            services.append(ServiceProcess(folder / f"{database.name}-{n}", env).start(timeout=60))
        senders = [s for s in services if "polling for updates" in s.output()]
        assert len(senders) == 1, "exactly one instance is elected sender"
        shutil.copy(SAMPLE, folder / SAMPLE.name)  # then renamed in: the watchers see it whole
        os.replace(folder / SAMPLE.name, digests / SAMPLE.name)
        assert wait_until(lambda: fake.ask(op="stats")["times"], 60), "nothing was sent"
        first = min(fake.ask(op="stats")["times"])
        killed_at = None
        if kill_after is not None:
            time.sleep(kill_after)
            senders[0].process.kill()  # type: ignore[union-attr]  # SIGKILL, mid-broadcast
            killed_at = fake.ask(op="stats")["now"]
            senders[0].process.wait(10)  # type: ignore[union-attr]
        # a large plan is written in batches: its end is the sender's "planned" line, not an
        # outbox that the first batch's sends have drained
        assert kill_after is not None or wait_until(
            lambda: any(" planned: " in s.output() for s in services), timeout
        ), "the digest was not planned in time"
        planned, _ = planned_per_chat(database.url)
        assert wait_until(lambda: not planned_per_chat(database.url)[1], timeout, 1.0), (
            "not everything was delivered in time"
        )
        planned, _ = planned_per_chat(database.url)
        seen = fake.ask(op="stats")
        times = seen["times"]
        per_chat = Counter(seen["per_chat"])
        repeats = {chat: per_chat[chat] - n for chat, n in planned.items() if per_chat[chat] > n}
        missing = {chat: n - per_chat[chat] for chat, n in planned.items() if per_chat[chat] < n}
        limit = limits.get("paid_per_second") if telegram else limits["global_per_second"]
        before = rate(times, first, killed_at) if killed_at else rate(times, first, max(times))
        result: dict[str, Any] = {
            "instances": instances,
            "recipients": recipients,
            "messages_planned": sum(planned.values()),
            "messages_accepted": len(times),
            "limit_per_second": limit,
            "rate_per_second": round(before, 1),
            "share_of_limit": round(before / float(limit or 1), 3),
            "max_in_any_second": seen["max_in_second"],
            "http_429": seen["flood"],
            "paid_messages": seen["paid"],
            "missing": sum(missing.values()),
            "chats_with_a_repeat": len(repeats),
            "most_repeats_in_a_chat": max(repeats.values(), default=0),
        }
        if killed_at is not None:
            after = sorted(t for t in times if t > killed_at) or [max(times)]
            result["killed_after_seconds"] = round(killed_at - first, 1)
            # sends of the killed one already on the wire may still arrive: the takeover is
            # the longest pause after the kill
            gaps = [(b - a, b) for a, b in zip([killed_at, *after], after, strict=False)]
            pause, resumed = max(gaps, default=(0.0, max(times)))
            result["longest_pause_after_kill_seconds"] = round(pause, 1)
            result["rate_after_takeover"] = round(rate(times, resumed, max(times)), 1)
            result["took_over"] = [
                n for n, s in enumerate(services) if "now the sender" in s.output()
            ]
        for service in services:
            if service.process and service.process.poll() is None:
                service.terminate(20)
        if ceiling:
            plain = plain_loop(database.url, fake)
            result["plain_loop"] = plain
            result["paid_vs_plain_loop"] = round(before / max(plain["rate_per_second"], 1e-9), 3)
        result["tracebacks"] = sum("Traceback" in s.output() for s in services)
        for service in services:
            text = service.output()
            if "Traceback" in text:
                start = text.index("Traceback")
                print(text[max(0, start - 300) : start + 3000], file=sys.stderr)
        return result
    finally:
        for service in services:
            service.kill()
        database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--recipients", type=int, default=1200)
    parser.add_argument("--kill-after", type=float, default=15.0)
    parser.add_argument("--paid-recipients", type=int, default=4000)
    parser.add_argument("--paid-rate", type=float, default=1000.0)
    parser.add_argument("--skip", choices=["shared", "paid"], action="append")
    parser.add_argument(
        "--no-ceiling",
        action="store_true",
        help="skip the plain loop after the paid run (its pool is quadratic in what it queues)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    skip = set(args.skip or ())
    report: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
    free = {"global_per_second": 30.0, "private_per_second": 1.0, "group_per_minute": 20.0}
    with tempfile.TemporaryDirectory() as folder:
        fake = Fake(__file__)
        try:
            if "shared" not in skip:
                report["shared"] = broadcast(
                    Path(folder),
                    fake,
                    instances=args.instances,
                    recipients=args.recipients,
                    limits=free,
                    kill_after=args.kill_after,
                    timeout=300,
                )
                print(json.dumps({"shared": report["shared"]}), flush=True)
            if "paid" not in skip:
                report["paid"] = broadcast(
                    Path(folder),
                    fake,
                    instances=1,
                    recipients=args.paid_recipients,
                    limits={**free, "paid_per_second": args.paid_rate},
                    kill_after=None,
                    timeout=300,
                    ceiling=not args.no_ceiling,
                    paid_broadcast=json.dumps({"enabled": True, "per_second": args.paid_rate}),
                )
                print(json.dumps({"paid": report["paid"]}), flush=True)
        finally:
            fake.close()
    report["load_average_at_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
