"""Broadcast throughput and planning memory of the delivery pipeline.

    .venv/bin/python bench/broadcast.py [--recipients 3000] [--rate 300] [--subscribers 100000]

1. Paced: the fake Bot API with Telegram-shaped limits scaled up (`--rate` overall, private and
   group limits scaled by the same factor) and `--recipients` chats with mixed categories (a
   digest of six short items, so that the fake's HTML parser is not what is measured).
   Reported: achieved messages/s as a share of the limit, and 429s as a share of the sends.
2. Unpaced: no limits anywhere; the dispatcher (outbox, claims, one message in flight per chat)
   against a plain python-telegram-bot `asyncio.gather` of the same messages, in the same run.
3. Planning: peak memory (tracemalloc peak of Python allocations, and the growth of the process's
   maximum RSS) while planning the sample digest for `--subscribers` subscribers (SQLite).
4. Planning with reader settings (#13, `--mixed`): the same audience planned twice in one run,
   all instant and then with mixed settings (a third instant, a third scheduled, a fifth with
   keyword filters, 5% paused, 5% in quiet hours that hold); time and peak memory side by side.

The fake server runs in a child process (as Telegram is another machine): sharing this process's
interpreter lock would slow both sides and distort the comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"
CATEGORIES = ["AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具"]


# The fake server, in a child process -------------------------------------------------------


def serve() -> None:
    """Child mode: run the fake Bot API and obey JSON commands on stdin."""
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
                times = [m.at for m in messages]
                per_chat = fake.sent_counts()
                answer = {
                    "messages": len(messages),
                    "flood": fake.flood_count,
                    "first": min(times, default=0.0),
                    "last": max(times, default=0.0),
                    "max_in_second": fake.max_in_window(1.0),
                    "chats": len(per_chat),
                }
            else:
                answer = {"error": "unknown op"}
            print(json.dumps(answer), flush=True)


class Fake:
    """The fake Bot API in a child process running `script --serve`."""

    def __init__(self, script: str = __file__) -> None:
        self.process = subprocess.Popen(
            [sys.executable, script, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = json.loads(self.process.stdout.readline())  # type: ignore[union-attr]
        self.base_url, self.token = hello["base_url"], hello["token"]

    def ask(self, **command: Any) -> dict[str, Any]:
        self.process.stdin.write(json.dumps(command) + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.process.stdout.readline())  # type: ignore[union-attr]

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait(10)


# Setting up a database with subscribers --------------------------------------------------


def short_digest(zone: Any) -> Any:
    """Six short items, one per category: messages the fake parses quickly, so that the
    throughput runs measure the dispatcher rather than the fake's HTML parser."""
    from datetime import datetime

    from bot.model import Digest, Item

    items = tuple(
        Item(
            id=f"bench{n}",
            position=n + 1,
            title=f"新闻 {n}：{name}",
            url=f"https://example.com/{n}",
            author="作者",
            summary_md=f"摘要 **{n}**。",
            summary_html=f"摘要 <b>{n}</b>。",
            summary_text=f"摘要 {n}。",
            categories=(name,),
        )
        for n, name in enumerate(CATEGORIES)
    )
    return Digest(
        id="bench-short",
        title="基准测试",
        date=datetime(2025, 11, 27, 12, tzinfo=zone),
        categories=tuple(CATEGORIES),
        items=items,
        source=Path("bench.md"),
        content_hash="bench",
    )


def synthetic_audience(
    recipients: int, seed: int, *, group_every: int
) -> Iterator[tuple[str, str, list[str]]]:
    """`(chat id, type, categories)` of a made-up audience: every `group_every`-th chat a
    supergroup, a tenth of them subscribed to everything, the rest to one to three categories
    (the same draws for the same seed, so runs compare)."""
    rng = random.Random(seed)
    for n in range(recipients):
        group = n % group_every == group_every - 1
        chat = str(-1_001_000_000_000 - n if group else 10_000_000 + n)
        wanted = ["*"] if rng.random() < 0.1 else rng.sample(CATEGORIES, rng.randint(1, 3))
        yield chat, "supergroup" if group else "private", wanted


