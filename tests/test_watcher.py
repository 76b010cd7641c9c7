"""When is a digest file finished, and what is never read: the watcher on its own (real files,
real inotify) and `digestbot run` as a subprocess with a real slow writer process, real FIFOs,
symlinks and sparse files, and a file name made to forge log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from service_process import ServiceProcess

from bot.scheduling.watcher import DigestWatcher

CHANNELS = (-1001000000001, -1001000000002)

pytestmark = pytest.mark.timeout(180)

# A digest small enough for one message, every line ending as a finished sentence would.
ITEMS = [
    ("OpenAI 发布新模型", "https://example.com/news/1", "新模型在推理基准上领先，价格下降一半。"),
    (
        "Anthropic ships tools",
        "https://example.com/news/2",
        "Agents can now call tools in parallel.",
    ),
    ("Hugging Face 升级 LeRobot", "https://example.com/news/3", "模拟平台获得 **显著升级**。"),
    ("A chip for inference", "https://example.com/news/4", "The new chip doubles throughput."),
]
DIGEST = (
    '---\ntitle: "2025.11.27.12 慢慢写成的摘要"\ndate: 2025-11-27T12:00:10+08:00\n'
    'categories: ["AI工具"]\n---\n\n'
    + "".join(
        f"{n}. [{title}]({url}) - Writer\n    {summary}\n\n"
        for n, (title, url, summary) in enumerate(ITEMS, 1)
    )
)

# The slow writer: one open file, `chunks` flushed writes `gap` seconds apart; prints the
# monotonic time of its close (one clock for the whole machine).
WRITER = """
import sys, time
data = open(sys.argv[1], "rb").read()
chunks, gap = int(sys.argv[3]), float(sys.argv[4])
size = len(data) // chunks + 1
with open(sys.argv[2], "wb") as out:
    for start in range(0, len(data), size):
        out.write(data[start : start + size])
        out.flush()
        if start + size < len(data):
            time.sleep(gap)
