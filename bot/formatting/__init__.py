"""Formatting: digests as Telegram HTML messages (escaped, split within Telegram's limits)."""
