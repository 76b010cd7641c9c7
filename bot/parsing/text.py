"""Character clean-up for every parsing module: zero-width removal, spaces, matching keys."""

from __future__ import annotations

import re
import unicodedata

# Invisible characters that writers' editors leak into digests.  U+200D (zero-width joiner) is
# handled separately: inside an emoji sequence (👨‍👩‍👧) it is part of what the reader sees.
_ZERO_WIDTH = "\u200b\u200c\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad"
_ZERO_WIDTH_RE = re.compile(f"[{_ZERO_WIDTH}]")
_EMOJI = "\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u2b00-\u2bff"
_STRAY_ZWJ_RE = re.compile(f"(?<![{_EMOJI}])\u200d|\u200d(?![{_EMOJI}])")
_ANY_ZW_RE = re.compile(f"[{_ZERO_WIDTH}\u200d]")

# Characters that look like a space; the structure of a line (numbering, separators,
# indentation) treats them all as one.  Each maps to exactly one character so that indices
# found on the structural copy of a line are valid on the displayed line.
SPACE_CHARS = (
    "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
)
_SPACE_RE = re.compile(f"[{SPACE_CHARS}]")  # a regex: much faster than str.translate here
_WS_RUN_RE = re.compile(r"\s+")


def strip_zero_width(s: str) -> str:
    """Remove invisible characters, keeping zero-width joiners inside emoji sequences."""
    return _STRAY_ZWJ_RE.sub("", _ZERO_WIDTH_RE.sub("", s))


def structural(s: str) -> str:
    """The same string with every space-like character turned into an ASCII space (same length)."""
    return _SPACE_RE.sub(" ", s)


def normalise_text(s: str) -> str:
    """NFKC + casefold with every zero-width character removed: the form used for matching."""
    return unicodedata.normalize("NFKC", _ANY_ZW_RE.sub("", s)).casefold()


def key_text(s: str) -> str:
    """`normalise_text` with runs of whitespace collapsed: the form titles take inside ids."""
    return _WS_RUN_RE.sub(" ", normalise_text(s)).strip()
