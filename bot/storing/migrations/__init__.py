"""Alembic migrations of the schema in `bot.storing.tables`, applied at start-up."""
