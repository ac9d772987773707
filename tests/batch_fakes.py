"""Test doubles and helpers for the batch job tests: a fake searcher, app assembly, line files."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from batchsearch.api.app import create_app
from batchsearch.api.routes import batches, files
from batchsearch.config import Settings
from batchsearch.errors import BatchSearchError, ValidationError
from batchsearch.jobs.service import BatchService
from batchsearch.jobs.runner import Clock, utcnow

MISSING_QUERY = "1 validation error for PublicSearchRequest\nquery\n  Field required"


class FakeSearcher:
    """A LineSearcher that echoes the query text; `crash` texts make a batch call raise, `slow` texts sleep."""

    def __init__(self, *, delay: float = 0.0, crash: Sequence[str] = (), slow: dict[str, float] | None = None) -> None:
        self.delay = delay
        self.crash = set(crash)
        self.slow = slow or {}
        self.calls: list[int] = []

    def parse_request(self, payload: Any) -> Any:
        """Accept `{"query": {"text": str, ...}}`."""
        if not isinstance(payload, dict) or "query" not in payload:
            raise ValidationError(MISSING_QUERY)
        query = payload["query"]
        if not isinstance(query, dict) or not isinstance(query.get("text"), str):
            raise ValidationError("1 validation error for PublicSearchRequest\nquery.text\n  Input should be a valid string")
        return query

    def search_many(self, queries: Sequence[Any], *, owner: str | None) -> list[dict[str, Any] | BatchSearchError]:
        """One echo response per query."""
        self.calls.append(len(queries))
        if any(q["text"] in self.crash for q in queries):
            raise RuntimeError("engine crashed")
        time.sleep(self.delay * len(queries) + sum(self.slow.get(q["text"], 0.0) for q in queries))
        return [self._response(q, owner) for q in queries]

    @staticmethod
    def _response(query: dict[str, Any], owner: str | None) -> dict[str, Any]:
        """A response shaped like the engine's, with the volatile request id and timestamp."""
        metadata = {"request_id": str(uuid.uuid4()), "timestamp": datetime.now(UTC).isoformat()}
        return {"results": [{"text": query["text"], "owner": owner}], "metadata": metadata, "usage": {"api_query_units": 0.1}}


def fake_searcher(settings: Settings, delay: float = 0.0) -> FakeSearcher:
    """A SearcherFactory for worker processes (use functools.partial to set the delay)."""
    return FakeSearcher(delay=delay)


def build_app(settings: Settings, clock: Clock = utcnow) -> FastAPI:
    """The API with the batch routes and services wired as create_app will wire them."""
    app = create_app(settings)
    if not hasattr(app.state, "batches"):  # until create_app wires Batch Search itself
        app.state.batches = BatchService.from_settings(settings, app.state.db)
        app.state.object_store = app.state.batches.objects
        app.include_router(batches.router)
        app.include_router(files.router)
    app.state.batches.clock = clock
    return app


def jsonl(n: int, *, bad_every: int = 0) -> bytes:
    """n query lines; every `bad_every`-th line is not JSON."""
    out = []
    for i in range(1, n + 1):
        if bad_every and i % bad_every == 0:
            out.append(b"{not json")
        else:
            out.append(json.dumps({"query": {"text": f"query number {i}", "max_chunks": 3}}).encode())
    return b"\n".join(out) + b"\n"


def strip_volatile(data: bytes) -> list[dict[str, Any]]:
    """Output lines with request ids and timestamps removed, for byte-for-byte comparisons."""
    rows = []
    for line in data.splitlines():
        row = json.loads(line)
        if row.get("response"):
            row["response"]["metadata"].pop("request_id", None)
            row["response"]["metadata"].pop("timestamp", None)
        rows.append(row)
    return rows
