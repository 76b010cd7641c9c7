"""A `Digest` as JSON-ready data, for `digestbot parse`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from pathlib import PurePath

from bot.model import Digest


def digest_to_dict(digest: Digest) -> dict[str, object]:
    """Every field of the digest and its items in JSON types; the date is ISO 8601 with offset."""
    return {
        "id": digest.id,
        "title": digest.title,
        "date": digest.date.isoformat(),
        "categories": list(digest.categories),
        "source": str(digest.source),
        "content_hash": digest.content_hash,
        "items": [_jsonable(asdict(item)) for item in digest.items],
        "extra": _jsonable(digest.extra),
    }


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
