"""Prometheus metrics of every stage, in one registry that `/metrics` serves."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

registry = CollectorRegistry(auto_describe=True)

digests_ingested = Counter(
    "digestbot_digests_ingested", "Digests stored (new or changed).", registry=registry
)
items_ingested = Counter("digestbot_items_ingested", "Items new to the archive.", registry=registry)
digest_errors = Counter(
    "digestbot_digest_errors", "Digest files that could not be parsed.", registry=registry
)
deliveries_sent = Counter(
    "digestbot_deliveries_sent", "Messages accepted by Telegram.", registry=registry
)
deliveries_failed = Counter(
    "digestbot_deliveries_failed",
    "Messages given up on (blocked, gone, too many attempts).",
    registry=registry,
)
deliveries_retried = Counter(
    "digestbot_deliveries_retried", "Send attempts that will be retried.", registry=registry
)
flood_waits = Counter(
    "digestbot_flood_waits", "429 Too Many Requests answers from Telegram.", registry=registry
)
deliveries_pending = Gauge(
    "digestbot_deliveries_pending", "Deliveries waiting to be sent.", registry=registry
)
file_to_first_send = Histogram(
    "digestbot_file_to_first_send_seconds",
    "Time from a digest file's arrival to its first message accepted by Telegram.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
    registry=registry,
)
file_to_feed = Histogram(
    "digestbot_file_to_feed_seconds",
    "Time from a digest file's arrival to its items in the written feeds.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
    registry=registry,
)
