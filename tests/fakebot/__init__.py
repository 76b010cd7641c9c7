"""A fake Telegram Bot API for tests: `FakeTelegram` serves it over real HTTP on 127.0.0.1.

    from fakebot import FakeTelegram
    with FakeTelegram() as fake:
        bot = telegram.Bot(fake.token, base_url=fake.base_url)

Pytest fixtures (`fake_telegram`, `telegram`) live in fakebot.fixtures.
"""

from .html import EntityParseError, ParsedText, parse_html, utf16_len
from .limits import FloodLimits
from .records import CallbackAnswer, RequestRecord, SentMessage
from .server import DEFAULT_TOKEN, BotApiError, FakeTelegram

__all__ = [
    "DEFAULT_TOKEN",
    "BotApiError",
    "CallbackAnswer",
    "EntityParseError",
    "FakeTelegram",
    "FloodLimits",
    "ParsedText",
    "RequestRecord",
    "SentMessage",
    "parse_html",
    "utf16_len",
]
