"""Schema migrations (Alembic) for SQLite and PostgreSQL, configured from Python: no alembic.ini.

`upgrade(engine)` brings any batchsearch database to the newest revision: a fresh one, one made by a version
before Alembic, or one already current (then it only reads the revision). Several processes may start at once:
the upgrade runs under a PostgreSQL advisory lock, or a file lock beside a SQLite file.

A schema change is a new file in versions/ (`down_revision` = the previous head); the tables the code queries
(`code_metadata`) change with it, and tests/test_migrations.py checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from filelock import FileLock
from sqlalchemy import Connection, Engine, MetaData, func, select

SCRIPT_LOCATION = Path(__file__).resolve().parent
LOCK_TIMEOUT_SECONDS = 600.0
# pg_advisory_xact_lock key of the upgrade: any constant the database's other users do not take ("bsmigrat")
_ADVISORY_LOCK_KEY = 0x62736D6967726174


class UnknownRevisionError(RuntimeError):
    """The database is at a revision this version does not know: a newer batchsearch upgraded it."""


def _config(connection: Connection | None = None) -> Config:
    """Alembic's configuration: the scripts in this package, run on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def code_metadata() -> MetaData:
    """Every table the code queries, in one MetaData: what the newest revision must have made (the tests compare
    the two; `alembic revision --autogenerate` starts from it)."""
    from batchsearch.contents.store import metadata as contents
    from batchsearch.index.pointer import metadata as index
    from batchsearch.jobs.tables import metadata as jobs
    from batchsearch.keys import metadata as keys
    from batchsearch.usage import metadata as usage

    combined = MetaData()
    for metadata in (jobs, keys, contents, index, usage):
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return combined


@cache
def _scripts() -> ScriptDirectory:
    """The revisions this version of batchsearch ships."""
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest revision this version of batchsearch knows."""
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None when it has no alembic_version (fresh, or made before Alembic)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Upgrade the database to the newest revision (nothing to do, and no lock taken, when it is current)."""
    current = current_revision(engine)
    if current == head_revision():
        return
    if current is not None:
        try:
            _scripts().get_revision(current)
        except CommandError as exc:
            raise UnknownRevisionError(f"the database schema is at revision {current}, which this batchsearch does "
                                       f"not know (its newest is {head_revision()}): run a newer batchsearch") from exc
    with _exclusive(engine) as conn:  # the winner upgrades; the others wait, then find it current
        command.upgrade(_config(conn), "head")


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other upgrade of this database runs beside."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # the transaction-level lock ends with the upgrade's commit
            conn.execute(select(func.pg_advisory_xact_lock(_ADVISORY_LOCK_KEY)))
            yield conn
        return
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        with engine.begin() as conn:
            yield conn
        return
    with FileLock(f"{path}.migrate.lock", timeout=LOCK_TIMEOUT_SECONDS), engine.begin() as conn:
        yield conn
