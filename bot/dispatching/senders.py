"""Senders: what actually sends a message. Telegram (python-telegram-bot) or the console.

A sender turns every outcome it understands into either a message id or one of the `SendError`s
below, so the dispatcher decides on meanings (flood, blocked, gone, migrated, bad HTML,
transient, refused) and never on library exception types or error wording. Only the network,
timeouts and 5xx are `Transient`; any other exception propagates as it is (a bug, or an answer
nobody expected), and the dispatcher fails that delivery at once.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import select
import ssl
import urllib.request
import warnings
from collections import deque
from typing import Any, ClassVar, NoReturn, Protocol

import httpcore
import httpx
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData
from telegram.warnings import PTBUserWarning

from bot.dispatching.limiter import SharedLimiter, retry_seconds
from bot.dispatching.pacing import Limits, Pacer, Permit
from bot.formatting.messages import SETTINGS_DATA, plain_text
from bot.logs import add_secret, redact
from bot.settings import Settings

log = logging.getLogger(__name__)

# Sends and edits go through `Bot.do_api_request` (python-telegram-bot's public way to make a
# request and get the raw answer): building a `Message` from every answer, which the dispatcher
# never reads beyond its id, was a tenth of the client's CPU per message. The library suggests
# its own method for a known endpoint; here that is the point.
warnings.filterwarnings(
    "ignore",
    message=r"Please use 'Bot\.(sendMessage|editMessageText)'",
    category=PTBUserWarning,
)

__all__ = [
    "ChatBlocked",
    "ChatGone",
    "ChatMovedTo",
    "ConsoleSender",
    "EntityError",
    "FloodWait",
    "MessageGone",
    "Refused",
    "SendError",
    "Sender",
    "SenderUnusable",
    "StatusRequest",
    "TelegramSender",
    "TopicGone",
    "Transient",
    "UnexpectedStatus",
    "classify",
]


class SendError(Exception):
    """A send that did not (certainly) succeed; str() is the reason."""


class FloodWait(SendError):
    """429: wait `retry_after` seconds before sending to this chat again."""

    def __init__(self, retry_after: float, reason: str = "") -> None:
        super().__init__(reason or f"flood control: retry after {retry_after:g}s")
        self.retry_after = retry_after


class ChatBlocked(SendError):
    """403: the user blocked the bot, or it was removed from the group or channel."""


class ChatGone(SendError):
    """The chat does not exist (any more): deleted account, wrong id."""


class ChatMovedTo(SendError):
    """The group became a supergroup with another id."""

    def __init__(self, new_chat_id: str) -> None:
        super().__init__(f"group moved to {new_chat_id}")
        self.new_chat_id = new_chat_id


class EntityError(SendError):
    """Telegram refused the HTML."""


class MessageGone(SendError):
    """The message to edit is not there (deleted, or not one the bot can edit)."""


class TopicGone(SendError):
    """The forum topic is closed or deleted (the chat itself is fine)."""


class Transient(SendError):
    """5xx, a timeout, the network: try again later (a timeout may have delivered it)."""


class Refused(SendError):
    """Any other refusal: sending the same again would fail the same way."""


class SenderUnusable(SendError):
    """Nothing can be sent (the token was refused): stop dispatching."""


class Sender(Protocol):
    """Sends or edits one message; `pacer` is the budget its requests are paced by (the
    dispatcher takes a turn from it and passes the `permit` on; without one, the request
    takes its own turn)."""

    pacer: Pacer

    async def send(
        self,
        chat_id: str,
        text: str,
        *,
        html: bool,
        disable_preview: bool,
        permit: Permit | None = None,
        silent: bool = False,
        button: str | None = None,
        thread_id: int | None = None,
    ) -> int | None:
        """Send a message; `silent`: without sound; `button`: the label of a button under it
        that opens /settings; `thread_id`: into that forum topic."""
        ...

    async def edit(
        self,
        chat_id: str,
        message_id: int,
        text: str,
        *,
        html: bool,
        disable_preview: bool,
        permit: Permit | None = None,
        button: str | None = None,
    ) -> int | None:
        """Change the text of a message sent earlier; an edit to the same text counts as done."""
        ...

    async def close(self) -> None: ...


# seconds a request to the Bot API may take, for sizing the connection pool (a paid broadcast at
# 1,000/s then needs 50 requests in flight); more than MAX_CONNECTIONS only costs (every request
# looks at every pooled connection)
ROUND_TRIP = 0.05
MAX_CONNECTIONS = 64
# Telegram's words for a closed topic and for a deleted one (or a thread id it does not know)
_TOPIC_GONE = ("topic_closed", "message thread not found", "topic_deleted")
_MESSAGE_GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")
_NOT_MODIFIED = "message is not modified"
_GONE = ("chat not found", "peer_id_invalid", "user not found", "chat_id is empty")
_BLOCKED = (
    "bot was blocked",
    "bot was kicked",
    "not a member",
    "user is deactivated",
    "have no rights to send",
    "not enough rights",
    "need administrator rights",
    "chat_write_forbidden",
    "chat_restricted",
)


def classify(error: TelegramError) -> SendError | None:
    """The meaning of a python-telegram-bot exception, or None when it has none we know of
    (a bug, or an answer we do not understand: the caller lets it propagate). Texts are
    compared case-insensitively: python-telegram-bot rewrites Telegram's descriptions."""
    text = str(error)
    lowered = text.lower()
    if isinstance(error, RetryAfter):
        return FloodWait(retry_seconds(error), text)
    if isinstance(error, ChatMigrated):
        return ChatMovedTo(str(error.new_chat_id))
    if isinstance(error, Forbidden):
        return ChatBlocked(text)
    if isinstance(error, InvalidToken | EndPointNotFound):  # 404: the token (sendMessage exists)
        return SenderUnusable("the bot token was refused by the Bot API")
    if isinstance(error, BadRequest):
        if "parse entities" in lowered or "can't find end" in lowered:
            return EntityError(text)
        if any(marker in lowered for marker in _TOPIC_GONE):
            return TopicGone(text)
        if any(marker in lowered for marker in _MESSAGE_GONE):
            return MessageGone(text)
        if any(marker in lowered for marker in _GONE):
            return ChatGone(text)
        if any(marker in lowered for marker in _BLOCKED):
            return ChatBlocked(text)
        return Refused(text)
    if isinstance(error, TimedOut):
        return Transient(f"timed out: {text}")
    if isinstance(error, NetworkError):  # the network, a 5xx (see StatusRequest), a bare 429
        return Transient(text)
    return None


