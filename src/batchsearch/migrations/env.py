"""Alembic's entry script: runs the revisions on the connection batchsearch.migrations hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from batchsearch.migrations import code_metadata


def run_migrations() -> None:
    """Upgrade on the given connection; SQLite changes tables by copy-and-move (batch mode)."""
    connection: Connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=code_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
