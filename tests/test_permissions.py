"""Files the service creates are private under the usual umask 022: folders 0700, the SQLite database (and its
-wal/-shm), the signing secret and object files 0600 (they hold webhook secrets, queries and results)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from batch_servers import build_index, settings_env
from batchsearch.cli import app
from batchsearch.db import engine_for
from batchsearch.storage.local import LocalObjectStore
from sdk_server import dead_url
from test_cli_local import _wait_healthy

runner = CliRunner()


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """The common default umask, which leaves new files world-readable unless the code says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    """Every folder and file below root (root included) with its permission bits."""
    found = {".": mode(root)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            found[path.relative_to(root).as_posix()] = mode(path)
    return found


def test_the_sqlite_file_its_wal_and_its_new_folder_are_private(tmp_path: Path) -> None:
    database = tmp_path / "new" / "data" / "batchsearch.db"
    engine = engine_for(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    with engine.connect() as conn:  # held open so the -wal and -shm files exist
        conn.exec_driver_sql("SELECT * FROM t").all()
        files = {p.name: mode(p) for p in database.parent.iterdir() if p.name.startswith("batchsearch.db")}
    assert {"batchsearch.db", "batchsearch.db-wal", "batchsearch.db-shm"} <= set(files)
    assert set(files.values()) == {0o600}, files
    assert mode(database.parent) == mode(database.parent.parent) == 0o700


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "batchsearch.db"
    database.touch()
    database.chmod(0o644)
    engine_for(f"sqlite:///{database}").connect().close()
    assert mode(database) == 0o600


def test_object_files_and_their_folders_are_private(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "data" / "objects", base_url="http://test", secret=b"s")
    store.put_stream("jobs/abc/input.jsonl", [b'{"query": {}}\n'])
    found = modes_under(tmp_path / "data")
    assert found["objects/jobs/abc/input.jsonl"] == 0o600
    assert {name: bits for name, bits in found.items() if not name.endswith(".jsonl")} == dict.fromkeys(
        [".", "objects", "objects/.tmp", "objects/jobs", "objects/jobs/abc"], 0o700)


def test_index_folders_are_private(tmp_path: Path) -> None:
    build_index(tmp_path, n_docs=5)
    folders = {name: bits for name, bits in modes_under(tmp_path / "index").items()
               if (tmp_path / "index" / name).is_dir()}
    assert len(folders) > 3 and set(folders.values()) == {0o700}, folders


def test_a_serve_run_on_a_fresh_data_folder_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = dead_url()
    env = settings_env(data, int(url.rsplit(":", 1)[1]))
    del env["BATCHSEARCH_SIGNING_SECRET"]  # generated and kept in the data folder
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "batchsearch.cli", "serve", "--workers", "0"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, server, tmp_path / "serve.log")
        made = runner.invoke(app, ["keys", "create", "--name", "ops", "--data-dir", str(data), "--json"])
        key = json.loads(made.stdout)["key"]
        created = httpx.post(f"{url}/v1/search/batches", headers={"X-API-KEY": key}, timeout=30).json()
        put = httpx.put(created["presigned_url"], content=b'{"query": {"text": "guidance"}}\n', timeout=30)
        assert put.status_code == 200, put.text
        found = modes_under(data)
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert found["."] == 0o700
    assert found["signing.secret"] == found["batchsearch.db"] == 0o600
    objects = {name: bits for name, bits in found.items() if name.startswith("objects")}
    assert any(name.endswith(".jsonl") for name in objects), objects
    for name, bits in objects.items():
        assert bits == (0o700 if (data / name).is_dir() else 0o600), (name, oct(bits))


WRITER = """
import sys, time
from pathlib import Path
from sqlalchemy import text
from batchsearch.db import engine_for
engine = engine_for(sys.argv[1])
with engine.begin() as conn:
    conn.execute(text(f"INSERT INTO t VALUES ({sys.argv[2]})"))
if len(sys.argv) > 3:  # stay connected (no checkpoint) until told to go
    Path(sys.argv[3]).touch()
    while not Path(sys.argv[3] + ".go").exists():
        time.sleep(0.01)
engine.dispose()  # the last connection of this process: SQLite checkpoints and removes the WAL if it may
"""


def test_opening_the_database_again_keeps_this_process_s_locks(tmp_path: Path) -> None:
    """SQLite's locks are POSIX locks: closing any descriptor of the file drops all of this process's locks. A
    second engine_for on a database this process has open must not do that, or another process removes the WAL
    under the live connection, which then reads a stale database forever."""
    import subprocess
    import sys

    from sqlalchemy import text

    from batchsearch.db import engine_for

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1  # a pooled connection stays open
    engine_for(url)  # another engine on the same file in this process, as every entrypoint makes one
    subprocess.run([sys.executable, "-c", WRITER, url, "2"], check=True)  # may remove the WAL when it ends
    ready = tmp_path / "ready"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url, "3", str(ready)])
    try:
        while not ready.exists():
            assert writer.poll() is None
        with engine.connect() as conn:  # the third row is in the WAL of the writer still connected
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 3
    finally:
        Path(f"{ready}.go").touch()
        writer.wait(timeout=60)