class UnexpectedStatus(TelegramError):
    """An HTTP status the Bot API does not answer sendMessage with (3xx, 413, 418, ...)."""


class StatusRequest(BaseRequest):
    """The sender's HTTP client for the Bot API: python-telegram-bot's `BaseRequest` (which
    turns answers into `RetryAfter`, `Forbidden`, `BadRequest`, `ChatMigrated`...) over httpx,
    made to

    - post a body without files as `application/json` (the Bot API takes it; nested objects such
      as `reply_markup` as JSON objects): a form body percent-encodes every byte of a non-ASCII
      text, a tenth of the client's CPU per message in a broadcast of Chinese digests;
    - tell a 5xx from other statuses: python-telegram-bot raises `NetworkError` for both (with
      Telegram's description, not the status, as its text). Here a 5xx stays a `NetworkError`
      (transient) and a status it has no exception for becomes `UnexpectedStatus` (not worth
      retrying);
    - hand such a body straight to the lean transport (see `_client_options`), not through
      httpx's client: its request building, cookies, auth and redirects were a fifth of the
      client's CPU per message, and the Bot API uses none of them.
    """

    _KNOWN = frozenset({400, 401, 403, 404, 409, 429})
    _JSON: ClassVar[dict[str, str]] = {
        "Content-Type": "application/json",
        "User-Agent": BaseRequest.USER_AGENT,
    }

    def __init__(
        self,
        *,
        connections: int,
        timeout: float,
        connect_timeout: float,
    ) -> None:
        self._connections = connections
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=timeout, write=timeout, pool=timeout
        )
        self._client, self._transport = self._build()

    def _build(self) -> tuple[httpx.AsyncClient, httpx.AsyncBaseTransport | None]:
        options = _client_options(self._connections)
        client = httpx.AsyncClient(
            timeout=self._timeout,
            limits=httpx.Limits(
                max_connections=self._connections, max_keepalive_connections=self._connections
            ),
            **options,
        )
        return client, options.get("transport")

    @property
    def read_timeout(self) -> float | None:
        return self._timeout.read

    async def initialize(self) -> None:
        if self._client.is_closed:
            self._client, self._transport = self._build()

    async def shutdown(self) -> None:
        if not self._client.is_closed:
            await self._client.aclose()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        default = self._timeout
        timeout = httpx.Timeout(
            connect=default.connect if _unset(connect_timeout) else connect_timeout,
            read=default.read if _unset(read_timeout) else read_timeout,
            write=default.write if _unset(write_timeout) else write_timeout,
            pool=default.pool if _unset(pool_timeout) else pool_timeout,
        )
        try:
            if request_data is not None and request_data.contains_files:
                response = await self._client.request(
                    method,
                    url,
                    headers={"User-Agent": self.USER_AGENT},
                    timeout=timeout,
                    files=request_data.multipart_data,
                    data=request_data.json_parameters,
                )
                content = response.content
            else:
                body = b"" if request_data is None else _json_body(request_data)
                response, content = await self._direct(method, url, body, timeout)
        except httpx.TimeoutException as error:
            raise TimedOut(f"httpx.{type(error).__name__}: {error}") from error
        except httpx.HTTPError as error:  # the base of httpx's errors: last
            raise NetworkError(f"httpx.{type(error).__name__}: {error}") from error
        code = response.status_code
        if code < 300 or code in self._KNOWN:
            return code, content
        if code >= 500:
            raise NetworkError(f"the Bot API answered HTTP {code}")
        raise UnexpectedStatus(f"the Bot API answered HTTP {code}")

    async def _direct(
        self, method: str, url: str, body: bytes, timeout: httpx.Timeout
    ) -> tuple[httpx.Response, bytes]:
        """A JSON request by the transport itself (by the client when a proxy is set)."""
        if self._client.is_closed:
            raise RuntimeError("this StatusRequest is not initialized")
        if self._transport is None:
            response = await self._client.request(
                method, url, headers=self._JSON, timeout=timeout, content=body
            )
            return response, response.content
        request = httpx.Request(
            method,
            _parsed(url),
            headers=self._JSON,
            content=body,
            extensions={"timeout": timeout.as_dict()},
        )
        response = await self._transport.handle_async_request(request)
        try:
            return response, await response.aread()
        finally:
            await response.aclose()


