"""Storing: the database behind every stage (digests, items, chats, subscriptions, the outbox)."""
