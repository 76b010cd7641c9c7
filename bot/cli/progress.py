"""Progress on a terminal (rich bars on stderr), nothing otherwise: logs and pipes stay clean."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bot.storing.outbox import Outbox, Result, Sent


def track(paths: Iterable[Path], label: str) -> Iterator[Path]:
    """`paths`, with a transient bar while they are worked through."""
    paths = list(paths)
    if not sys.stderr.isatty() or len(paths) < 2:
        yield from paths
        return
    from rich.console import Console
    from rich.progress import track as rich_track

    yield from rich_track(paths, description=label, transient=True, console=Console(stderr=True))


class DeliveryProgress:
    """A bar of one digest's deliveries, advanced by the dispatcher's `progress` callback."""

    def __init__(self, outbox: Outbox, digest_id: str) -> None:
        self.outbox = outbox
        self.digest_id = digest_id
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> DeliveryProgress:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            counts = self.outbox.counts(self.digest_id)
            total = sum(counts.values())
            done = counts["sent"] + counts["failed"] + counts["cancelled"]
            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._bar.add_task("delivering", total=total, completed=done)
            self._bar.start()
        return self

    def update(self, result: Result, claimed: Any) -> None:
        if self._bar is not None and isinstance(result, Sent):
            self._bar.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
