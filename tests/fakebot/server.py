"""A fake Telegram Bot API for tests: real HTTP on 127.0.0.1, Telegram's behaviour and errors.

`FakeTelegram` runs an ASGI app under uvicorn in a background thread with its own event loop, so
that python-telegram-bot in the test's event loop, in another thread or in a `digestbot run`
subprocess talks to it through its real HTTP stack (`base_url=fake.base_url`). It implements the
methods digestbot uses (sending, editing, callback answers, commands, long polling, chat
lookups), Telegram's HTML parsing and length limits, its flood limits (429 `retry_after`), and
faults a test can inject (blocked users, vanished or migrated chats, 5xx, stalls). Everything it
accepted can be inspected and waited for from the test thread or the test's event loop.

Raw ASGI rather than Starlette's Request: the form parser there needs python-multipart, which is
not a dependency, and long polling needs the raw `receive` to notice a client that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.parser
import email.policy
import ipaddress
import itertools
import json
import re
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import uvicorn

from .html import EntityParseError, parse_html, utf16_len
from .limits import FloodGate, FloodLimits, is_private
from .records import CallbackAnswer, RequestRecord, SentMessage

__all__ = ["DEFAULT_TOKEN", "BotApiError", "FakeTelegram"]

# Well-formed (digits, colon, 35 characters) so that code validating token shape accepts it.
DEFAULT_TOKEN = "123456:TEST-fake-token-not-real-0000000000"
_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")
MAX_TEXT_UTF16 = 4096
DEFAULT_LIMITS = FloodLimits()
# A user id for pushed group messages when the test names none.
DEFAULT_GROUP_USER = 7_000_001

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
# Parameters sent as form fields arrive as strings; these are decoded to what the Bot API means.
_INT_PARAMS = {
    "chat_id",
    "from_chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "user_id",
    "cache_time",
    "reply_to_message_id",
    "message_thread_id",
    "max_connections",
    "until_date",
}
_BOOL_PARAMS = {
    "disable_web_page_preview",
    "disable_notification",
    "protect_content",
    "show_alert",
    "drop_pending_updates",
    "allow_sending_without_reply",
    "allow_paid_broadcast",
}
_JSON_PARAMS = {
    "reply_markup",
    "link_preview_options",
    "scope",
    "allowed_updates",
    "commands",
    "entities",
    "reply_parameters",
    "caption_entities",
    "menu_button",
}
# Update types Telegram delivers when allowed_updates is unset or empty.
_DEFAULT_EXCLUDED_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
_TG_STRIP = " \t\n\r\v\f"


class BotApiError(Exception):
    """An error answer: HTTP status = error_code, Telegram's description and parameters."""

    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {description}")


def _chat_key(value: Any) -> int | str:
    """A chat id as Telegram reads it: an integer, or "@username" for public chats."""
    if value is None or value == "":
        raise _bad("chat_id is empty")
    if isinstance(value, bool):
        raise _bad("chat not found")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("@") and len(text) > 1:
            return text
        with contextlib.suppress(ValueError):
            return int(text)
    raise _bad("chat not found")


def _coerce(name: str, value: Any) -> Any:
    """Decode one parameter: form fields are strings, and JSON ones may be strings too."""
    if not isinstance(value, str):
        return value
    if name in _JSON_PARAMS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _INT_PARAMS:
        if name == "chat_id" and value.strip().startswith("@"):
            return value.strip()
        for kind in (int, float):
            with contextlib.suppress(ValueError):
                return kind(value)
        return value
    if name in _BOOL_PARAMS:
        return value.strip().lower() in ("true", "1")
    return value


_ESCAPED = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _unescaped(match: re.Match[str]) -> str:
    return bytes.fromhex(match.group().replace("%", "")).decode("utf-8", "replace")


def _unquote_plus(text: str) -> str:
    """`urllib.parse.unquote_plus`, a run of escapes at a time: a Chinese message is thousands
    of `%XX`, which urllib decodes one by one (a fifth of the fake's CPU per message)."""
    text = text.replace("+", " ")
    return _ESCAPED.sub(_unescaped, text) if "%" in text else text


def _parse_form(body: str) -> list[tuple[str, str]]:
    """`urllib.parse.parse_qsl(body, keep_blank_values=True)`, with `_unquote_plus`."""
    pairs = []
    for field in body.split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs.append((_unquote_plus(name), _unquote_plus(value)))
    return pairs


def _decode_body(headers: dict[str, str], query: str, body: bytes) -> dict[str, Any]:
    """Parameters from the query string and a JSON, form-encoded or multipart body.

    python-telegram-bot 22 posts `application/x-www-form-urlencoded` (httpx `data=`), each
    non-string value JSON-encoded, and multipart when a file is attached.
    """
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    ctype = headers.get("content-type", "")
    if body:
        if ctype.startswith("application/json"):
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("a JSON body must be an object")
            params.update(data)
        elif ctype.startswith("multipart/form-data"):
            raw = b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
            for part in message.iter_parts():
                name = str(part.get_param("name", header="content-disposition"))
                payload = part.get_payload(decode=True) or b""
                data = payload if isinstance(payload, bytes) else str(payload).encode("utf-8")
                if part.get_filename():
                    params[name] = {"filename": part.get_filename(), "size": len(data)}
                else:
                    params[name] = data.decode("utf-8")
        else:
            params.update(_parse_form(body.decode("utf-8")))
    return {name: _coerce(name, value) for name, value in params.items()}


