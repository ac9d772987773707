"""The runner end to end in one process with a fake searcher: lines, failures, resume, cancel, estimates."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from batchsearch.config import Settings
from batchsearch.db import create_db_engine
from batchsearch.errors import ValidationError
from batchsearch.jobs import parts
from batchsearch.jobs.model import Checkpoint, Job
from batchsearch.jobs.service import BatchService
from batchsearch.jobs.states import JobStatus
from batchsearch.jobs.store import SqlJobStore
from batchsearch.jobs.worker import Worker

from batch_fakes import FakeSearcher, jsonl, strip_volatile


class Crash(BaseException):
    """Stands for the process dying at this point."""


class CrashingStore(SqlJobStore):
    """Dies at the n-th checkpoint, after its part file was written (injected failure)."""

    def __init__(self, engine: Any, crash_at: int) -> None:
        super().__init__(engine)
        self.crash_at = crash_at
        self.seen = 0

    def save_checkpoint(self, job_id: str, worker_id: str, checkpoint: Checkpoint, lease_until: datetime) -> bool:
        self.seen += 1
        if self.seen == self.crash_at:
            raise Crash()
        return super().save_checkpoint(job_id, worker_id, checkpoint, lease_until)


class Clock:
    """Injected time that tests can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, micro_batch_size=8, query_timeout_seconds=5, heartbeat_seconds=0.2)


def service_for(settings: Settings, clock: Clock | None = None) -> BatchService:
    engine = create_db_engine(settings.resolved_database_url())
    service = BatchService.from_settings(settings, engine)
    if clock:
        service.clock = clock
    return service


def worker_for(service: BatchService, searcher: FakeSearcher, backend: SqlJobStore | None = None, clock: Any = None) -> Worker:
    return Worker(service.settings, backend or service.backend, service.objects, searcher, clock=clock or service.clock)  # type: ignore[arg-type]


def submit(service: BatchService, data: bytes) -> Job:
    job = service.create("alice").job
    return service.receive_upload(parts.upload_key(job.id), [data])


def output_of(service: BatchService, job_id: str) -> bytes:
    job = service.backend.get(job_id)
    assert job is not None and job.output_key is not None, job
    return b"".join(service.objects.iter_bytes(job.output_key))


def run_until_idle(worker: Worker) -> None:
    stop = threading.Event()
    for _ in range(100):
        if not worker.run_once(stop):
            return
    raise AssertionError("worker never went idle")


def test_every_line_once_in_order_with_error_lines(settings: Settings) -> None:
    service = service_for(settings)
    data = jsonl(50, bad_every=10) + b"\n" + jsonl(1)
    job = submit(service, data)
    assert (job.status, job.lines_total) == (JobStatus.QUEUED, 52)
    searcher = FakeSearcher()
    run_until_idle(worker_for(service, searcher))
    rows = [json.loads(line) for line in output_of(service, job.id).splitlines()]
    assert [r["line_number"] for r in rows] == list(range(1, 53))
    assert [r["line_number"] for r in rows if r["status"] == "error"] == [10, 20, 30, 40, 50, 51]
    assert rows[50]["error"] == "1 validation error for PublicSearchRequest\nbody\n  Field required"
    assert rows[0]["query"] == {"text": "query number 1", "max_chunks": 3} and rows[0]["code"] == 200
    assert rows[0]["response"]["results"][0] == {"text": "query number 1", "owner": "alice"}
    status = service.status(service.backend.get(job.id))  # type: ignore[arg-type]
    assert status["status"] == "completed" and status["lines_done"] == 52 and status["estimated_completion_time"] is None
    assert status["output_file_url"] and service.objects.list_keys(parts.parts_prefix(job.id)) == []
    assert max(searcher.calls) == 8


def test_one_crashing_line_does_not_fail_its_neighbours(settings: Settings) -> None:
    service = service_for(settings)
    lines = [json.dumps({"query": {"text": t}}).encode() for t in ("a", "boom", "c")]
    job = submit(service, b"\n".join(lines))
    searcher = FakeSearcher(crash=["boom"])
    run_until_idle(worker_for(service, searcher))
    rows = [json.loads(line) for line in output_of(service, job.id).splitlines()]
    assert [(r["status"], r["code"]) for r in rows] == [("success", 200), ("exception", 500), ("success", 200)]
    assert rows[1]["error"] == "Internal error while executing search"
    assert searcher.calls == [3, 1, 1, 1]


