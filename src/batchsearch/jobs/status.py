"""The one renderer of a job's wire status (pure): job row + where it stands in the queue -> the status document.

Used by the API routes (GET, list, cancel, retry), the webhook dispatcher and tests alike, so a job looks
the same wherever it is shown. Nothing here reads a store or writes anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from batchsearch.clock import iso
from batchsearch.index.snapshot_ids import snapshot_id
from batchsearch.jobs.lines import Json, JsonObject
from batchsearch.jobs.model import EXPIRED_UPLOAD_MESSAGE, UPLOAD_GRACE_SECONDS, Job
from batchsearch.jobs.states import JobStatus, is_terminal, wire_status



@dataclass(frozen=True)
class QueueView:
    """Where an unfinished job stands: its estimated completion and, while it waits, its place in the queue."""

    estimated_completion: datetime | None = None
    position: int | None = None


@dataclass(frozen=True)
class StatusContext:
    """What the renderer needs besides the job: the time, the signed output URL, the queue view, retention."""

    now: datetime
    output_file_url: str | None
    queue: QueueView
    retention_days: float
    snapshot_key: bytes | None = None  # keys snapshot_id (SNAPSHOT_ID_PURPOSE of the signing secret)


def as_seen(job: Job, now: datetime) -> Job:
    """The job as clients see it now: a job whose upload URL expired unused is failed (a worker sweep makes
    that durable; a read never writes)."""
    if job.status is JobStatus.PENDING and upload_expired(job, now):
        return replace(job, status=JobStatus.FAILED, error=EXPIRED_UPLOAD_MESSAGE, completed_at=job.upload_expires_at)
    return job


def render_status(job: Job, ctx: StatusContext) -> JsonObject:
    """The wire status of a job: the Bigdata fields first, then the additive ones."""
    job = as_seen(job, ctx.now)
    return {
        "batch_id": job.id,
        "status": wire_status(job.status),
        "estimated_completion_time": None if is_terminal(job.status) else iso(ctx.queue.estimated_completion),
        "output_file_url": ctx.output_file_url,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "error": job.error,
        "lines_total": job.lines_total,
        "lines_done": job.lines_done,
        "request_counts": request_counts(job),
        "phase": phase(job, ctx.now),
        "outcome": outcome(job),
        "lines_per_second": lines_per_second(job),
        "queue_position": ctx.queue.position if is_waiting(job, ctx.now) else None,
        "snapshot_id": snapshot_id(job.snapshot_generation, ctx.snapshot_key),
        "priority": job.priority,
        "retries": job.retries,
        "webhook": webhook_doc(job),
        "files_expire_at": iso(files_expire_at(job, ctx.retention_days)),
        "files_deleted_at": iso(job.files_deleted_at),
    }


def request_counts(job: Job) -> JsonObject:
    """Lines by outcome as of the last checkpoint; pending = not finished yet (or never run, once cancelled)."""
    counts = job.counts
    total = job.lines_total or 0
    return {
        "total": total,
        "succeeded": counts.success,
        "errored": counts.error,
        "timed_out": counts.timeout,
        "failed": counts.exception,
        "pending": max(total - counts.done, 0),
    }


def phase(job: Job, now: datetime) -> str:
    """What the job does: awaiting_upload, queued, searching, finalizing (lines done or cancelled, output being
    written) or done."""
    if job.output_pending:
        return "finalizing"
    if is_terminal(job.status):
        return "done"
    if job.status is JobStatus.PENDING:
        return "awaiting_upload"
    if is_waiting(job, now):
        return "queued"
    if job.lines_total is not None and job.checkpoint_line >= job.lines_total:
        return "finalizing"
    return "searching"


def outcome(job: Job) -> str | None:
    """For a completed job, whether its lines succeeded: all_succeeded, partially_succeeded or none_succeeded."""
    if job.status is not JobStatus.COMPLETED:
        return None
    counts = job.counts
    if counts.success == 0:
        return "none_succeeded"
    return "all_succeeded" if counts.success == counts.done else "partially_succeeded"


def lines_per_second(job: Job) -> float | None:
    """Measured throughput: the current rate while running, the average over the run once finished."""
    if job.status is JobStatus.PROCESSING:
        return None if job.lines_per_s is None else round(job.lines_per_s, 3)
    if job.status is JobStatus.COMPLETED and job.started_at and job.completed_at:
        seconds = (job.completed_at - job.started_at).total_seconds()
        return round(job.counts.done / seconds, 3) if seconds > 0 else None
    return None


def files_expire_at(job: Job, retention_days: float) -> datetime | None:
    """When workers delete the job's files (retention), once it finished."""
    if job.completed_at is None or job.files_deleted_at is not None:
        return None
    return job.completed_at + timedelta(days=retention_days)


