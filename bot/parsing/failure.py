"""The parsing modules' exception; `parse_bytes` adds the file name and makes a DigestError."""

from __future__ import annotations


class ParseFailure(Exception):
    """A problem at a line of the digest being parsed (1-based), with the reason in words."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"{line}: {reason}")
        self.line = line
        self.reason = reason
