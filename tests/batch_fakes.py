"""Test doubles and helpers for the batch job tests: a fake searcher, app assembly, line files."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlsplit
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from batchsearch.api.app import create_app
from batchsearch.api.routes import batches, files
from batchsearch.config import Settings
from batchsearch.errors import BatchSearchError
from batchsearch.clock import Clock, utcnow
from batchsearch.jobs.model import Job
from batchsearch.jobs.states import JobStatus
from batchsearch.jobs.status import QueueView, StatusContext, render_status
from batchsearch.jobs.intake import Intake
from batchsearch.jobs.service import BatchService
from batchsearch.models.search import Query



class FakeSearcher:
    """A LineSearcher that echoes the query text; `crash` texts make a batch call raise, `slow` texts sleep."""

    def __init__(self, *, delay: float = 0.0, crash: Sequence[str] = (), slow: dict[str, float] | None = None,
                 generation: int | None = None) -> None:
        self.delay = delay
        self.crash = set(crash)
        self.slow = slow or {}
        self.generation = generation
        self.calls: list[int] = []
        self.generations: list[int | None] = []

    def current_generation(self) -> int | None:
        """The fake index generation (None: no snapshots)."""
        return self.generation

    def search_many(self, queries: Sequence[Query], *, owner: str | None,
                    generation: int | None = None) -> list[dict[str, Any] | BatchSearchError]:
        """One echo response per query."""
        self.calls.append(len(queries))
        self.generations.append(generation)
        if any(q.text in self.crash for q in queries):
            raise RuntimeError("engine crashed")
        time.sleep(self.delay * len(queries) + sum(self.slow.get(q.text or "", 0.0) for q in queries))
        return [self._response(q, owner) for q in queries]

    @staticmethod
    def _response(query: Query, owner: str | None) -> dict[str, Any]:
        """A response shaped like the engine's, with the volatile request id and timestamp."""
        metadata = {"request_id": str(uuid.uuid4()), "timestamp": datetime.now(UTC).isoformat()}
        return {"results": [{"text": query.text, "owner": owner}], "metadata": metadata, "usage": {"api_query_units": 0.1}}


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


class AsgiBatches:
    """The app behind httpx.ASGITransport, a tenant key, and in-process workers with a chosen searcher."""

    def __init__(self, settings: Settings, searcher: Any = None) -> None:
        self.app = build_app(settings)
        self.service: BatchService = self.app.state.batches
        self.key = self.app.state.keys.create("alice", "alice")[1]
        self.other = self.app.state.keys.create("bob", "bob")[1]
        self.searcher = searcher or FakeSearcher()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test",
                                        headers={"X-API-KEY": self.key}, timeout=60)

    async def submit(self, data: bytes, body: dict[str, Any] | None = None, **headers: str) -> str:
        """Create a job (with an optional JSON body) and upload its input; returns the batch id."""
        created = await self.client.post("/v1/search/batches", json=body, headers=headers)
        assert created.status_code == 200, created.text
        put = await self.put(created.json()["presigned_url"], data)
        assert put.status_code == 200, put.text
        return str(created.json()["batch_id"])

    @property
    def on_s3(self) -> bool:
        """Whether the app's object store is S3 (its presigned URLs go to the S3 server, not to the app)."""
        return self.service.settings.resolved_object_store_url().startswith("s3://")

    async def put(self, url: str, data: bytes) -> Any:
        """PUT to a presigned URL; on S3 a worker's intake sweep then takes the upload in, as it would soon."""
        if not self.on_s3:
            parts = urlsplit(url)
            return await self.client.put(f"{parts.path}?{parts.query}", content=data)
        async with httpx.AsyncClient(timeout=60) as s3:
            response = await s3.put(url, content=data)
        if response.status_code == 200:
            service = self.service
            Intake(service.backend, service.objects, service.limits, service.clock).sweep()
        return response

    async def fetch(self, url: str, **headers: str) -> Any:
        """GET a presigned URL (the app's own, or the S3 server's)."""
        if not self.on_s3:
            parts = urlsplit(url)
            return await self.client.get(f"{parts.path}?{parts.query}", headers=headers)
        async with httpx.AsyncClient(timeout=60) as s3:
            return await s3.get(url, headers=headers)

    async def status(self, batch_id: str) -> dict[str, Any]:
        """The job's status document."""
        response = await self.client.get(f"/v1/search/batches/{batch_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def worker(self, searcher: Any = None) -> Any:
        """An in-process worker over the app's job store and object store."""
        from batchsearch.jobs.worker import Worker

        service = self.service
        return Worker(service.settings, service.backend, service.objects, searcher or self.searcher, clock=service.clock)

    def work(self, searcher: Any = None) -> None:
        """Run every queued job to the end."""
        import threading

        worker = self.worker(searcher)
        while worker.run_once(threading.Event()):
            pass


WIRE_TO_JOB = {"pending": JobStatus.QUEUED, "processing": JobStatus.PROCESSING, "completed": JobStatus.COMPLETED,
               "failed": JobStatus.FAILED, "cancelled": JobStatus.CANCELLED}


def status_document(state: str, *, eta: datetime | None = None, output_file_url: str | None = None,
                    **fields: Any) -> dict[str, Any]:
    """A job's status document exactly as the server renders it (jobs/status.py), for scripted servers:
    `state` is the wire status, `fields` are Job columns (lines_total, checkpoint_line, ...)."""
    now = datetime.now(UTC)
    job = Job("b1", "alice", WIRE_TO_JOB[state], now, now + timedelta(hours=1), "batches/b1/input.jsonl", **fields)
    if job.status is JobStatus.PROCESSING:
        job = replace(job, lease_owner="w1", lease_expires_at=now + timedelta(seconds=30))
    return dict(render_status(job, StatusContext(now, output_file_url, QueueView(eta), 30.0)))
