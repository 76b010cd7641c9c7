"""The feed server over real HTTP on 127.0.0.1: types, validators, gzip, HEAD, path tricks,
/healthz, /metrics, and the server's life cycle inside the caller's event loop."""

from __future__ import annotations

import asyncio
import gzip
import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families
from test_feeds_support import (
    Site,
    make_digest,
)

from bot.feeds import build_feeds
from bot.serving import FeedServer, create_app, serve

pytest_plugins = ["test_feeds_support"]  # the `site` fixture

SECRET = b"TOP-SECRET-OUTSIDE-THE-FEEDS-FOLDER"

TYPES = {
    "rss.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    "feed.json": "application/feed+json; charset=utf-8",
    "opml.xml": "text/x-opml; charset=utf-8",
    "opml-atom.xml": "text/x-opml; charset=utf-8",
    "opml-json.xml": "text/x-opml; charset=utf-8",
    "index.html": "text/html; charset=utf-8",
    "c/ai-tools/rss.xml": "application/rss+xml; charset=utf-8",
    "c/ai-tools/atom.xml": "application/atom+xml; charset=utf-8",
    "c/ai-tools/feed.json": "application/feed+json; charset=utf-8",
    "": "text/html; charset=utf-8",
}


@pytest.fixture
async def built(site: Site) -> Site:
    for n in range(2):
        site.archive.store(make_digest(n))
    site.build()
    return site


