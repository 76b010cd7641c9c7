"""The arguments of `/filter`: `+word` to include, `-word` to exclude, `clear` to start over.

Words are separated by white space or commas (`,，、;；`), read in order (so `/filter clear +AI`
replaces the filter) and added to what the chat has; a word named again with the other sign
changes sides. Words are kept as written (for listing) and compared in their normal form
(`bot.dispatching.filtering.normal`), so `OpenAI` and `ｏｐｅｎａｉ` are one word. The whole
is refused, and nothing changes, when a word is empty or too long or there are too many."""

from __future__ import annotations

import re
from dataclasses import replace

from bot.dispatching.filtering import MAX_WORD_LENGTH, MAX_WORDS, normal
from bot.storing.chat_settings import ChatSettings

CLEAR_WORDS = frozenset({"clear", "off", "none", "清除", "清空"})
MAX_FILTER_CHARS = MAX_WORDS * (MAX_WORD_LENGTH + 2)  # 20 full words and their signs
_SEPARATORS = re.compile(r"[\s,，、;；]+")
_SIGNS = {"+": True, "＋": True, "-": False, "－": False, "−": False}


class FilterError(ValueError):
    """`/filter` arguments refused: `problem` is "empty", "long" or "many"; `word` the culprit."""

    def __init__(self, problem: str, word: str = "") -> None:
        self.problem = problem
        self.word = word
        super().__init__(problem)


def parse_filter(raw: str, settings: ChatSettings) -> ChatSettings:
    """`settings` with the filter `raw` asks for. Raises FilterError (nothing changes)."""
    if len(raw) > MAX_FILTER_CHARS:
        raise FilterError("many")
    words: dict[str, tuple[str, bool]] = {}  # normal form -> (as written, include?)
    for word in settings.include_words:
        words[normal(word)] = (word, True)
    for word in settings.exclude_words:
        words[normal(word)] = (word, False)
    for token in _SEPARATORS.split(raw.strip()):
        if not token:
            continue
        if token.casefold() in CLEAR_WORDS:
            words.clear()
            continue
        include = _SIGNS.get(token[0], True)  # a bare word is included, like `+word`
        word = token[1:] if token[0] in _SIGNS else token
        key = normal(word).strip()
        if not key:
            raise FilterError("empty", token)
        if len(word) > MAX_WORD_LENGTH or len(key) > MAX_WORD_LENGTH:
            raise FilterError("long", word)
        words.pop(key, None)  # named again: it moves to the end, on its new side
        words[key] = (word, include)
        if len(words) > MAX_WORDS:
            raise FilterError("many")
    return replace(
        settings,
        include_words=tuple(w for w, include in words.values() if include),
        exclude_words=tuple(w for w, include in words.values() if not include),
    )
