"""The service database: SQLite (WAL) by default, PostgreSQL (psycopg 3) for a deployment on several machines.

Every entrypoint opens it with `create_db_engine`, which also upgrades the schema (batchsearch.migrations), so
the stores get an engine whose tables are current.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from batchsearch.storage.local import PRIVATE_FILE_MODE, make_private_dir

SUPPORTED_DIALECTS = ("sqlite", "postgresql")
POSTGRES_HINT = "pip install batchsearch[postgres]"


def create_db_engine(url: str) -> Engine:
    """An engine on the database at `url`, upgraded to the newest schema revision first."""
    from batchsearch import migrations

    engine = engine_for(url)
    migrations.upgrade(engine)
    return engine


def engine_for(url: str) -> Engine:
    """An engine on the database at `url` as it is (no schema change): SQLite files get WAL mode, a busy
    timeout and their folder, both private (the file holds webhook secrets); PostgreSQL sessions run in UTC."""
    dialect = make_url(url).get_backend_name()
    if dialect not in SUPPORTED_DIALECTS:
        raise ValueError(f"unsupported database {dialect!r} in {make_url(url)!r}: use sqlite:/// or "
                         "postgresql+psycopg://")
    if dialect == "postgresql":
        _require_psycopg()
        return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})
    path = make_url(url).database
    if path and path != ":memory:":
        _private_sqlite_file(Path(path))
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        _use_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def _private_sqlite_file(path: Path) -> None:
    """Make the SQLite file's folder (0700 when new) and the file itself PRIVATE_FILE_MODE before SQLite opens it:
    SQLite creates its -wal and -shm files with the database file's mode, so they are private too. An existing
    file is tightened as well (made by a version that left it world-readable).

    An existing file is never opened here: SQLite's locks are POSIX locks, which a process loses on *every*
    descriptor of the file when it closes *any* one of them. Opening and closing the file beside a live
    connection of this process would drop that connection's locks, so another process could checkpoint and
    remove the WAL under it and it would read a stale database from then on."""
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)  # an empty file: an empty database
    except FileExistsError:
        if os.stat(path).st_mode & 0o777 != PRIVATE_FILE_MODE:
            os.chmod(path, PRIVATE_FILE_MODE)
        return
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # O_CREAT's mode goes through the umask
    finally:
        os.close(fd)


def _use_wal(cur: sqlite3.Cursor, timeout: float = 30.0) -> None:
    """Put the SQLite file in WAL mode (a lasting property of the file). Switching a fresh file needs its
    exclusive lock and SQLite answers "database is locked" at once, without its busy handler, while another
    process opens the same fresh file; so the switch is retried until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _require_psycopg() -> None:
    """psycopg 3 is importable, or an ImportError that names the extra to install."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"PostgreSQL needs psycopg 3; install it with `{POSTGRES_HINT}`") from exc