async def test_content_types_and_cache_headers(built: Site) -> None:
    for path, kind in TYPES.items():
        response = await built.get(path, headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200, path
        assert response.headers["content-type"] == kind, path
        assert response.headers["cache-control"] == "public, max-age=1800"
        etag = response.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
        assert "expires" not in response.headers
        file = built.feeds_dir / (path or "index.html")
        assert response.content == file.read_bytes()
        modified = parsedate_to_datetime(response.headers["last-modified"])
        assert modified == datetime.fromtimestamp(int(file.stat().st_mtime), UTC)


async def test_etag_and_last_modified_give_304(built: Site) -> None:
    first = await built.get("rss.xml", headers={"Accept-Encoding": "identity"})
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    again = await built.get("rss.xml", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] in (etag, etag[:-1] + '-gzip"')
    assert again.headers["cache-control"] == "public, max-age=1800"
    listed = await built.get("rss.xml", headers={"If-None-Match": f'"nope", {etag}'})
    assert listed.status_code == 304
    other = await built.get("rss.xml", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    since = await built.get("rss.xml", headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    older = format_datetime(parsedate_to_datetime(modified) - timedelta(seconds=1), usegmt=True)
    assert (await built.get("rss.xml", headers={"If-Modified-Since": older})).status_code == 200
    garbage = await built.get("rss.xml", headers={"If-Modified-Since": "yesterday"})
    assert garbage.status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
    both = await built.get(
        "rss.xml", headers={"If-None-Match": '"stale"', "If-Modified-Since": modified}
    )
    assert both.status_code == 200


async def test_changed_file_gets_a_new_etag(built: Site) -> None:
    before = await built.get("atom.xml")
    built.archive.store(make_digest(5))
    changed = built.build()
    assert built.feeds_dir / "atom.xml" in changed
    after = await built.get("atom.xml", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert after.content == (built.feeds_dir / "atom.xml").read_bytes()
    # unchanged files keep their validators across builds
    opml = await built.get("opml.xml")
    assert built.build() == []
    assert (await built.get("opml.xml")).headers["etag"] == opml.headers["etag"]


async def test_gzip_when_accepted(built: Site) -> None:
    raw = (built.feeds_dir / "rss.xml").read_bytes()
    async with httpx.AsyncClient() as client:
        # httpx would decompress for us: look at the bytes on the wire
        request = client.build_request(
            "GET", built.url + "rss.xml", headers={"Accept-Encoding": "gzip, deflate"}
        )
        response = await client.send(request, stream=True)
        wire = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert int(response.headers["content-length"]) == len(wire) < len(raw)
    assert gzip.decompress(wire) == raw
    gz_etag = response.headers["etag"]
    plain = await built.get("rss.xml", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["etag"] != gz_etag, "each representation has its own strong ETag"
    refused = await built.get("rss.xml", headers={"Accept-Encoding": "gzip;q=0, br"})
    assert "content-encoding" not in refused.headers
    revalidated = await built.get(
        "rss.xml", headers={"Accept-Encoding": "gzip", "If-None-Match": gz_etag}
    )
    assert revalidated.status_code == 304


async def test_head_has_headers_without_body(built: Site) -> None:
    get = await built.get("atom.xml", headers={"Accept-Encoding": "identity"})
    head = await built.client.head(built.url + "atom.xml", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    for key in ("content-type", "etag", "last-modified", "cache-control", "content-length"):
        assert head.headers[key] == get.headers[key], key
    assert int(head.headers["content-length"]) == len(get.content)
    missing = await built.client.head(built.url + "missing.xml")
    assert missing.status_code == 404


async def test_missing_and_other_methods(built: Site) -> None:
    for path in ("missing.xml", "c/nope/rss.xml", "c/nope/", "c/", "rss.xml/x", "index.htm"):
        response = await built.get(path)
        assert response.status_code == 404, path
    post = await built.client.post(built.url + "rss.xml", content=b"x")
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
    assert (await built.get("rss.xml?x=1")).status_code == 200


async def raw_request(port: int, target: bytes) -> tuple[int, bytes]:
    """Send a request line exactly as given (no client-side normalisation) and read the reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    if not data:
        return 0, b""
    status = int(data.split(b" ", 2)[1])
    return status, data


async def test_one_address_per_feed(built: Site) -> None:
    """`/rss.xml/` and `//rss.xml` are no second copy of `/rss.xml` (sent exactly as written:
    a client would normalise them)."""
    port = built.server.port
    assert (await raw_request(port, b"/rss.xml"))[0] == 200
    for target in (
        b"/rss.xml/",
        b"//rss.xml",
        b"///rss.xml",
        b"/c//ai-tools/rss.xml",
        b"/c/ai-tools//rss.xml",
        b"/c/ai-tools/rss.xml/",
        b"//c/ai-tools/",
        b"/feed.json/",
    ):
        status, data = await raw_request(port, target)
        assert status == 404, (target, status)
        assert b"<rss" not in data and b"jsonfeed" not in data, target


async def test_feeds_allow_every_origin(built: Site) -> None:
    """CORS for browser-based readers: every feed document (and the OPML lists) may be read
    from any origin; the pages need not be."""
    for path in TYPES:
        response = await built.get(path, headers={"Origin": "https://reader.example"})
        is_feed = path.endswith((".xml", ".json"))
        assert response.headers.get("access-control-allow-origin") == ("*" if is_feed else None), (
            path
        )
    not_modified = await built.get(
        "feed.json", headers={"If-None-Match": (await built.get("feed.json")).headers["etag"]}
    )
    assert not_modified.status_code == 304
    assert not_modified.headers["access-control-allow-origin"] == "*"


async def test_path_tricks_never_leave_the_feeds_folder(built: Site) -> None:
    outside = built.root / "secret.txt"
    outside.write_bytes(SECRET)
    (built.root / "secret-dir").mkdir()
    (built.root / "secret-dir" / "rss.xml").write_bytes(SECRET)
    os.symlink(outside, built.feeds_dir / "link.txt")
    os.symlink(built.root / "secret-dir", built.feeds_dir / "linkdir")
    os.symlink("/etc/passwd", built.feeds_dir / "passwd.xml")
    (built.feeds_dir / "sub").mkdir()
    os.symlink(outside, built.feeds_dir / "sub" / "index.html")
    (built.feeds_dir / ".hidden.xml").write_bytes(SECRET)
    (built.feeds_dir / ".rss.xml.abc.tmp").write_bytes(SECRET)
    relative = os.path.relpath(outside, built.feeds_dir).encode()
    targets = [
        b"/../secret.txt",
        b"/" + relative,
        b"/%2e%2e/secret.txt",
        b"/%2E%2E/%2E%2E/etc/passwd",
        b"/c/%2e%2e/%2e%2e/secret.txt",
        b"/..%2fsecret.txt",
        b"/..%2Fsecret.txt",
        b"/%2e%2e%2fsecret.txt",
        b"/c/..%5c..%5csecret.txt",
        b"/..\\secret.txt",
        b"/c\\..\\..\\secret.txt",
        b"//etc/passwd",
        b"/" + str(outside).encode(),
        b"/" + str(outside).encode().replace(b"/", b"%2f"),
        b"/etc/passwd",
        b"/rss.xml%00.html",
        b"/rss.xml%00",
        b"/link.txt",
        b"/linkdir/rss.xml",
        b"/linkdir/",
        b"/sub/",
        b"/sub",
        b"/sub/index.html",
        b"/passwd.xml",
        b"/.hidden.xml",
        b"/.rss.xml.abc.tmp",
        b"/%2ehidden.xml",
        b"/./.hidden.xml",
        b"/c/./../../secret.txt",
        b"/%252e%252e/secret.txt",
        b"/..;/secret.txt",
        b"/C:/Windows/win.ini",
        b"/" + b"a/" * 600 + b"x",
        b"http://127.0.0.1/../secret.txt",
    ]
    for target in targets:
        status, data = await raw_request(built.server.port, target)
        assert status in (400, 404), (target, status, data[:200])
        assert SECRET not in data and b"root:" not in data, target
    # a NUL byte in the raw request line: refused by the HTTP parser or by us
    status, data = await raw_request(built.server.port, b"/rss.xml\x00")
    assert status in (0, 400, 404) and SECRET not in data
    # a symlink inside the folder pointing inside it is fine, and the sane paths still work
    os.symlink(built.feeds_dir / "rss.xml", built.feeds_dir / "alias.xml")
    assert (await raw_request(built.server.port, b"/alias.xml"))[0] == 200
    assert (await raw_request(built.server.port, b"/c/ai-tools/../../rss.xml"))[0] in (400, 404)
    assert (await raw_request(built.server.port, b"/c/ai-tools/rss.xml"))[0] == 200
    assert (await raw_request(built.server.port, b"/c/ai%2Dtools/rss.xml"))[0] == 200


async def test_healthz_and_metrics(tmp_path: Path) -> None:
    state = {"ok": True}

    def health() -> tuple[bool, dict]:
        return state["ok"], {"digests": 3}

    registry = CollectorRegistry()
    service_counter = Counter(
        "digestbot_service_things", "a metric of the service", registry=registry
    )
    service_counter.inc(7)
    (tmp_path / "rss.xml").write_bytes(b"<rss/>")
    app = create_app(tmp_path, health=health, registry=registry)
    async with FeedServer(app, port=0) as server, httpx.AsyncClient(base_url=server.url) as client:
        ok = await client.get("/healthz")
        assert ok.status_code == 200
        assert ok.json() == {"status": "ok", "digests": 3}
        state["ok"] = False
        bad = await client.get("/healthz")
        assert bad.status_code == 503 and bad.json()["status"] == "unhealthy"
        await client.get("/rss.xml")
        await client.get(
            "/rss.xml",
            headers={"If-None-Match": (await client.get("/rss.xml")).headers["etag"]},
        )
        await client.get("/nope.xml")
        metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    assert families["digestbot_service_things"].samples[0].value == 7
    requests = {
        (s.labels["kind"], s.labels["code"]): s.value
        for s in families["digestbot_http_requests"].samples
        if s.name.endswith("_total")
    }
    assert requests[("rss", "200")] == 2
    assert requests[("rss", "304")] == 1
    assert requests[("other", "404")] == 1
    assert requests[("health", "503")] == 1


async def test_health_check_that_raises_is_503(tmp_path: Path) -> None:
    def health() -> tuple[bool, dict]:
        raise RuntimeError("database gone")

    app = create_app(tmp_path, health=health)
    async with FeedServer(app, port=0) as server, httpx.AsyncClient() as client:
        response = await client.get(server.url + "healthz")
    assert response.status_code == 503
    assert "database gone" in response.json()["error"]


async def test_default_health_reports_the_feeds_folder(tmp_path: Path) -> None:
    app = create_app(tmp_path / "feeds")
    async with FeedServer(app, port=0) as server, httpx.AsyncClient() as client:
        assert (await client.get(server.url + "healthz")).status_code == 503
        (tmp_path / "feeds").mkdir()
        assert (await client.get(server.url + "healthz")).status_code == 200


async def test_server_binds_a_free_port_and_stops(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!DOCTYPE html><title>x</title>", "utf-8")
    server = FeedServer(create_app(tmp_path), "127.0.0.1", 0)
    await server.start()
    port = server.port
    assert port > 0 and server.url == f"http://127.0.0.1:{port}/"
    async with httpx.AsyncClient() as client:
        assert (await client.get(server.url)).status_code == 200
    await server.stop()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_serve_until_cancelled(tmp_path: Path) -> None:
    (tmp_path / "opml.xml").write_bytes(b"<opml/>")
    ready = asyncio.Event()
    probe = FeedServer(create_app(tmp_path), "127.0.0.1", 0)
    await probe.start()
    port = probe.port
    await probe.stop()
    task = asyncio.create_task(serve(create_app(tmp_path), "127.0.0.1", port, ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/opml.xml")
    assert response.headers["content-type"] == "text/x-opml; charset=utf-8"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_server_start_fails_on_a_taken_port(tmp_path: Path) -> None:
    async with FeedServer(create_app(tmp_path), "127.0.0.1", 0) as first:
        second = FeedServer(create_app(tmp_path), "127.0.0.1", first.port)
        with pytest.raises(OSError):
            await second.start()


def test_builds_serve_from_any_folder(tmp_path: Path) -> None:
    """build_feeds creates the folder it is given."""
    from test_feeds_support import load_test_table, make_settings

    from bot.storing.archive import Archive
    from bot.storing.database import open_database

    settings = make_settings(tmp_path / "deep" / "er", "https://x.example/")
    archive = Archive(open_database(settings.database_url))
    assert (tmp_path / "deep" / "er" / "feeds" / "index.html") in build_feeds(
        archive, load_test_table(), settings
    )


async def test_apps_can_share_a_registry_and_health_may_be_async(tmp_path: Path) -> None:
    """The service creates its app with its module-wide registry, possibly more than once."""
    registry = CollectorRegistry()
    create_app(tmp_path, registry=registry)

    async def health() -> tuple[bool, dict]:
        await asyncio.sleep(0)
        return True, {"checked": "async"}

    app = create_app(tmp_path, registry=registry, health=health)
    async with FeedServer(app, port=0) as server, httpx.AsyncClient() as client:
        response = await client.get(server.url + "healthz")
        metrics = await client.get(server.url + "metrics")
    assert response.status_code == 200 and response.json()["checked"] == "async"
    assert metrics.text.count("# TYPE digestbot_http_requests_total counter") == 1


async def test_a_cache_miss_does_not_stop_other_requests(tmp_path: Path) -> None:
    """Reading and compressing a large file happens off the event loop: a health check sent
    while it is under way is answered before the file is in the cache."""
    lines = (
        f"<p>item {n} of a large archive page, {n * 7919 % 10007}</p>\n" for n in range(600_000)
    )
    big_file = tmp_path / "big.html"
    big_file.write_text("".join(lines), "utf-8")
    seen_cached: list[bool] = []

    async def health() -> tuple[bool, dict[str, object]]:
        seen_cached.append(big_file.resolve() in app.state.feed_cache)
        return True, {}

    app = create_app(tmp_path, health=health)
    async with (
        FeedServer(app, "127.0.0.1", 0) as server,
        httpx.AsyncClient(timeout=60) as client,
    ):
        big = asyncio.create_task(client.get(f"{server.url}big.html"))
        await asyncio.sleep(0.05)  # its request is in: the server is loading the file
        assert (await client.get(f"{server.url}healthz")).status_code == 200
        assert (await big).status_code == 200
    assert seen_cached == [False]
