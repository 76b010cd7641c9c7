"""digestbot: syndicates AI-news digests as feeds and Telegram messages."""

__version__ = "0.1.0"
