"""The running service against hostile clients: real sockets from this process, a real
`digestbot run` subprocess."""

from __future__ import annotations

import contextlib
import errno
import resource
import socket
import time
from pathlib import Path

import httpx
import pytest
from service_process import ServiceProcess

pytestmark = pytest.mark.timeout(180)

SLOW_CLIENTS = 3000


@contextlib.contextmanager
def open_files(needed: int):  # type: ignore[no-untyped-def]
    """Room for `needed` sockets here (and in the service, which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def connect_many(port: int, count: int) -> list[socket.socket]:
    """`count` connections, opened without waiting for each to be accepted."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        result = sock.connect_ex(("127.0.0.1", port))
        if result not in (0, errno.EINPROGRESS):
            sock.close()
            continue
        sockets.append(sock)
    return sockets


def trickle(sockets: list[socket.socket], data: bytes) -> None:
    """Send a few bytes on each connection that still takes them (a slowloris step)."""
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.send(data)


def test_slow_header_clients_leave_healthz_answering_and_the_log_small(tmp_path: Path) -> None:
    with open_files(SLOW_CLIENTS * 2 + 1000):
        # The service keeps a common default limit, far below the clients' count.
        process = ServiceProcess(tmp_path, open_files=1024).start()
        sockets: list[socket.socket] = []
        try:
            sockets = connect_many(process.port, SLOW_CLIENTS)
            assert len(sockets) > SLOW_CLIENTS * 0.9
            # Half start a request line and then crawl; the rest never send a byte.
            trickle(sockets[::2], b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n")
            slowest = 0.0
            for step in range(12):
                trickle(sockets[::2], b"X-%d: y\r\n" % step)
                started = time.monotonic()
                answer = httpx.get(f"{process.url}/healthz", timeout=10)
                slowest = max(slowest, time.monotonic() - started)
                assert answer.status_code == 200
                time.sleep(1)  # the slow clients' own pace
            assert slowest < 2.0, f"/healthz took {slowest:.2f}s under {len(sockets)} slow clients"
            logged = sum(len(line) + 1 for line in process.lines)
            assert logged < 1_000_000, f"{logged} bytes of log"
            code, _ = process.terminate(timeout=20)
            assert code == 0
        finally:
            for sock in sockets:
                sock.close()
            process.kill()


def test_webhook_answers_400_to_json_that_is_not_an_update(tmp_path: Path, fake_telegram) -> None:  # type: ignore[no-untyped-def]
    fake_telegram.reset()
    process = ServiceProcess(tmp_path)
    process.env |= {
        "DIGESTBOT_TELEGRAM__TOKEN": fake_telegram.token,
        "DIGESTBOT_TELEGRAM__BASE_URL": fake_telegram.base_url,
        "DIGESTBOT_TELEGRAM__WEBHOOK_URL": f"{process.url}/telegram",
    }
    try:
        process.start()
        secret = fake_telegram.webhook["secret_token"]
        bodies = [
            b"[]",
            b'"update"',
            b"42",
            b"null",
            b"true",
            b"[" * 100_000 + b"]" * 100_000,
            b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
            b'{"message": {"message_id": 1, "date": 0}}',
            b'{"update_id": "seven"}',
            b'{"update_id": 7, "message": []}',
        ]
        for body in bodies:
            answer = httpx.post(
                f"{process.url}/telegram",
                content=body,
                headers={
                    "X-Telegram-Bot-Api-Secret-Token": secret,
                    "Content-Type": "application/json",
                },
                timeout=10,
            )
            assert answer.status_code == 400, (body[:40], answer.status_code)
        assert "Traceback" not in process.output()
        health = httpx.get(f"{process.url}/healthz", timeout=5)
        assert health.status_code == 200
    finally:
        process.kill()
