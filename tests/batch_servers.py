"""Real processes for the batch end-to-end tests: a tiny real index, `serve`-like servers, worker processes."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

TESTS_DIR = Path(__file__).resolve().parent
ENCODER_CACHE_VARIABLE = "BATCHSEARCH_EMBED_CACHE_DIR"  # set once per test session (conftest), kept for subprocesses
WORDS = (
    "revenue guidance lawsuit growth cloud computing outlook margin profit loss dividend merger acquisition "
    "chief executive board shares stock price inflation rates bank loan factory energy oil gas supply demand "
    "market quarter earnings analyst forecast"
).split()

SERVE_SCRIPT = """
import os, sys
sys.path.insert(0, os.environ["BATCH_TESTS_DIR"])
from batchsearch.config import Settings
from batchsearch.jobs.supervisor import run_api_and_workers
from batch_fakes import build_app


def main() -> None:
    settings = Settings()
    run_api_and_workers(build_app(settings), settings)


if __name__ == "__main__":
    main()
"""


def build_index(data_dir: Path, n_docs: int = 120) -> None:
    """Ingest a small deterministic corpus with the real embedder into data_dir/index."""
    from batchsearch.config import Settings
    from batchsearch.services import build_ingestor

    rng = random.Random(7)
    docs = data_dir / "docs.jsonl"
    data_dir.mkdir(parents=True, exist_ok=True)
    with docs.open("w") as out:
        for i in range(n_docs):
            text = " ".join(rng.choice(WORDS) for _ in range(50)) + "."
            doc = {"id": f"D{i:05d}", "headline": f"{rng.choice(WORDS)} news {i}", "text": text,
                   "timestamp": 1_700_000_000 + i * 3600}
            out.write(json.dumps(doc) + "\n")
    build_ingestor(Settings(data_dir=data_dir)).ingest_file(str(docs), "jsonl")


def copy_index(source: Path, data_dir: Path) -> None:
    """Give a test's data_dir its own copy of a built index."""
    shutil.copytree(source / "index", data_dir / "index")


def query_lines(n: int, *, bad_every: int = 0, seed: int = 3) -> bytes:
    """n real search lines; every bad_every-th line is malformed JSON."""
    rng = random.Random(seed)
    lines = []
    for i in range(1, n + 1):
        if bad_every and i % bad_every == 0:
            lines.append(b'{"query": {"text": "unterminated')
            continue
        query: dict[str, Any] = {"text": f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(WORDS)}", "max_chunks": 3}
        lines.append(json.dumps({"query": query}).encode())
    return b"\n".join(lines) + b"\n"


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_env(data_dir: Path, port: int, **extra: object) -> dict[str, str]:
    """The environment that configures a server or worker process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHSEARCH_") or k == ENCODER_CACHE_VARIABLE}
    env |= {"BATCHSEARCH_DATA_DIR": str(data_dir), "BATCHSEARCH_PORT": str(port), "BATCHSEARCH_HOST": "127.0.0.1",
            "BATCH_TESTS_DIR": str(TESTS_DIR), "BATCHSEARCH_SIGNING_SECRET": "test-secret"}
    env |= {f"BATCHSEARCH_{k.upper()}": str(v) for k, v in extra.items()}
    return env


class Server:
    """A `serve`-like process: the API on 127.0.0.1 plus its worker processes."""

    def __init__(self, data_dir: Path, port: int | None = None, *, env: dict[str, str] | None = None,
                 command: list[str] | None = None, **settings: object) -> None:
        """`command` (default: the app of batch_fakes under run_api_and_workers) reads its settings from the
        BATCHSEARCH_* environment, as `batchsearch serve` does."""
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = settings_env(data_dir, self.port, **settings) | (env or {})
        if command is None:
            script = data_dir / "serve_for_tests.py"
            script.write_text(SERVE_SCRIPT)
            command = [sys.executable, str(script)]
        self.log = open(data_dir / f"serve-{self.port}-{time.time_ns()}.log", "wb")
        self.process = subprocess.Popen(command, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:  # never leave a half-started server (and its workers) behind
            self._kill_group()
            raise

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {(self.data_dir / self.log.name).read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError("server did not start")

    def create_key(self, name: str) -> str:
        """An API key in this server's database."""
        return create_key(self.data_dir, name, self.env.get("BATCHSEARCH_DATABASE_URL"))

    def kill(self) -> None:
        """SIGKILL the server process itself (its workers notice they are orphaned and exit)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM, as a service manager would), or kill the whole process group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._kill_group()
        self.log.close()

    def _kill_group(self) -> None:
        """SIGKILL the server and every process it started (its session)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


