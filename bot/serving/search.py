"""The search endpoints: `/search?q=` (an HTML page) and `/search.xml?q=` (RSS of a search).

Searches run in a worker thread (they query the database). Each client IP (the socket's peer:
the server does not trust forwarded headers) may search `per_minute` times a minute, a token
bucket refilled continuously; beyond it the answer is 429 with `Retry-After`. Answers are kept
for `CACHE_SECONDS` by query, so a feed reader polling a popular search costs one query a minute.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.feeds.search_results import Rendered, SearchSite

CACHE_SECONDS = 60.0
CACHE_ENTRIES = 256
CLIENTS = 10_000  # the buckets remembered; the least recently seen are forgotten first
HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimit:
    """Per-client token buckets: `per_minute` searches, bursts up to the same number."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def wait(self, client: str) -> float:
        """0 when the client may search now (one token taken), else the seconds to wait."""
        now = self.clock()
        bucket = self.buckets.pop(client, None) or _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self.buckets[client] = bucket
        while len(self.buckets) > CLIENTS:
            self.buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


class _Cache:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.answers: OrderedDict[tuple[str, str], tuple[float, Rendered]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> Rendered | None:
        found = self.answers.get(key)
        if found is None or found[0] <= self.clock():
            return None
        return found[1]

    def put(self, key: tuple[str, str], answer: Rendered) -> None:
        self.answers[key] = (self.clock() + CACHE_SECONDS, answer)
        self.answers.move_to_end(key)
        while len(self.answers) > CACHE_ENTRIES:
            self.answers.popitem(last=False)


def search_routes(
    site: SearchSite, per_minute: int, *, clock: Callable[[], float] = time.monotonic
) -> list[Route]:
    """The two routes, to go before the server's catch-all file route."""
    limit = RateLimit(per_minute, clock)
    cache = _Cache(clock)

    async def answer(request: Request, kind: str, render: Callable[[str], Rendered]) -> Response:
        query = request.query_params.get("q", "")
        key = (kind, query)
        found = cache.get(key)
        if found is None:
            client = request.client.host if request.client else "unknown"
            wait = limit.wait(client)
            if wait > 0:
                seconds = max(1, int(wait + 0.999))
                return Response(
                    f"429 too many searches: try again in {seconds} s\n",
                    429,
                    headers={"Retry-After": str(seconds), "Cache-Control": "no-store"},
                    media_type="text/plain; charset=utf-8",
                )
            found = await run_in_threadpool(render, query)
            cache.put(key, found)
        media = (HTML if kind == "page" else RSS) if found.status == 200 else None
        headers = {"Cache-Control": f"public, max-age={int(CACHE_SECONDS)}"}
        if kind == "feed":
            headers["Access-Control-Allow-Origin"] = "*"
        if media is None:
            media = HTML if kind == "page" else "text/plain; charset=utf-8"
            headers["Cache-Control"] = "no-store"
        body = b"" if request.method == "HEAD" else found.body
        return Response(body, found.status, headers=headers, media_type=media)

    async def page(request: Request) -> Response:
        raw = request.query_params.get("q")
        return await answer(request, "page", lambda _: site.page(raw))

    async def feed(request: Request) -> Response:
        return await answer(request, "feed", site.feed)

    return [
        Route("/search", page, methods=["GET", "HEAD"]),
        Route("/search.xml", feed, methods=["GET", "HEAD"]),
    ]