@functools.lru_cache(maxsize=16)  # a few endpoints: parsing the URL was 4% of a send's CPU
def _parsed(url: str) -> httpx.URL:
    return httpx.URL(url)


def _unset(timeout: Any) -> bool:
    """Whether a request left this timeout to the client's default."""
    return timeout is BaseRequest.DEFAULT_NONE


def _json_body(request_data: RequestData) -> bytes:
    """The parameters as a UTF-8 JSON object (not `\\uXXXX` escapes: half the bytes for CJK)."""
    return json.dumps(request_data.parameters, ensure_ascii=False).encode("utf-8")


class _LeanStream(httpcore.AsyncNetworkStream):
    """httpcore's anyio stream made cheaper per request, for the sender's own client:

    - whether it is readable (asked of every idle connection of the pool each time a request
      starts or ends: a server's close shows as readable) is one poll of a descriptor
      registered once, not a dictionary of the socket's attributes built with two system
      calls each time: a third of the client's CPU per message in a broadcast;
    - what is written waits until the answer is read, so a request's headers and body leave
      in one system call and one TCP segment, not two (the server then reads it in one too).
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")
        self._poll = select.poll()
        self._poll.register(self._socket.fileno(), select.POLLIN)
        self._unsent = b""
        self._write_timeout: float | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._unsent:
            unsent, self._unsent = self._unsent, b""
            await self._inner.write(unsent, self._write_timeout)
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._unsent += buffer
        self._write_timeout = timeout

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _LeanStream(inner)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._socket.fileno() < 0 or bool(self._poll.poll(0))
        if info == "socket":
            return self._socket
        return self._inner.get_extra_info(info)


class _LeanBackend(httpcore.AnyIOBackend):
    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _LeanStream(await super().connect_tcp(*args, **kwargs))


class _LeanTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (HTTP/1.1, `connections` at most, idle ones kept 5 s as httpx's
    defaults) over `_LeanStream`s."""

    def __init__(self, connections: int) -> None:  # not super().__init__: it builds a pool
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=connections,
            keepalive_expiry=5.0,
            network_backend=_LeanBackend(),
        )


