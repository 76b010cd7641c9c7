"""What the fake Bot API remembers: the messages it accepted, callback answers, the request log.

All records are frozen snapshots, so a test may keep and compare them while the server thread
goes on working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallbackAnswer", "RequestRecord", "SentMessage"]


@dataclass(frozen=True)
class SentMessage:
    """One message the bot sent that Telegram accepted (its current state after any edit)."""

    chat_id: int | str  # as the bot addressed it: an int, or "@channelname"
    message_id: int
    text: str  # raw, as sent (HTML source in parse_mode HTML)
    plain: str  # what the user sees: HTML parsed, outer whitespace trimmed like Telegram
    parse_mode: str | None
    link_preview_disabled: bool
    reply_markup: dict | None
    at: float  # time.monotonic() when accepted (edits keep it)
    entities: list[dict] = field(default_factory=list)  # Bot API entities, UTF-16 offsets
    date: int = 0  # unix time, as in the Message object
    edit_count: int = 0
    deleted: bool = False
    paid: bool = False  # sent with allow_paid_broadcast (Telegram charges 0.1 Star for it)
    silent: bool = False  # sent with disable_notification
    message_thread_id: int | None = None  # the forum topic it was sent into (None: General)

    def buttons(self) -> list[dict]:
        """The inline keyboard's buttons, row after row (empty without one)."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    def callback_data(self) -> list[str]:
        """callback_data of every inline button, in order."""
        return [b["callback_data"] for b in self.buttons() if "callback_data" in b]


@dataclass(frozen=True)
class CallbackAnswer:
    """An answerCallbackQuery call, tied back to the pressed button."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    chat_id: int | str | None
    message_id: int | None
    data: str | None
    at: float


@dataclass(frozen=True)
class RequestRecord:
    """One Bot API call as the server saw it (the token lives in the URL and is never kept)."""

    method: str  # as the client spelled it, e.g. "sendMessage"
    params: dict[str, Any]
    status: int  # HTTP status answered (the client may have timed out before it)
    description: str | None  # error description, None on success
    at: float
