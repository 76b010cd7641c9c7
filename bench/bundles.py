"""Releasing bundles and revising them with their digest (#13 leftovers).

    .venv/bin/python bench/bundles.py [--subscribers 20000] [--postgres]

SQLite in a temporary folder, or with `--postgres` a database of its own on the server of
`DIGESTBOT_TEST_POSTGRES` (default postgresql://postgres@127.0.0.1:5432/test), dropped after.

The sample digest planned for `--subscribers` subscribers with `broadcast.py --mixed`'s settings
(a third scheduled, so their items are held), every due bundle released (`release_bundles`, a
day later), then the sample corrected (one summary) and planned again: the revision edits or
rewrites each chat's message of the digest and each bundle that carried its items. Reported:
the seconds of the release and of the revision, the bundles written, the parts rewritten.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from broadcast import make_world, mixed_settings, plan, settings_for  # noqa: E402
from instances import Database  # noqa: E402

from bot.categorising.assign import categorise  # noqa: E402
from bot.categorising.table import load_table  # noqa: E402
from bot.dispatching.bundles import release_bundles  # noqa: E402
from bot.parsing import parse_file  # noqa: E402
from bot.storing.archive import Archive  # noqa: E402

SAMPLE = ROOT / "seeds" / "2025.11.27.12.md"


def run(subscribers: int, postgres: bool = False) -> dict[str, object]:
    database = Database() if postgres else None
    try:
        return _run(subscribers, database.url if database else None)
    finally:
        if database is not None:
            database.drop()


def _run(subscribers: int, url: str | None) -> dict[str, object]:
    table = load_table(ROOT / "config" / "categories.toml")
    with tempfile.TemporaryDirectory() as folder:
        engine, digest_id = make_world(Path(folder), subscribers, seed=7, sample=True, url=url)
        mixed_settings(engine)
        settings = settings_for(engine, None, None, 1)
        plan(engine, digest_id, settings)
        started = time.monotonic()
        written = release_bundles(engine, settings, table, time.time() + 86400)
        released = time.monotonic() - started
        digest = categorise(parse_file(SAMPLE, zone=ZoneInfo("Asia/Shanghai")), table)
        first, *rest = digest.items
        fix = first.summary_text + "（更正）"
        first = replace(first, summary_md=fix, summary_html=fix, summary_text=fix)
        fixed = replace(digest, items=(first, *rest), content_hash=_rehash(digest.content_hash))
        Archive(engine).store(fixed)
        started = time.monotonic()
        result = plan(engine, fixed.id, settings)
        revised = time.monotonic() - started
        engine.dispose()
    return {
        "database": "postgresql" if url else "sqlite",
        "subscribers": subscribers,
        "bundles": len(written),
        "release_seconds": round(released, 2),
        "revision_seconds": round(revised, 2),
        "rewritten": result.rewritten,
        "edits": result.edits,
    }


def _rehash(content_hash: str) -> str:
    """Another content hash of the same length (PostgreSQL holds it in 64 characters)."""
    return hashlib.sha256(f"{content_hash}-fixed".encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=20000)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    print(json.dumps(run(args.subscribers, args.postgres), indent=2))


if __name__ == "__main__":
    main()
