"""The Telegram bot's commands: build the Application with `build_application`, run it with
`start_bot` / `stop_bot`."""

from bot.commands.application import build_application, start_bot, stop_bot

__all__ = ["build_application", "start_bot", "stop_bot"]
