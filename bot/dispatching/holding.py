"""What a chat's settings do to what routing chose for it (#13), one recipient at a time.

A paused chat gets nothing (items published while paused are not sent later one by one;
`/resume` offers a catch-up instead); a scheduled chat, or one in quiet hours that hold, has its
items held for its next bundle (`bot.storing.held`); any other chat gets them now. The keyword
filter leaves out what it does not admit, here and again when a bundle is laid out (the words
may have changed meanwhile). `Holding.decide` is a function of one recipient, so planning in
batches calls it per chat.
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from bot.dispatching.filtering import admits, normal
from bot.dispatching.timing import Disposition, disposition
from bot.model import Item
from bot.storing.chat_settings import DEFAULT, ChatSettings


class Holding:
    """The decisions of one plan at one moment; filtered selections are shared between chats
    with the same words and the same routed items (routing shares those tuples)."""

    def __init__(self, now: float, zone: ZoneInfo) -> None:
        self.now = now
        self.zone = zone
        self._filtered: dict[tuple[object, ...], tuple[Item, ...]] = {}

    def decide(
        self, settings: ChatSettings | None, chosen: tuple[Item, ...]
    ) -> tuple[Disposition, tuple[Item, ...]]:
        """What happens to `chosen` for a chat with `settings` (None: the defaults), and which
        of the items it concerns (none when paused; the filter's choice otherwise)."""
        settings = settings or DEFAULT
        if settings is DEFAULT:
            return Disposition.DELIVER, chosen
        verdict = disposition(settings, self.now, self.zone)
        if verdict is Disposition.SKIP:
            return verdict, ()
        return verdict, self.admitted(settings, chosen)

    def admitted(self, settings: ChatSettings, chosen: Sequence[Item]) -> tuple[Item, ...]:
        """The items the chat's keyword filter lets through (all, without words)."""
        include, exclude = settings.include_words, settings.exclude_words
        if not include and not exclude:
            return tuple(chosen)
        key = (include, exclude, tuple(item.id for item in chosen))
        found = self._filtered.get(key)
        if found is None:
            words_in = tuple(normal(word) for word in include)
            words_out = tuple(normal(word) for word in exclude)
            found = self._filtered[key] = tuple(
                item
                for item in chosen
                if admits(words_in, words_out, item.title, item.summary_text)
            )
        return found
