"""Fair claims between tenants (issue 12, M4): priority and age order only a tenant's own jobs; workers go to
the tenant most owed one; a tenant's queue position and estimate do not reveal other tenants' queues."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from batchsearch.db import create_db_engine
from batchsearch.jobs.model import Job
from batchsearch.jobs.states import JobStatus
from batchsearch.jobs.store import SqlJobStore

from batch_fakes import AsgiBatches, jsonl

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture
def store(database_url: str) -> SqlJobStore:
    """A store on a fresh database: a SQLite file, then a PostgreSQL database."""
    return SqlJobStore(create_db_engine(database_url))


def add(store: SqlJobStore, job_id: str, owner: str, *, minute: int, priority: int = 0, lines: int = 10) -> Job:
    job = Job(job_id, owner, JobStatus.QUEUED, T0 + timedelta(minutes=minute), T0 + timedelta(hours=1),
              f"batches/{job_id}/in", priority=priority, lines_total=lines)
    store.create(job)
    return job


def claim(store: SqlJobStore, worker: str, now: datetime) -> str | None:
    job = store.claim(worker, now, now + LEASE)
    return None if job is None else job.id


def finish(store: SqlJobStore, job_id: str, worker: str, now: datetime) -> None:
    store.transition(job_id, JobStatus.PROCESSING, JobStatus.COMPLETED, {"completed_at": now}, lease_owner=worker)


def test_another_tenants_urgent_jobs_do_not_overtake_an_earlier_job(store: SqlJobStore) -> None:
    add(store, "bob-1", "bob", minute=0)
    for i in range(3):
        add(store, f"alice-urgent-{i}", "alice", minute=1 + i, priority=1000)
    now = T0 + timedelta(minutes=10)
    assert claim(store, "w1", now) == "bob-1"


def test_priority_still_orders_a_tenants_own_jobs(store: SqlJobStore) -> None:
    add(store, "alice-old", "alice", minute=0)
    add(store, "alice-urgent", "alice", minute=5, priority=1000)
    assert claim(store, "w1", T0 + timedelta(minutes=10)) == "alice-urgent"


def test_two_tenants_queues_interleave_on_one_worker(store: SqlJobStore) -> None:
    for i in range(3):
        add(store, f"a{i}", "alice", minute=i)
    for i in range(3):
        add(store, f"b{i}", "bob", minute=10 + i)
    order = []
    for step in range(6):
        now = T0 + timedelta(hours=1, minutes=step)
        job_id = claim(store, "w1", now)
        assert job_id is not None
        order.append(job_id)
        finish(store, job_id, "w1", now + timedelta(seconds=30))
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2"]
    assert claim(store, "w1", T0 + timedelta(hours=2)) is None


def test_a_free_worker_goes_to_the_tenant_with_fewer_running_jobs(store: SqlJobStore) -> None:
    add(store, "a0", "alice", minute=0)
    add(store, "a1", "alice", minute=1)
    add(store, "b0", "bob", minute=2)
    now = T0 + timedelta(minutes=5)
    assert claim(store, "w1", now) == "a0"
    assert claim(store, "w2", now) == "b0"  # alice already runs a0: bob's later job goes before a1
    assert claim(store, "w3", now) == "a1"


def test_concurrent_claimers_over_several_tenants_take_each_job_once(store: SqlJobStore) -> None:
    for owner in ("alice", "bob", "carol"):
        for i in range(6):
            add(store, f"{owner}-{i}", owner, minute=i)
    now = T0 + timedelta(minutes=10)
    taken: list[str] = []
    lock = threading.Lock()

    def drain(worker: str) -> None:
        while (job_id := claim(store, worker, now)) is not None:
            with lock:
                taken.append(job_id)

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(f"{o}-{i}" for o in ("alice", "bob", "carol") for i in range(6))


def test_queue_ahead_counts_only_the_tenants_own_jobs(store: SqlJobStore) -> None:
    mine = add(store, "bob-1", "bob", minute=30, lines=10)
    add(store, "alice-0", "alice", minute=0, lines=10)
    few = store.queue_ahead(mine, T0, 10)
    for i in range(1, 50):
        add(store, f"alice-{i}", "alice", minute=i, priority=1000, lines=1000)
    many = store.queue_ahead(mine, T0, 10)
    assert few == many and many.count == 0 and many.nearest_lines == []
    assert many.total_lines == 10  # one other tenant waits: a fair share as large as bob's own work





@pytest.mark.anyio
async def test_queue_position_and_estimate_ignore_another_tenants_queue(api: AsgiBatches) -> None:
    now = datetime.now(UTC)
    api.service.clock = lambda: now
    add(api.service.backend, "alice-0", "alice", minute=0)  # type: ignore[arg-type]
    other = {"X-API-KEY": api.other}
    created = (await api.client.post("/v1/search/batches", headers=other)).json()
    assert (await api.put(created["presigned_url"], jsonl(5))).status_code == 200
    url = f"/v1/search/batches/{created['batch_id']}"
    before = (await api.client.get(url, headers=other)).json()
    for i in range(1, 50):
        add(api.service.backend, f"alice-{i}", "alice", minute=i, priority=1000, lines=5000)  # type: ignore[arg-type]
    after = (await api.client.get(url, headers=other)).json()
    assert before["queue_position"] == after["queue_position"] == 1
    assert before["estimated_completion_time"] == after["estimated_completion_time"]
