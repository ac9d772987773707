"""The SQL job store on a real SQLite file: compare-and-set status, FIFO claims, leases, checkpoints."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from batchsearch.db import create_db_engine
from batchsearch.errors import ConflictError
from batchsearch.jobs.model import EXPIRED_UPLOAD_MESSAGE, Checkpoint, Job
from batchsearch.jobs.states import JobStatus
from batchsearch.jobs.store import SqlJobStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> SqlJobStore:
    return SqlJobStore(create_db_engine(f"sqlite:///{tmp_path / 'jobs.db'}"))


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


def test_concurrent_claims_never_share_a_job(store: SqlJobStore, tmp_path: Path) -> None:
    for i in range(40):
        add(store, f"j{i:02d}", minute=i)
    claimed: list[str] = []
    lock = threading.Lock()

    def work(worker: str) -> None:
        own = SqlJobStore(create_db_engine(f"sqlite:///{tmp_path / 'jobs.db'}"))
        while (job := own.claim(worker, T0, T0 + timedelta(hours=1))) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(claimed) == [f"j{i:02d}" for i in range(40)]


def test_worker_registry(store: SqlJobStore) -> None:
    store.report_worker("w1", T0, None)
    store.report_worker("w1", T0 + timedelta(seconds=5), 12.5)
    store.report_worker("w2", T0 - timedelta(minutes=5), 3.0)
    live = store.live_workers(T0)
    assert [(w.id, w.lines_per_s, w.heartbeat_at) for w in live] == [("w1", 12.5, T0 + timedelta(seconds=5))]
    store.remove_worker("w1")
    assert store.live_workers(T0) == []


def test_a_database_from_an_older_version_gets_the_new_columns(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE batch_jobs (id VARCHAR(36) PRIMARY KEY, owner VARCHAR(200) NOT NULL, "
                             "status VARCHAR(16) NOT NULL, created_at DATETIME NOT NULL, upload_expires_at DATETIME "
                             "NOT NULL, input_key VARCHAR(300) NOT NULL, output_key VARCHAR(300), uploaded_at DATETIME, "
                             "started_at DATETIME, completed_at DATETIME, input_bytes BIGINT, lines_total INTEGER, "
                             "lines_done INTEGER NOT NULL, checkpoint_line INTEGER NOT NULL, checkpoint_offset BIGINT "
                             "NOT NULL, error TEXT, lease_owner VARCHAR(100), lease_expires_at DATETIME, lines_per_s "
                             "FLOAT, attempts INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO batch_jobs VALUES ('old', 'alice', 'queued', '2026-01-01 00:00:00', "
                             "'2026-01-01 01:00:00', 'k', NULL, NULL, NULL, NULL, NULL, 3, 0, 0, 0, NULL, NULL, NULL, "
                             "NULL, 0)")
    store = SqlJobStore(engine)
    old = store.get("old")
    assert old is not None and old.counts.done == 0 and old.priority == 0 and old.snapshot_generation is None
    new = add(store, "new", minute=5)
    assert store.queue_ahead(new, T0, 10).nearest_lines == [3]  # the old job waits ahead, with its 3 lines


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
