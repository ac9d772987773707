"""Alembic's entry script: runs the revisions on the connection batchsearch.migrations hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection


def target_metadata() -> list[MetaData]:
    """The tables the code queries (what `alembic revision --autogenerate` compares the database with)."""
    from batchsearch.contents.store import metadata as contents
    from batchsearch.jobs.tables import metadata as jobs
    from batchsearch.keys import metadata as keys

    return [jobs, keys, contents]


def run_migrations() -> None:
    """Upgrade on the given connection; SQLite changes tables by copy-and-move (batch mode)."""
    connection: Connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
