"""The feed server: the feeds folder, /healthz and /metrics over HTTP (Starlette + uvicorn)."""

from bot.serving.app import CACHE_CONTROL, content_type, create_app
from bot.serving.server import FeedServer, serve

__all__ = ["CACHE_CONTROL", "FeedServer", "content_type", "create_app", "serve"]
