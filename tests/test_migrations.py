"""Schema migrations on SQLite and PostgreSQL: a fresh database, one from before Alembic, re-runs, processes
upgrading at once, and the `batchsearch db` commands."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import BigInteger, Column, DateTime, Engine, Integer, MetaData, String, Table, event, inspect, insert
from typer.testing import CliRunner

from batchsearch import migrations
from batchsearch.cli import app
from batchsearch.contents.store import metadata as contents_metadata
from batchsearch.db import create_db_engine, engine_for
from batchsearch.jobs.store import SqlJobStore
from batchsearch.jobs.tables import metadata as jobs_metadata
from batchsearch.keys import KeyStore
from batchsearch.keys import metadata as keys_metadata
from batchsearch.migrations import code_metadata

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def last_release_before_alembic() -> MetaData:
    """The tables the stores' create_all made until the baseline revision took over."""
    combined = MetaData()
    for metadata in (jobs_metadata, keys_metadata, contents_metadata):
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return combined


def differences(engine: Engine) -> list[object]:
    """What Alembic's autogenerate finds between the database and the code's tables (nothing, when in step)."""
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), code_metadata()))


def indexes(engine: Engine, table: str) -> set[str]:
    return {index["name"] for index in inspect(engine).get_indexes(table) if index["name"]}


def test_a_fresh_database_gets_every_table_and_index_the_code_has(database_url: str) -> None:
    engine = engine_for(database_url)
    assert migrations.current_revision(engine) is None
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision()
    assert set(code_metadata().tables) <= set(inspect(engine).get_table_names())
    assert differences(engine) == []
    assert {"ix_batch_jobs_claim", "ux_batch_jobs_idempotency"} <= indexes(engine, "batch_jobs")


def test_a_database_from_before_alembic_is_completed_then_stamped(database_url: str) -> None:
    old = MetaData()  # an early release: api_keys whole, batch_jobs without its newer columns, no workers table
    keys = Table("api_keys", old, Column("id", String(36), primary_key=True), Column("name", String(200), nullable=False),
                 Column("owner", String(200), nullable=False), Column("key_hash", String(64), nullable=False, unique=True),
                 Column("created_at", DateTime(timezone=True), nullable=False))
    Table("batch_jobs", old, Column("id", String(36), primary_key=True), Column("owner", String(200), nullable=False),
          Column("status", String(16), nullable=False), Column("created_at", DateTime(timezone=True), nullable=False),
          Column("upload_expires_at", DateTime(timezone=True), nullable=False),
          Column("input_key", String(300), nullable=False),
          *(Column(name, Integer, nullable=False) for name in ("lines_done", "checkpoint_line", "attempts")),
          Column("checkpoint_offset", BigInteger, nullable=False))
    engine = engine_for(database_url)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(keys).values(id="k1", name="ci", owner="acme", key_hash="h" * 64, created_at=T0))
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision()
    assert differences(engine) == []
    assert {"output_pending", "webhook_pending", "priority"} <= {c["name"] for c in inspect(engine).get_columns("batch_jobs")}
    with engine.connect() as conn:
        assert conn.execute(keys.select()).one().owner == "acme"  # data kept


def test_the_last_release_before_alembic_only_gets_stamped(database_url: str) -> None:
    engine = engine_for(database_url)
    before = last_release_before_alembic()
    before.create_all(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision()
    assert differences(engine) == []
    changes = [s.split("(")[0].split() for s in statements if s.lstrip().upper().startswith(("CREATE", "ALTER", "DROP"))]
    assert all(words[:2] == ["CREATE", "TABLE"] for words in changes)  # no ALTER, no index made twice
    created = {words[2] for words in changes}
    assert created == {"alembic_version"} | (set(code_metadata().tables) - set(before.tables))


def test_upgrading_again_changes_nothing_and_takes_no_lock(database_url: str) -> None:
    engine = create_db_engine(database_url)
    KeyStore(engine).create("ci")
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    migrations.upgrade(engine)
    create_db_engine(database_url)
    assert not [s for s in statements if "advisory" in s or s.lstrip().upper().startswith(("CREATE", "ALTER"))]
    assert migrations.current_revision(engine) == migrations.head_revision()
    assert differences(engine) == []


UPGRADER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from batchsearch.db import create_db_engine
from batchsearch.jobs.store import SqlJobStore
url, folder, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
(folder / name).touch()
while not (folder / "go").exists():
    time.sleep(0.002)
SqlJobStore(create_db_engine(url)).report_worker(name, datetime.now(UTC), None)
"""


def test_processes_starting_at_once_upgrade_a_fresh_database_once(database_url: str, tmp_path: Path) -> None:
    names = [f"w{i}" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", UPGRADER, database_url, str(tmp_path), name],
                              stderr=subprocess.PIPE) for name in names]
    deadline = time.monotonic() + 60
    while not all((tmp_path / name).exists() for name in names) and time.monotonic() < deadline:
        time.sleep(0.01)  # every process has imported batchsearch and waits for the go file
    (tmp_path / "go").touch()
    errors = [proc.communicate(timeout=120)[1].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], errors
    engine = engine_for(database_url)
    assert migrations.current_revision(engine) == migrations.head_revision()
    assert differences(engine) == []
    assert sorted(w.id for w in SqlJobStore(engine).live_workers(T0)) == ["w0", "w1", "w2", "w3"]


def test_db_upgrade_and_db_current_commands(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"BATCHSEARCH_DATABASE_URL": database_url}
    head = migrations.head_revision()
    before = runner.invoke(app, ["db", "current", "--data-dir", str(tmp_path)], env=env)
    assert before.exit_code == 0 and before.stdout.strip() == f"none (head is {head}: run `batchsearch db upgrade`)"
    upgraded = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.stdout.strip() == f"{head} (head): upgraded from an empty or pre-migrations database"
    again = runner.invoke(app, ["db", "upgrade", "--json", "--data-dir", str(tmp_path)], env=env)
    assert again.exit_code == 0 and '"previous": "%s", "revision": "%s"' % (head, head) in again.stdout
    assert "batchsearch-test-password" not in again.stdout  # the URL is shown with its password hidden
    current = runner.invoke(app, ["db", "current", "--data-dir", str(tmp_path)], env=env)
    assert current.exit_code == 0 and current.stdout.strip() == f"{head} (head)"


def test_the_default_database_is_the_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)], env={"BATCHSEARCH_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    assert migrations.current_revision(engine_for(f"sqlite:///{tmp_path / 'batchsearch.db'}")) == migrations.head_revision()


def test_an_unreachable_database_is_a_one_line_error(tmp_path: Path) -> None:
    url = "postgresql+psycopg://someone:secret@127.0.0.1:9/nothing"
    result = CliRunner().invoke(app, ["db", "current", "--data-dir", str(tmp_path)], env={"BATCHSEARCH_DATABASE_URL": url})
    assert result.exit_code == 1 and "secret" not in result.output
    assert "127.0.0.1:9/nothing" in result.output


def test_postgresql_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ImportError, match=r"batchsearch\[postgres\]"):
        engine_for("postgresql+psycopg://u:p@127.0.0.1:5432/db")


def test_a_database_a_newer_version_upgraded_is_refused_with_a_clear_message(database_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(migrations.UnknownRevisionError, match="revision 9999, which this batchsearch does not know"):
        create_db_engine(database_url)
    result = CliRunner().invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)],
                                env={"BATCHSEARCH_DATABASE_URL": database_url})
    assert result.exit_code == 1 and "run a newer batchsearch" in result.output