def _client_options(connections: int) -> dict[str, Any]:
    """httpx options of the sender's client: the lean transport, unless a proxy is set in the
    environment (httpx honours those only with its own transport)."""
    if urllib.request.getproxies():
        return {}
    return {"transport": _LeanTransport(connections)}


def connections_for(limits: Limits) -> int:
    """Requests in flight at once needed to keep up with the overall rate when each takes
    `ROUND_TRIP` seconds (16 at least: a slow chat must not hold the others up; 64 at most)."""
    return max(16, min(MAX_CONNECTIONS, math.ceil(limits.overall_per_second * ROUND_TRIP)))


def chat_ref(chat_id: str) -> int | str:
    """A chat id as the Bot API takes it: a number, or "@channelname"."""
    text = str(chat_id).strip()
    try:
        return int(text)
    except ValueError:
        return text


class TelegramSender:
    """Sends with python-telegram-bot's `ExtBot`, every request paced by `pacer` (the bot
    token's one budget, shared with the Application's bot; its own by default)."""

    def __init__(
        self, settings: Settings, *, pacer: Pacer | None = None, pool_size: int | None = None
    ) -> None:
        token = settings.token
        if not token:
            raise ValueError("TelegramSender needs a bot token")
        add_secret(token)  # error texts and logged tracebacks may quote request URLs
        timeout = settings.telegram.request_timeout
        self.pacer = pacer or Pacer(Limits.from_settings(settings.telegram))
        self.concurrency = pool_size or connections_for(Limits.from_settings(settings.telegram))
        request = StatusRequest(
            connections=self.concurrency,
            timeout=timeout,
            connect_timeout=min(timeout, 10.0),
        )
        self.bot: ExtBot[Permit] = ExtBot(
            token,
            base_url=settings.telegram.base_url,
            request=request,
            rate_limiter=SharedLimiter(self.pacer),
        )
        self._no_preview = LinkPreviewOptions(is_disabled=True)

    async def send(
        self,
        chat_id: str,
        text: str,
        *,
        html: bool,
        disable_preview: bool,
        permit: Permit | None = None,
        silent: bool = False,
        button: str | None = None,
        thread_id: int | None = None,
    ) -> int:
        fields: dict[str, Any] = {"chat_id": chat_ref(chat_id), "text": text}
        if html:
            fields["parse_mode"] = ParseMode.HTML
        if disable_preview:
            fields["link_preview_options"] = self._no_preview
        if permit is not None and permit.paid:
            # beyond the free rate (paid broadcast on): Telegram charges 0.1 Star for it
            fields["allow_paid_broadcast"] = True
        if silent:
            fields["disable_notification"] = True
        if button is not None:
            fields["reply_markup"] = _settings_markup(button)
        if thread_id is not None:
            fields["message_thread_id"] = thread_id
        try:
            answer = await self.bot.do_api_request(
                "sendMessage", api_kwargs=fields, rate_limit_args=permit
            )
        except TelegramError as error:
            _raise_classified(error)
        return _message_id(answer)

    async def edit(
        self,
        chat_id: str,
        message_id: int,
        text: str,
        *,
        html: bool,
        disable_preview: bool,
        permit: Permit | None = None,
        button: str | None = None,
    ) -> int:
        fields: dict[str, Any] = {
            "chat_id": chat_ref(chat_id),
            "message_id": message_id,
            "text": text,
        }
        if html:
            fields["parse_mode"] = ParseMode.HTML
        if disable_preview:
            fields["link_preview_options"] = self._no_preview
        if button is not None:
            fields["reply_markup"] = _settings_markup(button)
        try:
            await self.bot.do_api_request(
                "editMessageText",
                api_kwargs=fields,
                rate_limit_args=permit,
            )
        except TelegramError as error:
            if isinstance(error, BadRequest) and _NOT_MODIFIED in str(error).lower():  # repeated
                return message_id
            _raise_classified(error)
        return message_id

    async def close(self) -> None:
        try:
            await self.bot.shutdown()
        except Exception as error:  # closing must never fail a run that delivered everything
            log.debug("closing the bot: %s", error)


