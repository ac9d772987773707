"""The batch job record and the job store seams (SQLite now, PostgreSQL later)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from batchsearch.jobs.states import JobStatus

EXPIRED_UPLOAD_MESSAGE = "The input file was not uploaded before the upload URL expired"
UPLOAD_GRACE_SECONDS = 60.0  # an upload that started before its URL expired may still be landing this long after


@dataclass(frozen=True)
class Job:
    """One batch job as stored: identity, status, progress, checkpoint and lease."""

    id: str
    owner: str
    status: JobStatus
    created_at: datetime
    upload_expires_at: datetime
    input_key: str
    output_key: str | None = None
    uploaded_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    input_bytes: int | None = None
    lines_total: int | None = None
    lines_done: int = 0
    checkpoint_line: int = 0
    checkpoint_offset: int = 0
    error: str | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    lines_per_s: float | None = None
    attempts: int = 0
    count_success: int = 0
    count_error: int = 0
    count_timeout: int = 0
    count_exception: int = 0
    snapshot_generation: int | None = None
    priority: int = 0
    validate_first: bool = False
    files_deleted_at: datetime | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    retries: int = 0
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_pending: bool = False
    webhook_next_at: datetime | None = None
    webhook_attempts: int = 0
    webhook_deliveries: str | None = None
    output_pending: bool = False  # cancelled: a worker still has to write the output of its finished lines

    @property
    def counts(self) -> LineCounts:
        """Finished lines by outcome, as of the last checkpoint."""
        return LineCounts(self.count_success, self.count_error, self.count_timeout, self.count_exception)


@dataclass(frozen=True)
class LineCounts:
    """Finished lines by outcome: success, error (4xx), timeout (504) and exception (5xx)."""

    success: int = 0
    error: int = 0
    timeout: int = 0
    exception: int = 0

    @property
    def done(self) -> int:
        """Lines finished, whatever their outcome."""
        return self.success + self.error + self.timeout + self.exception

    def plus(self, statuses: list[str]) -> LineCounts:
        """These counts with one more line per status in `statuses`."""
        return LineCounts(
            self.success + statuses.count("success"),
            self.error + statuses.count("error"),
            self.timeout + statuses.count("timeout"),
            self.exception + statuses.count("exception"),
        )

    def columns(self) -> dict[str, int]:
        """The job columns that hold these counts."""
        return {
            "count_success": self.success,
            "count_error": self.error,
            "count_timeout": self.timeout,
            "count_exception": self.exception,
        }


@dataclass(frozen=True)
class Checkpoint:
    """Progress a worker made durable: last finished line, input offset after it, lines done, measured rate."""

    line: int
    offset: int
    lines_done: int
    lines_per_s: float | None
    counts: LineCounts | None = None


@dataclass(frozen=True)
class QueueAhead:
    """The waiting jobs a worker takes before a job: how many, the remaining lines of the nearest to the
    front one by one (claim order), and the remaining lines of all of them together."""

    count: int
    nearest_lines: list[int]
    total_lines: int


@dataclass(frozen=True)
class WorkerInfo:
    """A worker process as last reported: id, heartbeat time and measured lines/s."""

    id: str
    heartbeat_at: datetime
    lines_per_s: float | None


class JobStore(Protocol):
    """Batch job records; status changes only by compare-and-set (ConflictError otherwise)."""

    def create(self, job: Job) -> None:
        """Insert a new job (ConflictError when its owner already has a job with its idempotency key)."""
        ...

    def get(self, job_id: str) -> Job | None:
        """The job, or None when missing."""
        ...

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
        ...

    def update_fields(self, job_id: str, expected: JobStatus, changes: Mapping[str, object]) -> bool:
        """Change non-status columns while the job is in `expected`; False when it is not."""
        ...

    def fail_expired_uploads(self, now: datetime) -> int:
        """Fail the pending jobs whose upload URL expired before any upload; return how many."""
        ...

    def list_jobs(
        self, owner: str, statuses: Sequence[JobStatus] | None, limit: int, before: Job | None
    ) -> list[Job]:
        """The owner's jobs newest first (optionally only these statuses), after the cursor job `before`."""
        ...

    def find_idempotent(self, owner: str, key: str) -> Job | None:
        """The owner's job created with this Idempotency-Key, or None."""
        ...

    def delete(self, job_id: str, expected: JobStatus) -> bool:
        """Remove the job's record while it is in `expected`; False when it is not."""
        ...

    def jobs_to_purge(self, completed_before: datetime, limit: int) -> list[Job]:
        """Terminal jobs completed before the cutoff whose files were not deleted yet."""
        ...

    def pending_jobs(self, after: Job | None, limit: int) -> list[Job]:
        """Jobs waiting for their upload, oldest first, after the cursor job `after`."""
        ...


