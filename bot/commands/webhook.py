"""Webhook mode: Telegram POSTs updates to the feed server, which hands them to the bot.

Used when `telegram.webhook_url` is set. Every instance may take webhooks (SPEC §6), so the
secret Telegram echoes in `X-Telegram-Bot-Api-Secret-Token` must be the same on every instance:
the configured one, else one derived from the token (never the token itself). On PostgreSQL a
standby answers the updates it gets too: its requests are made by the elected sender, within
the bot's one budget (`dispatching/relay.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot.commands.application import ALLOWED_UPDATES
from bot.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1 << 20


def webhook_secret(settings: Settings) -> str:
    configured = settings.telegram.webhook_secret
    if configured and configured.get_secret_value():
        return configured.get_secret_value()
    token = settings.token or ""
    return hashlib.sha256(b"digestbot-webhook:" + token.encode()).hexdigest()


def webhook_path(settings: Settings) -> str:
    path = urlsplit(settings.telegram.webhook_url or "").path.rstrip("/")
    return path or "/telegram-webhook"


def webhook_route(app: Application, settings: Settings) -> Route:
    """The POST route that checks the secret and queues the update for the Application."""
    secret = webhook_secret(settings).encode()

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, secret):
            return Response("forbidden\n", 403)
        body = await request.body()
        if len(body) > MAX_UPDATE_BYTES:
            return Response("too large\n", 413)
        update = parse_update(body, app)
        if update is None:
            return Response("bad update\n", 400)
        await app.update_queue.put(update)
        return Response("ok\n")

    return Route(webhook_path(settings), receive, methods=["POST"])


def parse_update(body: bytes, app: Application) -> Update | None:
    """The update a webhook body holds, or None for anything else: JSON that is not an object
    with an integer `update_id`, nesting deep enough to exhaust the parser, fields of the wrong
    shape. Whatever a client sends is its error (400), never ours (500)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    try:
        return Update.de_json(data, app.bot)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


async def set_webhook(app: Application, settings: Settings) -> None:
    """Tell Telegram where to POST; pending updates are kept, as with polling."""
    await app.bot.set_webhook(
        url=settings.telegram.webhook_url,
        secret_token=webhook_secret(settings),
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
    )
    log.info("bot @%s takes updates by webhook", app.bot.username)
