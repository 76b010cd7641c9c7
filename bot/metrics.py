"""Prometheus metrics of every stage, in one registry that `/metrics` serves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric

registry = CollectorRegistry(auto_describe=True)

digests_ingested = Counter(
    "digestbot_digests_ingested", "Digests stored (new or changed).", registry=registry
)
items_ingested = Counter("digestbot_items_ingested", "Items new to the archive.", registry=registry)
digest_errors = Counter(
    "digestbot_digest_errors", "Digest files that could not be parsed.", registry=registry
)
pipeline_failures = Counter(
    "digestbot_pipeline_failures",
    "Digests whose planning failed, and failed feed renderings (each attempt).",
    ["stage"],
    registry=registry,
)
pipeline_failing = Gauge(
    "digestbot_pipeline_failing",
    "Digests (and the feeds) failing now and waiting for a retry.",
    registry=registry,
)
deliveries_pending = Gauge(
    "digestbot_deliveries_pending", "Deliveries waiting to be sent.", registry=registry
)
backlog_drain_seconds = Gauge(
    "digestbot_backlog_drain_seconds",
    "Expected seconds to send the deliveries waiting, at the rate of the latest sends "
    "(-1: nothing is going out, so no estimate).",
    registry=registry,
)
send_rate = Gauge(
    "digestbot_send_rate", "Messages per second over the latest sends.", registry=registry
)
outbox_bytes = Gauge(
    "digestbot_outbox_bytes",
    "Bytes the outbox's tables and indexes take in the database (-1: unknown).",
    registry=registry,
)
outbox_rows = Gauge(
    "digestbot_outbox_rows", "Rows of the outbox, per table.", ["table"], registry=registry
)
history_pruned = Counter(
    "digestbot_history_pruned",
    "Rows of the outbox's history deleted after the retention window, per table.",
    ["table"],
    registry=registry,
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


class _DeliveryCounters:
    """Deliveries sent / failed / retried and 429s, read from the running dispatcher's own
    counts at scrape time (one source of truth, no second set of counters to keep in step)."""

    FIELDS = (
        ("sent", "digestbot_deliveries_sent", "Messages accepted by Telegram."),
        (
            "failed",
            "digestbot_deliveries_failed",
            "Messages given up on (blocked, gone, attempts).",
        ),
        (
            "broken",
            "digestbot_deliveries_broken",
            "Messages failed at once by an unexpected error (a bug; part of failed).",
        ),
        ("retried", "digestbot_deliveries_retried", "Send attempts retried after 5xx or timeouts."),
        ("flood", "digestbot_flood_waits", "429 Too Many Requests answers from Telegram."),
        ("plain", "digestbot_deliveries_plain", "Messages resent as plain text after HTML errors."),
        (
            "edited",
            "digestbot_messages_edited",
            "Sent messages edited in place after their digest changed.",
        ),
        (
            "broken_topics",
            "digestbot_topics_broken",
            "Forum topics found closed or deleted (their messages went to General).",
        ),
    )

    def __init__(self) -> None:
        self.source: Callable[[], Any] | None = None

    def collect(self) -> Iterator[Metric]:
        stats = self.source() if self.source else None
        for field, name, documentation in self.FIELDS:
            yield CounterMetricFamily(name, documentation, value=getattr(stats, field, 0))


delivery_counters = _DeliveryCounters()
registry.register(delivery_counters)


def count_deliveries_of(source: Callable[[], Any]) -> None:
    """Report the counts of the dispatcher that `source` returns (its `stats`)."""
    delivery_counters.source = source