class WebhookQueue(Protocol):
    """Terminal-state notifications waiting to be delivered; one worker at a time owns an attempt."""

    def webhooks_due(self, now: datetime, limit: int) -> list[Job]:
        """Jobs with a webhook URL whose notification is pending and due."""
        ...

    def claim_webhook(self, job_id: str, attempts: int, now: datetime, until: datetime) -> bool:
        """Own delivery attempt `attempts + 1` until `until`; False when another worker got it first."""
        ...

    def record_webhook(self, job_id: str, attempts: int, changes: Mapping[str, object]) -> bool:
        """Record the outcome of attempt `attempts + 1` (changes of webhook columns only)."""
        ...


class JobQueue(Protocol):
    """The work queue over the job records: FIFO claims under leases, heartbeats and checkpoints."""

    def claim(self, worker_id: str, now: datetime, lease_until: datetime) -> Job | None:
        """Take the next queued job (highest priority, then oldest), or one whose lease expired, under a lease."""
        ...

    def renew_lease(self, job_id: str, worker_id: str, lease_until: datetime) -> bool:
        """Extend our lease on a job we run or finalize; False when it ended or another worker holds it."""
        ...

    def save_checkpoint(self, job_id: str, worker_id: str, checkpoint: Checkpoint, lease_until: datetime) -> bool:
        """Record progress while we hold the lease; False when the lease was lost or the job left processing."""
        ...

    def release(self, job_id: str, worker_id: str, now: datetime, *, refund_attempt: bool = False) -> None:
        """Give the lease up so that any worker can resume the job at once (`refund_attempt`: an outage, not a
        failure of the job, ended this claim)."""
        ...

    def queue_ahead(self, job: Job, now: datetime, detail: int) -> QueueAhead:
        """The waiting jobs a worker takes before `job` (see QueueAhead)."""
        ...

    def active_usage(self, owner: str) -> tuple[int, int]:
        """The owner's active jobs (pending, queued or processing) and the input lines they have still to search."""
        ...

    def running_jobs(self, now: datetime) -> list[Job]:
        """Jobs a worker is running now (processing under a live lease): at most one per worker."""
        ...

    def claim_output(self, worker_id: str, now: datetime, lease_until: datetime, job_id: str | None = None) -> Job | None:
        """Take a cancelled job whose output must still be written (`job_id`, or any) under a lease."""
        ...

    def save_output(self, job_id: str, worker_id: str, changes: Mapping[str, object]) -> bool:
        """Record the written output of a cancelled job we hold and let its lease go; False if we lost it."""
        ...


class WorkerRegistry(Protocol):
    """Live worker processes and their measured throughput, for estimates."""

    def report_worker(self, worker_id: str, now: datetime, lines_per_s: float | None) -> None:
        """Record that a worker is alive (and its measured rate when given)."""
        ...

    def live_workers(self, since: datetime) -> list[WorkerInfo]:
        """Workers that reported at or after `since`."""
        ...

    def remove_worker(self, worker_id: str) -> None:
        """Forget a worker that stopped cleanly."""
        ...


class JobBackend(JobStore, JobQueue, WorkerRegistry, WebhookQueue, Protocol):
    """All the job seams, as one database-backed store provides them."""
