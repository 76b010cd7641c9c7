"""Run the feed server (uvicorn) inside the caller's event loop, without touching signals.

The service owns SIGINT/SIGTERM; uvicorn's own handlers are not installed. The listening socket
is bound before uvicorn starts, so `port=0` gives a free port that is known at once. Clients are
bounded (see `guard`): header time, connections waiting for headers, backlog, concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import resource
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

from bot.serving.guard import Limits, protocol_class, quiet_floods

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server without signal handlers, telling when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.listening.set()


def bind_socket(host: str, port: int, backlog: int = 128) -> socket.socket:
    """A listening TCP socket for `host:port` (IPv4 or IPv6); `port=0` picks a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class FeedServer:
    """The HTTP side of `digestbot run`:

        server = FeedServer(app, "127.0.0.1", 0)
        await server.start()        # listening when this returns; server.port is the bound port
        ...
        await server.stop()

    or `async with FeedServer(app, host, port) as server: ...`.
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        access_log: bool = False,
        graceful_seconds: float = 5.0,
        limits: Limits | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        if limits is None:
            open_files, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            limits = Limits.for_open_files(open_files)
        self.limits = limits
        self.config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=access_log,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=math.ceil(graceful_seconds),
            http=protocol_class(limits),
            backlog=limits.backlog,
            limit_concurrency=limits.concurrency,
            timeout_keep_alive=5,
            h11_max_incomplete_event_size=16 * 1024,
        )
        self._server = _Server(self.config)
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        """Bind, start serving in a task of the current loop, return once listening."""
        if self._task is not None:
            raise RuntimeError("the server is already started")
        quiet_floods()
        self._socket = bind_socket(self.host, self.requested_port, self.limits.backlog)
        self._port = int(self._socket.getsockname()[1])
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        listening = asyncio.create_task(self._server.listening.wait())
        done, _ = await asyncio.wait({self._task, listening}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done or not self._server.started:
            listening.cancel()
            await self.stop()
            raise RuntimeError(f"the feed server could not start on {self.host}:{self.port}")
        log.info("serving feeds on %s", self.url)

    async def wait(self) -> None:
        """Until the server stops (after `stop()`, or if it fails)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish, close the socket."""
        task, self._task = self._task, None
        if task is not None:
            self._server.should_exit = True
            try:
                await task
            except (Exception, SystemExit):
                log.exception("the feed server stopped with an error")
        if self._socket is not None:
            self._socket.close()

    async def __aenter__(self) -> FeedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def serve(app: ASGIApp, host: str, port: int, *, ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled; `ready` is set once listening. Cancelling stops the server
    gracefully (requests in flight finish)."""
    server = FeedServer(app, host, port)
    await server.start()
    if ready is not None:
        ready.set()
    try:
        await server.wait()
    finally:
        await asyncio.shield(server.stop())