def _strip_entities(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Trim outer whitespace as Telegram does, moving and clipping entities to match."""
    stripped = text.strip(_TG_STRIP)
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip(_TG_STRIP))])
    size = utf16_len(stripped)
    moved = []
    for ent in entities:
        start = max(0, ent["offset"] - lead)
        end = min(size, ent["offset"] + ent["length"] - lead)
        if end > start:
            moved.append({**ent, "offset": start, "length": end - start})
    return stripped, moved


def _check_reply_markup(markup: Any) -> dict | None:
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return markup
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad(
            'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
        )
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise _bad("text buttons are unallowed in the inline keyboard")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise _bad("BUTTON_DATA_INVALID")
            elif "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not re.match(r"(https?|tg)://\S+$", url):
                    raise _bad("BUTTON_URL_INVALID")
            elif not set(button) & {
                "login_url",
                "switch_inline_query",
                "switch_inline_query_current_chat",
                "switch_inline_query_chosen_chat",
                "copy_text",
                "web_app",
                "callback_game",
                "pay",
            }:
                raise _bad("text buttons are unallowed in the inline keyboard")
    return markup


def _update_type(update: dict) -> str:
    return next((key for key in update if key != "update_id"), "")


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(predicate: Callable) -> str:
    name = getattr(predicate, "__qualname__", repr(predicate))
    code = getattr(predicate, "__code__", None)
    if code is not None:
        name += f" ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})"
    return name


class FakeTelegram:
    """A Telegram Bot API stand-in on 127.0.0.1; see the module docstring.

    Use `with FakeTelegram() as fake:` (or start()/stop()), point python-telegram-bot at
    `fake.base_url`, inject users with push_message/push_callback, inspect with messages(),
    and wait with wait_for()/wait_for_async(). All public methods are thread-safe. In an async
    test, use the *_async waits: the blocking ones would stall a bot running in the same loop.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "digest_test_bot",
        bot_first_name: str = "Digest Test Bot",
        limits: FloodLimits | None = DEFAULT_LIMITS,
        strict_html: bool = True,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 123456
        self.bot_user = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        # strict_html refuses bare '&', unknown entities and nested links, which Telegram keeps
        # as literal text or mangles: see html.py.
        self.strict_html = strict_html
        self._default_limits = limits
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        # Update ids never restart, not even on reset(): a poller still holding an old offset
        # would otherwise confirm (drop) new updates unseen.
        self._update_ids = itertools.count(100_000_001)
        self._query_ids = itertools.count(4_382_000_000_000_000_001)
        self._channel_ids = itertools.count(-1_001_000_000_001, -1)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._port: int | None = None
        self._polling = 0  # not per test: it counts requests in flight
        self._clear()

    # ----------------------------------------------------------------- lifecycle

    def _clear(self) -> None:
        """All per-test state (called under the lock, or before the server runs)."""
        self._messages: list[SentMessage] = []
        # Message ids restart per test, so that a test may expect its first reply to be 1.
        self._next_message_id: dict[int | str, int] = {}
        self._message_at: dict[tuple[int | str, int], int] = {}  # (chat, id) -> index
        self._user_messages: set[tuple[int | str, int]] = set()
        self._updates: list[dict] = []
        self._allowed_updates: list[str] | None = None
        self._callbacks: dict[str, dict] = {}
        self._callback_answers: list[CallbackAnswer] = []
        self._commands: dict[tuple[str, str], list[dict]] = {}
        self._requests: list[RequestRecord] = []
        self._chats: dict[int | str, dict] = {}
        self._users: dict[int, dict] = {}
        self._admins: dict[int | str, tuple[int | None, list[int]]] = {}
        self._blocked: dict[int | str, str] = {}
        self._forgotten: set[int | str] = set()
        self._migrated: dict[int | str, int] = {}
        self._aliases: dict[str, int] = {}  # "@username" -> id of channels made by add_channel
        self._bot_members: dict[int | str, dict] = {}  # the bot's own status where it changed
        # forum topics: chat -> thread id -> {"name", "closed", "deleted"}
        self._topics: dict[int | str, dict[int, dict]] = {}
        self._fail: dict[str, list[tuple[int, bool]]] = {}
        self._stall: dict[str, list[tuple[float, bool]]] = {}
        self._gate = FloodGate(self._default_limits) if self._default_limits else None
        self._flood_counts: Counter[int | str] = Counter()
        self._accepted: list[tuple[int | str, float]] = []  # (chat, when) per send and edit
        self._webhook: dict | None = None
        self._webhook_deliveries: list[tuple[int, int | str]] = []
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future, Callable]] = []

    def start(self) -> FakeTelegram:
        """Start serving on an ephemeral port; returns self. Idempotent."""
        if self._thread is not None:
            return self
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
        # listening socket says TCP, and without it each answer waits ~40 ms for delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            lifespan="off",
            loop="asyncio",
            http="h11",
            ws="none",
            # The URL holds the token: no access log, ever.
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=2,
            # Telegram keeps an idle connection open far longer than httpx's 5 s keep-alive;
            # closing it after 5 s as uvicorn does by default races a client reusing it
            # (an httpx.ReadError on a request that never reached the server)
            timeout_keep_alive=75,
        )
        self._server = uvicorn.Server(config)
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._thread_main, args=(sock, ready, errors), name="fake-telegram", daemon=True
        )
        self._thread.start()
        if not ready.wait(15) or errors:
            self.stop()
            raise RuntimeError(f"fake Telegram server did not start: {errors}")
        return self

    def _thread_main(self, sock: socket.socket, ready: threading.Event, errors: list) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(sock, ready))
        except BaseException as exc:  # report start-up failures to start()
            errors.append(exc)
            ready.set()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            sock.close()

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        self._updates_event = asyncio.Event()
        self._interrupt = asyncio.Event()
        self._poll_conflict: asyncio.Event | None = None
        self._webhook_kick = asyncio.Event()
        self._http = httpx.AsyncClient(timeout=5)
        webhook_task = asyncio.create_task(self._webhook_loop())
        assert self._server is not None
        serve = asyncio.create_task(self._server.serve(sockets=[sock]))
        # Start-up only: uvicorn offers no "started" event to await.
        while not self._server.started and not serve.done():
            await asyncio.sleep(0.005)
        if serve.done():
            serve.result()
        ready.set()
        try:
            await serve
        finally:
            webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await webhook_task
            await self._http.aclose()

    def stop(self) -> None:
        """Stop the server and wait for its thread. Idempotent."""
        thread, server, loop = self._thread, self._server, self._loop
        if thread is None:
            return
        if server is not None:
            server.should_exit = True
        if loop is not None and loop.is_running():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._interrupt_all)
        thread.join(15)
        self._thread = self._loop = self._server = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget messages, updates, faults, admins, commands, counters; restore the limits.

        In-flight long polls and stalls are answered at once. Update ids keep increasing;
        message ids start again at 1 in every chat.
        """
        with self._lock:
            waiters = self._async_waiters
            self._clear()
            self._async_waiters = waiters
            self._notify()
        self._call_in_loop(self._interrupt_all)

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For `base_url=`: python-telegram-bot appends the token and then "/<method>"."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def limits(self) -> FloodLimits | None:
        with self._lock:
            return self._gate.limits if self._gate else None

    @limits.setter
    def limits(self, limits: FloodLimits | None) -> None:
        """Replace the flood limits (None disables them) until the next reset()."""
        with self._lock:
            self._gate = FloodGate(limits) if limits else None

    # ---------------------------------------------------------- loop plumbing

    def _call_in_loop(self, callback: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(callback)

    def _interrupt_all(self) -> None:
        """(In the loop) answer every waiting long poll and stall now."""
        event, self._interrupt = self._interrupt, asyncio.Event()
        event.set()

    def _kick_pollers(self) -> None:
        self._updates_event.set()
        self._webhook_kick.set()

    def _notify(self) -> None:
        """(Under the lock) wake every wait_for and wait_for_async whose condition now holds."""
        self._cond.notify_all()
        for waiter in list(self._async_waiters):
            loop, future, predicate = waiter
            try:
                done, error = bool(predicate(self)), None
            except Exception as exc:
                done, error = True, exc
            if done:
                self._async_waiters.remove(waiter)
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, future, error)

    # ------------------------------------------------------------------- HTTP

    async def _asgi(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        # Once the body is read, receive() returns only when the client disconnects.
        gone = asyncio.ensure_future(_until_disconnect(receive))
        try:
            status, payload = await self._handle(scope, bytes(body), gone)
        finally:
            gone.cancel()
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        with contextlib.suppress(Exception):  # the client may be gone (timeouts)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(data)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": data})

    async def _handle(self, scope: dict, body: bytes, gone: asyncio.Future) -> tuple[int, dict]:
        match = re.fullmatch(r"/bot([^/]*)/([^/]*)", scope["path"])
        if match is None:
            return _error_payload(BotApiError(404, "Not Found"))
        token, method = match.groups()
        if token != self.token:
            # Telegram: 401 for a well-formed token it does not know, 404 for a malformed one.
            shape_ok = _TOKEN_SHAPE.fullmatch(token)
            return _error_payload(
                BotApiError(401 if shape_ok else 404, "Unauthorized" if shape_ok else "Not Found")
            )
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            params = _decode_body(headers, scope.get("query_string", b"").decode(), body)
        except (ValueError, UnicodeDecodeError):
            params = {}
            status, payload = _error_payload(_bad("can't parse request body"))
        else:
            status, payload = await self._dispatch(method, params, gone)
        with self._lock:
            self._requests.append(
                RequestRecord(
                    method=method,
                    params=params,
                    status=status,
                    description=payload.get("description"),
                    at=time.monotonic(),
                )
            )
            self._notify()
        return status, payload

    async def _dispatch(self, method: str, params: dict, gone: asyncio.Future) -> tuple[int, dict]:
        name = method.lower()  # Bot API method names are case-insensitive
        handler = self._handlers().get(name)
        if handler is None:
            return _error_payload(BotApiError(404, "Not Found"))

        async def run() -> tuple[int, dict]:
            try:
                result = await handler(params, gone)
            except BotApiError as exc:
                return _error_payload(exc)
            return 200, {"ok": True, "result": result}

        with self._lock:
            stall = _take_fault(self._stall, name)
            fail = _take_fault(self._fail, name)
        answer: tuple[int, dict] | None = None
        if stall is not None:
            seconds, deliver = stall
            if deliver:
                # Done before the hold: Telegram may deliver a message whose answer times out.
                answer = await run()
            await self._hold(seconds)
            if not deliver and gone.done():
                # The client gave up; the request never reached "Telegram".
                return _error_payload(BotApiError(504, "Gateway Timeout"))
        if fail is not None:
            status, deliver = fail
            if deliver and answer is None:
                await run()
            text = {
                500: "Internal Server Error",
                502: "Bad Gateway",
                503: "Service Unavailable",
                504: "Gateway Timeout",
            }.get(status, "Internal Server Error")
            return _error_payload(BotApiError(status, text))
        return answer if answer is not None else await run()

    async def _hold(self, seconds: float) -> None:
        interrupt = self._interrupt
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(interrupt.wait(), seconds)

    def _handlers(self) -> dict[str, Callable[[dict, asyncio.Future], Awaitable[Any]]]:
        return {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "getchatadministrators": self._get_chat_administrators,
            "sendchataction": self._send_chat_action,
            "close": self._true,
            "logout": self._true,
            "setmydescription": self._true,
            "setmyshortdescription": self._true,
            "setmyname": self._true,
            "setchatmenubutton": self._true,
        }

    # ------------------------------------------------------------ chat state

    def _chat(self, key: int | str) -> dict:
        """(Under the lock) the registry entry of a chat, created with plausible defaults."""
        chat = self._chats.get(key)
        if chat is None:
            if isinstance(key, str):
                chat = {
                    "id": next(self._channel_ids),
                    "type": "channel",
                    "title": key[1:],
                    "username": key[1:],
                }
            elif key > 0:
                user = self._users.get(key, {})
                chat = {"id": key, "type": "private", "first_name": user.get("first_name", "Test")}
                if user.get("username"):
                    chat["username"] = user["username"]
            elif key <= -1_000_000_000_000:
                chat = {"id": key, "type": "supergroup", "title": "Test Supergroup"}
            else:
                chat = {"id": key, "type": "group", "title": "Test Group"}
            self._chats[key] = chat
        return chat

    def _resolve(self, key: int | str) -> int | str:
        """(Under the lock or not) "@username" of a channel made by add_channel -> its id."""
        if isinstance(key, str):
            return self._aliases.get(key.lower(), key)
        return key

    def _check_thread(self, key: int | str, thread_id: Any) -> int | None:
        """(Under the lock) the topic a send goes to, or Telegram's 400 for a closed one, a
        deleted one or one the chat does not have."""
        if thread_id is None:
            return None
        if not isinstance(thread_id, int):
            raise _bad("message thread not found")
        topic = self._topics.get(key, {}).get(thread_id)
        if topic is None or topic["deleted"] or not self._chat(key).get("is_forum"):
            raise _bad("message thread not found")
        if topic["closed"]:
            raise _bad("TOPIC_CLOSED")
        return thread_id

    def _check_chat(self, key: int | str, *, sending: bool) -> None:
        """(Under the lock) the injected faults of a chat, in Telegram's order of precedence."""
        if key in self._forgotten:
            raise _bad("chat not found")
        if key in self._migrated:
            raise BotApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[key]},
            )
        if sending and key in self._blocked:
            raise BotApiError(403, self._blocked[key])

    def _message_json(self, sm: SentMessage) -> dict:
        chat = self._chat(sm.chat_id)
        message: dict[str, Any] = {"message_id": sm.message_id}
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        else:
            message["from"] = self.bot_user
        message.update(chat=chat, date=sm.date, text=sm.plain)
        if sm.message_thread_id is not None:
            message.update(message_thread_id=sm.message_thread_id, is_topic_message=True)
        if sm.entities:
            message["entities"] = sm.entities
        if sm.reply_markup and "inline_keyboard" in sm.reply_markup:
            message["reply_markup"] = sm.reply_markup
        if sm.link_preview_disabled:
            message["link_preview_options"] = {"is_disabled": True}
        if sm.edit_count:
            message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _render(self, params: dict) -> tuple[str, str | None, str, list[dict]]:
        """(text, parse_mode, plain, entities) of a sendMessage/editMessageText, or 400."""
        text = params.get("text")
        if text is None or text == "":
            raise _bad("message text is empty")
        text = str(text)
        parse_mode = params.get("parse_mode") or None
        entities: list[dict] = []
        mode = (parse_mode or "").lower()
        if mode == "html":
            try:
                parsed = parse_html(text, strict=self.strict_html)
            except EntityParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
            plain, entities = parsed.text, parsed.entities
        elif mode in ("", "markdown", "markdownv2"):
            # Markdown is accepted but not parsed: digestbot sends HTML.
            plain = text
            if isinstance(params.get("entities"), list):
                entities = params["entities"]
        else:
            raise _bad("unsupported parse_mode")
        plain, entities = _strip_entities(plain, entities)
        if not plain:
            raise _bad("message text is empty")
        # Telegram counts code points; UTF-16 units are stricter and safe under both readings.
        if utf16_len(plain) > MAX_TEXT_UTF16:
            raise _bad("message is too long")
        return text, parse_mode, plain, entities

    def _new_message_id(self, key: int | str) -> int:
        # One sequence per chat for the user's and the bot's messages, as in a private chat.
        number = self._next_message_id.get(key, 1)
        self._next_message_id[key] = number + 1
        return number

    # ---------------------------------------------------------- Bot API methods

    async def _true(self, params: dict, gone: asyncio.Future) -> bool:
        return True

    async def _get_me(self, params: dict, gone: asyncio.Future) -> dict:
        return dict(self.bot_user)

    async def _send_message(self, params: dict, gone: asyncio.Future) -> dict:
        key = self._resolve(_chat_key(params.get("chat_id")))
        with self._lock:
            self._check_chat(key, sending=True)
            thread_id = self._check_thread(key, params.get("message_thread_id"))
        text, parse_mode, plain, entities = self._render(params)
        markup = _check_reply_markup(params.get("reply_markup"))
        preview = params.get("link_preview_options")
        no_preview = bool(params.get("disable_web_page_preview")) or (
            isinstance(preview, dict) and bool(preview.get("is_disabled"))
        )
        with self._lock:
            now = time.monotonic()
            paid = params.get("allow_paid_broadcast") is True
            self._admit(key, now, paid=paid)
            sm = SentMessage(
                chat_id=key,
                message_id=self._new_message_id(key),
                text=text,
                plain=plain,
                parse_mode=parse_mode,
                link_preview_disabled=no_preview,
                reply_markup=markup,
                at=now,
                entities=entities,
                date=int(time.time()),
                paid=paid,
                silent=bool(params.get("disable_notification")),
                message_thread_id=thread_id,
            )
            self._message_at[(key, sm.message_id)] = len(self._messages)
            self._messages.append(sm)
            return self._message_json(sm)

    def _find_for_edit(self, params: dict, verb: str) -> tuple[int | str, int, SentMessage]:
        """(Under the lock) the bot's message an edit or delete refers to, or Telegram's 400."""
        if params.get("inline_message_id"):
            raise _bad(f"message to {verb} not found")
        key = self._resolve(_chat_key(params.get("chat_id")))
        self._check_chat(key, sending=True)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _bad("message identifier is not specified")
        if (key, message_id) in self._user_messages:
            raise _bad(f"message can't be {'edited' if verb == 'edit' else 'deleted'}")
        index = self._message_at.get((key, message_id))
        if index is None or self._messages[index].deleted:
            raise _bad(f"message to {verb} not found")
        return key, index, self._messages[index]

    def _admit(self, key: int | str, now: float, *, paid: bool = False) -> None:
        """(Under the lock) the flood gate for one send or edit: Telegram counts both; only
        a send may carry allow_paid_broadcast (`paid`), which lifts the free overall limit."""
        if self._gate is not None:
            retry = self._gate.admit(key, now, paid=paid)
            if retry:
                self._flood_counts[key] += 1
                raise BotApiError(
                    429, f"Too Many Requests: retry after {retry}", {"retry_after": retry}
                )
        self._accepted.append((key, now))

    async def _edit_message_text(self, params: dict, gone: asyncio.Future) -> dict:
        text, parse_mode, plain, entities = self._render(params)
        markup = _check_reply_markup(params.get("reply_markup"))
        preview = params.get("link_preview_options")
        with self._lock:
            key, index, old = self._find_for_edit(params, "edit")
            if old.plain == plain and old.entities == entities and old.reply_markup == markup:
                raise _bad(_NOT_MODIFIED[len("Bad Request: ") :])
            self._admit(key, time.monotonic())
            no_preview = old.link_preview_disabled
            if "disable_web_page_preview" in params or isinstance(preview, dict):
                no_preview = bool(params.get("disable_web_page_preview")) or (
                    isinstance(preview, dict) and bool(preview.get("is_disabled"))
                )
            new = replace(
                old,
                text=text,
                plain=plain,
                parse_mode=parse_mode,
                entities=entities,
                reply_markup=markup,
                link_preview_disabled=no_preview,
                edit_count=old.edit_count + 1,
            )
            self._messages[index] = new
            return self._message_json(new)

    async def _edit_message_reply_markup(self, params: dict, gone: asyncio.Future) -> dict:
        markup = _check_reply_markup(params.get("reply_markup"))
        with self._lock:
            _, index, old = self._find_for_edit(params, "edit")
            if old.reply_markup == markup or (not old.reply_markup and not markup):
                raise _bad(_NOT_MODIFIED[len("Bad Request: ") :])
            new = replace(old, reply_markup=markup, edit_count=old.edit_count + 1)
            self._messages[index] = new
            return self._message_json(new)

    async def _delete_message(self, params: dict, gone: asyncio.Future) -> bool:
        with self._lock:
            _, index, old = self._find_for_edit(params, "delete")
            self._messages[index] = replace(old, deleted=True)
            return True

    async def _answer_callback_query(self, params: dict, gone: asyncio.Future) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        with self._lock:
            query = self._callbacks.get(query_id)
            if query is None or query["answered"]:
                raise _bad(_QUERY_TOO_OLD[len("Bad Request: ") :])
            text = params.get("text")
            if text is not None and len(str(text)) > 200:
                raise _bad("MESSAGE_TOO_LONG")
            query["answered"] = True
            self._callback_answers.append(
                CallbackAnswer(
                    callback_query_id=query_id,
                    text=text,
                    show_alert=bool(params.get("show_alert")),
                    url=params.get("url"),
                    cache_time=params.get("cache_time"),
                    chat_id=query["chat_id"],
                    message_id=query["message_id"],
                    data=query["data"],
                    at=time.monotonic(),
                )
            )
        return True

    @staticmethod
    def _scope_key(params: dict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise _bad("can't parse BotCommandScope JSON object")
        key = str(scope["type"])
        for part in ("chat_id", "user_id"):
            if part in scope:
                key += f":{scope[part]}"
        language = params.get("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", str(language)):
            raise _bad("LANG_CODE_INVALID")  # a two-letter ISO 639-1 code, or none
        return key, str(language)

    async def _set_my_commands(self, params: dict, gone: asyncio.Future) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand JSON object")
            if not _COMMAND_NAME.fullmatch(str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._scope_key(params)
        with self._lock:
            if commands:
                self._commands[key] = [
                    {"command": c["command"], "description": c["description"]} for c in commands
                ]
            else:
                self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: dict, gone: asyncio.Future) -> list:
        key = self._scope_key(params)
        with self._lock:
            return copy.deepcopy(self._commands.get(key, []))

    async def _delete_my_commands(self, params: dict, gone: asyncio.Future) -> bool:
        key = self._scope_key(params)
        with self._lock:
            self._commands.pop(key, None)
        return True

    async def _delete_webhook(self, params: dict, gone: asyncio.Future) -> bool:
        with self._lock:
            self._webhook = None
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    async def _set_webhook(self, params: dict, gone: asyncio.Future) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(params, gone)
        if not url.startswith(("http://", "https://")) or not _is_loopback(url):
            # Unlike Telegram (HTTPS only), plain HTTP is fine; but nothing leaves this machine.
            raise _bad("bad webhook: the fake delivers only to loopback addresses")
        with self._lock:
            self._webhook = {
                "url": url,
                "secret_token": params.get("secret_token"),
                "allowed_updates": params.get("allowed_updates"),
            }
            if isinstance(params.get("allowed_updates"), list):
                self._allowed_updates = params["allowed_updates"]
            if params.get("drop_pending_updates"):
                self._updates.clear()
        self._webhook_kick.set()
        return True

    async def _get_webhook_info(self, params: dict, gone: asyncio.Future) -> dict:
        with self._lock:
            info: dict[str, Any] = {
                "url": self._webhook["url"] if self._webhook else "",
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if self._webhook and self._webhook.get("allowed_updates"):
                info["allowed_updates"] = self._webhook["allowed_updates"]
            return info

    def _take_updates(self, offset: int, limit: int) -> list[dict]:
        """(Under the lock) confirm updates below `offset`, return up to `limit` of the rest."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        allowed = set(self._allowed_updates or ())
        if allowed:
            self._updates = [u for u in self._updates if _update_type(u) in allowed]
        else:
            self._updates = [
                u for u in self._updates if _update_type(u) not in _DEFAULT_EXCLUDED_UPDATES
            ]
        return copy.deepcopy(self._updates[:limit])

    async def _get_updates(self, params: dict, gone: asyncio.Future) -> list[dict]:
        with self._lock:
            if self._webhook is not None:
                raise BotApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first",
                )
            if isinstance(params.get("allowed_updates"), list):
                self._allowed_updates = params["allowed_updates"]
        offset = int(params.get("offset") or 0)
        limit = min(100, max(1, int(params.get("limit") or 100)))
        timeout = max(0.0, float(params.get("timeout") or 0))
        # A new getUpdates ends the one still waiting, as Telegram does with two bot instances.
        if self._poll_conflict is not None:
            self._poll_conflict.set()
        mine = self._poll_conflict = asyncio.Event()
        with self._lock:
            self._polling += 1
            self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        interrupt = self._interrupt
        try:
            while True:
                if mine.is_set():
                    raise BotApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only "
                        "one bot instance is running",
                    )
                # Cleared before looking, in this thread: a push after the look sets it again.
                self._updates_event.clear()
                with self._lock:
                    batch = self._take_updates(offset, limit)
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or interrupt.is_set() or gone.done():
                    return batch
                await _first_of(
                    [self._updates_event.wait(), mine.wait(), interrupt.wait()], gone, remaining
                )
        finally:
            if self._poll_conflict is mine:
                self._poll_conflict = None
            with self._lock:
                self._polling -= 1
                self._notify()

    async def _get_chat(self, params: dict, gone: asyncio.Future) -> dict:
        key = self._resolve(_chat_key(params.get("chat_id")))
        with self._lock:
            self._check_chat(key, sending=False)
            if isinstance(key, str) and key not in self._chats:
                raise _bad("chat not found")  # a public @name nobody registered
            info = dict(self._chat(key))
        # The fields python-telegram-bot's ChatFullInfo requires.
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return info

    def _member(self, key: int | str, user_id: int) -> dict:
        """(Under the lock) a ChatMember dict for user_id in chat `key`."""
        if user_id == self.bot_id:
            user = {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}
        else:
            user = dict(
                self._users.get(user_id)
                or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
            )
        creator, admins = self._admins.get(key, (None, []))
        private = self._chat(key)["type"] == "private"
        if user_id == self.bot_id and key in self._bot_members:
            return {**copy.deepcopy(self._bot_members[key]), "user": user}
        if user_id == creator:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in admins or (user_id == self.bot_id and not private):
            return {**_administrator(), "user": user}
        return {"status": "member", "user": user}

    async def _get_chat_member(self, params: dict, gone: asyncio.Future) -> dict:
        key = self._resolve(_chat_key(params.get("chat_id")))
        user_id = params.get("user_id")
        if not isinstance(user_id, int):
            raise _bad("invalid user_id specified")
        with self._lock:
            self._check_chat(key, sending=False)
            if user_id != self.bot_id and not self._bot_is_admin(key):
                raise _bad("member list is inaccessible")
            return self._member(key, user_id)

    async def _get_chat_administrators(self, params: dict, gone: asyncio.Future) -> list:
        key = self._resolve(_chat_key(params.get("chat_id")))
        with self._lock:
            self._check_chat(key, sending=False)
            if self._chat(key)["type"] == "private":
                raise _bad("there are no administrators in the private chat")
            if not self._bot_is_admin(key):
                raise _bad("member list is inaccessible")
            creator, admins = self._admins.get(key, (None, []))
            ids = ([creator] if creator is not None else []) + [a for a in admins if a != creator]
            return [self._member(key, uid) for uid in ids]

    async def _send_chat_action(self, params: dict, gone: asyncio.Future) -> bool:
        key = self._resolve(_chat_key(params.get("chat_id")))
        with self._lock:
            self._check_chat(key, sending=True)
        return True

    # ----------------------------------------------------------------- webhook

    async def _webhook_loop(self) -> None:
        """Deliver pending updates to a loopback webhook in order, retrying failures."""
        failures = 0
        while True:
            await self._webhook_kick.wait()
            self._webhook_kick.clear()
            while True:
                with self._lock:
                    hook = dict(self._webhook) if self._webhook else None
                    update = self._take_updates(0, 1) if hook else []
                if not hook or not update:
                    break
                headers = {}
                if hook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
                try:
                    response = await self._http.post(hook["url"], json=update[0], headers=headers)
                    outcome: int | str = response.status_code
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self._lock:
                    self._webhook_deliveries.append((update[0]["update_id"], outcome))
                    if isinstance(outcome, int) and 200 <= outcome < 300:
                        failures = 0
                        self._updates = [
                            u for u in self._updates if u["update_id"] != update[0]["update_id"]
                        ]
                    else:
                        failures += 1
                    self._notify()
                if failures:
                    # Telegram retries a failing webhook with growing delays.
                    await asyncio.sleep(min(2.0, 0.05 * 2**failures))

    # --------------------------------------------------------- faults (tests)

    def block(self, chat_id: int | str, description: str | None = None) -> None:
        """Sends to the chat get 403, as after the user blocked the bot (or kicked it)."""
        key = self._resolve(_chat_key(chat_id))
        if description is None:
            if is_private(key):
                description = "Forbidden: bot was blocked by the user"
            elif isinstance(key, str):
                description = "Forbidden: bot is not a member of the channel chat"
            else:
                description = "Forbidden: bot was kicked from the group chat"
        with self._lock:
            self._blocked[key] = description

    # ------------------------------------------- channels, membership, forums

    def add_channel(
        self,
        username: str,
        *,
        title: str | None = None,
        creator: int | None = None,
        admins: list[int] = (),  # type: ignore[assignment]
    ) -> int:
        """A public channel @username (its id returned; "@username" resolves to it in every
        method) with its creator and admins; the bot is one of its admins until told otherwise."""
        name = username.removeprefix("@")
        with self._lock:
            chat_id = next(self._channel_ids)
            chat = {"id": chat_id, "type": "channel", "title": title or name, "username": name}
            self._chats[chat_id] = chat
            self._aliases["@" + name.lower()] = chat_id
            self._admins[chat_id] = (creator, [int(a) for a in admins])
            return chat_id

    def _bot_is_admin(self, key: int | str) -> bool:
        """(Under the lock) whether the bot may read the chat's members: in a channel only an
        administrator may (in groups every member sees the admins)."""
        if self._chat(key)["type"] != "channel":
            return True
        return self._bot_members.get(key, {"status": "administrator"})["status"] == "administrator"

    def _bot_status(self, key: int | str) -> dict:
        return {k: v for k, v in self._member(key, self.bot_id).items() if k != "user"}

    def set_bot_member(self, chat_id: int | str, status: str, *, can_post: bool = True) -> None:
        """The bot's own status in the chat, as getChatMember answers it: "administrator"
        (posting as `can_post` says), "member", "left" or "kicked". Only "administrator" with
        posting, in a channel, lets it post there (and "left"/"kicked" nowhere)."""
        key = self._resolve(_chat_key(chat_id))
        member: dict[str, Any] = {"status": status}
        if status == "administrator":
            member = _administrator(can_post=can_post)
        elif status == "kicked":
            member["until_date"] = 0
        with self._lock:
            self._bot_members[key] = member
            channel = self._chat(key)["type"] == "channel"
            if status in ("left", "kicked"):
                self._blocked[key] = (
                    "Forbidden: bot is not a member of the channel chat"
                    if channel
                    else "Forbidden: bot was kicked from the supergroup chat"
                )
            elif channel and not (status == "administrator" and can_post):
                self._blocked[key] = "Forbidden: need administrator rights in the channel chat"
            else:
                self._blocked.pop(key, None)

    def change_bot_member(
        self,
        chat_id: int | str,
        status: str,
        *,
        can_post: bool = True,
        by_user: int = DEFAULT_GROUP_USER,
    ) -> dict:
        """An admin changes the bot's membership (removes, demotes, adds back): its status
        changes as set_bot_member says, and a my_chat_member update tells the bot."""
        key = self._resolve(_chat_key(chat_id))
        with self._lock:
            old = self._bot_status(key)
        self.set_bot_member(key, status, can_post=can_post)
        with self._lock:
            bot = {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}
            user = self._users.get(by_user) or {
                "id": by_user,
                "is_bot": False,
                "first_name": f"User {by_user}",
            }
            update = {
                "my_chat_member": {
                    "chat": dict(self._chat(key)),
                    "from": dict(user),
                    "date": int(time.time()),
                    "old_chat_member": {**old, "user": bot},
                    "new_chat_member": {**self._bot_status(key), "user": bot},
                }
            }
            return self._enqueue(update)

    def make_forum(self, chat_id: int, *, title: str = "Test Forum") -> None:
        """The supergroup has topics on (`is_forum`)."""
        key = _chat_key(chat_id)
        with self._lock:
            chat = self._chat(key)
            chat.update(type="supergroup", title=title, is_forum=True)

    def create_topic(self, chat_id: int, name: str) -> int:
        """A topic is created in the forum; returns its message_thread_id."""
        key = _chat_key(chat_id)
        with self._lock:
            thread_id = self._new_message_id(key)
            self._topics.setdefault(key, {})[thread_id] = {
                "name": name,
                "closed": False,
                "deleted": False,
            }
            return thread_id

    def close_topic(self, chat_id: int, thread_id: int, *, closed: bool = True) -> None:
        """Sends into the topic get 400 TOPIC_CLOSED (closed=False reopens it)."""
        with self._lock:
            self._topics[_chat_key(chat_id)][thread_id]["closed"] = closed

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """Sends into the topic get 400 "message thread not found"."""
        with self._lock:
            self._topics[_chat_key(chat_id)][thread_id]["deleted"] = True

    def unblock(self, chat_id: int | str) -> None:
        with self._lock:
            self._blocked.pop(_chat_key(chat_id), None)

    def forget(self, chat_id: int | str) -> None:
        """Every call about the chat gets 400 "chat not found" (deleted account, bad id)."""
        with self._lock:
            self._forgotten.add(_chat_key(chat_id))

    def migrate(self, chat_id: int | str, new_chat_id: int) -> None:
        """The group became a supergroup: calls get 400 with migrate_to_chat_id."""
        with self._lock:
            self._migrated[_chat_key(chat_id)] = int(new_chat_id)
            old = self._chat(_chat_key(chat_id))
            new = self._chats.setdefault(
                int(new_chat_id),
                {"id": int(new_chat_id), "type": "supergroup", "title": old.get("title", "Test")},
            )
            if old.get("is_forum"):  # topics (and their ids) are the group's: they follow it
                new["is_forum"] = True
                self._topics[int(new_chat_id)] = copy.deepcopy(self._topics.get(old["id"], {}))

    def fail_next(
        self, method: str, status: int = 500, count: int = 1, *, deliver: bool = False
    ) -> None:
        """The next `count` calls of `method` ("*" = any) answer `status` (500, 502, ...).

        With deliver=True the call takes effect first (a message is stored) and the error is
        what the client sees: a 5xx does not prove the message was not delivered.
        """
        with self._lock:
            self._fail.setdefault(method.lower(), []).extend([(status, deliver)] * count)

    def stall_next(
        self, method: str, seconds: float, count: int = 1, *, deliver: bool = True
    ) -> None:
        """Hold the next `count` calls of `method` ("*" = any) for `seconds` before answering.

        Make `seconds` longer than the client's read timeout to get a TimedOut. deliver=True:
        the call takes effect at once (the message is stored though its answer times out);
        deliver=False: it takes effect only if the client is still waiting after the hold.
        """
        with self._lock:
            self._stall.setdefault(method.lower(), []).extend([(seconds, deliver)] * count)

    # ------------------------------------------------------ users (injection)

    def _enqueue(self, update: dict) -> dict:
        """(Under the lock) give the update an id, queue it, wake getUpdates and the webhook."""
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._notify()
        self._call_in_loop(self._kick_pollers)
        return copy.deepcopy(update)

    def _user(
        self, user_id: int, first_name: str, username: str | None, language_code: str | None
    ) -> dict:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return user

    def _incoming(self, key: int | str, chat: dict, text: str, sender: dict) -> dict[str, Any]:
        """A message written into `chat` (caller holds the lock), with the bot_command entity
        Telegram adds to a leading "/command"."""
        message_id = self._new_message_id(key)
        self._user_messages.add((key, message_id))
        message: dict[str, Any] = {
            "message_id": message_id,
            **sender,
            "chat": dict(chat),
            "date": int(time.time()),
            "text": text,
        }
        command = _COMMAND.match(text)
        if command:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}
            ]
        return message

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        language_code: str | None = "zh-hans",
        chat_type: str = "private",
        username: str | None = None,
        first_name: str = "Test",
        chat_title: str | None = None,
        thread_id: int | None = None,
        forwarded_from: int | str | None = None,
    ) -> dict:
        """A user writes `text` in the chat (inside forum topic `thread_id`, if given; or
        forwards a post of channel `forwarded_from`); returns the queued Update dict.

        A leading "/command" or "/command@bot" gets a bot_command entity at offset 0, as
        Telegram marks it (so CommandHandler fires). A negative chat_id with the default
        chat_type is a group (a supergroup at -100...). The sender defaults to the chat's own
        id in a private chat and to DEFAULT_GROUP_USER in a group.
        """
        key = _chat_key(chat_id)
        if chat_type == "private" and not is_private(key):
            chat_type = "supergroup" if isinstance(key, int) and key <= -(10**12) else "group"
        if user_id is None:
            user_id = key if chat_type == "private" and isinstance(key, int) else DEFAULT_GROUP_USER
        with self._lock:
            user = self._user(user_id, first_name, username, language_code)
            chat = self._chat(key)
            if chat.get("is_forum"):
                chat_type = "supergroup"
            chat["type"] = chat_type
            if chat_type == "private":
                chat.pop("title", None)
                chat["first_name"] = first_name
                if username:
                    chat["username"] = username
            elif chat_title:
                chat["title"] = chat_title
            message = self._incoming(key, chat, text, {"from": user})
            if forwarded_from is not None:
                origin = self._chat(self._resolve(_chat_key(forwarded_from)))
                message.pop("entities", None)
                message["forward_origin"] = {
                    "type": "channel",
                    "chat": dict(origin),
                    "message_id": 1,
                    "date": message["date"],
                }
            if thread_id is not None:
                topic = self._topics.get(key, {}).get(thread_id)
                if topic is None or not chat.get("is_forum"):
                    raise KeyError(f"chat {key!r} has no topic {thread_id}")
                # as Telegram shows it: a reply to the service message that created the topic
                message.update(
                    message_thread_id=thread_id,
                    is_topic_message=True,
                    reply_to_message={
                        "message_id": thread_id,
                        "from": user,
                        "chat": dict(chat),
                        "date": message["date"],
                        "message_thread_id": thread_id,
                        "forum_topic_created": {"name": topic["name"], "icon_color": 7322096},
                    },
                )
            return self._enqueue({"message": message})

    def push_channel_post(
        self, chat_id: int | str, text: str, *, chat_title: str | None = None
    ) -> dict:
        """A post appears in a channel (python-telegram-bot's CommandHandler ignores these)."""
        key = _chat_key(chat_id)
        with self._lock:
            chat = self._chat(key)
            chat["type"] = "channel"
            if chat_title:
                chat["title"] = chat_title
            message = self._incoming(key, chat, text, {"sender_chat": dict(chat)})
            return self._enqueue({"channel_post": message})

    def push_callback(
        self,
        chat_id: int | str,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        language_code: str | None = "zh-hans",
        username: str | None = None,
        first_name: str = "Test",
        check_button: bool = True,
    ) -> dict:
        """A user presses the inline button with `data` under the bot's message; returns the
        Update. With check_button (default) the message must carry such a button."""
        key = _chat_key(chat_id)
        with self._lock:
            index = self._message_at.get((key, message_id))
            if index is None:
                raise KeyError(f"the bot sent no message {message_id} to chat {key!r}")
            sm = self._messages[index]
            if check_button and data not in sm.callback_data():
                raise ValueError(
                    f"message {message_id} in chat {key!r} has no button with callback_data "
                    f"{data!r}; it has {sm.callback_data()!r}"
                )
            presser = user_id
            if presser is None:
                presser = int(key) if is_private(key) else DEFAULT_GROUP_USER
            user = self._user(presser, first_name, username, language_code)
            query_id = str(next(self._query_ids))
            self._callbacks[query_id] = {
                "answered": False,
                "chat_id": key,
                "message_id": message_id,
                "data": data,
            }
            query = {
                "id": query_id,
                "from": user,
                "message": self._message_json(sm),
                "chat_instance": str(zlib.crc32(str(key).encode()) * 7919),
                "data": data,
            }
            return self._enqueue({"callback_query": query})

    def push_update(self, update: dict) -> dict:
        """Queue any raw update (my_chat_member, edited_message, ...); update_id is assigned."""
        body = {k: v for k, v in update.items() if k != "update_id"}
        with self._lock:
            return self._enqueue(copy.deepcopy(body))

    def set_admins(
        self, chat_id: int | str, user_ids: list[int], *, creator: int | None = None
    ) -> None:
        """getChatMember/getChatAdministrators: `user_ids` are "administrator", `creator` is
        "creator", anybody else "member" (the bot itself is an administrator of groups)."""
        key = _chat_key(chat_id)
        with self._lock:
            self._admins[key] = (creator, [int(u) for u in user_ids])

    # -------------------------------------------------------------- inspection

    def messages(self, chat_id: int | str | None = None) -> list[SentMessage]:
        """Messages the bot sent and Telegram accepted, oldest first (current state)."""
        with self._lock:
            if chat_id is None:
                return list(self._messages)
            key = _chat_key(chat_id)
            return [m for m in self._messages if m.chat_id == key]

    def last_message(self, chat_id: int | str | None = None) -> SentMessage:
        found = self.messages(chat_id)
        if not found:
            raise LookupError(f"no message sent to {chat_id!r}")
        return found[-1]

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        with self._lock:
            return list(self._callback_answers)

    @property
    def commands(self) -> dict[tuple[str, str], list[dict]]:
        """Last setMyCommands per (scope, language_code): scope "default", "all_private_chats",
        "chat:<id>", ...; language "" for all languages."""
        with self._lock:
            return copy.deepcopy(self._commands)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, method: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._requests if r.method.lower() == method.lower()]

    @property
    def polling(self) -> int:
        """How many getUpdates calls are in progress now (1 while a bot long-polls)."""
        with self._lock:
            return self._polling

    @property
    def pending_updates(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._updates)

    @property
    def flood_count(self) -> int:
        """How many 429s were answered since the last reset()."""
        with self._lock:
            return sum(self._flood_counts.values())

    @property
    def flood_counts(self) -> dict[int | str, int]:
        """429s answered per chat."""
        with self._lock:
            return dict(self._flood_counts)

    def sent_counts(self) -> dict[int | str, int]:
        """Accepted messages per chat."""
        with self._lock:
            return dict(Counter(m.chat_id for m in self._messages))

    def delete(self, chat_id: int | str, message_id: int) -> None:
        """The message is deleted in the chat (by a user or an admin): edits then find nothing."""
        with self._lock:
            index = self._message_at[(chat_id, message_id)]
            self._messages[index] = replace(self._messages[index], deleted=True)

    def max_requests_in_window(self, seconds: float, chat_id: int | str | None = None) -> int:
        """Most sends and edits accepted within any `seconds`-long window: Telegram's flood
        limits count both."""
        with self._lock:
            times = sorted(t for c, t in self._accepted if chat_id is None or c == chat_id)
        return _densest(times, seconds)

    def max_in_window(self, seconds: float, chat_id: int | str | None = None) -> int:
        """Most messages accepted within any `seconds`-long window (rate-limit assertions)."""
        return _densest(sorted(m.at for m in self.messages(chat_id)), seconds)

    @property
    def webhook(self) -> dict | None:
        with self._lock:
            return dict(self._webhook) if self._webhook else None

    @property
    def webhook_deliveries(self) -> list[tuple[int, int | str]]:
        """(update_id, HTTP status or exception name) per webhook delivery attempt."""
        with self._lock:
            return list(self._webhook_deliveries)

    # ----------------------------------------------------------------- waiting

    def _timeout_message(self, predicate: Callable, timeout: float) -> str:
        with self._lock:
            sent = Counter(m.chat_id for m in self._messages)
            last = [
                f"{r.method}->{r.status}" + (f" ({r.description})" if r.description else "")
                for r in self._requests[-8:]
            ]
        return (
            f"fake Telegram: {_describe(predicate)} still false after {timeout}s; "
            f"messages per chat: {dict(sent) or 'none'}; last requests: {last or 'none'}"
        )

    def wait_for(self, predicate: Callable[[FakeTelegram], bool], timeout: float = 10) -> None:
        """Block until predicate(fake) holds (checked on every request and push) or raise
        TimeoutError. Not from a coroutine whose loop runs the bot: use wait_for_async."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout):
                raise TimeoutError(self._timeout_message(predicate, timeout))

    async def wait_for_async(
        self, predicate: Callable[[FakeTelegram], bool], timeout: float = 10
    ) -> None:
        """wait_for without blocking the running event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        waiter = (loop, future, predicate)
        with self._lock:
            if predicate(self):
                return
            self._async_waiters.append(waiter)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(self._timeout_message(predicate, timeout)) from None
        finally:
            with self._lock:
                if waiter in self._async_waiters:
                    self._async_waiters.remove(waiter)

    def wait_for_messages(
        self, chat_id: int | str, count: int = 1, timeout: float = 10
    ) -> list[SentMessage]:
        """Block until the chat has at least `count` messages; returns them all."""
        self.wait_for(_MessageCount(chat_id, count), timeout)
        return self.messages(chat_id)

    async def wait_for_messages_async(
        self, chat_id: int | str, count: int = 1, timeout: float = 10
    ) -> list[SentMessage]:
        await self.wait_for_async(_MessageCount(chat_id, count), timeout)
        return self.messages(chat_id)


class _MessageCount:
    """Predicate with a readable name for timeout messages."""

    def __init__(self, chat_id: int | str, count: int) -> None:
        self.chat_id, self.count = chat_id, count
        self.__qualname__ = f"at least {count} message(s) to chat {chat_id!r}"

    def __call__(self, fake: FakeTelegram) -> bool:
        return len(fake.messages(self.chat_id)) >= self.count


def _densest(times: list[float], seconds: float) -> int:
    """Most of the sorted `times` within any `seconds`-long window."""
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
    "can_manage_topics",
)


def _administrator(*, can_post: bool = True) -> dict:
    """A ChatMemberAdministrator without its user: every right, posting as asked."""
    rights = {right: True for right in _RIGHTS}
    rights["can_post_messages"] = rights["can_edit_messages"] = can_post
    return {"status": "administrator", "can_be_edited": False, "is_anonymous": False, **rights}


def _settle(future: asyncio.Future, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _take_fault(faults: dict[str, list], method: str) -> Any:
    for key in (method, "*"):
        queue = faults.get(key)
        if queue:
            return queue.pop(0)
    return None


def _error_payload(exc: BotApiError) -> tuple[int, dict]:
    payload: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        payload["parameters"] = exc.parameters
    return exc.code, payload


async def _until_disconnect(receive: Callable) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _first_of(waits: list[Awaitable], gone: asyncio.Future, timeout: float) -> None:
    """Wait until any of `waits` finishes, the client disconnects, or `timeout` passes."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait([*tasks, gone], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