def test_a_line_over_the_deadline_times_out_alone(settings: Settings) -> None:
    settings = settings.model_copy(update={"query_timeout_seconds": 0.3})
    service = service_for(settings)
    lines = [json.dumps({"query": {"text": t}}).encode() for t in ("a", "slow", "c")]
    job = submit(service, b"\n".join(lines) + b"\n")
    run_until_idle(worker_for(service, FakeSearcher(slow={"slow": 1.0})))
    rows = [json.loads(line) for line in output_of(service, job.id).splitlines()]
    assert [(r["status"], r["code"]) for r in rows] == [("success", 200), ("timeout", 504), ("success", 200)]
    assert rows[1]["error"] == "Search request timed out"


def test_crash_after_part_before_checkpoint_resumes_without_loss_or_duplicates(settings: Settings) -> None:
    clock = Clock()
    service = service_for(settings, clock)
    job = submit(service, jsonl(100, bad_every=7))
    crashing = CrashingStore(create_db_engine(settings.resolved_database_url()), crash_at=5)
    with pytest.raises(Crash):
        worker_for(service, FakeSearcher(), crashing, clock).run_once(threading.Event())
    stale = parts.job_part_ranges(service.objects, job.id)
    assert (33, 40) in stale and service.backend.get(job.id).checkpoint_line == 32  # type: ignore[union-attr]
    second = worker_for(service, FakeSearcher(), clock=clock)
    assert not second.run_once(threading.Event())  # lease still held by the dead worker
    clock.offset = timedelta(seconds=settings.lease_seconds + 1)
    run_until_idle(second)
    interrupted = strip_volatile(output_of(service, job.id))

    fresh = service_for(settings.model_copy(update={"data_dir": settings.data_dir / "fresh"}))
    other = submit(fresh, jsonl(100, bad_every=7))
    run_until_idle(worker_for(fresh, FakeSearcher()))
    assert interrupted == strip_volatile(output_of(fresh, other.id))
    assert service.backend.get(job.id).attempts == 2  # type: ignore[union-attr]


def test_resume_with_a_different_micro_batch_size(settings: Settings) -> None:
    clock = Clock()
    service = service_for(settings, clock)
    job = submit(service, jsonl(60))
    crashing = CrashingStore(create_db_engine(settings.resolved_database_url()), crash_at=4)
    with pytest.raises(Crash):
        worker_for(service, FakeSearcher(), crashing, clock).run_once(threading.Event())
    clock.offset = timedelta(seconds=settings.lease_seconds + 1)
    service.settings = settings.model_copy(update={"micro_batch_size": 5})
    run_until_idle(worker_for(service, FakeSearcher(), clock=clock))
    rows = strip_volatile(output_of(service, job.id))
    assert [r["line_number"] for r in rows] == list(range(1, 61))


class CancellingSearcher(FakeSearcher):
    """Cancels the job from 'outside' during its third micro-batch."""

    def __init__(self, service: BatchService, job_id: str) -> None:
        super().__init__()
        self.service, self.job_id = service, job_id

    def search_many(self, queries: Any, *, owner: str | None, generation: int | None = None) -> Any:
        if len(self.calls) == 2:
            self.service.cancel(self.service.backend.get(self.job_id))  # type: ignore[arg-type]
        return super().search_many(queries, owner=owner, generation=generation)


def test_cancel_stops_at_the_next_micro_batch_and_keeps_finished_lines(settings: Settings) -> None:
    service = service_for(settings)
    job = submit(service, jsonl(80))
    run_until_idle(worker_for(service, CancellingSearcher(service, job.id)))
    status = service.status(service.backend.get(job.id))  # type: ignore[arg-type]
    assert status["status"] == "cancelled" and status["output_file_url"]
    rows = strip_volatile(output_of(service, job.id))
    assert [r["line_number"] for r in rows] == list(range(1, 17))
    assert status["lines_done"] == 16


