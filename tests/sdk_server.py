"""A real batchsearch server for the SDK, CLI and compatibility tests: uvicorn on 127.0.0.1, a batch worker.

The index is a handful of generated documents (the real encoder is slow), built once per test
session and copied into each server's own data folder.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from batch_fakes import build_app
from batchsearch.config import Settings
from batchsearch.corpus import write_corpus
from batchsearch.jobs.worker import EngineLineSearcher, build_worker
from batchsearch.kg import KnowledgeGraph
from batchsearch.services import build_ingestor

N_DOCS = 8
SEED = 11
_BUILT: dict[str, Path] = {}


def built_index(factory: pytest.TempPathFactory) -> Path:
    """A data folder with the default knowledge graph and N_DOCS generated documents ingested (once)."""
    if "path" not in _BUILT:
        root = factory.mktemp("sdk-index")
        graph = KnowledgeGraph.open_or_build(root / "kg")
        write_corpus(root / "corpus.jsonl", graph.companies(), graph.sources(), N_DOCS, SEED)
        build_ingestor(Settings(data_dir=root)).ingest_file(str(root / "corpus.jsonl"), "jsonl")
        _BUILT["path"] = root
    return _BUILT["path"]


def corpus_documents(index_dir: Path) -> list[dict[str, Any]]:
    """The generated documents in the built index."""
    with (index_dir / "corpus.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


class LiveServer:
    """uvicorn serving the full app (search, kg, batches, signed files) plus one batch worker thread."""

    def __init__(self, index_dir: Path, data_dir: Path, **settings: Any) -> None:
        for folder in ("index", "kg"):
            shutil.copytree(index_dir / folder, data_dir / folder)
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        defaults: dict[str, Any] = {"poll_seconds": 0.05, "heartbeat_seconds": 1.0, "signing_secret": "test-secret"}
        self.settings = Settings(data_dir=data_dir, host="127.0.0.1", port=self.port, **(defaults | settings))
        self.app = build_app(self.settings)
        self.api_key = self.create_key("alice")
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True),
            threading.Thread(target=self._work, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._wait_started()

    def create_key(self, name: str) -> str:
        """A new API key for owner `name`."""
        return str(self.app.state.keys.create(name)[1])

    def _work(self) -> None:
        worker = build_worker(self.settings, EngineLineSearcher(self.app.state.engine))
        worker.run(self._stop)

    def _wait_started(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._threads[0].is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the worker and the server and wait for both threads."""
        self._stop.set()
        self._server.should_exit = True
        for thread in self._threads:
            thread.join(timeout=30)
        self._socket.close()


def dead_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
