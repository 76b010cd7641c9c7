"""Ingest: a digest file becomes stored, categorised items, once per content.

A file whose size and mtime are unchanged is not read again; one whose bytes are unchanged is not
parsed again. So a scan of a large archive costs a `stat` per file.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.categorising.assign import categorise
from bot.categorising.corrected import with_corrections
from bot.categorising.table import CategoryTable
from bot.model import Digest, DigestError
from bot.parsing import parse_bytes, read_digest_file
from bot.storing.archive import Archive, FileRecord, Ingested, source_key
from bot.storing.corrections import Corrections
from bot.storing.outbox import Outbox

log = logging.getLogger(__name__)

IGNORED_SUFFIXES = (".tmp", ".part", ".swp", ".swx", ".crdownload", "~")
DIGEST_SUFFIXES = (".md", ".markdown")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What ingesting one file did."""

    path: Path
    status: str  # "unchanged", "stored" or "error"
    digest: Digest | None = None
    ingested: Ingested | None = None
    error: DigestError | None = None


def is_digest_name(path: Path) -> bool:
    """Hidden, temporary and editor files are never digests, whatever they hold."""
    name = path.name
    if name.startswith((".", "#", "~")) or name.endswith(IGNORED_SUFFIXES):
        return False
    return name.lower().endswith(DIGEST_SUFFIXES)


def digest_files(folder: Path) -> list[Path]:
    """Digest files directly in `folder` and below, in name order (the writer's time order)."""
    if not folder.is_dir():
        return []
    found = (
        path
        for path in folder.rglob("*")
        if is_digest_name(path)
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    return sorted(found, key=lambda p: (p.name, str(p)))


class Ingester:
    """Parses, categorises and stores digest files into the archive."""

    def __init__(self, archive: Archive, table: CategoryTable, zone: ZoneInfo) -> None:
        self.archive = archive
        self.table = table
        self.zone = zone

    def ingest(self, path: Path, *, force: bool = False) -> Outcome:
        key = source_key(path)
        try:
            stat = path.stat()
        except OSError as error:
            return Outcome(path, "error", error=DigestError(path, 1, f"cannot read: {error}"))
        known = self.archive.file_record(key)
        if not force and known and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            # A broken file is reported once, and read again only when it changes.
            return Outcome(path, "unchanged")
        try:
            data = read_digest_file(path)  # a regular file, bounded: never a FIFO or 6 GB
        except DigestError as error:  # reported once, like a parse error, until it changes
            self._remember(key, stat.st_size, stat.st_mtime_ns, "", None, error.reason)
            return Outcome(path, "error", error=error)
        content_hash = hashlib.sha256(data).hexdigest()
        if not force and known and known.content_hash == content_hash and not known.error:
            self._remember(key, stat.st_size, stat.st_mtime_ns, content_hash, known.digest_id)
            return Outcome(path, "unchanged")
        try:
            digest = categorise(parse_bytes(data, path, zone=self.zone), self.table)
            digest = with_corrections(digest, Corrections(self.archive.engine))
        except DigestError as error:
            self._remember(key, stat.st_size, stat.st_mtime_ns, content_hash, None, error.reason)
            return Outcome(path, "error", error=error)
        ingested = self.archive.store(digest, zone=self.zone)
        self._remember(key, stat.st_size, stat.st_mtime_ns, content_hash, digest.id)
        if known and known.digest_id and known.digest_id != digest.id:
            self._forget(known.digest_id, digest.id)
        return Outcome(path, "stored", digest=digest, ingested=ingested)

    def changed_files(self, paths: list[Path]) -> list[Path]:
        """The paths whose size or mtime differ from what the archive remembers: one query for
        the whole folder instead of one per file."""
        known = self.archive.file_records()
        changed = []
        for path in paths:
            record = known.get(source_key(path))
            try:
                stat = path.stat()
            except OSError:
                continue
            if record is None or (record.size, record.mtime_ns) != (
                stat.st_size,
                stat.st_mtime_ns,
            ):
                changed.append(path)
        return changed

    def ingest_folder(
        self, folder: Path, progress: Callable[[Path], None] | None = None
    ) -> Iterator[Outcome]:
        for path in self.changed_files(digest_files(folder)):
            outcome = self.ingest(path)
            if progress:
                progress(path)
            yield outcome

    def _forget(self, digest_id: str, successor: str) -> None:
        """The file now holds another digest (its title or date changed): drop the old one,
        unless another file still holds it. Its messages pass to its successor, whose
        planning then edits them."""
        if not any(r.digest_id == digest_id for r in self.archive.file_records().values()):
            Outbox(self.archive.engine).adopt(digest_id, successor)
            removed = self.archive.remove_digest(digest_id)
            self.archive.take_plain_slug(successor, self.zone)
            log.info(
                "digest %s replaced by its edited file; %d item(s) left", digest_id, len(removed)
            )

    def _remember(
        self,
        key: str,
        size: int,
        mtime_ns: int,
        content_hash: str,
        digest_id: str | None,
        error: str | None = None,
    ) -> None:
        self.archive.record_file(FileRecord(key, size, mtime_ns, content_hash, digest_id, error))