TIMED_OUT = "timed out"
CONNECTION_FAILED = "connection failed"
ADDRESS_NOT_ALLOWED = "address not allowed"
INVALID_URL = "invalid URL"
DELIVERY_FAILED = "delivery failed"
DELIVERY_REASONS = frozenset({TIMED_OUT, CONNECTION_FAILED, ADDRESS_NOT_ALLOWED, INVALID_URL, DELIVERY_FAILED})
SHOWN_DELIVERY_FIELDS = ("attempt", "at", "job_status", "status_code", "delivered")


def webhook_doc(job: Job) -> JsonObject | None:
    """The job's webhook: URL, delivery state and every recorded attempt (None without a webhook)."""
    if job.webhook_url is None:
        return None
    shown = [public_delivery(d) for d in deliveries(job) if isinstance(d, Mapping)]
    return {"url": job.webhook_url, "state": webhook_state(job), "deliveries": shown}


def http_reason(status_code: int) -> str:
    """The reason shown for a non-2xx answer: its status code only, never its body."""
    return f"HTTP {status_code}"


def public_delivery(attempt: Mapping[str, Json]) -> JsonObject:
    """A recorded attempt as shown to the job's owner: the status code and a generic reason, never a response
    body or an OS error text (attempts recorded before these rules may hold one: it is replaced here)."""
    shown: JsonObject = {name: attempt.get(name) for name in SHOWN_DELIVERY_FIELDS}
    code, error = attempt.get("status_code"), attempt.get("error")
    if attempt.get("delivered") or error is None:
        shown["error"] = None
    elif error in DELIVERY_REASONS or (isinstance(code, int) and error == http_reason(code)):
        shown["error"] = error
    else:
        shown["error"] = http_reason(code) if isinstance(code, int) else DELIVERY_FAILED
    return shown


def deliveries(job: Job) -> list[Json]:
    """The recorded delivery attempts of a job, oldest first."""
    return list(json.loads(job.webhook_deliveries)) if job.webhook_deliveries else []


def webhook_state(job: Job) -> str | None:
    """pending (a delivery is due or being retried), delivered, failed (gave up) or None without a webhook."""
    if job.webhook_url is None:
        return None
    if job.webhook_pending:
        return "pending"
    done = deliveries(job)
    if not done:
        return None
    last = done[-1]
    return "delivered" if isinstance(last, dict) and last.get("delivered") else "failed"


def remaining_lines(job: Job) -> int:
    """Lines of the job not yet done (0 while unknown)."""
    return max((job.lines_total or 0) - job.checkpoint_line, 0)


def is_waiting(job: Job, now: datetime) -> bool:
    """Uploaded and waiting for a worker: queued, or processing under an expired lease."""
    expired = job.lease_expires_at is None or job.lease_expires_at <= now
    return job.status is JobStatus.QUEUED or (job.status is JobStatus.PROCESSING and expired)


def upload_expired(job: Job, now: datetime) -> bool:
    """Whether a job's upload URL expired long enough ago that no upload can still be landing."""
    return job.upload_expires_at + timedelta(seconds=UPLOAD_GRACE_SECONDS) < now
