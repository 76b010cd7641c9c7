"""Commands and deliveries together at Telegram's limits: one bot, one budget.

    .venv/bin/python bench/commands_load.py [--recipients 3000] [--users 50] [--period 5]

The fake Bot API (in a child process, with Telegram's limits: 30/s overall, 1/s per private
chat with a burst of 3, 20/min per group) and the service's Telegram side in this process: the
Application polling and answering commands, and the dispatcher broadcasting one digest to
`--recipients` chats (10% groups), both paced by one `Pacer`. While the broadcast goes out,
`--users` users (who are also recipients) each send a command every `--period` seconds,
spread so that commands arrive every second; the load stops when the broadcast is done, and
the run ends when every command is answered (or 120 s later).

Reported: the overall rate (most messages accepted in any one second, and on average), the
429s the fake answered, commands sent and answered, reply latency (from the command entering
the fake to its reply accepted), and the broadcast's duration and rate. `--scale` multiplies
every limit (quick runs; the recorded figures are at ×1).

Commands go at the rate the flood guard allows a user (20 a minute) or below: 50 users each
sending a command every second would be 50 replies a second, more than Telegram's 30/s for the
whole bot, and the guard would refuse them after 20.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from broadcast import Fake, make_world, plan, settings_for  # noqa: E402

COMMANDS = ["/help", "/categories", "/mysubs", "/feeds"]  # replies that show no items


# The fake server and the users, in a child process -----------------------------------------


class Users:
    """Users sending commands on a timer in the child (its own thread, so that the load does
    not depend on how busy the bot's process is)."""

    def __init__(self, fake: Any, users: list[int], period: float) -> None:
        self.fake, self.users, self.period = fake, users, period
        self.pushed: dict[int, list[float]] = {u: [] for u in users}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        started, tick = time.monotonic(), 0
        slots = max(1, round(self.period))  # users are spread over the period's seconds
        while not self.stop.is_set():
            for n, user in enumerate(self.users):
                if n % slots == tick % slots:
                    command = COMMANDS[(tick // slots) % len(COMMANDS)]
                    self.pushed[user].append(time.monotonic())
                    self.fake.push_message(user, command, user_id=user)
            tick += 1
            self.stop.wait(max(0.0, started + tick * self.period / slots - time.monotonic()))


def serve() -> None:
    """Child mode: the fake Bot API, obeying JSON commands on stdin."""
    from fakebot.limits import FloodLimits
    from fakebot.server import FakeTelegram

    load: Users | None = None
    with FakeTelegram(limits=None) as fake:
        print(json.dumps({"base_url": fake.base_url, "token": fake.token}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            answer: dict[str, Any] = {"ok": True}
            if command["op"] == "reset":
                fake.reset()
                limits = command.get("limits")
                fake.limits = FloodLimits(**limits) if limits else None
            elif command["op"] == "load":
                load = Users(fake, command["users"], command["period"])
            elif command["op"] == "stop_load" and load is not None:
                load.stop.set()
                load.thread.join()
            elif command["op"] == "stats":
                answer = stats(fake, load)
            print(json.dumps(answer), flush=True)


def stats(fake: Any, load: Users | None) -> dict[str, Any]:
    messages = fake.messages()
    times = [m.at for m in messages]
    pushed = sum(len(p) for p in load.pushed.values()) if load else 0
    latencies: list[float] = []
    for user, stamps in (load.pushed if load else {}).items():
        replies = [m.at for m in fake.messages(user) if "新闻" not in m.plain]
        latencies.extend(r - p for p, r in zip(stamps, replies, strict=False))
    deliveries = sum(1 for m in messages if "新闻" in m.plain)
    return {
        "messages": len(messages),
        "deliveries": deliveries,
        "commands": pushed,
        "answered": len(latencies),
        "latencies": latencies,
        "flood": fake.flood_count,
        "first": min(times, default=0.0),
        "last": max(times, default=0.0),
        "max_in_second": fake.max_in_window(1.0),
    }


# The bot ------------------------------------------------------------------------------------


async def run_bot(engine: Any, settings: Any, fake: Fake, users: list[int], period: float) -> Any:
    from bot.categorising.table import load_table
    from bot.commands import build_application, start_bot, stop_bot
    from bot.dispatching import Dispatcher, TelegramSender
    from bot.dispatching.pacing import Limits, Pacer
    from bot.storing.outbox import Outbox

    pacer = Pacer(Limits.from_settings(settings.telegram))
    table = load_table(ROOT / "config" / "categories.toml")
    app = build_application(settings, engine=engine, table=table, pacer=pacer)
    sender = TelegramSender(settings, pacer=pacer)
    dispatcher = Dispatcher(sender, Outbox(engine), settings)
    await start_bot(app)
    try:
        fake.ask(op="load", users=users, period=period)
        started = time.monotonic()
        stats = await dispatcher.drain()
        broadcast_seconds = time.monotonic() - started
        fake.ask(op="stop_load")
        deadline = time.monotonic() + 120
        seen = fake.ask(op="stats")
        while seen["answered"] < seen["commands"] and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            seen = fake.ask(op="stats")
    finally:
        await sender.close()
        await stop_bot(app)
    return stats, broadcast_seconds, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument(
        "--period", type=float, default=5.0, help="seconds between a user's commands"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="every limit times this")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    rate = 30.0 * args.scale
    with tempfile.TemporaryDirectory() as folder:
        fake = Fake(__file__)
        try:
            engine, digest_id = make_world(Path(folder), args.recipients)
            settings = settings_for(engine, fake, rate, args.scale)
            result = plan(engine, digest_id, settings)
            users = [10_000_000 + n for n in range(args.recipients) if n % 10 != 9][: args.users]
            fake.ask(
                op="reset",
                limits={
                    "global_per_second": rate,
                    "private_per_second": args.scale,
                    "group_per_minute": 20 * args.scale,
                },
            )
            stats, seconds, seen = asyncio.run(run_bot(engine, settings, fake, users, args.period))
        finally:
            fake.close()
    latencies = sorted(seen["latencies"]) or [0.0]
    span = max(seen["last"] - seen["first"], 1e-9)
    report = {
        "limit_per_second": rate,
        "recipients": args.recipients,
        "deliveries_planned": result.deliveries,
        "deliveries_sent": stats.sent,
        "deliveries_failed": stats.failed,
        "broadcast_seconds": round(seconds, 1),
        "users": args.users,
        "period_seconds": args.period,
        "commands": seen["commands"],
        "answered": seen["answered"],
        "reply_latency_p50": round(statistics.median(latencies), 3),
        "reply_latency_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "reply_latency_max": round(latencies[-1], 3),
        "messages_accepted": seen["messages"],
        "average_per_second": round(seen["messages"] / span, 2),
        "max_in_any_second": seen["max_in_second"],
        "http_429": seen["flood"],
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
