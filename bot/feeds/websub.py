"""WebSub: tell the configured hub which feeds changed, so subscribers hear at once.

After a build, each changed subscription document is announced with a POST of
`hub.mode=publish&hub.url=<feed>` (the form hubs such as pubsubhubbub.appspot.com take). The
posts run in a daemon thread with a short timeout: a slow or failing hub is logged and never
holds up a build, the bot or the server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import httpx

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0


def publish(hub: str, urls: Sequence[str], timeout: float = TIMEOUT_SECONDS) -> int:
    """POST each URL to the hub; the number the hub accepted (2xx). Never raises."""
    accepted = 0
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            for url in urls:
                try:
                    response = client.post(hub, data={"hub.mode": "publish", "hub.url": url})
                except httpx.HTTPError as error:
                    log.warning("websub: hub %s unreachable for %s: %s", hub, url, error)
                    continue
                if response.is_success:
                    accepted += 1
                else:
                    log.warning("websub: hub %s answered %d for %s", hub, response.status_code, url)
    except Exception:  # a hub must never take anything else down
        log.exception("websub: publishing to %s failed", hub)
    return accepted


def publish_in_background(hub: str, urls: Sequence[str]) -> threading.Thread | None:
    """`publish` in a daemon thread (None when there is nothing to announce)."""
    if not urls:
        return None
    thread = threading.Thread(
        target=publish, args=(hub, list(urls)), name="websub-publish", daemon=True
    )
    thread.start()
    return thread
