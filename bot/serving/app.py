"""The feed server: the feeds folder over HTTP the way feed readers reward, plus health and metrics.

- Content types with `charset=utf-8`; strong ETag (a hash of the bytes) and Last-Modified (the
  file's mtime, stable because files are written only when their bytes change), answered with 304;
  `Cache-Control: public, max-age=1800`; gzip when accepted (compressed once, kept in memory);
  HEAD; 404 for anything that does not exist, 405 for other methods.
- Nothing outside the feeds folder, whatever the path: encoded slashes, backslashes and NUL bytes
  are refused (400); `.`/`..` segments and hidden files are not served (404); the resolved path
  (symlinks followed) must lie inside the folder.
- An in-memory cache keyed by path, reloaded when the file's inode, size or mtime changes.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import logging
import os
import stat
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

log = logging.getLogger(__name__)

CACHE_CONTROL = "public, max-age=1800"
# The archive documents of a finished month (the build leaves `.final` in their folder).
ARCHIVE_CACHE_CONTROL = "public, max-age=2592000, immutable"
FINAL_MARKER = ".final"
GZIP_MIN_BYTES = 256
MAX_PATH_BYTES = 1024

HealthResult = tuple[bool, dict[str, object]]
Health = Callable[[], HealthResult | Awaitable[HealthResult]]

_TYPES = {
    "rss.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    "feed.json": "application/feed+json; charset=utf-8",
    "opml.xml": "text/x-opml; charset=utf-8",
    "opml-atom.xml": "text/x-opml; charset=utf-8",
    "opml-json.xml": "text/x-opml; charset=utf-8",
}
_SUFFIX_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".ico": "image/x-icon",
    ".png": "image/png",
}
_COMPRESSIBLE = ("text/", "application/")
_KINDS = {
    "rss.xml": "rss",
    "atom.xml": "atom",
    "feed.json": "json",
    "opml.xml": "opml",
    "opml-atom.xml": "opml",
    "opml-json.xml": "opml",
}
_FEED_KINDS = frozenset(_KINDS.values())


def content_type(path: Path) -> str:
    return _TYPES.get(path.name) or _SUFFIX_TYPES.get(
        path.suffix.lower(), "application/octet-stream"
    )


@dataclass(frozen=True, slots=True)
class CachedFile:
    """One file as served: its bytes, their gzip form, validators and what they were read from."""

    signature: tuple[int, int, int]  # inode, size, mtime_ns
    body: bytes
    gzipped: bytes | None
    etag: str
    last_modified: datetime
    content_type: str


def load_file(path: Path, info: os.stat_result) -> CachedFile:
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:32]
    kind = content_type(path)
    gzipped = None
    if len(body) >= GZIP_MIN_BYTES and kind.startswith(_COMPRESSIBLE):
        gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        if len(gzipped) >= len(body):
            gzipped = None
    modified = datetime.fromtimestamp(int(info.st_mtime), UTC)
    return CachedFile(
        signature=(info.st_ino, len(body), info.st_mtime_ns),
        body=body,
        gzipped=gzipped,
        etag=f'"{digest}"',
        last_modified=modified,
        content_type=kind,
    )


class BadPath(ValueError):
    """A request path that can never name a file (400)."""


def _check_raw(raw: bytes) -> None:
    lowered = raw.lower()
    if len(raw) > MAX_PATH_BYTES:
        raise BadPath("path too long")
    if b"\\" in raw or b"\x00" in raw or b"%00" in lowered:
        raise BadPath("NUL or backslash in path")
    if b"%2f" in lowered or b"%5c" in lowered:
        raise BadPath("encoded slash in path")


def resolve(root: Path, request_path: str) -> Path | None:
    """The file inside `root` that the (decoded) request path names, or None.

    Raises BadPath for paths that are malformed rather than missing.
    """
    if "\x00" in request_path or "\\" in request_path:
        raise BadPath("NUL or backslash in path")
    if "//" in request_path:
        return None  # one address per file: `//rss.xml` is not a second copy of `/rss.xml`
    parts = [part for part in request_path.split("/") if part]
    for part in parts:
        if part.startswith(".") or ":" in part:
            return None  # ".", "..", hidden files (our temporary files), drive letters
    candidate = root.joinpath(*parts)
    if candidate.is_dir():
        candidate = candidate / "index.html"
    elif request_path.endswith("/"):
        return None  # `rss.xml/` names a folder, and there is none
    try:
        real = candidate.resolve(strict=True)  # symlinks followed, then checked
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(root) or not real.is_file():
        return None
    return real


def _needs_slash(request_path: str, path: Path) -> bool:
    return path.name == "index.html" and not request_path.endswith(("/", "index.html"))


def _cache_control(path: Path) -> str:
    """Long for the feed documents of a finished month's archive, else the usual half hour."""
    finished = (path.parent / FINAL_MARKER).is_file()
    if path.name in _KINDS and path.parent.parent.name == "archive" and finished:
        return ARCHIVE_CACHE_CONTROL
    return CACHE_CONTROL


