"""Scale: the outbox's bytes per digest, its growth over a simulated year, and the first delivery.

    .venv/bin/python bench/scale.py bytes [--subscribers 10000 100000] [--before DIR]
    .venv/bin/python bench/scale.py year [--subscribers 10000] [--days 365] [--quick]
    .venv/bin/python bench/scale.py first [--subscribers 100000 1000000] [--before DIR]

- `bytes`: the outbox's tables and indexes (SQLite `dbstat`) grown by planning the sample digest
  for N subscribers (10% groups; 10% take everything, the others 1-3 of six categories), with
  this tree's code and, side by side, with `--before` (a checkout of the code before this
  change; default: a temporary `git worktree` of `BEFORE`, main before #15).
- `year`: 6 digests a day (six short items each, new ids every time) planned for N subscribers
  by the real planner on an injected clock, every delivery then marked sent in the database
  (standing in for the dispatcher: no HTTP), and the retention job run once a simulated day:
  the outbox's bytes and rows at the end of each simulated week and month. `--quick`: 21 days
  with a 3-day window; the default, 365 days with the 30-day window.
- `first`: a child process plans the sample digest for N subscribers; reported are the seconds
  from planning's start to the first delivery claimed (by a second connection, as a dispatcher
  woken after the first batch would), the whole plan's seconds, and the child's peak RSS. With
  `--before`, the same for the old code (one transaction: nothing is claimable before the end).

Each world is built by a separate child process, so that its memory does not count.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"
CATEGORIES = ["AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具"]
OUTBOX = ("deliveries", "delivered_items", "delivery_texts", "plans")
DAY = 86400.0
BEFORE = "163df8e"  # main before #15: one transaction per plan, delivered_items with rowid


def _use_code(code: Path) -> None:
    sys.path.insert(0, str(code))


# Child: building a world -----------------------------------------------------------------------


def build_world(database: Path, subscribers: int, seed: int = 7) -> None:
    """Subscribers streamed in chunks (a million never in memory at once), and the sample."""
    # Rows written here, not by `Subscribers.add_audience`: the world is also built for the
    # code of `BEFORE`, which has no such method.
    from sqlalchemy import insert

    from bot.categorising.assign import categorise
    from bot.categorising.table import load_table
    from bot.parsing import parse_file
    from bot.storing.archive import Archive
    from bot.storing.database import open_database
    from bot.storing.tables import chats, subscriptions

    engine = open_database(f"sqlite:///{database}")
    rng = random.Random(seed)
    now = time.time()
    for start in range(0, subscribers, 20_000):
        chat_rows, sub_rows = [], []
        for n in range(start, min(start + 20_000, subscribers)):
            group = n % 10 == 9
            chat = str(-1_001_000_000_000 - n if group else 10_000_000 + n)
            chat_rows.append(
                {"id": chat, "type": "supergroup" if group else "private", "state": "active",
                 "created_ts": now, "updated_ts": now}
            )  # fmt: skip
            wanted = ["*"] if rng.random() < 0.1 else rng.sample(CATEGORIES, rng.randint(1, 3))
            sub_rows.extend({"chat_id": chat, "category": c, "created_ts": now} for c in wanted)
        with engine.begin() as connection:
            connection.execute(insert(chats), chat_rows)
            connection.execute(insert(subscriptions), sub_rows)
    table = load_table(ROOT / "config" / "categories.toml")
    zone = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")
    Archive(engine).store(categorise(parse_file(SAMPLE, zone=zone), table))
    engine.dispose()


def settings_for(database: Path) -> Any:
    from bot.settings import Settings

    return Settings(
        database_url=f"sqlite:///{database}", categories_file=ROOT / "config" / "categories.toml"
    )


def outbox_bytes(database: Path) -> dict[str, int]:
    """Bytes of each outbox table with its indexes (dbstat), and of the whole file."""
    import sqlite3

    with sqlite3.connect(database) as connection:
        owners = dict(connection.execute("SELECT name, tbl_name FROM sqlite_master"))
        sizes: dict[str, int] = {}
        for name, size in connection.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY 1"):
            table = owners.get(name, name)
            if table in OUTBOX:
                sizes[table] = sizes.get(table, 0) + size
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
    sizes["outbox"] = sum(sizes.get(t, 0) for t in OUTBOX)
    sizes["file"] = page_size * pages
    sizes["file_in_use"] = page_size * (pages - free)
    return sizes


def plan_sample(database: Path, **options: Any) -> Any:
    from bot.categorising.table import load_table
    from bot.dispatching.planner import plan_digest
    from bot.storing.archive import Archive
    from bot.storing.database import open_database
    from bot.storing.subscribers import Subscribers

    engine = open_database(f"sqlite:///{database}")
    (digest_id,) = Archive(engine).unplanned()
    return plan_digest(
        engine,
        digest_id,
        archive=Archive(engine),
        subscribers=Subscribers(engine),
        table=load_table(ROOT / "config" / "categories.toml"),
        settings=settings_for(database),
        **options,
    )


# Child: measurements ---------------------------------------------------------------------------


def child_bytes(database: Path) -> dict[str, Any]:
    before = outbox_bytes(database)
    result = plan_sample(database)
    after = outbox_bytes(database)
    grown = {k: after[k] - before.get(k, 0) for k in after}
    return {"messages": result.deliveries, "item_deliveries": result.items, "bytes": grown}


def child_first(database: Path) -> dict[str, Any]:
    import inspect

    from bot.dispatching.planner import plan_digest
    from bot.storing.database import open_database
    from bot.storing.outbox import Outbox

    other = Outbox(open_database(f"sqlite:///{database}"))  # the dispatcher's connection
    first: list[float] = []
    cpu: list[float] = []
    started, cpu_started = time.monotonic(), time.process_time()

    def released() -> None:
        if not first and other.claim(1):
            first.append(time.monotonic() - started)
            cpu.append(time.process_time() - cpu_started)

    batched = "released" in inspect.signature(plan_digest).parameters
    result = plan_sample(database, released=released) if batched else plan_sample(database)
    total = time.monotonic() - started
    if not first and other.claim(1):
        first.append(time.monotonic() - started)
        cpu.append(time.process_time() - cpu_started)
    return {
        "messages": result.deliveries,
        "item_deliveries": result.items,
        "first_claim_seconds": round(first[0], 3) if first else None,
        # CPU seconds of this process until then: what the figure is on an idle machine
        "first_claim_cpu_seconds": round(cpu[0], 3) if cpu else None,
        "plan_seconds": round(total, 2),
        "batches": getattr(result, "batches", 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def child_year(database: Path, days: int, per_day: int, retention: int) -> None:
    """Print one JSON line per simulated week and at the end of each simulated month."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from sqlalchemy import text

    from bot.categorising.table import load_table
    from bot.dispatching.planner import plan_digest
    from bot.model import Digest, Item
    from bot.storing.archive import Archive
    from bot.storing.database import open_database
    from bot.storing.retention import Retention
    from bot.storing.subscribers import Subscribers

    engine = open_database(f"sqlite:///{database}")
    archive, subscribers = Archive(engine), Subscribers(engine)
    table = load_table(ROOT / "config" / "categories.toml")
    settings = settings_for(database)
    zone = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 1, 1, tzinfo=zone)
    now = [start.timestamp()]
    retention_job = Retention(engine)
    wall = time.monotonic()
    pruned = {"deliveries": 0, "items": 0, "texts": 0, "digests": 0}
    prune_seconds = 0.0
    for k in range(days * per_day):
        at = start + timedelta(days=k / per_day)
        now[0] = at.timestamp()
        items = tuple(
            Item(id=f"y{k}-{n}", position=n + 1, title=f"新闻 {k}.{n}：{name}",
                 url=f"https://example.com/{k}/{n}", author="作者", summary_md=f"摘要 **{n}**。",
                 summary_html=f"摘要 <b>{n}</b>。", summary_text=f"摘要 {n}。",
                 categories=(name,))
            for n, name in enumerate(CATEGORIES)
        )  # fmt: skip
        digest = Digest(
            id=f"year-{k:05d}", title=f"第 {k} 期", date=at, categories=tuple(CATEGORIES),
            items=items, source=Path(f"y{k}.md"), content_hash=f"y{k}",
        )  # fmt: skip
        archive.store(digest)
        plan_digest(
            engine,
            digest.id,
            archive=archive,
            subscribers=subscribers,
            table=table,
            settings=settings,
            clock=lambda: now[0],
        )
        archive.mark_planned(digest.id, digest.content_hash)
        with engine.begin() as connection:  # the dispatcher's work, without the network
            connection.execute(
                text(
                    "UPDATE deliveries SET state = 'sent', sent_ts = :t, message_id = id,"
                    " attempts = 1 WHERE state = 'pending'"
                ),
                {"t": now[0]},
            )
        if (k + 1) % per_day:
            continue
        day = (k + 1) // per_day
        pruning = time.monotonic()
        found = retention_job.prune(now[0] - retention * DAY)
        for key in pruned:
            pruned[key] += getattr(found, key)
        prune_seconds += time.monotonic() - pruning
        tomorrow = start + timedelta(days=day)
        if day % 7 and day != days and tomorrow.month == at.month:
            continue  # measured weekly and at each month's end: dbstat reads every page
        storage = retention_job.storage()
        sizes = outbox_bytes(database)
        print(
            json.dumps(
                {
                    "day": day,
                    "date": at.date().isoformat(),
                    "outbox_mb": round(sizes["outbox"] / 2**20, 1),
                    "file_mb": round(sizes["file"] / 2**20, 1),
                    "file_in_use_mb": round(sizes["file_in_use"] / 2**20, 1),
                    "deliveries": storage.deliveries,
                    "delivered_items": storage.delivered_items,
                    "texts": storage.texts,
                    "pruned_since_last": pruned,
                    "prune_seconds_since_last": round(prune_seconds, 1),
                    "wall_seconds": round(time.monotonic() - wall),
                    "load": [round(x, 1) for x in os.getloadavg()],
                },
                ensure_ascii=False,
            ),
            flush=True,
        )
        pruned = dict.fromkeys(pruned, 0)
        prune_seconds = 0.0


