"""How updates are handled: many at once, but those of one chat one after another.

python-telegram-bot handles one update at a time by default, so one reply waiting for its turn
in the rate budget (up to a second in a private chat, three in a group) would hold up every
other user. Here updates of different chats run concurrently, while a chat's own commands are
still answered in the order they were sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

__all__ = ["ChatOrderedUpdates"]


class ChatOrderedUpdates(BaseUpdateProcessor):
    """Up to `max_concurrent_updates` updates at once, in order within each chat."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._chats: dict[int | None, _Turns] = {}
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat is not None else None
        turns = self._chats.setdefault(key, _Turns())
        self._active += 1
        self._idle.clear()
        turns.users += 1
        try:
            async with turns.lock:
                await coroutine
        finally:
            turns.users -= 1
            if turns.users == 0:
                del self._chats[key]
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def idle(self) -> None:
        """Return once no update is being handled (tests: every update pushed is done)."""
        await self._idle.wait()

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class _Turns:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
