"""Logging: one line per event, readable on a terminal, with secrets such as the bot token
redacted from every record before any handler sees it.

One line per event holds whatever the values are: the arguments of a record (file names, digest
errors, message text) have their control characters escaped (`\n` as `\\n`, ESC as `\\x1b`,
bidirectional overrides as `\\u202e`), so a file named `a\n12:00:00 ERROR …` or holding ANSI
codes cannot forge a log line or repaint the terminal. The format strings are ours, and trusted.

python-telegram-bot's HTTP client (httpx) logs request URLs, and the URL holds the token; so
redaction happens when a record is created (a log-record factory), which covers every logger and
every handler, pytest's capture included.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable, Mapping

REDACTED = "[REDACTED]"
_secrets: set[str] = set()
_installed = False


# C0 and C1 controls (newlines, ESC, ...), line and paragraph separators, bidi controls.
_UNPRINTABLE_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def one_line(text: str) -> str:
    """`text` with every control character written as its escape (`\\n`, `\\x1b`)."""
    return _UNPRINTABLE_RE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def _escaped(value: object) -> object:
    if isinstance(value, int | float):  # numbers keep their `%d` / `%.1f` formatting
        return value
    return one_line(str(value))


class OneLineFormatter(logging.Formatter):
    """A formatter whose records stay on one line whatever their arguments hold (a traceback,
    which is ours, still follows on its own lines)."""

    def format(self, record: logging.LogRecord) -> str:
        if record.args:
            record = logging.makeLogRecord({**record.__dict__, "args": escape_args(record.args)})
        return super().format(record)


def escape_args(
    args: tuple[object, ...] | Mapping[str, object],
) -> tuple[object, ...] | dict[str, object]:
    """A record's arguments with their control characters escaped (numbers left as they are)."""
    if isinstance(args, Mapping):
        return {key: _escaped(value) for key, value in args.items()}
    return tuple(_escaped(value) for value in args)


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

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not _secrets:
            return record
        if record.args:  # merged into the message below: escape them first, as the formatter would
            record.args = escape_args(record.args)
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
        OneLineFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; even redacted, one line per Bot API call is noise.
    for name in ("httpx", "httpcore", "apscheduler", "uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.WARNING)