def make_world(
    folder: Path, recipients: int, seed: int = 1, *, sample: bool = False, url: str | None = None
) -> tuple[Any, str]:
    """A database with `recipients` subscribers (10% groups) and a digest stored: the sample,
    or six short items. SQLite in `folder` unless `url` names another (empty) database."""
    from bot.categorising.assign import categorise
    from bot.categorising.table import load_table
    from bot.parsing import parse_file
    from bot.storing.archive import Archive
    from bot.storing.database import open_database
    from bot.storing.subscribers import Subscribers

    engine = open_database(url or f"sqlite:///{folder}/bench-{recipients}-{seed}.db")
    Subscribers(engine).add_audience(synthetic_audience(recipients, seed, group_every=10))
    table = load_table(ROOT / "config" / "categories.toml")
    zone = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")
    digest = categorise(parse_file(SAMPLE, zone=zone), table) if sample else short_digest(zone)
    Archive(engine).store(digest)
    return engine, digest.id


def settings_for(engine: Any, fake: Fake | None, rate: float | None, factor: float) -> Any:
    from bot.settings import Settings

    telegram: dict[str, Any] = {}
    if fake is not None:
        telegram.update(token=fake.token, base_url=fake.base_url)
    if rate is not None:
        telegram.update(
            global_per_second=rate, private_per_second=factor, group_per_minute=20 * factor
        )
    return Settings(
        database_url=str(engine.url).replace("+pysqlite", ""),
        categories_file=ROOT / "config" / "categories.toml",
        telegram=telegram,
    )


def plan(engine: Any, digest_id: str, settings: Any) -> Any:
    from bot.categorising.table import load_table
    from bot.dispatching import plan_digest
    from bot.storing.archive import Archive
    from bot.storing.subscribers import Subscribers

    return plan_digest(
        engine,
        digest_id,
        archive=Archive(engine),
        subscribers=Subscribers(engine),
        table=load_table(ROOT / "config" / "categories.toml"),
        settings=settings,
    )


# The measurements --------------------------------------------------------------------------


async def dispatch(engine: Any, settings: Any, *, paced: bool) -> tuple[float, Any]:
    from bot.dispatching import Dispatcher, TelegramSender
    from bot.dispatching.pacing import Limits, Pacer
    from bot.storing.outbox import Outbox

    pacer = Pacer(Limits.from_settings(settings.telegram) if paced else None)
    sender = TelegramSender(settings, pacer=pacer)
    dispatcher = Dispatcher(sender, Outbox(engine), settings)
    started = time.monotonic()
    stats = await dispatcher.drain()
    elapsed = time.monotonic() - started
    await sender.close()
    return elapsed, stats


async def gather_baseline(
    fake: Fake, messages: list[tuple[str, str, bool]], *, paid: bool = False
) -> float:
    """The plain way: one Bot, every message at once with asyncio.gather (`paid`: each with
    allow_paid_broadcast)."""
    from telegram import Bot, LinkPreviewOptions
    from telegram.constants import ParseMode
    from telegram.request import HTTPXRequest

    # python-telegram-bot's defaults, but no pool timeout: on a loaded machine 3,000 requests
    # queued for its one connection would otherwise time out before they are sent
    request = HTTPXRequest(pool_timeout=None)
    async with Bot(fake.token, base_url=fake.base_url, request=request) as bot:
        started = time.monotonic()
        await asyncio.gather(
            *(
                bot.send_message(
                    int(chat),
                    text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=no_preview),
                    allow_paid_broadcast=paid or None,
                )
                for chat, text, no_preview in messages
            )
        )
        return time.monotonic() - started


