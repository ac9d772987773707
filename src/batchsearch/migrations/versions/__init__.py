"""Alembic revisions, oldest first: each file changes the schema one step (never edit a released one)."""
