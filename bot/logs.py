"""Logging: one line per event, readable on a terminal, with secrets such as the bot token
redacted from every record before any handler sees it.

python-telegram-bot's HTTP client (httpx) logs request URLs, and the URL holds the token; so
redaction happens when a record is created (a log-record factory), which covers every logger and
every handler, pytest's capture included.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterable

REDACTED = "[REDACTED]"
_secrets: set[str] = set()
_installed = False


def redact(text: str) -> str:
    for secret in _secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def add_secret(secret: str | None) -> None:
    """Redact this value (and its URL-path form) from every log record from now on."""
    if secret:
        _secrets.add(secret)
        _install_factory()


def _install_factory() -> None:
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:  # type: ignore[no-untyped-def]
        record = previous(*args, **kwargs)
        if not _secrets:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_text = record.exc_text.rstrip("\n")
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def configure_logging(level: str = "INFO", secrets: Iterable[str | None] = ()) -> None:
    """Root logging to stderr, one line per event; quiet the chatty HTTP libraries."""
    for secret in secrets:
        add_secret(secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; even redacted, one line per Bot API call is noise.
    for name in ("httpx", "httpcore", "apscheduler", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.WARNING)
