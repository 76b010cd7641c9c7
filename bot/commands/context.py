"""What every handler gets: the stores and settings (`Services`), kept in a typed `bot_data`
(`BotData`, registered with `ContextTypes`), and the `Context` type of their second argument."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from telegram.ext import CallbackContext, ContextTypes, ExtBot

from bot.categorising.table import CategoryTable
from bot.commands.flood import FloodGuard
from bot.dispatching.pacing import Permit
from bot.settings import Settings
from bot.storing.archive import Archive
from bot.storing.chat_settings import ChatSettingsStore
from bot.storing.subscribers import Subscribers

__all__ = ["CONTEXT_TYPES", "BotData", "Context", "Services"]


@dataclass(frozen=True)
class Services:
    """What the handlers use."""

    settings: Settings
    engine: Engine
    table: CategoryTable
    archive: Archive
    subscribers: Subscribers
    flood: FloodGuard
    chat_settings: ChatSettingsStore


class BotData:
    """`Application.bot_data`: python-telegram-bot makes it empty, `build_application` fills
    it before the first update."""

    def __init__(self) -> None:
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("bot_data.services is used before build_application set it")
        return self._services

    @services.setter
    def services(self, services: Services) -> None:
        self._services = services


Context = CallbackContext[ExtBot[Permit], dict[Any, Any], dict[Any, Any], BotData]
CONTEXT_TYPES = ContextTypes(bot_data=BotData)
