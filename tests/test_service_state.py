"""`digestbot run` and its footing: folders and database that cannot be used at start, state that
goes away or turns read-only while running, and SIGTERM at every stage. A real subprocess."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_process import ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"

pytestmark = pytest.mark.timeout(180)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` unwritable, for root too (the immutable attribute), until the block ends."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)


def fails_to_start(process: ServiceProcess) -> tuple[int, list[str]]:
    process.start(wait_for="")
    assert process.process is not None
    code = process.process.wait(timeout=60)
    process.wait_closed()
    return code, [line for line in process.lines if line.strip()]


def assert_one_clear_line(lines: list[str], *needles: str) -> None:
    text = "\n".join(lines)
    assert "Traceback" not in text, text
    errors = [line for line in lines if "ERROR" in line]
    assert len(errors) == 1, text
    for needle in needles:
        assert needle in errors[0], text


def test_unwritable_feeds_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    process = ServiceProcess(tmp_path)
    process.feeds.mkdir()
    with read_only(process.feeds):
        code, lines = fails_to_start(process)
    assert code == 2
    assert_one_clear_line(lines, str(process.feeds.name), "feeds_dir", "cannot write")


def test_a_file_where_a_folder_is_needed_is_one_line_exit_2(tmp_path: Path) -> None:
    process = ServiceProcess(tmp_path)
    process.feeds.write_text("not a folder\n", "utf-8")
    code, lines = fails_to_start(process)
    assert code == 2
    assert_one_clear_line(lines, "feeds_dir", "is a file, not a folder")


def test_read_only_database_file_and_folder_are_one_line_exit_2(tmp_path: Path) -> None:
    process = ServiceProcess(tmp_path)
    process.start()
    assert process.terminate()[0] == 0
    state = tmp_path / "state"
    database = state / "digestbot.db"
    with read_only(database):
        code, lines = fails_to_start(process)
    assert code == 2
    assert_one_clear_line(lines, str(database.name), "cannot write")
    with read_only(state):
        code, lines = fails_to_start(process)
    assert code == 2
    assert_one_clear_line(lines, "state", "cannot write")


def test_unreachable_postgresql_is_one_line_exit_2(tmp_path: Path) -> None:
    process = ServiceProcess(
        tmp_path, {"DIGESTBOT_DATABASE_URL": "postgresql://digestbot:hunter2@127.0.0.1:1/x"}
    )
    code, lines = fails_to_start(process)
    assert code == 2
    assert_one_clear_line(lines, "127.0.0.1:1", "cannot open")
    assert "hunter2" not in "\n".join(lines)


def wait_for_exit(process: ServiceProcess, timeout: float = 60) -> int:
    assert process.process is not None
    return process.process.wait(timeout=timeout)


def health_during_shutdown(process: ServiceProcess) -> int | None:
    """The /healthz status, or None once the server has gone."""
    try:
        return httpx.get(f"{process.url}/healthz", timeout=5).status_code
    except httpx.HTTPError:
        return None


@pytest.mark.parametrize("remove", ["folder", "file"])
def test_state_deleted_while_running_stops_the_service(tmp_path: Path, remove: str) -> None:
    process = ServiceProcess(tmp_path, {"DIGESTBOT_SCAN_INTERVAL": "0.5"})
    try:
        process.start()
        assert httpx.get(f"{process.url}/healthz", timeout=5).status_code == 200
        state = tmp_path / "state"
        if remove == "folder":
            shutil.rmtree(state)
        else:
            (state / "digestbot.db").unlink()
        line = process.wait_for_line(r"ERROR.*(deleted|replaced)", timeout=30)
        assert "digestbot.db" in line or "state" in line
        assert health_during_shutdown(process) in (503, None)
        assert wait_for_exit(process) == 1
        assert "Traceback" not in process.output()
        # A second instance can now start on fresh state: the first one is gone.
        second = ServiceProcess(tmp_path)
        second.start()
        assert second.terminate()[0] == 0
    finally:
        process.kill()


def test_database_turned_read_only_while_running_is_one_error(tmp_path: Path) -> None:
    process = ServiceProcess(tmp_path, {"DIGESTBOT_SCAN_INTERVAL": "0.5"})
    database = tmp_path / "state" / "digestbot.db"
    try:
        process.start()
        with read_only(database):
            for n in range(20):  # files arriving meanwhile must not each log an error
                text = SAMPLE.read_text("utf-8").replace("2025-11-27T12", f"2025-11-{n + 1:02}T12")
                (process.digests / f"x{n:02}.md").write_text(text, "utf-8")
            line = process.wait_for_line(r"ERROR", timeout=30)
            assert "digestbot.db" in line and "writable" in line
            assert health_during_shutdown(process) in (503, None)
            assert wait_for_exit(process) == 1
        errors = [line for line in process.lines if "ERROR" in line]
        assert len(errors) == 1, process.output()
        assert "Traceback" not in process.output()
    finally:
        process.kill()


def many_digests(folder: Path, count: int) -> None:
    text = SAMPLE.read_text("utf-8")
    for n in range(count):
        day, hour = divmod(n, 24)
        title = f"2025.{1 + day // 28:02}.{1 + day % 28:02}.{hour:02}"
        date = f"2025-{1 + day // 28:02}-{1 + day % 28:02}T{hour:02}:00:10"
        body = text.replace("2025.11.27.12", title).replace("2025-11-27T12:00:10", date)
        body = body.replace("/status/", f"/status/{n}x")
        (folder / f"{title}.md").write_text(body, "utf-8")


def test_sigterm_during_the_start_up_scan_exits_promptly(tmp_path: Path) -> None:
    process = ServiceProcess(tmp_path)
    many_digests(process.digests, 600)
    try:
        process.start(wait_for=r"digest \w+, \d+ new item")  # the scan is under way
        assert process.process is not None
        started = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        code = process.process.wait(timeout=60)
        took = time.monotonic() - started
        assert code == 0
        output = process.output()
        assert "digestbot is running" not in output  # it did not wait for the scan
        ingested = sum(1 for line in process.lines if "new item(s)" in line)
        assert ingested < 600, f"the whole scan ran ({took:.1f}s)"
        assert "Traceback" not in output
    finally:
        process.kill()