def paced_run(folder: Path, fake: Fake, recipients: int, rate: float) -> dict[str, Any]:
    factor = rate / 30
    limits = {
        "global_per_second": rate,
        "private_per_second": factor,
        "group_per_minute": 20 * factor,
    }
    engine, digest_id = make_world(folder, recipients)
    settings = settings_for(engine, fake, rate, factor)
    result = plan(engine, digest_id, settings)
    fake.ask(op="reset", limits=limits)
    elapsed, stats = asyncio.run(dispatch(engine, settings, paced=True))
    seen = fake.ask(op="stats")
    span = max(seen["last"] - seen["first"], 1e-9)
    sends = seen["messages"] + seen["flood"]
    return {
        "recipients": recipients,
        "messages": result.deliveries,
        "delivered": seen["messages"],
        "limit_per_second": rate,
        "seconds": round(elapsed, 2),
        "achieved_per_second": round(seen["messages"] / elapsed, 1),
        "share_of_limit": round(seen["messages"] / elapsed / rate, 3),
        "share_of_limit_first_to_last": round((seen["messages"] - 1) / span / rate, 3),
        "max_in_any_second": seen["max_in_second"],
        "http_429": seen["flood"],
        "http_429_share_of_sends": round(seen["flood"] / max(sends, 1), 4),
        "failed": stats.failed,
    }


def unpaced_run(folder: Path, fake: Fake, recipients: int, rounds: int) -> dict[str, Any]:
    from bot.storing.outbox import Outbox

    dispatcher_times, gather_times, count = [], [], 0
    for round_ in range(rounds):
        engine, digest_id = make_world(folder, recipients, seed=100 + round_)
        settings = settings_for(engine, fake, None, 1)
        plan(engine, digest_id, settings)
        messages = [(r["chat_id"], r["text"], r["disable_preview"]) for r in Outbox(engine).rows()]
        count = len(messages)
        fake.ask(op="reset", limits=None)
        gather_times.append(asyncio.run(gather_baseline(fake, messages)))
        assert fake.ask(op="stats")["messages"] == count
        fake.ask(op="reset", limits=None)
        elapsed, _ = asyncio.run(dispatch(engine, settings, paced=False))
        assert fake.ask(op="stats")["messages"] == count
        dispatcher_times.append(elapsed)
    best_dispatcher, best_gather = min(dispatcher_times), min(gather_times)
    return {
        "messages": count,
        "dispatcher_per_second": round(count / best_dispatcher, 1),
        "gather_per_second": round(count / best_gather, 1),
        "ratio": round(best_gather / best_dispatcher, 3),
        "rounds": rounds,
        "dispatcher_seconds": [round(t, 2) for t in dispatcher_times],
        "gather_seconds": [round(t, 2) for t in gather_times],
    }


def planning_memory(folder: Path, subscribers: int) -> dict[str, Any]:
    engine, digest_id = make_world(folder, subscribers, seed=7, sample=True)
    settings = settings_for(engine, None, None, 1)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.monotonic()
    result = plan(engine, digest_id, settings)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    database = Path(str(engine.url.database))
    return {
        "subscribers": subscribers,
        "messages": result.deliveries,
        "item_deliveries": result.items,
        "seconds": round(elapsed, 2),
        "tracemalloc_peak_mb": round(peak / 2**20, 1),
        "max_rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
        "database_mb": round(database.stat().st_size / 2**20, 1),
    }


_DEFAULT_ROW: dict[str, Any] = {
    "language": None, "paused": False, "paused_since_ts": None, "paused_until_ts": None,
    "quiet_start": None, "quiet_end": None, "quiet_silent": False, "silent": False,
    "schedule": "[]", "timezone": None, "include_words": "[]", "exclude_words": "[]",
    "format": "full", "preview": None,
}  # fmt: skip


