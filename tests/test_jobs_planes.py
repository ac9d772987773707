"""Control plane and data plane: API reads never write, only workers write output, cost of a status call is flat."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from batchsearch.jobs import parts, store as store_module
from batchsearch.jobs.model import Job
from batchsearch.jobs.states import JobStatus
from batchsearch.storage import ObjectStore, open_object_store

from batch_fakes import AsgiBatches, FakeSearcher, jsonl
from test_jobs_runner import Crash, CrashingStore

pytestmark = pytest.mark.anyio
WRITE_SQL = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP)\b", re.IGNORECASE)


BATCH_SETTINGS = {"micro_batch_size": 4, "upload_url_ttl_seconds": 60}  # for the shared `api` fixture


class RecordingStore:
    """An object store that records every write made through it (and forwards everything)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.writes: list[tuple[str, str]] = []

    def put_stream(self, key: str, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> int:
        self.writes.append(("put", key))
        return self.inner.put_stream(key, chunks, max_bytes=max_bytes)

    def delete(self, key: str) -> None:
        self.writes.append(("delete", key))
        self.inner.delete(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class SqlRecorder:
    """Every SQL statement an engine runs while recording."""

    def __init__(self, engine: Any) -> None:
        self.statements: list[str] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on:
            self.statements.append(statement)

    def writes(self) -> list[str]:
        return [s for s in self.statements if WRITE_SQL.match(s)]


def worker_objects(api: AsgiBatches) -> ObjectStore:
    """The worker's own object store over the same files (so the API's store sees only the API's writes)."""
    return open_object_store(api.service.settings)


def run_worker(api: AsgiBatches, searcher: FakeSearcher | None = None) -> None:
    """One in-process worker with its own object store, until the queue is empty."""
    from batchsearch.jobs.worker import Worker

    service = api.service
    worker = Worker(service.settings, service.backend, worker_objects(api), searcher or FakeSearcher(),
                    clock=service.clock)
    while worker.run_once(threading.Event()):
        pass


async def jobs_in_every_state(api: AsgiBatches) -> dict[str, str]:
    """One job per state a reader can meet, including an expired upload and a cancel awaiting its output."""
    ids = {"awaiting_upload": (await api.client.post("/v1/search/batches")).json()["batch_id"]}
    ids["expired_upload"] = (await api.client.post("/v1/search/batches")).json()["batch_id"]
    backend = api.service.backend
    ids["completed"] = await api.submit(jsonl(6))
    ids["cancelled_retry"] = await api.submit(jsonl(12))
    run_worker(api, FakeSearcher(crash=["query number 3"]))
    api.service.retry(backend.fetch(ids["cancelled_retry"]))
    now = api.service.clock()
    assert backend.claim("w-dead", now, now + timedelta(minutes=5)) is not None
    assert (await api.client.post(f"/v1/search/batches/{ids['cancelled_retry']}/cancel")).status_code == 200
    ids["processing"] = await api.submit(jsonl(7))
    assert backend.claim("w-gone", now, now + timedelta(minutes=5)) is not None
    ids["queued"] = await api.submit(jsonl(5))
    assert backend.fetch(ids["cancelled_retry"]).output_pending
    expired = backend.fetch(ids["expired_upload"])  # after the workers ran: no sweep has failed it yet
    backend.update_fields(expired.id, JobStatus.PENDING, {"upload_expires_at": expired.created_at - timedelta(hours=1)})
    return ids


async def test_status_list_and_results_never_write(api: AsgiBatches) -> None:
    ids = await jobs_in_every_state(api)
    recorder = SqlRecorder(api.app.state.db)
    objects = RecordingStore(api.service.objects)  # type: ignore[arg-type]
    api.service.objects = objects  # type: ignore[assignment]
    recorder.on = True
    for batch_id in ids.values():
        status = await api.status(batch_id)
        assert status["batch_id"] == batch_id
        results = await api.client.get(f"/v1/search/batches/{batch_id}/results")
        assert results.status_code == 200
    for query in ("", "?status=pending", "?status=processing", "?status=completed", "?status=failed",
                  "?status=cancelled", "?limit=1"):
        assert (await api.client.get(f"/v1/search/batches{query}")).status_code == 200
    recorder.on = False
    assert recorder.statements and recorder.writes() == []
    assert objects.writes == []
    expired = await api.status(ids["expired_upload"])  # shown failed without writing; a worker makes it durable
    assert expired["status"] == "failed" and "expired" in expired["error"]
    assert api.service.backend.fetch(ids["expired_upload"]).status is JobStatus.PENDING


async def test_cancel_only_changes_state_and_the_worker_holding_the_job_writes_its_output(api: AsgiBatches) -> None:
    objects = RecordingStore(api.service.objects)  # type: ignore[arg-type]
    api.service.objects = objects  # type: ignore[assignment]
    batch_id = await api.submit(jsonl(40))
    from batchsearch.jobs.worker import Worker

    searcher = FakeSearcher(delay=0.02)
    worker = Worker(api.service.settings, api.service.backend, worker_objects(api), searcher, clock=api.service.clock)
    thread = threading.Thread(target=worker.run_once, args=(threading.Event(),))
    thread.start()
    while (await api.status(batch_id))["lines_done"] < 8:
        await _pause()
    cancelled = await api.client.post(f"/v1/search/batches/{batch_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    thread.join(timeout=60)
    status = await api.status(batch_id)
    assert status["phase"] == "done" and status["output_file_url"]
    rows = (await api.fetch(status["output_file_url"])).content.splitlines()
    assert 8 <= len(rows) < 40 and len(rows) == status["lines_done"]
    assert [json.loads(r)["line_number"] for r in rows] == list(range(1, len(rows) + 1))
    if api.on_s3:  # the client uploaded straight to S3: the API wrote nothing at all
        assert objects.writes == []
    else:  # the API stored the uploaded input; every part and output came from the worker
        assert len(objects.writes) == 1 and re.search(r"/input-[0-9a-f]+\.jsonl$", objects.writes[0][1])


async def test_a_cancelled_job_whose_worker_died_is_written_by_the_sweep(api: AsgiBatches) -> None:
    from batchsearch.db import create_db_engine
    from batchsearch.jobs.worker import Worker

    batch_id = await api.submit(jsonl(20))
    settings, now = api.service.settings, api.service.clock()
    dying = CrashingStore(create_db_engine(settings.resolved_database_url()), crash_at=3)
    with pytest.raises(Crash):  # the worker dies after two checkpointed micro-batches, still holding the lease
        Worker(settings, dying, worker_objects(api), FakeSearcher(), clock=api.service.clock).run_once(threading.Event())
    assert api.service.backend.fetch(batch_id).checkpoint_line == 8
    cancelled = (await api.client.post(f"/v1/search/batches/{batch_id}/cancel")).json()
    assert cancelled["phase"] == "finalizing" and cancelled["output_file_url"] is None
    run_worker(api)  # the dead worker's lease is still live: nobody may write yet
    assert (await api.status(batch_id))["phase"] == "finalizing"
    assert not any("output" in k for k in api.service.objects.list_keys(parts.job_prefix(batch_id)))
    api.service.clock = lambda: now + timedelta(minutes=10)
    run_worker(api)  # the lease expired: a sweep writes the finished lines
    status = await api.status(batch_id)
    assert status["phase"] == "done" and status["lines_done"] == 8 and status["request_counts"]["pending"] == 12
    rows = (await api.fetch(status["output_file_url"])).content.splitlines()
    assert [json.loads(r)["line_number"] for r in rows] == list(range(1, 9))
    assert api.service.objects.list_keys(parts.parts_prefix(batch_id)) == []


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.01)


async def test_a_status_call_reads_a_bounded_number_of_jobs_whatever_other_tenants_queue(
    api: AsgiBatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.submit(jsonl(3))
    run_worker(api)
    mine = await api.submit(jsonl(3))
    backend = api.service.backend
    template = backend.fetch(mine)
    for i in range(300):  # another tenant's waiting jobs, all queued ahead of ours
        backend.create(Job(f"other-{i:04d}", "someone-else", JobStatus.QUEUED, template.created_at - timedelta(days=1),
                           template.upload_expires_at, f"batches/other-{i}/input.jsonl", lines_total=10))
    loaded: list[str] = []
    original = store_module._job

    def counting(row: Any) -> Job:
        job = original(row)
        loaded.append(job.id)
        return job

    monkeypatch.setattr(store_module, "_job", counting)
    status = await api.status(mine)
    # the position counts only the caller's own waiting jobs (another tenant's queue length stays private)
    assert status["queue_position"] == 1 and status["estimated_completion_time"]
    assert loaded == [mine]  # the job itself; the queue ahead is counted and summed by the database
    loaded.clear()
    page = (await api.client.get("/v1/search/batches?limit=10")).json()
    assert len(page["data"]) == 2 and page["data"][0]["queue_position"] == 1
    assert not any(job_id.startswith("other-") for job_id in loaded)
