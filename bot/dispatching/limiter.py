"""python-telegram-bot's face of the `Pacer`: every request an `ExtBot` makes waits its turn.

Both bots of the service (the Application's, which replies to commands, and the dispatcher's,
which delivers) are built with a `SharedLimiter` over the same `Pacer`, so one budget paces every
request of the token. python-telegram-bot never rate-limits getUpdates.

- The dispatcher takes its turn itself (it must be able to give a turn back when it stops before
  sending) and passes the `Permit` as `rate_limit_args`: such a request goes at once.
- Any other request (a reply, getChatMember, answerCallbackQuery, setMyCommands...) takes a turn
  at `Priority.REPLY`. A reply refused with 429 waits for the chat and is tried again, as long as
  it has waited less than `patience` seconds in all; then the `RetryAfter` is raised (the
  Application's error handler logs it in one line).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.dispatching.pacing import Pacer, Permit, Priority

__all__ = ["PATIENCE", "SharedLimiter", "retry_seconds"]

PATIENCE = 60.0  # seconds a reply may wait for its turn, 429s included
_NOT_IN_A_CHAT = ("sendChatAction",)  # requests to a chat that post nothing there


def retry_seconds(error: RetryAfter) -> float:
    """A 429's retry_after in seconds (python-telegram-bot 22 keeps a timedelta inside)."""
    wait = getattr(error, "_retry_after", None)
    if wait is not None:
        return max(0.0, float(wait.total_seconds()))
    return max(0.0, float(error.retry_after))  # type: ignore[arg-type]


def chat_of(endpoint: str, data: dict[str, Any]) -> str | None:
    """The chat whose per-chat limit a request counts against: sending, copying, forwarding
    and editing messages in a chat (None: only the overall limit)."""
    chat_id = data.get("chat_id")
    if chat_id is None or endpoint in _NOT_IN_A_CHAT:
        return None
    if endpoint.startswith(("send", "copy", "forward", "edit")):
        return str(chat_id)
    return None


class SharedLimiter(BaseRateLimiter[Permit]):
    """Paces an `ExtBot`'s requests with `pacer` (shared with the other bot of the token)."""

    def __init__(self, pacer: Pacer, *, patience: float = PATIENCE) -> None:
        self.pacer = pacer
        self.patience = patience

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Permit | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if rate_limit_args is not None:  # the caller holds a turn already
            return await callback(*args, **kwargs)
        chat_id = chat_of(endpoint, data)
        deadline = time.monotonic() + self.patience
        while True:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    permit = await self.pacer.acquire(chat_id, Priority.REPLY)
            except TimeoutError:
                left = self.pacer.ready_at(chat_id) - time.monotonic() if chat_id else 0.0
                raise RetryAfter(max(1, math.ceil(left))) from None
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                wait = retry_seconds(error)
                if chat_id is not None:
                    self.pacer.hold(chat_id, wait)  # that chat waits; other requests go on
                if time.monotonic() + wait > deadline:
                    raise
            finally:
                self.pacer.done(permit)
            if chat_id is None:
                await asyncio.sleep(wait)  # flood control of the whole bot: nothing to hold