@functools.lru_cache(maxsize=8)  # one label per language: built once, not for every send
def _settings_markup(label: str | None) -> InlineKeyboardMarkup | None:
    if label is None:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=SETTINGS_DATA)]])


def _message_id(answer: Any) -> int:
    """The id of the message a send's answer describes (the answer is not otherwise read)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("message_id"), int):
        raise TelegramError(f"sendMessage answered without a message id: {type(answer).__name__}")
    return answer["message_id"]


def _raise_classified(error: TelegramError) -> NoReturn:
    """A send's or an edit's error as the outcome the dispatcher acts on (retry, stop the chat,
    plain text...), its text redacted; an error no outcome covers is raised as it is."""
    mapped = classify(error)
    if mapped is None:
        raise error
    mapped.args = (redact(str(mapped)),)
    raise mapped from error


class ConsoleSender:
    """Console mode (no token): logs each message it would send, and counts it as sent."""

    concurrency = 16

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.pacer = Pacer(None)  # nothing to pace
        self.log = logger or logging.getLogger("digestbot.console")
        self._ids = itertools.count(1)
        self.sent: deque[tuple[str, str]] = deque(maxlen=1000)  # the latest, for tests
        self.edited: deque[tuple[str, int, str]] = deque(maxlen=1000)

    async def send(
        self,
        chat_id: str,
        text: str,
        *,
        html: bool,
        disable_preview: bool,
        permit: Permit | None = None,
        silent: bool = False,
        button: str | None = None,
        thread_id: int | None = None,
    ) -> int:
        shown = plain_text(text) if html else text
        where = chat_id if thread_id is None else f"{chat_id} (topic {thread_id})"
        self.log.info("console mode, would send to %s:\n%s", where, shown)
        self.sent.append((chat_id, text))
        return next(self._ids)

    async def edit(
        self,
        chat_id: str,
        message_id: int,
        text: str,
        *,
        html: bool,
        disable_preview: bool,
        permit: Permit | None = None,
        button: str | None = None,
    ) -> int:
        shown = plain_text(text) if html else text
        self.log.info(
            "console mode, would edit message %d in %s to:\n%s", message_id, chat_id, shown
        )
        self.edited.append((chat_id, message_id, text))
        return message_id

    async def close(self) -> None:
        return None
