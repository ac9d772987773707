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

from batchsearch.api.app import create_app
from batchsearch.clock import utcnow
from batchsearch.config import Settings
from batchsearch.corpus import write_corpus
from batchsearch.jobs.execute import PlanningSearcher
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
        self.app = create_app(self.settings)
        self.api_key = self.create_key("alice")
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning"))
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
        # as a real worker's searcher (open_engine_searcher): lines are planned (enrichment, smart mode)
        searcher = PlanningSearcher(EngineLineSearcher(self.app.state.engine), self.app.state.kg.detector(), utcnow)
        worker = build_worker(self.settings, searcher)
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


class Reply:
    """One scripted answer: a status, headers and body, or `drop` to close the connection without answering."""

    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None,
                 *, drop: bool = False) -> None:
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
        self.headers = {"Content-Type": "application/json"} | (headers or {})
        self.drop = drop


class ScriptedServer:
    """A tiny real HTTP server on 127.0.0.1 that answers from a script (the last reply repeats) and records requests."""

    def __init__(self, *replies: Reply) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append({"method": self.command, "path": self.path, "body": body,
                                       "headers": {k.lower(): v for k, v in self.headers.items()}})
                reply = owner.replies.pop(0) if len(owner.replies) > 1 else owner.replies[0]
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


def error_body(status: int, code: str, message: str, request_id: str = "req-1") -> dict[str, Any]:
    """The wire error shape the real server sends."""
    return {"statusCode": status, "message": message, "errorCode": code, "requestId": request_id,
            "errors": [{"message": message}]}
