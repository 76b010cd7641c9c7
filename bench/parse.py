"""Parsing throughput: synthetic digests of ~50 KB, 500 KB and 5 MB, best of 3 each.

Run as `.venv/bin/python bench/parse.py`.  Prints a Markdown table; the last column compares
how much longer a digest took with how much bigger it is (1.00 = perfectly linear).
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.parsing import parse_bytes  # after the path set-up above

SEED = Path(__file__).resolve().parent.parent / "seeds" / "2025.11.27.12.md"
SIZES = (("50 KB", 50_000), ("500 KB", 500_000), ("5 MB", 5_000_000))
ZONE = ZoneInfo("Asia/Shanghai")
HEADER = (
    "---\n"
    'title: "bench 过去4小时全球AI发生了什么？"\n'
    "date: 2025-11-27T12:00:10.236+08:00\n"
    'categories: ["AI产业", "AI发展", "AI应用", "AI伦理", "硬件设施", "AI工具"]\n'
    "---\n\n"
)


def seed_items() -> list[tuple[str, str]]:
    """(title line without its number, summary lines) of each item of the sample digest."""
    lines = SEED.read_text(encoding="utf-8").split("\n")
    items: list[tuple[str, str]] = []
    for index, line in enumerate(lines):
        number, dot, rest = line.partition(".")
        if dot and number.isdigit():
            items.append((rest.strip(), lines[index + 1]))
    return items


def synthetic(size: int) -> bytes:
    """A digest of about `size` bytes: the sample's items again and again, each link distinct."""
    items = seed_items()
    parts = [HEADER]
    total, n = len(HEADER.encode()), 0
    while total < size:
        title, summary = items[n % len(items)]
        n += 1
        title = title.replace("/status/", f"/status/{n}0", 1)  # a new story each time
        block = f"{n}.  {title}\n{summary}\n\n"
        parts.append(block)
        total += len(block.encode())
    return "".join(parts).encode()


def best_of(data: bytes, runs: int = 3) -> float:
    """Seconds per parse, the best of `runs` runs.

    A run of a small digest parses it several times (about 2 MB in all) so that timer
    resolution and scheduler noise do not swamp the ratio against the 5 MB digest.
    """
    repeat = max(1, round(2_000_000 / len(data)))
    best = float("inf")
    for _ in range(runs):
        gc.collect()  # start each run from the same heap, not the previous run's garbage
        start = time.perf_counter()
        for _ in range(repeat):
            parse_bytes(data, "bench.md", zone=ZONE)
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


def main() -> None:
    rows = []
    for label, size in SIZES:
        data = synthetic(size)
        items = len(parse_bytes(data, "bench.md", zone=ZONE).items)
        rows.append((label, len(data), items, best_of(data)))
    base_size, base_time = rows[0][1], rows[0][3]
    columns = ["digest", "bytes", "items", "s per parse (best of 3)", "MB/s"]
    columns += ["size ratio", "time ratio", "time/size"]
    print("| " + " | ".join(columns) + " |")
    print("|---" + "|---:" * (len(columns) - 1) + "|")
    for label, size, items, seconds in rows:
        size_ratio, time_ratio = size / base_size, seconds / base_time
        print(
            f"| {label} | {size:,} | {items:,} | {seconds:.3f} | {size / seconds / 1e6:.2f} "
            f"| {size_ratio:.1f}x | {time_ratio:.1f}x | {time_ratio / size_ratio:.2f} |"
        )
    print(f"\nPython {sys.version.split()[0]}; seed {SEED.name}")


if __name__ == "__main__":
    main()
