"""JobStore, JobQueue and WorkerRegistry on SQLAlchemy Core: SQLite (WAL) and PostgreSQL.

The tables are in tables.py and the schema is Alembic's (batchsearch.migrations): a store takes an engine
whose database is already upgraded (batchsearch.db.create_db_engine)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from batchsearch.clock import as_utc
from batchsearch.errors import ConflictError, NotFoundError
from batchsearch.jobs.model import EXPIRED_UPLOAD_MESSAGE, Checkpoint, Job, QueueAhead, WorkerInfo
from batchsearch.jobs.states import TERMINAL, JobStatus, check_transition
from batchsearch.jobs.tables import batch_jobs, batch_workers

_JOB_FIELDS = frozenset(f.name for f in fields(Job))
_DATETIME_FIELDS = frozenset(
    {"created_at", "upload_expires_at", "uploaded_at", "started_at", "completed_at", "lease_expires_at",
     "files_deleted_at", "webhook_next_at"}
)
_REMAINING = batch_jobs.c.lines_total - batch_jobs.c.checkpoint_line
OWNERS_PER_CLAIM = 16  # owners a claim tries in turn before giving up (their jobs all taken by concurrent claims)


def _job(row: Row[Any]) -> Job:
    """A Job from a batch_jobs row."""
    data = dict(row._mapping)
    for name in _DATETIME_FIELDS:
        data[name] = as_utc(data[name])
    data["status"] = JobStatus(data["status"])
    return Job(**data)


def _waiting(now: datetime) -> ColumnElement[bool]:
    """Uploaded and waiting for a worker: queued, or processing under an expired lease."""
    c = batch_jobs.c
    expired = or_(c.lease_expires_at.is_(None), c.lease_expires_at <= now)
    return or_(c.status == JobStatus.QUEUED.value, and_(c.status == JobStatus.PROCESSING.value, expired))


def _ahead_of(job: Job) -> ColumnElement[bool]:
    """Jobs of its owner a worker takes before `job`: higher priority, then older, then smaller id (the claim
    order within one owner; the store adds `c.owner == job.owner`)."""
    c = batch_jobs.c
    same_priority_older = and_(
        c.priority == job.priority,
        or_(c.created_at < job.created_at, and_(c.created_at == job.created_at, c.id < job.id)),
    )
    return or_(c.priority > job.priority, same_priority_older)


def _has_lines_to_write() -> ColumnElement[bool]:
    """Whether a job being cancelled has output a worker must write: it is running, or ran lines before, or is
    a retry (whose earlier output gets its counts back). Evaluated on the row as the cancel finds it."""
    c = batch_jobs.c
    return or_(c.status == JobStatus.PROCESSING.value, c.checkpoint_line > 0, c.retries > 0)


def _remaining_lines() -> ColumnElement[int]:
    """Lines of a job not yet done (0 while its line count is unknown)."""
    return case((_REMAINING > 0, _REMAINING), else_=0)


def _columns(changes: Mapping[str, object]) -> dict[str, object]:
    """Validate column changes: known fields, never `status` or `id`."""
    unknown = set(changes) - _JOB_FIELDS | ({"status", "id"} & set(changes))
    if unknown:
        raise ValueError(f"cannot set batch job fields {sorted(unknown)}")
    return dict(changes)


class SqlJobStore:
    """Batch jobs and workers in two SQL tables; every status change is an UPDATE ... WHERE status = :expected."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._is_postgresql = engine.dialect.name == "postgresql"

    def create(self, job: Job) -> None:
        """Insert a new job (ConflictError when its owner already has a job with its idempotency key)."""
        values = asdict(job) | {"status": job.status.value}
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(batch_jobs).values(**values))
        except IntegrityError as exc:
            raise ConflictError(f"A batch job with Idempotency-Key {job.idempotency_key!r} already exists") from exc

    def find_idempotent(self, owner: str, key: str) -> Job | None:
        """The owner's job created with this Idempotency-Key, or None."""
        stmt = select(batch_jobs).where(batch_jobs.c.owner == owner, batch_jobs.c.idempotency_key == key)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _job(row)

    def get(self, job_id: str) -> Job | None:
        """The job, or None when missing."""
        with self._engine.connect() as conn:
            row = conn.execute(select(batch_jobs).where(batch_jobs.c.id == job_id)).first()
        return None if row is None else _job(row)

    def fetch(self, job_id: str) -> Job:
        """The job; NotFoundError when missing."""
        job = self.get(job_id)
        if job is None:
            raise NotFoundError(f"Batch job {job_id} not found")
        return job

    def transition(
        self,
        job_id: str,
        expected: JobStatus,
        new: JobStatus,
        changes: Mapping[str, object] | None = None,
        *,
        lease_owner: str | None = None,
    ) -> Job:
        """Move the job from `expected` to `new` (allowed by states.py) with other column changes;
        with `lease_owner`, only while that worker holds the job."""
        check_transition(expected, new)
        values = _columns(changes or {}) | {"status": new.value}
        if new in TERMINAL:  # every terminal state is notified (jobs without webhook_url are never picked)
            values |= {"webhook_pending": True, "webhook_next_at": None}
        if new is JobStatus.CANCELLED:
            values["output_pending"] = _has_lines_to_write()
        stmt = update(batch_jobs).where(batch_jobs.c.id == job_id, batch_jobs.c.status == expected.value)
        if lease_owner is not None:
            stmt = stmt.where(batch_jobs.c.lease_owner == lease_owner)
        with self._engine.begin() as conn:
            matched = conn.execute(stmt.values(**values)).rowcount
        if matched != 1:
            current = self.fetch(job_id)
            if current.status is expected:
                raise ConflictError(f"Batch job {job_id} is held by another worker")
            raise ConflictError(f"Batch job {job_id} is {current.status.value}, not {expected.value}")
        return self.fetch(job_id)

    def update_fields(self, job_id: str, expected: JobStatus, changes: Mapping[str, object]) -> bool:
        """Change non-status columns while the job is in `expected`; False when it is not."""
        stmt = update(batch_jobs).where(batch_jobs.c.id == job_id, batch_jobs.c.status == expected.value)
        with self._engine.begin() as conn:
            return conn.execute(stmt.values(**_columns(changes))).rowcount == 1

    def fail_expired_uploads(self, now: datetime) -> int:
        """Fail the pending jobs whose upload URL expired before any upload; return how many."""
        check_transition(JobStatus.PENDING, JobStatus.FAILED)
        stmt = (
            update(batch_jobs)
            .where(batch_jobs.c.status == JobStatus.PENDING.value, batch_jobs.c.upload_expires_at < now)
            .values(status=JobStatus.FAILED.value, error=EXPIRED_UPLOAD_MESSAGE, completed_at=now,
                    webhook_pending=True, webhook_next_at=None)
        )
        with self._engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def list_jobs(
        self, owner: str, statuses: Sequence[JobStatus] | None, limit: int, before: Job | None
    ) -> list[Job]:
        """The owner's jobs newest first (optionally only these statuses), after the cursor job `before`."""
        c = batch_jobs.c
        stmt = select(batch_jobs).where(c.owner == owner)
        if statuses:
            stmt = stmt.where(c.status.in_([s.value for s in statuses]))
        if before is not None:
            stmt = stmt.where(or_(c.created_at < before.created_at,
                                  and_(c.created_at == before.created_at, c.id < before.id)))
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.order_by(c.created_at.desc(), c.id.desc()).limit(limit)).all()
        return [_job(row) for row in rows]

    def delete(self, job_id: str, expected: JobStatus) -> bool:
        """Remove the job's record while it is in `expected`; False when it is not."""
        stmt = delete(batch_jobs).where(batch_jobs.c.id == job_id, batch_jobs.c.status == expected.value)
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def jobs_to_purge(self, completed_before: datetime, limit: int) -> list[Job]:
        """Terminal jobs completed before the cutoff whose files were not deleted yet."""
        c = batch_jobs.c
        stmt = select(batch_jobs).where(
            c.status.in_([s.value for s in TERMINAL]), c.completed_at < completed_before, c.files_deleted_at.is_(None),
            c.output_pending.is_(False),
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.order_by(c.completed_at).limit(limit)).all()
        return [_job(row) for row in rows]

    def pending_jobs(self, after: Job | None, limit: int) -> list[Job]:
        """Jobs waiting for their upload, oldest first, after the cursor job `after`."""
        c = batch_jobs.c
        stmt = select(batch_jobs).where(c.status == JobStatus.PENDING.value)
        if after is not None:
            stmt = stmt.where(or_(c.created_at > after.created_at,
                                  and_(c.created_at == after.created_at, c.id > after.id)))
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.order_by(c.created_at, c.id).limit(limit)).all()
        return [_job(row) for row in rows]

    def webhooks_due(self, now: datetime, limit: int) -> list[Job]:
        """Jobs with a webhook URL whose notification is pending and due."""
        c = batch_jobs.c
        stmt = select(batch_jobs).where(  # a cancelled job is notified once its output is written
            c.webhook_pending.is_(True), c.webhook_url.is_not(None), c.output_pending.is_(False),
            or_(c.webhook_next_at.is_(None), c.webhook_next_at <= now),
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.order_by(c.completed_at).limit(limit)).all()
        return [_job(row) for row in rows]

    def claim_webhook(self, job_id: str, attempts: int, now: datetime, until: datetime) -> bool:
        """Own delivery attempt `attempts + 1` until `until`; False when another worker got it first."""
        c = batch_jobs.c
        stmt = update(batch_jobs).where(
            c.id == job_id, c.webhook_pending.is_(True), c.webhook_attempts == attempts,
            or_(c.webhook_next_at.is_(None), c.webhook_next_at <= now),
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt.values(webhook_next_at=until)).rowcount == 1

    def record_webhook(self, job_id: str, attempts: int, changes: Mapping[str, object]) -> bool:
        """Record the outcome of attempt `attempts + 1` (changes of webhook columns only)."""
        if any(not name.startswith("webhook_") for name in changes):
            raise ValueError(f"not webhook fields: {sorted(changes)}")
        c = batch_jobs.c
        stmt = update(batch_jobs).where(c.id == job_id, c.webhook_attempts == attempts)
        with self._engine.begin() as conn:
            return conn.execute(stmt.values(**_columns(changes))).rowcount == 1

    def claim(self, worker_id: str, now: datetime, lease_until: datetime) -> Job | None:
        """Take the next job of the owner most owed a worker (fewest running jobs, then served longest ago, then
        waiting longest), queued or with an expired lease, under a lease. Priority and age order only an owner's
        own jobs, so one owner's urgent jobs never overtake another owner's earlier ones."""
        check_transition(JobStatus.QUEUED, JobStatus.PROCESSING)
        c = batch_jobs.c
        claimable = or_(c.status == JobStatus.QUEUED.value,
                        and_(c.status == JobStatus.PROCESSING.value, c.lease_expires_at < now))
        values = {
            "status": JobStatus.PROCESSING.value,
            "lease_owner": worker_id,
            "lease_expires_at": lease_until,
            "started_at": func.coalesce(c.started_at, now),
            "attempts": c.attempts + 1,
        }
        for owner in self._owners_in_turn(claimable, now):
            job = self._claim_own(and_(claimable, c.owner == owner), values)
            if job is not None:
                return job
        return None

    def _owners_in_turn(self, claimable: ColumnElement[bool], now: datetime) -> list[str]:
        """Owners with claimable jobs, the one most owed a worker first (a few: more claimers rarely race)."""
        c, other = batch_jobs.c, batch_jobs.alias("served").c
        running = select(func.count()).where(other.owner == c.owner, other.status == JobStatus.PROCESSING.value,
                                             other.lease_expires_at > now).scalar_subquery()
        last_served = select(func.max(other.started_at)).where(other.owner == c.owner).scalar_subquery()
        stmt = (select(c.owner).where(claimable).group_by(c.owner)
                .order_by(running, last_served.nulls_first(), func.min(c.created_at), c.owner).limit(OWNERS_PER_CLAIM))
        with self._engine.connect() as conn:
            return list(conn.execute(stmt).scalars())

    def _claim_own(self, claimable: ColumnElement[bool], values: Mapping[str, object]) -> Job | None:
        """Take the first job in one owner's claim order (highest priority, then oldest)."""
        c = batch_jobs.c
        order = (c.priority.desc(), c.created_at, c.id)
        if self._is_postgresql:
            return self._take_unlocked_row(claimable, order, values)
        with self._engine.connect() as conn:
            ids: list[str] = list(conn.execute(select(c.id).where(claimable).order_by(*order).limit(8)).scalars())
        for job_id in ids:  # SQLite has one writer at a time: compare-and-set, and try the next one on a loss
            with self._engine.begin() as conn:
                won = conn.execute(update(batch_jobs).where(c.id == job_id, claimable).values(**values)).rowcount == 1
            if won:
                return self.fetch(job_id)
        return None

    def _take_unlocked_row(self, where: ColumnElement[bool], order: tuple[ColumnElement[Any], ...],
                           values: Mapping[str, object]) -> Job | None:
        """PostgreSQL: update and return the first row in `order` matching `where` in one statement; its
        SELECT ... FOR UPDATE SKIP LOCKED passes over rows other claimers have locked instead of waiting."""
        candidate = select(batch_jobs.c.id).where(where).order_by(*order).limit(1).with_for_update(skip_locked=True)
        stmt = (update(batch_jobs).where(batch_jobs.c.id == candidate.scalar_subquery(), where)
                .values(**values).returning(batch_jobs))
        with self._engine.begin() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _job(row)

    def renew_lease(self, job_id: str, worker_id: str, lease_until: datetime) -> bool:
        """Extend our lease on a job we run or finalize; False when it ended or another worker holds it."""
        c = batch_jobs.c
        finalizing = and_(c.status == JobStatus.CANCELLED.value, c.output_pending.is_(True))
        stmt = update(batch_jobs).where(
            c.id == job_id, c.lease_owner == worker_id, or_(c.status == JobStatus.PROCESSING.value, finalizing)
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt.values(lease_expires_at=lease_until)).rowcount == 1

    def save_checkpoint(self, job_id: str, worker_id: str, checkpoint: Checkpoint, lease_until: datetime) -> bool:
        """Record progress while we hold the lease; False when the lease was lost or the job left processing."""
        values: dict[str, object] = {
            "checkpoint_line": checkpoint.line,
            "checkpoint_offset": checkpoint.offset,
            "lines_done": checkpoint.lines_done,
            "lines_per_s": checkpoint.lines_per_s,
            "lease_expires_at": lease_until,
        }
        if checkpoint.counts is not None:
            values |= checkpoint.counts.columns()
        return self._while_leased(job_id, worker_id, values)

    def release(self, job_id: str, worker_id: str, now: datetime, *, refund_attempt: bool = False) -> None:
        """Give the lease up so that any worker can resume the job at once; `refund_attempt` when the job did not
        fail but the database or object store was away (that claim does not count towards batch_max_attempts)."""
        values: dict[str, object] = {"lease_owner": None, "lease_expires_at": now}
        if refund_attempt:
            values["attempts"] = case((batch_jobs.c.attempts > 0, batch_jobs.c.attempts - 1), else_=0)
        self._while_leased(job_id, worker_id, values)

    def _while_leased(self, job_id: str, worker_id: str, values: Mapping[str, object]) -> bool:
        """Update the job only while it is processing under our lease."""
        stmt = update(batch_jobs).where(
            batch_jobs.c.id == job_id,
            batch_jobs.c.status == JobStatus.PROCESSING.value,
            batch_jobs.c.lease_owner == worker_id,
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt.values(**values)).rowcount == 1

    def queue_ahead(self, job: Job, now: datetime, detail: int) -> QueueAhead:
        """The owner's own waiting jobs a worker takes before `job`: how many, the remaining lines of the first
        `detail` in claim order, and the remaining lines of all of them plus a fair share for the other owners:
        as much again for each other owner with waiting jobs (claims alternate between owners). Other owners'
        queue lengths never enter the answer, only how many owners wait."""
        c = batch_jobs.c
        where = and_(c.owner == job.owner, _waiting(now), _ahead_of(job), c.id != job.id)
        totals = select(func.count(), func.coalesce(func.sum(_remaining_lines()), 0)).where(where)
        order = (c.priority.desc(), c.created_at, c.id)
        first = select(_remaining_lines()).where(where).order_by(*order).limit(detail)
        others = select(func.count(func.distinct(c.owner))).where(_waiting(now), c.owner != job.owner)
        with self._engine.connect() as conn:
            count, lines = conn.execute(totals).one()
            nearest = [int(n) for n in conn.execute(first).scalars()]
            other_owners = int(conn.execute(others).scalar_one())
        own_lines = int(lines) + max((job.lines_total or 0) - job.checkpoint_line, 0)
        return QueueAhead(int(count), nearest, int(lines) + other_owners * own_lines)

    def active_usage(self, owner: str) -> tuple[int, int]:
        """The owner's active jobs (pending, queued or processing) and the input lines they have still to search."""
        c = batch_jobs.c
        active = [s.value for s in (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.PROCESSING)]
        stmt = select(func.count(), func.coalesce(func.sum(_remaining_lines()), 0)).where(
            c.owner == owner, c.status.in_(active))
        with self._engine.connect() as conn:
            jobs, lines = conn.execute(stmt).one()
        return int(jobs), int(lines)

    def running_jobs(self, now: datetime) -> list[Job]:
        """Jobs a worker is running now (processing under a live lease): at most one per worker."""
        c = batch_jobs.c
        stmt = select(batch_jobs).where(c.status == JobStatus.PROCESSING.value, c.lease_expires_at > now)
        with self._engine.connect() as conn:
            return [_job(row) for row in conn.execute(stmt).all()]

    def claim_output(self, worker_id: str, now: datetime, lease_until: datetime, job_id: str | None = None) -> Job | None:
        """Take a cancelled job whose output must still be written (`job_id`, or any) under a lease: one that
        nobody holds, whose lease expired, or that this worker held while it ran."""
        c = batch_jobs.c
        free = or_(c.lease_owner.is_(None), c.lease_owner == worker_id, c.lease_expires_at.is_(None),
                   c.lease_expires_at < now)
        pending = and_(c.status == JobStatus.CANCELLED.value, c.output_pending.is_(True), free)
        if job_id is None and self._is_postgresql:
            return self._take_unlocked_row(pending, (c.completed_at, c.id),
                                           {"lease_owner": worker_id, "lease_expires_at": lease_until})
        if job_id is None:
            with self._engine.connect() as conn:
                job_id = conn.execute(select(c.id).where(pending).order_by(c.completed_at, c.id).limit(1)).scalar()
            if job_id is None:
                return None
        stmt = update(batch_jobs).where(c.id == job_id, pending)
        with self._engine.begin() as conn:
            won = conn.execute(stmt.values(lease_owner=worker_id, lease_expires_at=lease_until)).rowcount == 1
        return self.fetch(job_id) if won else None

    def save_output(self, job_id: str, worker_id: str, changes: Mapping[str, object]) -> bool:
        """Record the written output of a cancelled job we hold and let its lease go; False if we lost it."""
        c = batch_jobs.c
        stmt = update(batch_jobs).where(
            c.id == job_id, c.status == JobStatus.CANCELLED.value, c.output_pending.is_(True), c.lease_owner == worker_id
        )
        values = _columns(changes) | {"output_pending": False, "lease_owner": None, "lease_expires_at": None}
        with self._engine.begin() as conn:
            return conn.execute(stmt.values(**values)).rowcount == 1

    def report_worker(self, worker_id: str, now: datetime, lines_per_s: float | None) -> None:
        """Record that a worker is alive (and its measured rate when given)."""
        values: dict[str, object] = {"heartbeat_at": now}
        if lines_per_s is not None:
            values["lines_per_s"] = lines_per_s
        dialect_insert = postgresql.insert if self._is_postgresql else sqlite.insert
        stmt = (dialect_insert(batch_workers).values(id=worker_id, **values)
                .on_conflict_do_update(index_elements=[batch_workers.c.id], set_=values))
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def live_workers(self, since: datetime) -> list[WorkerInfo]:
        """Workers that reported at or after `since`."""
        stmt = select(batch_workers).where(batch_workers.c.heartbeat_at >= since).order_by(batch_workers.c.id)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [WorkerInfo(r.id, as_utc(r.heartbeat_at) or since, r.lines_per_s) for r in rows]

    def remove_worker(self, worker_id: str) -> None:
        """Forget a worker that stopped cleanly."""
        with self._engine.begin() as conn:
            conn.execute(delete(batch_workers).where(batch_workers.c.id == worker_id))

