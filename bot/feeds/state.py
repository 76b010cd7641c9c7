"""What the last build rendered: for each archive job, its mark and the files it wrote.

Kept as a hidden JSON file in the feeds folder (the server never serves dot-files), next to the
files it describes: a folder restored from a backup, or emptied, brings its own state (or none,
and then everything is rendered again). A job is rendered again when its mark changed or one of
its files is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bot.feeds.writer import write_if_changed

STATE_FILE = ".build-state.json"
VERSION = 1


@dataclass
class BuildState:
    """`{job key: (mark, [relative paths])}` of the last build."""

    jobs: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, feeds_dir: Path) -> BuildState:
        try:
            data = json.loads((feeds_dir / STATE_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return cls()
        jobs = data.get("jobs")
        if not isinstance(jobs, dict):
            return cls()
        return cls({key: (str(mark), list(paths)) for key, (mark, paths) in jobs.items()})

    def is_current(self, feeds_dir: Path, key: str, mark: str) -> bool:
        known = self.jobs.get(key)
        if known is None or known[0] != mark:
            return False
        return all((feeds_dir / path).is_file() for path in known[1])

    def save(self, feeds_dir: Path) -> None:
        data = {"version": VERSION, "jobs": {k: list(v) for k, v in sorted(self.jobs.items())}}
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        write_if_changed(feeds_dir / STATE_FILE, text.encode("utf-8"))