def start_worker(data_dir: Path, port: int, *, env: dict[str, str] | None = None,
                 **settings: object) -> subprocess.Popen[bytes]:
    """One standalone worker process: `python -m batchsearch.jobs.worker`."""
    log = open(data_dir / f"worker-{time.time_ns()}.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "batchsearch.jobs.worker"],
                            env=settings_env(data_dir, port, **settings) | (env or {}), stdout=log,
                            stderr=subprocess.STDOUT)


class BatchClient:
    """The Bigdata batch flow over real HTTP, like a client would run it."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"X-API-KEY": api_key}, timeout=60)

    def submit(self, data: bytes) -> str:
        created = self.http.post("/v1/search/batches").json()
        put = httpx.put(created["presigned_url"], content=data, headers={"Content-Type": "application/jsonl"}, timeout=60)
        assert put.status_code == 200, put.text
        return str(created["batch_id"])

    def status(self, batch_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/search/batches/{batch_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait(self, batch_id: str, until: tuple[str, ...] = ("completed", "failed", "cancelled"),
             timeout: float = 600, lines_done: int | None = None) -> dict[str, Any]:
        """Poll until the status is one of `until` (or lines_done reaches a value)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(batch_id)
            if status["status"] in until or (lines_done is not None and status["lines_done"] >= lines_done):
                return status
            time.sleep(0.2)
        raise TimeoutError(f"batch {batch_id} still {self.status(batch_id)}")

    def download(self, status: dict[str, Any]) -> bytes:
        response = httpx.get(status["output_file_url"], timeout=120)
        assert response.status_code == 200
        return response.content


def create_key(data_dir: Path, name: str, database_url: str | None = None) -> str:
    """An API key in the deployment's database (default: the data_dir's SQLite file)."""
    from batchsearch.config import Settings
    from batchsearch.db import create_db_engine
    from batchsearch.keys import KeyStore

    settings = Settings(data_dir=data_dir, database_url=database_url)
    return KeyStore(create_db_engine(settings.resolved_database_url())).create(name)[1]


def without_volatile(data: bytes) -> bytes:
    """The output with each response's request_id and timestamp removed, re-serialised the same way."""
    out = []
    for line in data.splitlines():
        row = json.loads(line)
        if row.get("response"):
            row["response"]["metadata"].pop("request_id", None)
            row["response"]["metadata"].pop("timestamp", None)
        out.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode())
    return b"\n".join(out)


def tampered(url: str) -> str:
    """A signed URL with one character of its signature changed (our own URLs and S3's alike)."""
    parts = urlsplit(url)
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in ("signature", "x-amz-signature"):
            value = ("0" if value[0] != "0" else "1") + value[1:]
        query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


DEPLOYMENTS = ("sqlite+file", "postgresql+s3")


def deployment_settings(kind: str, request: Any) -> tuple[dict[str, object], dict[str, str]]:
    """Settings and environment of the processes of one test: SQLite and local files, or a real PostgreSQL
    database and a real S3 server (a fresh database and key prefix for every test)."""
    if kind == "sqlite+file":
        return {}, {}
    s3, database_url = request.getfixturevalue("s3_server"), request.getfixturevalue("pg_url")
    settings = {"database_url": database_url, "object_store_url": f"s3://{s3.bucket}/{uuid.uuid4().hex}",
                "s3_endpoint_url": s3.endpoint_url}
    return settings, dict(s3.env())


def wait_for(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    """Poll until `predicate()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def local_reference(index_source: Path, data_dir: Path, lines: bytes, **settings: object) -> bytes:
    """What the local executor (one worker of `serve`) writes for `lines` over a copy of the index at
    index_source, without its volatile fields: the reference other executors' output is compared with."""
    copy_index(index_source, data_dir)
    server = Server(data_dir, workers=1, **settings)
    try:
        client = BatchClient(server.base_url, server.create_key("alice"))
        status = client.wait(client.submit(lines))
        assert status["status"] == "completed", status
        return without_volatile(client.download(status))
    finally:
        server.stop()