def _wants_gzip(header: str) -> bool:
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            quality = 1.0
            for param in params.split(";"):
                key, _, value = param.strip().partition("=")
                if key.strip().lower() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            return quality > 0
    return False


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    bare = etag.strip('"')
    for candidate in header.split(","):
        value = candidate.strip().removeprefix("W/").strip('"')
        if value in (bare, f"{bare}-gzip"):
            return True
    return False


def _not_modified_since(header: str, modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return modified <= since


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "digestbot_http_requests",
            "HTTP requests served, by kind of resource and status code",
            ["kind", "code"],
            registry=registry,
        )
        self.seconds = Histogram(
            "digestbot_http_request_seconds",
            "Time to answer an HTTP request",
            ["kind"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        self.sent = Counter(
            "digestbot_http_response_bytes",
            "Bytes of response bodies sent",
            ["kind"],
            registry=registry,
        )
        self.cached = Gauge(
            "digestbot_feed_cache_files",
            "Files held in the feed server's memory",
            registry=registry,
        )


_metrics_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, _Metrics] = (
    weakref.WeakKeyDictionary()
)


def _metrics_for(registry: CollectorRegistry) -> _Metrics:
    """The server's metrics in `registry`, registered once however many apps use it."""
    metrics = _metrics_by_registry.get(registry)
    if metrics is None:
        metrics = _metrics_by_registry[registry] = _Metrics(registry)
    return metrics


def create_app(
    feeds_dir: Path,
    *,
    health: Health | None = None,
    registry: CollectorRegistry | None = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The Starlette app serving `feeds_dir`, `/healthz` and `/metrics`.

    `health` returns `(ok, details)`: 200 with the details as JSON when ok, else 503. `registry`
    collects the server's metrics and is what `/metrics` shows (give the service's registry to
    show its metrics too; apps sharing a registry share the counters); a fresh one when None.
    """
    root_dir = Path(feeds_dir)
    metrics = _metrics_for(registry if registry is not None else CollectorRegistry())
    cache: dict[Path, CachedFile] = {}

    def root() -> Path:
        return root_dir.resolve()

    def kind_of(path: Path | None) -> str:
        if path is None:
            return "other"
        return _KINDS.get(path.name) or ("html" if path.suffix == ".html" else "other")

    def count(kind: str, response: Response, started: float, sent: int) -> Response:
        metrics.requests.labels(kind, str(response.status_code)).inc()
        metrics.seconds.labels(kind).observe(time.perf_counter() - started)
        metrics.sent.labels(kind).inc(sent)
        return response

    async def lookup(path: Path) -> CachedFile | None:
        try:
            info = path.stat()
        except OSError:
            cache.pop(path, None)
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        cached = cache.get(path)
        if cached and cached.signature == (info.st_ino, info.st_size, info.st_mtime_ns):
            return cached
        try:
            # A miss reads and compresses a whole file: in a thread, so that other requests
            # (and the service's jobs) go on meanwhile.
            cached = await run_in_threadpool(load_file, path, info)
        except OSError:
            return None
        cache[path] = cached
        metrics.cached.set(len(cache))
        return cached

    async def serve_file(request: Request) -> Response:
        started = time.perf_counter()
        decoded: str = request.scope["path"]
        raw = request.scope.get("raw_path") or decoded.encode("utf-8", "surrogateescape")
        try:
            _check_raw(raw.split(b"?", 1)[0])
            path = resolve(root(), decoded)
        except BadPath as error:
            return count(
                "other", Response(f"400 {error}\n", 400, media_type="text/plain"), started, 0
            )
        file = await lookup(path) if path else None
        if file is not None and path is not None and _needs_slash(decoded, path):
            # a page's relative links need the folder's address: /c/ai-tools -> /c/ai-tools/
            location = (
                request.url.path + "/" + (f"?{request.url.query}" if request.url.query else "")
            )
            return count(
                "html", Response(status_code=301, headers={"Location": location}), started, 0
            )
        if file is None:
            return count(
                "other",
                Response("404 not found\n", 404, media_type="text/plain; charset=utf-8"),
                started,
                0,
            )
        kind = kind_of(path)
        gzip_ok = file.gzipped is not None and _wants_gzip(
            request.headers.get("accept-encoding", "")
        )
        etag = f'"{file.etag.strip(chr(34))}-gzip"' if gzip_ok else file.etag
        headers = {
            "ETag": etag,
            "Last-Modified": format_datetime(file.last_modified, usegmt=True),
            "Cache-Control": _cache_control(path) if path else CACHE_CONTROL,
            "Content-Type": file.content_type,
            "X-Content-Type-Options": "nosniff",
        }
        if file.gzipped is not None:
            headers["Vary"] = "Accept-Encoding"
        if kind in _FEED_KINDS:  # browser-based readers fetch feeds from their own origin
            headers["Access-Control-Allow-Origin"] = "*"
        inm = request.headers.get("if-none-match")
        ims = request.headers.get("if-modified-since")
        if (inm is not None and _etag_matches(inm, file.etag)) or (
            inm is None and ims is not None and _not_modified_since(ims, file.last_modified)
        ):
            headers.pop("Content-Type")
            return count(kind, Response(status_code=304, headers=headers), started, 0)
        body = file.gzipped if gzip_ok else file.body
        assert body is not None
        if gzip_ok:
            headers["Content-Encoding"] = "gzip"
        headers["Content-Length"] = str(len(body))
        if request.method == "HEAD":
            return count(kind, _HeadResponse(headers), started, 0)
        return count(kind, Response(body, 200, headers=headers), started, len(body))

    async def check_health() -> HealthResult:
        if health is None:
            return root().is_dir(), {"feeds_dir": str(root_dir)}
        if inspect.iscoroutinefunction(health):
            outcome = await health()
        else:  # a synchronous check (a database query) must not block the event loop
            outcome = await run_in_threadpool(health)
        if inspect.isawaitable(outcome):
            return await outcome
        return outcome

    async def healthz(request: Request) -> Response:
        started = time.perf_counter()
        try:
            ok, details = await check_health()
        except Exception as error:  # a failing check is an unhealthy service, not a 500
            log.exception("health check failed")
            ok, details = False, {"error": f"{type(error).__name__}: {error}"}
        body = {"status": "ok" if ok else "unhealthy", **details}
        response = JSONResponse(body, 200 if ok else 503, headers={"Cache-Control": "no-store"})
        return count("health", response, started, len(response.body))

    async def metrics_page(request: Request) -> Response:
        data = generate_latest(metrics.registry)
        return Response(
            data, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
        )

    async def refuse(request: Request) -> Response:
        return Response("405 method not allowed\n", 405, headers={"Allow": "GET, HEAD"})

    routes = [
        *extra_routes,  # e.g. the Telegram webhook; before the catch-all file routes
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics_page, methods=["GET", "HEAD"]),
        Route("/{path:path}", serve_file, methods=["GET", "HEAD"]),
        Route(
            "/{path:path}",
            refuse,
            methods=["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"],
        ),
    ]
    app = Starlette(routes=routes)
    app.state.metrics_registry = metrics.registry
    app.state.feed_cache = cache
    return app


class _HeadResponse(Response):
    """The headers of the GET (its Content-Length too: Starlette keeps a given one), no body."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(b"", 200, headers=headers)