# Parent ----------------------------------------------------------------------------------------


def run_child(code: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, __file__, "--child", "--code", str(code), *args],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        cwd=code,  # its own config/digestbot.toml: the old code refuses settings it lacks
    )
    return done.stdout


def world(code: Path, folder: Path, subscribers: int, name: str) -> Path:
    database = folder / f"{name}-{subscribers}.db"
    run_child(code, "world", str(database), str(subscribers))
    return database


def before_checkout(folder: Path, given: str | None) -> Path:
    if given:
        return Path(given)
    base = BEFORE
    target = folder / "before"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(target), base],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return target


def drop_checkout(path: Path, given: str | None) -> None:
    if not given:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True
        )


def compare(kind: str, sizes: list[int], before: str | None, *, old_too: bool = True) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        old = before_checkout(folder, before) if old_too else ROOT
        try:
            for n in sizes:
                codes = (("before", old), ("after", ROOT)) if old_too else (("after", ROOT),)
                for label, code in codes:
                    database = world(code, folder, n, label)
                    found = json.loads(run_child(code, kind, str(database)))
                    database.unlink()
                    if kind == "bytes":
                        grown = found.pop("bytes")
                        found["outbox_bytes_per_digest"] = grown["outbox"]
                        found["outbox_mb_per_digest"] = round(grown["outbox"] / 2**20, 1)
                        found["bytes_per_message"] = round(grown["outbox"] / n)
                        found["by_table_mb"] = {
                            t: round(grown[t] / 2**20, 2) for t in OUTBOX if grown.get(t)
                        }
                    print(json.dumps({kind: label, "subscribers": n, **found}), flush=True)
        finally:
            if old_too:
                drop_checkout(old, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("what")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--subscribers", type=int, nargs="+")
    parser.add_argument("--before", help="a checkout of the old code (default: merge-base)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=int, default=6)
    parser.add_argument("--retention", type=int, default=30)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-before", action="store_true", help="only this tree's code")
    options = parser.parse_args()
    if options.child:
        _use_code(options.code)
        database = Path(options.args[0])
        if options.what == "world":
            build_world(database, int(options.args[1]))
        elif options.what == "bytes":
            print(json.dumps(child_bytes(database)))
        elif options.what == "first":
            print(json.dumps(child_first(database)))
        elif options.what == "year":
            days, per_day, retention = (int(a) for a in options.args[1:4])
            child_year(database, days, per_day, retention)
        return
    print(json.dumps({"load": os.getloadavg(), "cores": os.cpu_count()}), flush=True)
    if options.what == "bytes":
        compare(
            "bytes",
            options.subscribers or [10_000, 100_000],
            options.before,
            old_too=not options.no_before,
        )
    elif options.what == "first":
        compare(
            "first",
            options.subscribers or [100_000, 1_000_000],
            options.before,
            old_too=not options.no_before,
        )
    elif options.what == "year":
        n = (options.subscribers or [10_000])[0]
        days, retention = (21, 3) if options.quick else (options.days, options.retention)
        with tempfile.TemporaryDirectory() as name:
            database = world(ROOT, Path(name), n, "year")
            subprocess.run(
                [sys.executable, __file__, "--child", "year", str(database), str(days),
                 str(options.per_day), str(retention)],
                check=True,
            )  # fmt: skip
    else:
        parser.error("bytes, year or first")


if __name__ == "__main__":
    main()
