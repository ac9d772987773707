"""Worker processes under a WorkerPool (spawned, fake searcher): restart on death, graceful stop, resume."""

from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path

import pytest

from batchsearch.config import Settings
from batchsearch.db import create_db_engine
from batchsearch.jobs import parts
from batchsearch.jobs.service import BatchService
from batchsearch.jobs.states import JobStatus
from batchsearch.jobs.supervisor import WorkerPool

from batch_fakes import fake_searcher, jsonl, strip_volatile


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, micro_batch_size=10, lease_seconds=2, heartbeat_seconds=0.2, poll_seconds=0.05)


def test_pool_restarts_a_killed_worker_and_stops_gracefully_releasing_the_lease(settings: Settings) -> None:
    service = BatchService.from_settings(settings, create_db_engine(settings.resolved_database_url()))
    job = service.create("alice").job
    service.receive_upload(parts.upload_key(job.id), [jsonl(1000)])
    pool = WorkerPool(settings, 1, functools.partial(fake_searcher, delay=0.01))
    pool.start()
    try:
        wait_for(lambda: service.backend.get(job.id).checkpoint_line >= 50)  # type: ignore[union-attr]
        first = pool.processes[0]
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        killed = service.backend.get(job.id)
        assert killed is not None and killed.lease_owner is not None
        wait_for(lambda: pool.processes[0].pid != first.pid and pool.processes[0].is_alive())
        # the new process reclaims the job once the dead one's lease expires, and carries on
        wait_for(lambda: service.backend.get(job.id).lease_owner not in (None, killed.lease_owner))  # type: ignore[union-attr]
        wait_for(lambda: service.backend.get(job.id).checkpoint_line > killed.checkpoint_line + 20)  # type: ignore[union-attr]
    finally:
        pool.stop()
    assert not any(p.is_alive() for p in pool.processes)
    stopped = service.backend.get(job.id)
    assert stopped is not None and stopped.status is JobStatus.PROCESSING and stopped.lease_owner is None
    assert 0 < stopped.checkpoint_line < 1000 and stopped.attempts == 2

    resumed = WorkerPool(settings, 2, functools.partial(fake_searcher, delay=0.0))
    resumed.start()
    try:
        wait_for(lambda: service.backend.get(job.id).status is JobStatus.COMPLETED, timeout=20)  # type: ignore[union-attr]
    finally:
        resumed.stop()
    output = b"".join(service.objects.iter_bytes(service.backend.get(job.id).output_key))  # type: ignore[union-attr, arg-type]
    assert [row["line_number"] for row in strip_volatile(output)] == list(range(1, 1001))
