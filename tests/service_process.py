"""`digestbot run` as a real subprocess for end-to-end tests and the latency benchmark.

Its log lines are read on a thread, so a test waits for a line (an event) rather than sleeping.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """One `python -m bot run` with its own folders, database and port."""

    def __init__(
        self, workdir: Path, env: dict[str, str] | None = None, *, open_files: int | None = None
    ) -> None:
        self.workdir = workdir
        self.digests = workdir / "seeds"
        self.feeds = workdir / "feeds"
        self.digests.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "PYTHONUNBUFFERED": "1",
            "DIGESTBOT_CONFIG": str(ROOT / "config" / "digestbot.toml"),
            "DIGESTBOT_CATEGORIES_FILE": str(ROOT / "config" / "categories.toml"),
            # Relative, as in the shipped settings: resolved against the working directory.
            "DIGESTBOT_DIGESTS_DIR": "seeds",
            "DIGESTBOT_FEEDS_DIR": "feeds",
            "DIGESTBOT_DATABASE_URL": "sqlite:///state/digestbot.db",
            "DIGESTBOT_HTTP__PORT": str(self.port),
            "DIGESTBOT_SITE_URL": f"http://127.0.0.1:{self.port}/",
            "DIGESTBOT_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.open_files = open_files  # the service's RLIMIT_NOFILE (soft and hard), if given
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_for: str = "digestbot is running", timeout: float = 30) -> ServiceProcess:
        self.digests.mkdir(parents=True, exist_ok=True)
        self.lines = []
        self._closed = False
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            preexec_fn=self._limit_open_files if self.open_files else None,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if wait_for:
            self.wait_for_line(wait_for, timeout)
        return self

    def _limit_open_files(self) -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def _read(self) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = 20, *, since: int = 0) -> str:
        """The first log line (from index `since`) matching `pattern`; waits for it to appear."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        index = since
        with self._changed:
            while True:
                while index < len(self.lines):
                    if regex.search(self.lines[index]):
                        return self.lines[index]
                    index += 1
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    break
                self._changed.wait(remaining)
        tail = "\n".join(self.lines[-30:])
        raise TimeoutError(f"no log line matching {pattern!r} within {timeout}s; last:\n{tail}")

    def wait_closed(self, timeout: float = 20) -> None:
        """Until the process's output has been read to its end."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._closed and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())

    def terminate(self, timeout: float = 10) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds it took)."""
        assert self.process
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def output(self) -> str:
        return "\n".join(self.lines)