def mixed_settings(engine: Any, seed: int = 7) -> dict[str, int]:
    """Give the bench's chats mixed #13 settings (see the module docstring); counts by kind."""
    import json as json_
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from sqlalchemy import insert, select

    from bot.storing.tables import chat_settings, chats

    rng = random.Random(seed)
    local = datetime.now(ZoneInfo("Asia/Shanghai"))
    quiet = (f"{(local.hour - 1) % 24:02d}:00", f"{(local.hour + 2) % 24:02d}:00")  # holds now
    now = time.time()
    counts = {"instant": 0, "scheduled": 0, "filtered": 0, "paused": 0, "quiet": 0}
    rows: list[dict[str, Any]] = []
    with engine.connect() as connection:
        chat_ids = list(connection.execute(select(chats.c.id).order_by(chats.c.id)).scalars())
    for n, chat_id in enumerate(chat_ids):
        row: dict[str, Any] = {}
        if n % 3 == 1:
            row["schedule"] = json_.dumps(["08:00", "20:00"][: 1 + n % 2])
            counts["scheduled"] += 1
        elif n % 20 == 2:
            row.update(paused=True, paused_since_ts=now - 3600)
            counts["paused"] += 1
        elif n % 20 == 5:
            row.update(quiet_start=quiet[0], quiet_end=quiet[1])
            counts["quiet"] += 1
        else:
            counts["instant"] += 1
        if n % 5 == 0:
            words = rng.choice([["ai"], ["模型", "openai"], ["google"]])
            row["include_words" if rng.random() < 0.5 else "exclude_words"] = json_.dumps(
                words, ensure_ascii=False
            )
            counts["filtered"] += 1
        if row:
            rows.append({**_DEFAULT_ROW, "chat_id": chat_id, "updated_ts": now, **row})
    with engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(insert(chat_settings), rows[start : start + 5000])
    return counts


def planning_mixed(folder: Path, subscribers: int) -> dict[str, Any]:
    """All instant, then mixed settings, over the same audience and digest, in one run."""
    import bot.dispatching  # noqa: F401  (imported before either run is timed)

    out: dict[str, Any] = {"subscribers": subscribers}
    for kind in ("instant", "mixed"):
        engine, digest_id = make_world(folder / kind, subscribers, seed=7, sample=True)
        if kind == "mixed":
            out["settings"] = mixed_settings(engine)
        settings = settings_for(engine, None, None, 1)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        started = time.monotonic()
        result = plan(engine, digest_id, settings)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out[kind] = {
            "seconds": round(elapsed, 2),
            "tracemalloc_peak_mb": round(peak / 2**20, 1),
            "max_rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
            "messages": result.deliveries,
            "held_chats": result.held,
            "paused_chats": result.paused,
        }
        engine.dispose()
    out["time_ratio"] = round(out["mixed"]["seconds"] / out["instant"]["seconds"], 2)
    out["memory_ratio"] = round(
        out["mixed"]["tracemalloc_peak_mb"] / out["instant"]["tracemalloc_peak_mb"], 2
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=300.0, help="overall limit, messages/s")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="unpaced comparison rounds")
    parser.add_argument("--skip", choices=["paced", "unpaced", "memory"], action="append")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mixed", action="store_true", help="planning with reader settings only")
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.mixed:
        with tempfile.TemporaryDirectory() as folder:
            for kind in ("instant", "mixed"):
                (Path(folder) / kind).mkdir()
            mixed = planning_mixed(Path(folder), args.subscribers)
        print(json.dumps({"planning_mixed": mixed}, ensure_ascii=False, indent=2))
        return
    skip = set(args.skip or ())
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        fake = Fake()
        try:
            if "paced" not in skip:
                report["paced"] = paced_run(Path(folder), fake, args.recipients, args.rate)
                print(json.dumps({"paced": report["paced"]}, ensure_ascii=False), flush=True)
            if "unpaced" not in skip:
                report["unpaced"] = unpaced_run(Path(folder), fake, args.recipients, args.rounds)
                print(json.dumps({"unpaced": report["unpaced"]}, ensure_ascii=False), flush=True)
        finally:
            fake.close()
        if "memory" not in skip:  # last: its peak RSS must not hide the others'
            report["planning"] = planning_memory(Path(folder), args.subscribers)
            print(json.dumps({"planning": report["planning"]}, ensure_ascii=False), flush=True)
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
