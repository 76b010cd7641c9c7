"""Time from a digest's arrival (rename into the watched folder) to its first Telegram message at
the fake Bot API server and to the feed serving it: p50 and p95 over 20 digests; then the same for
digests written in place by a slow writer (10 flushed chunks into one open file, 0.6 s apart,
twice the settle time), from its first byte and from its close to the first message.

    .venv/bin/python bench/latency.py [--digests 20] [--slow 3]

`digestbot run` runs as a subprocess, as an operator runs it; the fake server runs in this
process, so its arrival times and ours share one monotonic clock.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakebot import FakeTelegram  # noqa: E402
from service_process import ServiceProcess  # noqa: E402

from bot.settings import load_settings  # noqa: E402

SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"
CHANNEL = -1001000000001
CHANNEL_GAP = 60 / 20 + 0.1  # seconds between two messages to one channel, with a margin
SLOW_CHUNKS = 10
SLOW_GAP = 0.6  # seconds between two chunks: twice the shipped settle time


def digest_text(n: int) -> str:
    """The sample, made into digest number n: new title, time and links."""
    text = SAMPLE.read_text("utf-8")
    hour = n % 24
    day = 1 + n // 24
    text = text.replace("2025.11.27.12", f"2025.12.{day:02d}.{hour:02d}")
    text = text.replace("2025-11-27T12:00:10", f"2025-12-{day:02d}T{hour:02d}:00:10")
    return text.replace("/status/", f"/status/{n:03d}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digests", type=int, default=20)
    parser.add_argument("--slow", type=int, default=3, help="digests written by a slow writer")
    args = parser.parse_args()

    to_message: list[float] = []
    to_feed: list[float] = []
    slow_from_start: list[float] = []
    slow_from_close: list[float] = []
    slow_messages: list[int] = []
    renamed_messages: list[int] = []
    with FakeTelegram(limits=None) as fake, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        service = ServiceProcess(
            work,
            {
                "DIGESTBOT_TELEGRAM__TOKEN": fake.token,
                "DIGESTBOT_TELEGRAM__BASE_URL": fake.base_url,
                "DIGESTBOT_TELEGRAM__CHANNELS": json.dumps([{"chat": CHANNEL}]),
                "DIGESTBOT_TELEGRAM__POLL_TIMEOUT": "1",
                "DIGESTBOT_LOG_LEVEL": "WARNING",
            },
        )
        service.start(wait_for="")
        client = httpx.Client(timeout=5)
        _wait_until(lambda: _ok(client, f"{service.url}/healthz"), 30)
        try:
            for n in range(args.digests):
                staging = work / f"incoming-{n}.md"
                staging.write_text(digest_text(n), "utf-8")
                marker = f"/status/{n:03d}"
                sent_before = len(fake.messages(CHANNEL))
                arrived = time.monotonic()
                staging.rename(service.digests / f"digest-{n:03d}.md")
                seen_feed = _wait_until(
                    lambda m=marker: m in client.get(f"{service.url}/rss.xml").text, 10
                )
                fake.wait_for(lambda f, k=sent_before: len(f.messages(CHANNEL)) > k, timeout=10)
                first = fake.messages(CHANNEL)[sent_before]
                to_message.append(first.at - arrived)
                to_feed.append(seen_feed - arrived)
                _wait_until(lambda: not _pending(client, service.url), 30)
                renamed_messages.append(len(fake.messages(CHANNEL)) - sent_before)
                # Digests come hours apart; back to back, the channel's own limit (20/min, one
                # message every 3 s) would be measured instead of our latency.
                last = fake.messages(CHANNEL)[-1].at
                time.sleep(max(0.0, last + CHANNEL_GAP - time.monotonic()))
            for n in range(args.digests, args.digests + args.slow):
                sent_before = len(fake.messages(CHANNEL))
                started, closed = _write_slowly(service.digests / f"digest-{n:03d}.md", n)
                fake.wait_for(lambda f, k=sent_before: len(f.messages(CHANNEL)) > k, timeout=30)
                first = fake.messages(CHANNEL)[sent_before]
                slow_from_start.append(first.at - started)
                slow_from_close.append(first.at - closed)
                _wait_until(lambda: not _pending(client, service.url), 30)
                slow_messages.append(len(fake.messages(CHANNEL)) - sent_before)
                last = fake.messages(CHANNEL)[-1].at
                time.sleep(max(0.0, last + CHANNEL_GAP - time.monotonic()))
        finally:
            service.terminate()

    print(f"digests: {args.digests}; settle time as shipped ({load_settings().settle_seconds} s)\n")
    print("| from arrival to | p50 (s) | p95 (s) | max (s) | goal |")
    print("|---|---|---|---|---|")
    for label, values in (("first Telegram message", to_message), ("feed serving it", to_feed)):
        print(
            f"| {label} | {statistics.median(values):.3f} | {percentile(values, 0.95):.3f} "
            f"| {max(values):.3f} | p50 < 1 s, p95 < 2 s |"
        )
    if args.slow:
        print(f"\nslow writer: {args.slow} digests, {SLOW_CHUNKS} chunks {SLOW_GAP} s apart\n")
        print("| first Telegram message from | p50 (s) | max (s) |")
        print("|---|---|---|")
        for label, values in (
            ("first byte written", slow_from_start),
            ("writer's close", slow_from_close),
        ):
            print(f"| {label} | {statistics.median(values):.3f} | {max(values):.3f} |")
        print(
            f"\nmessages per digest: renamed in {sorted(set(renamed_messages))}, "
            f"slow writer {slow_messages} (the same: never a partial digest)"
        )


def _write_slowly(target: Path, n: int) -> tuple[float, float]:
    """Write digest n in place the way a slow writer does; (first byte, close) monotonic times."""
    data = digest_text(n).encode("utf-8")
    size = len(data) // SLOW_CHUNKS + 1
    with target.open("wb") as out:
        started = time.monotonic()
        for start in range(0, len(data), size):
            out.write(data[start : start + size])
            out.flush()
            if start + size < len(data):
                time.sleep(SLOW_GAP)
    return started, time.monotonic()


def _ok(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def _pending(client: httpx.Client, url: str) -> int:
    return int(client.get(f"{url}/healthz").json().get("pending_deliveries") or 0)


def _wait_until(condition, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Poll `condition` every 5 ms (a benchmark measures; it has no event to await) and return
    the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.005)
    raise TimeoutError("condition not met in time")


if __name__ == "__main__":
    main()