def test_cancel_before_any_output_gives_no_url(settings: Settings) -> None:
    service = service_for(settings)
    job = service.create("alice").job
    status = service.status(service.cancel(job))
    assert status["status"] == "cancelled" and status["output_file_url"] is None


def test_file_stored_without_checks_is_checked_by_the_worker(settings: Settings) -> None:
    service = service_for(settings)
    job = service.create("alice").job
    key = parts.stored_input_key(job.id, "direct")
    service.objects.put_stream(key, [b'{"query": {"text": "a"}}\n\xff\n'])
    service.backend.transition(job.id, JobStatus.PENDING, JobStatus.QUEUED, {"input_key": key})
    run_until_idle(worker_for(service, FakeSearcher()))
    failed = service.backend.get(job.id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error is not None and "not valid UTF-8 (line 2)" in failed.error


def test_unusable_upload_fails_the_job(settings: Settings) -> None:
    service = service_for(settings)
    job = service.create("alice").job
    with pytest.raises(ValidationError, match="empty"):
        service.receive_upload(parts.upload_key(job.id), [b"\n"])
    failed = service.backend.get(job.id)
    assert failed is not None and failed.status is JobStatus.FAILED and "empty" in (failed.error or "")


def test_estimate_tracks_the_real_finish(settings: Settings) -> None:
    settings = settings.model_copy(update={"micro_batch_size": 4, "eta_default_lines_per_second": 1000.0})
    service = service_for(settings)
    job = submit(service, jsonl(120))
    worker = worker_for(service, FakeSearcher(delay=0.02))
    thread = threading.Thread(target=run_until_idle, args=(worker,))
    started = time.monotonic()
    thread.start()
    estimates: list[tuple[float, float, int]] = []
    while thread.is_alive():
        status = service.status(service.backend.get(job.id))  # type: ignore[arg-type]
        if status["estimated_completion_time"] and status["status"] == "processing":
            eta = datetime.fromisoformat(status["estimated_completion_time"]).timestamp()
            estimates.append((time.time(), eta, status["lines_done"]))
        time.sleep(0.05)
    thread.join()
    finished, duration = time.time(), time.monotonic() - started
    second_half = [(now, eta) for now, eta, done in estimates if done >= 60]
    assert len(second_half) >= 5
    for now, eta in second_half:
        assert abs(eta - finished) <= 0.25 * duration, (now, eta, finished)


def test_estimate_of_a_queued_job_counts_the_work_ahead(settings: Settings) -> None:
    clock = Clock()
    service = service_for(settings, clock)
    running = submit(service, jsonl(100))
    waiting = submit(service, jsonl(50))
    now = clock()
    service.backend.report_worker("w1", now, 10.0)
    claimed = service.backend.claim("w1", now, now + timedelta(seconds=30))
    assert claimed is not None and claimed.id == running.id
    service.backend.save_checkpoint(running.id, "w1", Checkpoint(20, 0, 20, 10.0), now + timedelta(seconds=30))
    status = service.status(service.backend.get(running.id))  # type: ignore[arg-type]
    first = datetime.fromisoformat(status["estimated_completion_time"])
    assert abs((first - now).total_seconds() - 8.0) < 1.0  # 80 lines left at 10 lines/s
    queued = service.status(service.backend.get(waiting.id))  # type: ignore[arg-type]
    assert queued["status"] == "pending"
    second = datetime.fromisoformat(queued["estimated_completion_time"])
    assert abs((second - now).total_seconds() - 13.0) < 1.0  # then its own 50 lines


def test_a_job_that_keeps_crashing_its_worker_fails_after_max_attempts(settings: Settings) -> None:
    settings = settings.model_copy(update={"batch_max_attempts": 2})
    service = service_for(settings)
    job = submit(service, jsonl(5))

    class BrokenWrites(SqlJobStore):
        def save_checkpoint(self, *args: Any) -> bool:
            raise OSError("disk gone")

    backend = BrokenWrites(create_db_engine(settings.resolved_database_url()))
    worker = worker_for(service, FakeSearcher(), backend)
    for _ in range(3):
        assert worker.run_once(threading.Event())
    failed = service.backend.get(job.id)
    assert failed is not None and failed.status is JobStatus.FAILED and "after 2 attempts" in (failed.error or "")