print(time.monotonic(), flush=True)
"""


def write_slowly(source: Path, target: Path, chunks: int = 10, gap: float = 0.6) -> float:
    """Run the slow writer as its own process; the monotonic time it closed the file."""
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(source), str(target), str(chunks), str(gap)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return float(done.stdout.strip())


def service_with_channels(tmp_path: Path, fake, **env: str) -> ServiceProcess:  # type: ignore[no-untyped-def]
    fake.reset()
    fake.limits = None
    return ServiceProcess(
        tmp_path,
        {
            "DIGESTBOT_TELEGRAM__TOKEN": fake.token,
            "DIGESTBOT_TELEGRAM__BASE_URL": fake.base_url,
            "DIGESTBOT_TELEGRAM__CHANNELS": json.dumps(
                [{"chat": chat, "categories": []} for chat in CHANNELS]
            ),
            "DIGESTBOT_TELEGRAM__POLL_TIMEOUT": "1",
            **env,
        },
    )


def idle(service: ServiceProcess) -> bool:
    health = httpx.get(f"{service.url}/healthz", timeout=5).json()
    return not health.get("pending_deliveries")


def wait_until(condition, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    """Poll a condition of the outside (the service's HTTP state has no event to await)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)


def test_slow_writer_gets_one_whole_message_per_recipient(tmp_path: Path, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    # The writer pauses 0.6 s between chunks, twice the settle time: a quiet file is no
    # finished file while the writer still holds it open.
    service = service_with_channels(tmp_path, fake_telegram, DIGESTBOT_SETTLE_SECONDS="0.3")
    source = tmp_path / "source.md"
    source.write_text(DIGEST, "utf-8")
    try:
        service.start()
        target = service.digests / "2025.11.27.12.md"
        write_slowly(source, target, chunks=10, gap=0.6)
        urls = [url for _, url, _ in ITEMS]

        def complete() -> bool:
            return all(
                all(any(url in m.text for m in fake_telegram.messages(chat)) for url in urls)
                for chat in CHANNELS
            )

        wait_until(complete)
        service.wait_for_line(r"2025\.11\.27\.12\.md: digest \w+ published")
        wait_until(lambda: idle(service))
        for chat in CHANNELS:
            messages = fake_telegram.messages(chat)
            assert len(messages) == 1, [m.plain[:80] for m in messages]
            assert all(url in messages[0].text for url in urls)
            assert messages[0].edit_count == 0  # never sent partial and mended later
            assert "**" not in messages[0].plain
        published = [line for line in service.lines if "published" in line]
        assert len(published) == 1, published
    finally:
        service.kill()


def test_odd_files_in_the_folder_harm_nothing_and_sigterm_is_prompt(
    tmp_path: Path, fake_telegram
) -> None:  # type: ignore[no-untyped-def]
    service = service_with_channels(tmp_path, fake_telegram)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "elsewhere.md").write_text(DIGEST.replace("news/", "outside/"), "utf-8")
    staged = tmp_path / "incoming.md"
    staged.write_text(DIGEST, "utf-8")
    try:
        service.start()
        folder = service.digests
        os.mkfifo(folder / "x.md")
        (folder / "zero.md").symlink_to("/dev/zero")
        subprocess.run(["truncate", "-s", "6G", str(folder / "huge.md")], check=True)
        (folder / "outside.md").symlink_to(outside / "elsewhere.md")
        service.wait_for_line(r"skipped bad digest .*x\.md:1: not a regular file \(a FIFO\)")
        service.wait_for_line(r"skipped bad digest .*huge\.md:1: file too large: 6144\.0 MB")
        # /dev/zero is outside the folder too (and no regular file: see test_parsing_input).
        for name in ("zero", "outside"):
            service.wait_for_line(rf"refused .*{name}\.md: it leads outside the digests folder")

        staged.rename(folder / "2025.11.27.12.md")  # a normal digest after them still goes out
        for chat in CHANNELS:
            fake_telegram.wait_for_messages(chat, 1, timeout=30)
        assert not any("outside/" in m.text for m in fake_telegram.messages())

        code, _ = service.terminate(timeout=30)  # before: SIGTERM waited for the FIFO forever
        assert code == 0
    finally:
        service.kill()


def test_file_names_cannot_forge_log_lines(tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path)  # console mode: the log is all there is
    forged = "a\n12:00:00 ERROR   bot: forged line\x1b[2J\x1b[31m.md"
    try:
        service.start()
        (service.digests / forged).write_text("not a digest", "utf-8")
        line = service.wait_for_line(r"skipped bad digest .*forged line")
    finally:
        service.kill()
    assert "a\\n12:00:00 ERROR   bot: forged line\\x1b[2J\\x1b[31m.md" in line
    assert not any(text.startswith("12:00:00 ERROR   bot: forged") for text in service.lines)
    assert "\x1b" not in service.output()


# The watcher on its own ------------------------------------------------------------------------


class Handled:
    """What the watcher handed over: (path, bytes at hand-over time, monotonic time)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, bytes, float]] = []
        self.changed = asyncio.Event()

    async def __call__(self, path: Path, noticed: float) -> None:
        self.calls.append((path, path.read_bytes(), time.monotonic()))
        self.changed.set()

    async def next(self, timeout: float = 20) -> tuple[Path, bytes, float]:
        count = len(self.calls)
        while len(self.calls) <= count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), timeout)
        return self.calls[count]


async def watching(
    folder: Path, handled: Handled, **options: object
) -> tuple[DigestWatcher, asyncio.Event, asyncio.Task[None]]:
    watcher = DigestWatcher(folder, handled, **options)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.watch(stop))
    await watcher.started(task)
    return watcher, stop, task


async def stopped(watcher: DigestWatcher, stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    await watcher.close()
    await asyncio.wait_for(task, 10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
async def test_file_held_open_is_not_handed_over_until_closed(tmp_path: Path) -> None:
    handled = Handled()
    watcher, stop, task = await watching(tmp_path, handled, settle=0.05)
    try:
        with (tmp_path / "d.md").open("wb") as out:
            out.write(DIGEST.encode()[:100])
            out.flush()
            # Ten settle times of quiet: a settle-only watcher would have taken the file by now
            # (there is no event for "not happening", so this waits).
            await asyncio.sleep(0.5)
            assert handled.calls == []
            out.write(DIGEST.encode()[100:])
        _, data, _ = await handled.next()
        assert data == DIGEST.encode()
        await watcher.idle()
        assert len(handled.calls) == 1
    finally:
        await stopped(watcher, stop, task)


@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "watchfiles"])
async def test_cut_off_file_waits_for_more_quiet_then_is_taken_as_it_is(
    tmp_path: Path, inotify: bool
) -> None:
    if inotify and not sys.platform.startswith("linux"):
        pytest.skip("inotify is Linux's")
    handled = Handled()
    watcher, stop, task = await watching(tmp_path, handled, settle=0.05, inotify=inotify)
    try:
        cut = DIGEST[: DIGEST.index("显著升级")]  # ends mid-sentence, inside `**`
        path = tmp_path / "d.md"
        path.write_text(cut, "utf-8")
        written = time.monotonic()
        _, data, at = await handled.next()
        assert data == cut.encode()  # taken as it is in the end
        assert at - written >= watcher.cut_off_quiet - 0.1  # but not at the settle time

        path.write_text(cut, "utf-8")
        await asyncio.sleep(0.2)  # the writer goes on within the quiet time
        path.write_text(DIGEST, "utf-8")
        _, data, _ = await handled.next()
        assert data == DIGEST.encode()
        await watcher.idle()
        assert len(handled.calls) == 2
    finally:
        await stopped(watcher, stop, task)


async def test_renamed_in_file_is_handed_over_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "digests"
    folder.mkdir()
    handled = Handled()
    # A settle time longer than the test's patience: only the rename can explain a hand-over.
    watcher, stop, task = await watching(folder, handled, settle=60)
    try:
        staged = tmp_path / "d.md"
        staged.write_text(DIGEST, "utf-8")
        os.utime(staged)  # just written: no mtime that already looks settled
        staged.rename(folder / "d.md")
        path, data, _ = await handled.next(timeout=30)
        assert path.name == "d.md" and data == DIGEST.encode()
    finally:
        await stopped(watcher, stop, task)


async def test_symlink_leading_outside_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder, outside = tmp_path / "digests", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (outside / "d.md").write_text(DIGEST, "utf-8")
    (folder / "inside.md").write_text(DIGEST, "utf-8")
    (folder / "link.md").symlink_to(outside / "d.md")
    handled = Handled()
    watcher = DigestWatcher(folder, handled, settle=0.01)
    with caplog.at_level(logging.WARNING):
        await watcher.rescan()
        await watcher.rescan()  # said once, not at every scan
    assert [path.name for path, _, _ in handled.calls] == ["inside.md", "inside.md"]
    refusals = [r for r in caplog.records if "leads outside the digests folder" in r.getMessage()]
    assert len(refusals) == 1 and "link.md" in refusals[0].getMessage()
