"""A real PostgreSQL for tests: Debian's server binaries, a throwaway cluster on 127.0.0.1 and a free port.

Fixtures (registered for every test by conftest.py's pytest_plugins):
- `pg_server` (session): initdb into a temporary folder, start it, create a role with a password and a
  database; yields that database's URL (postgresql+psycopg://...).
- `pg_url`: a fresh, empty database of that server for one test, dropped after it.
- `database_url`: a test runs twice, on a fresh SQLite file and on a fresh PostgreSQL database.
The binaries are found with pg_config or in /usr/lib/postgresql/*/bin (BATCHSEARCH_PG_BINDIR overrides). When CI is
set, missing PostgreSQL binaries or psycopg fail the run instead of skipping it.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROLE = "batchsearch"
PASSWORD = "batchsearch-test-password"
DATABASE = "batchsearch"
SUPERUSER = "postgres"
START_TIMEOUT = 60
STOP_TIMEOUT = 30
# a throwaway cluster: durability off, room for the connection pools of many engines and processes
SERVER_OPTIONS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
                  "-c shared_buffers=32MB")


def pg_bindir() -> Path | None:
    """The folder with initdb and pg_ctl: $BATCHSEARCH_PG_BINDIR (only), else pg_config's or Debian's newest."""
    override = os.environ.get("BATCHSEARCH_PG_BINDIR")
    candidates = [override] if override else []
    if not override and (pg_config := shutil.which("pg_config")) is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        candidates.append(found)
    if not override:
        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name),
                             reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def missing_requirements() -> list[str]:
    """What this machine lacks to run the server and talk to it."""
    missing = []
    if pg_bindir() is None:
        missing.append("the PostgreSQL server binaries (apt-get install postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser (util-linux), to run PostgreSQL as the postgres user")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing.append("psycopg (pip install batchsearch[postgres])")
    return missing


def _as_server_user() -> list[str]:
    """The command prefix that runs a server binary as its owner: the postgres user when we are root."""
    return ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []


def _free_port() -> int:
    """A port nobody listens on at 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: list[str], log_path: Path) -> None:
    """Run a server tool as the server user; a failure shows its output and the server log."""
    done = subprocess.run(_as_server_user() + command, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        log = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}{done.stderr}\n{log}")


def _own(root: Path) -> None:
    """Give the cluster folder to the postgres user (initdb refuses root; the server needs its own files)."""
    if os.geteuid() != 0:
        return
    shutil.chown(root, SUPERUSER, SUPERUSER)
    root.chmod(0o700)


def _admin_execute(sockets: Path, port: int, *statements: str) -> None:
    """Run statements outside a transaction as the cluster's superuser, through its private Unix socket."""
    import psycopg

    with psycopg.connect(host=str(sockets), port=port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def _stop(bindir: Path, data: Path, log_path: Path) -> None:
    """pg_ctl stop -m fast; when that fails, kill the postmaster by the pid it wrote."""
    pid_file = data / "postmaster.pid"
    pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
    try:
        _run([str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w", "-t", str(STOP_TIMEOUT)], log_path)
    except RuntimeError:
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _start(bindir: Path, data: Path, sockets: Path, log_path: Path, port: int | None = None) -> int:
    """pg_ctl start on `port`, or on a free port of 127.0.0.1 (another one when it is taken between our check
    and its bind)."""
    attempts_left = 3 if port is None else 1
    fixed = port
    while True:
        attempts_left -= 1
        port = fixed or _free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} {SERVER_OPTIONS}"
        try:
            _run([str(bindir / "pg_ctl"), "start", "-D", str(data), "-l", str(log_path), "-w", "-t",
                  str(START_TIMEOUT), "-o", options], log_path)
            return port
        except RuntimeError:
            if attempts_left == 0:
                raise


@dataclass
class PgCluster:
    """A running PostgreSQL cluster, which a test may stop and start again on the same port (an outage)."""

    url: str
    bindir: Path
    data: Path
    sockets: Path
    log_path: Path
    port: int

    def stop(self) -> None:
        """pg_ctl stop -m fast: every connection is cut."""
        _stop(self.bindir, self.data, self.log_path)

    def start(self) -> None:
        """Start it again on the same port."""
        _start(self.bindir, self.data, self.sockets, self.log_path, self.port)


@contextmanager
def running_pg_server() -> Iterator[str]:
    """initdb a cluster in a fresh folder, start it on 127.0.0.1, create the role and database; yield the
    database URL; stop the server and delete the folder on exit."""
    with running_pg_cluster() as cluster:
        yield cluster.url


@contextmanager
def running_pg_cluster() -> Iterator[PgCluster]:
    """`running_pg_server`, yielding the cluster handle (to stop and start the server mid-test)."""
    bindir = pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    # not under pytest's tmp folder: its parents are private to root, and the server runs as postgres
    root = Path(tempfile.mkdtemp(prefix="batchsearch-pg-"))
    data, sockets, log_path = root / "data", root / "sockets", root / "server.log"
    try:
        _own(root)
        _run(["mkdir", "-m", "700", str(sockets)], log_path)
        _run([str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth-local=trust",
              "--auth-host=scram-sha-256", "--no-sync", "--encoding=UTF8", "--locale=C.UTF-8"], log_path)
        try:
            port = _start(bindir, data, sockets, log_path)
            # pg_signal_backend: DROP DATABASE ... WITH (FORCE) after a test must also end a connection still
            # authenticating (its role not yet known), or it fails with InsufficientPrivilege.
            _admin_execute(sockets, port, f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'",
                           f"GRANT pg_signal_backend TO {ROLE}", f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
            url = f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"
            yield PgCluster(url, bindir, data, sockets, log_path, port)
        finally:
            _stop(bindir, data, log_path)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _database_url(server_url: str, name: str) -> str:
    """The server URL pointing at another database."""
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _execute(server_url: str, statement: str) -> None:
    """Run one statement outside a transaction as the test role."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname=url.database, autocommit=True) as conn:
        conn.execute(statement.encode())


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server for the whole session; yields the URL of its `batchsearch` database (fails under CI,
    skips locally, when it cannot run)."""
    missing = missing_requirements()
    if missing:
        reason = "PostgreSQL tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with running_pg_server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server for this test; dropped (connections and all) after it."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    _execute(pg_server, f"CREATE DATABASE {name}")
    yield _database_url(pg_server, name)
    _execute(pg_server, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for this test: a SQLite file, then a PostgreSQL database (the test runs once on each)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'batchsearch.db'}"
    return str(request.getfixturevalue("pg_url"))
