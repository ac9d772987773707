"""The SQL job store on a real SQLite file and a real PostgreSQL database: compare-and-set status, FIFO claims,
leases, checkpoints; SKIP LOCKED claims on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text, insert, select

from batchsearch import migrations
from batchsearch.db import create_db_engine, engine_for
from batchsearch.errors import ConflictError
from batchsearch.jobs.model import EXPIRED_UPLOAD_MESSAGE, Checkpoint, Job
from batchsearch.jobs.states import JobStatus
from batchsearch.jobs.store import SqlJobStore
from batchsearch.jobs.tables import batch_jobs

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> SqlJobStore:
    """A store on a fresh database: a SQLite file, then a PostgreSQL database (every test runs on both)."""
    return SqlJobStore(create_db_engine(database_url))


def add(store: SqlJobStore, job_id: str, *, status: JobStatus = JobStatus.QUEUED, minute: int = 0) -> Job:
    job = Job(job_id, "alice", status, T0 + timedelta(minutes=minute), T0 + timedelta(hours=1), f"batches/{job_id}/in")
    store.create(job)
    return job


def test_round_trip_keeps_utc_datetimes(store: SqlJobStore) -> None:
    job = add(store, "j1", status=JobStatus.PENDING)
    assert store.get("j1") == job
    assert store.get("missing") is None


def test_transition_is_compare_and_set(store: SqlJobStore) -> None:
    add(store, "j1", status=JobStatus.PENDING)
    job = store.transition("j1", JobStatus.PENDING, JobStatus.QUEUED, {"lines_total": 3})
    assert (job.status, job.lines_total) == (JobStatus.QUEUED, 3)
    with pytest.raises(ConflictError, match="is queued, not pending"):
        store.transition("j1", JobStatus.PENDING, JobStatus.QUEUED)
    with pytest.raises(ConflictError, match="cannot go"):
        store.transition("j1", JobStatus.QUEUED, JobStatus.COMPLETED)
    with pytest.raises(ValueError):
        store.transition("j1", JobStatus.QUEUED, JobStatus.CANCELLED, {"status": "completed"})
    assert store.get("j1").status is JobStatus.QUEUED  # type: ignore[union-attr]


def test_claims_are_fifo_and_skip_pending_and_leased_jobs(store: SqlJobStore) -> None:
    add(store, "late", minute=5)
    add(store, "early", minute=1)
    add(store, "not-uploaded", status=JobStatus.PENDING, minute=0)
    lease = T0 + timedelta(seconds=30)
    assert store.claim("w1", T0, lease).id == "early"  # type: ignore[union-attr]
    second = store.claim("w2", T0, lease)
    assert second is not None and second.id == "late" and second.status is JobStatus.PROCESSING
    assert second.started_at == T0 and second.attempts == 1 and second.lease_owner == "w2"
    assert store.claim("w3", T0, lease) is None


def test_expired_lease_is_reclaimed_and_the_old_owner_loses_its_checkpoint(store: SqlJobStore) -> None:
    add(store, "j1")
    store.claim("w1", T0, T0 + timedelta(seconds=30))
    assert store.save_checkpoint("j1", "w1", Checkpoint(64, 999, 64, 10.0), T0 + timedelta(seconds=60))
    assert store.claim("w2", T0 + timedelta(seconds=59), T0 + timedelta(seconds=90)) is None
    job = store.claim("w2", T0 + timedelta(seconds=61), T0 + timedelta(seconds=91))
    assert job is not None and (job.lease_owner, job.checkpoint_line, job.checkpoint_offset) == ("w2", 64, 999)
    assert job.started_at == T0 and job.attempts == 2
    assert not store.save_checkpoint("j1", "w1", Checkpoint(128, 2000, 128, 10.0), T0)
    assert not store.renew_lease("j1", "w1", T0 + timedelta(hours=1))
    assert store.get("j1").checkpoint_line == 64  # type: ignore[union-attr]


def test_cancel_stops_checkpoints_and_release_frees_the_job(store: SqlJobStore) -> None:
    add(store, "j1")
    store.claim("w1", T0, T0 + timedelta(seconds=30))
    store.release("j1", "w1", T0)
    assert store.claim("w2", T0 + timedelta(seconds=1), T0 + timedelta(seconds=31)).id == "j1"  # type: ignore[union-attr]
    store.transition("j1", JobStatus.PROCESSING, JobStatus.CANCELLED)
    assert not store.save_checkpoint("j1", "w2", Checkpoint(1, 1, 1, None), T0)
    assert store.claim("w3", T0 + timedelta(hours=1), T0 + timedelta(hours=2)) is None


def test_expired_uploads_fail(store: SqlJobStore) -> None:
    add(store, "j1", status=JobStatus.PENDING)
    add(store, "j2", status=JobStatus.QUEUED)
    assert store.fail_expired_uploads(T0 + timedelta(minutes=59)) == 0
    assert store.fail_expired_uploads(T0 + timedelta(minutes=61)) == 1
    job = store.get("j1")
    assert job is not None and job.status is JobStatus.FAILED and job.error == EXPIRED_UPLOAD_MESSAGE
    assert store.queue_ahead(add(store, "j3", minute=5), T0, 10).count == 1  # j2 waits; the failed j1 does not


def claim_all(url: str, workers: int) -> list[str]:
    """Job ids claimed by `workers` threads, each with its own engine, claiming until nothing is left."""
    claimed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(workers)

    def work(worker: str) -> None:
        own = SqlJobStore(create_db_engine(url))
        start.wait()
        while (job := own.claim(worker, T0, T0 + timedelta(hours=1))) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return claimed


def test_concurrent_claims_never_share_a_job(store: SqlJobStore, database_url: str) -> None:
    for i in range(40):
        add(store, f"j{i:02d}", minute=i)
    assert sorted(claim_all(database_url, 4)) == [f"j{i:02d}" for i in range(40)]


def test_worker_registry(store: SqlJobStore) -> None:
    store.report_worker("w1", T0, None)
    store.report_worker("w1", T0 + timedelta(seconds=5), 12.5)
    store.report_worker("w2", T0 - timedelta(minutes=5), 3.0)
    live = store.live_workers(T0)
    assert [(w.id, w.lines_per_s, w.heartbeat_at) for w in live] == [("w1", 12.5, T0 + timedelta(seconds=5))]
    store.remove_worker("w1")
    assert store.live_workers(T0) == []


def test_a_database_from_an_older_version_gets_the_new_columns(database_url: str) -> None:
    old = MetaData()  # batch_jobs as the first release created it (metadata.create_all, no Alembic)
    Table("batch_jobs", old, Column("id", String(36), primary_key=True), Column("owner", String(200), nullable=False),
          Column("status", String(16), nullable=False), Column("created_at", DateTime(timezone=True), nullable=False),
          Column("upload_expires_at", DateTime(timezone=True), nullable=False),
          Column("input_key", String(300), nullable=False), Column("output_key", String(300)),
          *(Column(name, DateTime(timezone=True)) for name in ("uploaded_at", "started_at", "completed_at")),
          Column("input_bytes", Integer), Column("lines_total", Integer),
          *(Column(name, Integer, nullable=False) for name in ("lines_done", "checkpoint_line", "checkpoint_offset")),
          Column("error", Text), Column("lease_owner", String(100)), Column("lease_expires_at", DateTime(timezone=True)),
          Column("lines_per_s", Float), Column("attempts", Integer, nullable=False))
    engine = engine_for(database_url)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(old.tables["batch_jobs"]).values(
            id="old", owner="alice", status="queued", created_at=T0, upload_expires_at=T0 + timedelta(hours=1),
            input_key="k", lines_total=3, lines_done=0, checkpoint_line=0, checkpoint_offset=0, attempts=0))
    store = SqlJobStore(create_db_engine(database_url))  # opening the database upgrades it
    assert migrations.current_revision(engine) == migrations.head_revision()
    engine.dispose()
    old_job = store.get("old")
    assert old_job is not None and old_job.counts.done == 0 and old_job.priority == 0
    assert old_job.snapshot_generation is None and not old_job.output_pending and not old_job.webhook_pending
    new = add(store, "new", minute=5)
    assert store.queue_ahead(new, T0, 10).nearest_lines == [3]  # the old job waits ahead, with its 3 lines
    store.report_worker("w1", T0, None)  # batch_workers did not exist: the upgrade created it
    assert [w.id for w in store.live_workers(T0)] == ["w1"]


def add_lines(store: SqlJobStore, job_id: str, lines: int, *, priority: int = 0, minute: int = 0,
              status: JobStatus = JobStatus.QUEUED, done: int = 0) -> Job:
    job = Job(job_id, "alice", status, T0 + timedelta(minutes=minute), T0 + timedelta(hours=1), f"batches/{job_id}/in",
              lines_total=lines, checkpoint_line=done, priority=priority)
    store.create(job)
    return job


def test_queue_ahead_follows_the_claim_order(store: SqlJobStore) -> None:
    add_lines(store, "a", 10, minute=0)
    add_lines(store, "b", 20, minute=1, priority=5)
    add_lines(store, "c", 30, minute=2, done=5)
    add_lines(store, "p", 99, minute=3, status=JobStatus.PENDING)  # not uploaded: not waiting
    mine = add_lines(store, "d", 40, minute=4)
    add_lines(store, "e", 50, minute=5)  # behind
    ahead = store.queue_ahead(mine, T0, 2)
    assert (ahead.count, ahead.nearest_lines, ahead.total_lines) == (3, [20, 10], 55)
    assert store.queue_ahead(store.fetch("b"), T0, 5).count == 0
    urgent = add_lines(store, "u", 1, minute=9, priority=9)
    assert store.queue_ahead(urgent, T0, 5).count == 0


def test_queue_ahead_counts_expired_leases_as_waiting_and_live_ones_as_running(store: SqlJobStore) -> None:
    add_lines(store, "a", 10)
    mine = add_lines(store, "b", 10, minute=1)
    running = store.claim("w1", T0, T0 + timedelta(seconds=30))
    assert running is not None and running.id == "a"
    assert store.queue_ahead(mine, T0, 5).count == 0
    assert [j.id for j in store.running_jobs(T0)] == ["a"]
    later = T0 + timedelta(minutes=1)
    assert store.queue_ahead(mine, later, 5).count == 1 and store.running_jobs(later) == []


def test_a_cancelled_job_output_is_claimed_once_and_recorded_by_its_holder(store: SqlJobStore) -> None:
    add(store, "j1")
    assert store.claim("w1", T0, T0 + timedelta(seconds=30)) is not None
    assert store.transition("j1", JobStatus.PROCESSING, JobStatus.CANCELLED).output_pending
    assert store.claim_output("w2", T0, T0 + timedelta(seconds=30)) is None  # w1's lease is live
    held = store.claim_output("w1", T0, T0 + timedelta(seconds=30), "j1")  # its own runner may finish it
    assert held is not None and held.lease_owner == "w1"
    assert store.renew_lease("j1", "w1", T0 + timedelta(seconds=60))
    assert not store.save_output("j1", "w2", {"lines_done": 1})
    later = T0 + timedelta(minutes=5)  # w1 died: its lease expired
    taken = store.claim_output("w2", later, later + timedelta(seconds=30))
    assert taken is not None and taken.lease_owner == "w2"
    assert not store.save_output("j1", "w1", {"lines_done": 1})
    assert store.save_output("j1", "w2", {"output_key": "out", "lines_done": 1})
    done = store.fetch("j1")
    assert (done.output_pending, done.output_key, done.lease_owner) == (False, "out", None)
    assert store.claim_output("w3", later, later) is None


def test_transition_with_a_lease_owner_needs_that_owner(store: SqlJobStore) -> None:
    add(store, "j1")
    store.claim("w1", T0, T0 + timedelta(seconds=30))
    with pytest.raises(ConflictError, match="another worker"):
        store.transition("j1", JobStatus.PROCESSING, JobStatus.COMPLETED, lease_owner="w2")
    assert store.transition("j1", JobStatus.PROCESSING, JobStatus.COMPLETED, lease_owner="w1").status is JobStatus.COMPLETED


def test_only_a_cancel_of_a_job_that_ran_lines_leaves_output_to_write(store: SqlJobStore) -> None:
    add(store, "never-ran")
    add(store, "awaiting", status=JobStatus.PENDING)
    add_lines(store, "released", 10, done=4)  # a stopping worker gave it back after 4 lines
    cancelled = {job_id: store.transition(job_id, store.fetch(job_id).status, JobStatus.CANCELLED).output_pending
                 for job_id in ("never-ran", "awaiting", "released")}
    assert cancelled == {"never-ran": False, "awaiting": False, "released": True}


def test_postgresql_claims_by_four_workers_share_no_job_and_take_all_200(pg_url: str) -> None:
    store = SqlJobStore(create_db_engine(pg_url))
    for i in range(200):
        add_lines(store, f"j{i:03d}", 10, minute=i % 7, priority=i % 3)
    claimed = claim_all(pg_url, 4)
    assert len(claimed) == len(set(claimed)) == 200
    engine = engine_for(pg_url)
    with engine.connect() as conn:
        attempts = list(conn.execute(select(batch_jobs.c.attempts).where(batch_jobs.c.status == "processing")).scalars())
    engine.dispose()
    assert attempts == [1] * 200  # no job was claimed twice, not even for a moment


def test_postgresql_claim_skips_a_row_another_transaction_holds_instead_of_waiting(pg_url: str) -> None:
    store = SqlJobStore(create_db_engine(pg_url))
    add(store, "first", minute=0)
    add(store, "second", minute=1)
    holder = engine_for(pg_url)
    with holder.begin() as conn:  # a claim in flight elsewhere: the first job's row is locked
        conn.execute(select(batch_jobs.c.id).where(batch_jobs.c.id == "first").with_for_update())
        job = store.claim("w1", T0, T0 + timedelta(seconds=30))
        assert job is not None and job.id == "second"
    holder.dispose()
    assert store.claim("w2", T0, T0 + timedelta(seconds=30)).id == "first"  # type: ignore[union-attr]


def test_a_claim_ended_by_an_outage_is_refunded(store: SqlJobStore) -> None:
    add(store, "j1")
    assert store.claim("w1", T0, T0 + timedelta(seconds=30)) is not None
    store.release("j1", "w1", T0, refund_attempt=True)  # the database or S3 was away: not the job's fault
    job = store.fetch("j1")
    assert job.attempts == 0 and job.lease_owner is None
    later = T0 + timedelta(seconds=1)
    assert store.claim("w2", later, later + timedelta(seconds=30)) is not None
    store.release("j1", "w2", later)
    assert store.fetch("j1").attempts == 1
