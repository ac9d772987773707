"""What the benchmarks share to run a real server: a free port, an API key, `serve` as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_key(data_dir: Path, name: str = "bench", database_url: str | None = None) -> str:
    """An API key in the deployment's database (default: the data dir's SQLite file)."""
    from batchsearch.config import Settings
    from batchsearch.db import create_db_engine
    from batchsearch.keys import KeyStore

    settings = Settings(data_dir=data_dir, database_url=database_url)
    return KeyStore(create_db_engine(settings.resolved_database_url())).create(name)[1]


def start_serve(
    data_dir: Path, *, workers: int, settings: dict[str, str] | None = None, command: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """`batchsearch serve` on 127.0.0.1 with `workers` worker processes (or `command`, which reads the same
    BATCHSEARCH_* environment; `env` adds other variables), and its base URL once it answers."""
    port = free_port()
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHSEARCH_")} | extra
    env |= {"BATCHSEARCH_DATA_DIR": str(data_dir), "BATCHSEARCH_HOST": "127.0.0.1", "BATCHSEARCH_PORT": str(port),
            "BATCHSEARCH_WORKERS": str(workers),
            "BATCHSEARCH_BLAS_THREADS": os.environ.get("BATCHSEARCH_BLAS_THREADS", "1")}
    env |= {f"BATCHSEARCH_{name.upper()}": value for name, value in (settings or {}).items()}
    argv = command or [sys.executable, "-m", "batchsearch.cli", "serve"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            if process.poll() is not None:
                raise SystemExit(f"server exited with {process.returncode}") from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")
