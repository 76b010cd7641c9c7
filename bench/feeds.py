"""Feed build benchmark: cold builds of 1,000 and 10,000 digests, and adding one digest.

    .venv/bin/python bench/feeds.py                      # 1,000 and 10,000 digests
    .venv/bin/python bench/feeds.py --sizes 200,2000     # other sizes
    .venv/bin/python bench/feeds.py --profile            # cProfile the largest cold build

Digests are written as files in a temporary folder in the real digest format (front matter, 11
numbered items with links, authors and bold summaries, like seeds/2025.11.27.12.md), then:

- cold build: ingest the folder (parse, categorise, store in a fresh SQLite file) + render every
  feed (what `digestbot build` does on an empty state);
- add one (watch): a new file appears; ingest that file + render (what `digestbot run` does);
- add one (rescan): a new file appears; rescan the folder (unchanged files are skipped by
  size/mtime) + render (what a second `digestbot build` does);
- rebuild, nothing new: render only; no file changes.
- search: the newest ten matches of queries over the archive (110,000 items at 10,000
  digests): English words, two-character Chinese words (the LIKE fallback), longer Chinese
  phrases (FTS5 trigram), an author, a rare and an absent word.

"Render" is the whole feeds folder: subscription feeds, OPML, index and category pages, and the
archive (a page per digest and month, the monthly RFC 5005 documents of every feed), of which a
build renders only what changed.

The goals: adding one digest to the 10,000-digest archive costs under 2% of its cold build, and
a search answers in under 50 ms at p95.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.categorising.table import load_table
from bot.feeds import build_feeds
from bot.ingest import Ingester
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.database import open_database
from bot.storing.search import Search

SEARCHES = (
    "benchmark",
    "Gary Marcus",
    "融资",
    "芯片",
    "模型",
    "视频生成",
    "数据中心的算力",
    "第 5000 期第 3 条",
    "不存在的词语",
    "nothing-like-this",
)

ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2021, 1, 1, 0, 0, 10, 236000, tzinfo=ZONE)
TOPICS = (
    ("获得 {n} 亿美元融资，估值再创新高", "公司宣布完成 **{n} 亿美元融资**，投资方包括多家机构。"),
    (
        "发布新一代大模型，基准测试大幅领先",
        "新模型在多项 **benchmark** 上取得突破，研究团队公开了技术报告。",
    ),
    (
        "推出 AI 视频生成应用，落地影视制作",
        "这款 **视频生成** 应用已在多个行业落地，用户可直接生成短片。",
    ),
    ("版权诉讼和解，监管框架逐步明确", "双方就 **版权** 问题达成和解，监管机构也发布了新的指引。"),
    (
        "新一代 GPU 芯片量产，数据中心算力翻倍",
        "厂商宣布 **芯片** 量产，新建数据中心的算力将提升一倍。",
    ),
    (
        "开源编程工具发布，提示词插件受欢迎",
        "开发者社区推出新的 **开源工具**，支持提示词管理与插件扩展。",
    ),
)
AUTHORS = ("Ben Tossell", "宝玉", "clem 🤗", "Gary Marcus", "小互", "Orange AI")


def digest_text(number: int, items: int = 11) -> tuple[str, str]:
    """(file name, text) of synthetic digest `number`, four hours after the previous one."""
    date = START + timedelta(hours=4 * number)
    lines = [
        "---",
        f'title: "{date:%Y.%m.%d.%H} 过去4小时全球AI发生了什么？"',
        f"date: {date.isoformat(timespec='milliseconds')}",
        'categories: ["AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具"]',
        "---",
        "",
    ]
    for i in range(items):
        title, summary = TOPICS[(number + i) % len(TOPICS)]
        status = 1_900_000_000_000_000_000 + number * 100 + i
        author = AUTHORS[(number * 7 + i) % len(AUTHORS)]
        marker = f"{i + 1}."
        lines.append(
            f"{marker:<4}[{title.format(n=i + 1)}（第 {number} 期）]"
            f"(https://x.com/user{i}/status/{status}) - {author}"
        )
        lines.append(
            f"    {summary.format(n=i + 1)}这一进展表明相关领域持续受到关注，"
            f"第 {number} 期第 {i + 1} 条。"
        )
        lines.append("")
    return f"{date:%Y.%m.%d.%H}.md", "\n".join(lines)


def write_digests(folder: Path, count: int, first: int = 0) -> list[Path]:
    paths = []
    for number in range(first, first + count):
        name, text = digest_text(number)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


class Bench:
    def __init__(self, workdir: Path, count: int) -> None:
        self.workdir = workdir
        self.count = count
        self.digests = workdir / "digests"
        self.digests.mkdir()
        self.settings = Settings(
            digests_dir=self.digests,
            feeds_dir=workdir / "feeds",
            database_url=f"sqlite:///{workdir}/state.db",
            site_url="https://news.example.com/",
        )
        self.table = load_table(ROOT / "config" / "categories.toml")
        self.archive = Archive(open_database(self.settings.database_url))
        self.ingester = Ingester(self.archive, self.table, ZONE)
        self.next_number = count

    def ingest_folder(self) -> int:
        errors = 0
        for outcome in self.ingester.ingest_folder(self.digests):
            if outcome.status == "error":
                errors += 1
                if errors <= 3:
                    print(f"  error: {outcome.error}", file=sys.stderr)
        return errors

    def render(self) -> int:
        return len(build_feeds(self.archive, self.table, self.settings))

    def cold(self) -> dict[str, float]:
        write_digests(self.digests, self.count)
        started = time.perf_counter()
        errors = self.ingest_folder()
        ingested = time.perf_counter()
        written = self.render()
        done = time.perf_counter()
        digests, items = self.archive.counts()
        assert errors == 0 and digests == self.count, (errors, digests)
        return {
            "ingest": ingested - started,
            "render": done - ingested,
            "total": done - started,
            "files": written,
            "items": items,
        }

    def add_one_watch(self) -> tuple[float, float]:
        path = write_digests(self.digests, 1, self.next_number)[0]
        self.next_number += 1
        started = time.perf_counter()
        outcome = self.ingester.ingest(path)
        ingested = time.perf_counter()
        written = self.render()
        done = time.perf_counter()
        assert outcome.status == "stored" and written > 0, (outcome, written)
        return ingested - started, done - ingested

    def add_one_rescan(self) -> tuple[float, float]:
        write_digests(self.digests, 1, self.next_number)
        self.next_number += 1
        started = time.perf_counter()
        errors = self.ingest_folder()
        ingested = time.perf_counter()
        written = self.render()
        done = time.perf_counter()
        assert errors == 0 and written > 0
        return ingested - started, done - ingested

    def search_times(self, rounds: int) -> dict[str, list[float]]:
        search = Search(self.archive.engine)
        times: dict[str, list[float]] = {q: [] for q in SEARCHES}
        for _ in range(rounds):
            for query in SEARCHES:
                started = time.perf_counter()
                search.find(query, 10)
                times[query].append(time.perf_counter() - started)
        return times

    def rebuild_unchanged(self) -> float:
        started = time.perf_counter()
        written = self.render()
        assert written == 0, written
        return time.perf_counter() - started


def run(sizes: list[int], repeats: int, profile: bool) -> None:
    rows: list[tuple[str, int, float, float, float, str]] = []
    largest = max(sizes)
    cold_total: dict[int, float] = {}
    searched: dict[str, list[float]] = {}
    print(f"digestbot feed benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix=f"feeds-bench-{size}-") as tmp:
            bench = Bench(Path(tmp), size)
            profiler = cProfile.Profile() if profile and size == largest else None
            if profiler:
                profiler.enable()
            cold = bench.cold()
            if profiler:
                profiler.disable()
            cold_total[size] = cold["total"]
            print(
                f"  cold {size:>6,} digests ({cold['items']:,} items, {cold['files']} files):"
                f" {cold['total']:.1f} s",
                flush=True,
            )
            rows.append(("cold build", size, cold["ingest"], cold["render"], cold["total"], "100%"))
            watch = [bench.add_one_watch() for _ in range(repeats)]
            rescan = [bench.add_one_rescan() for _ in range(repeats)]
            unchanged = [bench.rebuild_unchanged() for _ in range(repeats)]
            for label, samples in (("add one (watch)", watch), ("add one (rescan)", rescan)):
                ingest = statistics.median(s[0] for s in samples)
                render = statistics.median(s[1] for s in samples)
                total = statistics.median(s[0] + s[1] for s in samples)
                rows.append(
                    (label, size, ingest, render, total, f"{100 * total / cold['total']:.2f}%")
                )
            render = statistics.median(unchanged)
            rows.append(
                (
                    "rebuild, no change",
                    size,
                    0.0,
                    render,
                    render,
                    f"{100 * render / cold['total']:.2f}%",
                )
            )
            if size == largest:
                searched = bench.search_times(20)
            if profiler:
                print(f"\nprofile of the cold build of {size:,} digests (top 25 by own time):")
                stats = pstats.Stats(profiler)
                stats.sort_stats("tottime").print_stats(25)
                stats.sort_stats("cumulative").print_stats(25)
    print()
    header = (
        f"{'case':<20} {'digests':>8} {'ingest s':>9} {'render s':>9} {'total s':>9} {'of cold':>8}"
    )
    print(header)
    print("-" * len(header))
    for label, size, ingest, render, total, ratio in rows:
        print(f"{label:<20} {size:>8,} {ingest:>9.3f} {render:>9.3f} {total:>9.3f} {ratio:>8}")
    if len(sizes) > 1:
        small, large = min(sizes), largest
        factor = cold_total[large] / cold_total[small]
        print(
            f"\ncold build scaling {small:,} -> {large:,}: x{factor:.1f} for x{large / small:.0f}"
        )
    every = sorted(t for samples in searched.values() for t in samples)
    print(f"\nsearch over {cold_total and rows[-4][1]:,} digests' items, newest ten (ms):")
    for query, samples in searched.items():
        ordered = sorted(samples)
        print(
            f"  {query:<20} median {1000 * statistics.median(ordered):7.2f}"
            f"  p95 {1000 * ordered[int(0.95 * (len(ordered) - 1))]:7.2f}"
        )
    p95 = every[int(0.95 * (len(every) - 1))]
    verdict = "meets" if p95 < 0.05 else "misses"
    print(
        f"search p95 over all {len(every)} searches: {1000 * p95:.2f} ms ({verdict} the 50 ms goal)"
    )
    goal = [r for r in rows if r[0] == "add one (watch)" and r[1] == largest]
    if goal:
        ratio = goal[0][4] / cold_total[largest]
        verdict = "meets" if ratio < 0.02 else "misses"
        print(f"adding one digest to {largest:,}: {100 * ratio:.2f}% of the cold build", end="")
        print(f" ({verdict} the 2% goal)")


def search_only(digests: int, rounds: int) -> None:
    """Search timings alone: `digests` synthetic digests stored directly (no parsing, no
    categorising, which dominate a cold build), then the SEARCHES."""
    import hashlib

    from bot.model import Digest, Item

    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        archive = Archive(open_database(f"sqlite:///{tmp}/state.db"))
        started = time.perf_counter()
        for number in range(digests):
            items = []
            for i in range(11):
                title, summary = TOPICS[(number + i) % len(TOPICS)]
                body = f"{summary.format(n=i + 1)}第 {number} 期第 {i + 1} 条。".replace("**", "")
                items.append(
                    Item(
                        id=hashlib.sha256(f"{number}/{i}".encode()).hexdigest()[:16],
                        position=i + 1,
                        title=f"{title.format(n=i + 1)}（第 {number} 期）",
                        url=f"https://x.com/user{i}/status/{number * 100 + i}",
                        author=AUTHORS[(number * 7 + i) % len(AUTHORS)],
                        summary_md=body,
                        summary_html=body,
                        summary_text=body,
                        categories=("AI产业",),
                    )
                )
            date = START + timedelta(hours=4 * number)
            archive.store(
                Digest(
                    f"d{number}",
                    f"{number}",
                    date,
                    ("AI产业",),
                    tuple(items),
                    Path(tmp),
                    str(number),
                )
            )
        seconds = time.perf_counter() - started
        print(f"stored {digests:,} digests ({11 * digests:,} items) in {seconds:.0f} s")
        bench = Bench.__new__(Bench)
        bench.archive = archive
        searched = bench.search_times(rounds)
    every = sorted(t for samples in searched.values() for t in samples)
    for query, samples in searched.items():
        ordered = sorted(samples)
        print(
            f"  {query:<20} median {1000 * statistics.median(ordered):7.2f}"
            f"  p95 {1000 * ordered[int(0.95 * (len(ordered) - 1))]:7.2f}"
        )
    p95 = every[int(0.95 * (len(every) - 1))]
    verdict = "meets" if p95 < 0.05 else "misses"
    print(
        f"search p95 over all {len(every)} searches: {1000 * p95:.2f} ms ({verdict} the 50 ms goal)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated digest counts")
    parser.add_argument("--repeats", type=int, default=3, help="samples of each incremental case")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest cold build")
    parser.add_argument(
        "--search-only", type=int, metavar="DIGESTS", help="only time searches over this many"
    )
    args = parser.parse_args()
    if args.search_only:
        search_only(args.search_only, 20)
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    run(sizes, args.repeats, args.profile)


if __name__ == "__main__":
    main()
