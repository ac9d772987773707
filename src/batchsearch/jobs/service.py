"""Batch Search as the API sees it: create (idempotent), upload, validate, status with counts, estimate and URLs,
results while running, list, cancel, retry, delete."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from batchsearch.config import Settings
from batchsearch.errors import (
    BatchSearchError,
    ConflictError,
    InternalError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from batchsearch.jobs import eta, parts, webhooks
from batchsearch.jobs.lines import InputInspector, InputStats, iter_lines, parse_line_request
from batchsearch.jobs.model import Job, JobBackend, LineCounts
from batchsearch.jobs.runner import Clock, utcnow
from batchsearch.jobs.states import JobStatus, is_terminal, wire_status
from batchsearch.jobs.retention import delete_job_files
from batchsearch.jobs.store import SqlJobStore, claim_order
from batchsearch.jobs.validation import ValidationReport, validate_file
from batchsearch.storage.local import LocalObjectStore
from batchsearch.storage.protocol import ObjectStore

CANCELLABLE = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.PROCESSING)


@dataclass(frozen=True)
class CreatedBatch:
    """A new job and the URL its input goes to."""

    job: Job
    presigned_url: str


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the millisecond."""
    return None if value is None else value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class BatchService:
    """The batch operations behind the routes; owns the job backend and the object store."""

    def __init__(self, settings: Settings, backend: JobBackend, objects: ObjectStore, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.backend = backend
        self.objects = objects
        self.clock = clock
        self.parse_request: Callable[[Any], Any] = parse_line_request

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> BatchService:
        """The embedded service: jobs in the app database, files under data_dir."""
        return cls(settings, SqlJobStore(engine), LocalObjectStore.from_settings(settings))

    def create(
        self,
        owner: str,
        *,
        priority: int = 0,
        validate_first: bool = False,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> CreatedBatch:
        """A pending job and its presigned upload URL; the same Idempotency-Key gives back the same job."""
        if idempotency_key is not None:
            existing = self._idempotent_job(owner, idempotency_key, request_hash)
            if existing is not None:
                return CreatedBatch(existing, self._upload_url(existing))
        now = self.clock()
        job_id = str(uuid.uuid4())
        expires = now + timedelta(seconds=self.settings.upload_url_ttl_seconds)
        job = Job(job_id, owner, JobStatus.PENDING, now, expires, input_key=parts.upload_key(job_id),
                  priority=priority, validate_first=validate_first, idempotency_key=idempotency_key,
                  request_hash=request_hash, webhook_url=webhook_url,
                  webhook_secret=webhooks.new_secret() if webhook_url else None)
        try:
            self.backend.create(job)
        except ConflictError:  # a concurrent create with the same key won the insert
            if idempotency_key is None:
                raise
            existing = self._idempotent_job(owner, idempotency_key, request_hash)
            if existing is None:
                raise
            job = existing
        return CreatedBatch(job, self._upload_url(job))

    def _upload_url(self, job: Job) -> str:
        """The job's presigned upload URL (the same URL every time: it signs the same key and expiry)."""
        return self.objects.presign("PUT", parts.upload_key(job.id), int(job.upload_expires_at.timestamp()))

    def _idempotent_job(self, owner: str, key: str, request_hash: str | None) -> Job | None:
        """The job an Idempotency-Key created within the window; 409 if that create had another body."""
        for _ in range(5):
            job = self.backend.find_idempotent(owner, key)
            if job is None:
                return None
            window = timedelta(seconds=self.settings.batch_idempotency_ttl_seconds)
            if job.created_at + window > self.clock():
                if job.request_hash != request_hash:
                    raise ConflictError(f"Idempotency-Key {key!r} was already used with a different request body")
                return job
            if self.backend.update_fields(job.id, job.status, {"idempotency_key": None}):  # expired: free the key
                return None
        raise ConflictError(f"Batch job with Idempotency-Key {key!r} kept changing; retry")

    def fetch_owned(self, job_id: str, owner: str) -> Job:
        """The owner's job; NotFoundError when missing or someone else's."""
        job = self.backend.get(job_id)
        if job is None or job.owner != owner:
            raise NotFoundError(f"Batch job {job_id} not found")
        return job

    def receive_upload(self, key: str, chunks: Iterable[bytes], declared_size: int | None = None) -> Job:
        """Store an uploaded input and queue the job; an unusable file fails the job (and raises)."""
        job = self._pending_job_for(key)
        try:
            stored_key, stats = self._store_input(job, chunks, declared_size)
        except BatchSearchError as exc:
            self._fail_upload(job, exc.message)
            raise
        changes = {
            "input_key": stored_key,
            "uploaded_at": self.clock(),
            "input_bytes": stats.size,
            "lines_total": stats.lines,
        }
        if job.validate_first:
            self._validate_upload(job, stored_key, changes)
        try:
            return self.backend.transition(job.id, JobStatus.PENDING, JobStatus.QUEUED, changes)
        except ConflictError:
            self.objects.delete(stored_key)
            raise

    def _validate_upload(self, job: Job, stored_key: str, changes: dict[str, Any]) -> None:
        """For validate_first jobs: fail the job (and raise 400) unless every line of the stored file validates."""
        report = self.validate(self.objects.iter_bytes(stored_key))
        if report.is_valid:
            return
        message = report.summary()
        failed = changes | {"error": message, "completed_at": self.clock()}
        try:
            self.backend.transition(job.id, JobStatus.PENDING, JobStatus.FAILED, failed)
        except ConflictError:
            self.objects.delete(stored_key)
            raise
        raise ValidationError(message)

    def validate(self, chunks: Iterable[bytes]) -> ValidationReport:
        """Check a batch file line by line as a worker would parse it; nothing is queued."""
        return validate_file(chunks, self.parse_request, max_bytes=self.settings.batch_max_bytes,
                             max_lines=self.settings.batch_max_lines)

    def validate_job(self, job: Job) -> ValidationReport:
        """Validate the uploaded input of a job (409 while it waits for its upload)."""
        if job.status is JobStatus.PENDING or job.uploaded_at is None:
            raise ConflictError(f"Batch job {job.id} has no uploaded input file yet")
        return self.validate(self.objects.iter_bytes(job.input_key))

    def _fail_upload(self, job: Job, message: str) -> None:
        """Fail a job whose uploaded file is unusable (unless it was cancelled meanwhile)."""
        changes = {"error": message, "completed_at": self.clock()}
        try:
            self.backend.transition(job.id, JobStatus.PENDING, JobStatus.FAILED, changes)
        except ConflictError:
            pass

    def _pending_job_for(self, key: str) -> Job:
        """The job an upload key belongs to, which must still wait for its input."""
        job_id = parts.job_id_from_upload_key(key)
        job = self.backend.get(job_id) if job_id else None
        if job is None:
            raise NotFoundError(f"No batch job takes uploads at {key}")
        if job.status is not JobStatus.PENDING:
            raise ConflictError(f"Batch job {job.id} is {wire_status(job.status)} and no longer takes an upload")
        return job

    def _store_input(self, job: Job, chunks: Iterable[bytes], declared_size: int | None) -> tuple[str, InputStats]:
        """Stream the input into the object store while checking it; returns its key and size."""
        limit = self.settings.batch_max_bytes
        if declared_size is not None and declared_size > limit:
            raise PayloadTooLargeError(f"File is larger than the limit of {limit} bytes")
        inspector = InputInspector(max_bytes=limit, max_lines=self.settings.batch_max_lines)
        key = parts.stored_input_key(job.id, uuid.uuid4().hex[:12])
        self.objects.put_stream(key, inspector.wrap(chunks), max_bytes=limit)
        return key, inspector.finish()

    def cancel(self, job: Job) -> Job:
        """Cancel a job that is not finished; lines already done stay downloadable."""
        for _ in range(5):
            if job.status not in CANCELLABLE:
                raise ConflictError(f"Batch job {job.id} is already {wire_status(job.status)}")
            try:
                job = self.backend.transition(job.id, job.status, JobStatus.CANCELLED, {"completed_at": self.clock()})
                return self._with_cancelled_output(job)
            except ConflictError:
                job = self.backend.get(job.id) or job
        raise ConflictError(f"Batch job {job.id} changed status while being cancelled; retry")

    def _with_cancelled_output(self, job: Job) -> Job:
        """A cancelled job whose finished lines are assembled into its output file."""
        if job.status is JobStatus.CANCELLED and job.retries and job.output_key and job.lines_done != job.lines_total:
            return self._with_merged_retry_output(job)
        if job.status is not JobStatus.CANCELLED or job.output_key or job.checkpoint_line == 0 or job.files_deleted_at:
            return job
        try:
            key = parts.assemble_output(self.objects, job.id, job.checkpoint_line)
        except BatchSearchError:  # a concurrent request assembled it and removed the parts first
            fresh = self.backend.get(job.id)
            if fresh is not None and fresh.output_key:
                return fresh
            raise
        changes = {"output_key": key, "lines_done": job.checkpoint_line}
        if self.backend.update_fields(job.id, JobStatus.CANCELLED, changes):
            parts.delete_parts(self.objects, job.id)
        return self.backend.get(job.id) or job

    def _with_merged_retry_output(self, job: Job) -> Job:
        """A retry cancelled midway: re-run lines so far plus the earlier output's rest, recounted, as its output."""
        assert job.output_key is not None
        try:
            key = parts.assemble_merged_output(self.objects, job.id, job.checkpoint_line, job.output_key)
        except BatchSearchError:  # a concurrent request merged it and removed the parts first
            return self.backend.get(job.id) or job
        statuses = [str(json.loads(line.data)["status"]) for line in iter_lines(self.objects.iter_bytes(key))]
        changes = {"output_key": key, "lines_done": len(statuses), **LineCounts().plus(statuses).columns()}
        if self.backend.update_fields(job.id, JobStatus.CANCELLED, changes):
            parts.delete_parts(self.objects, job.id)
        return self.backend.get(job.id) or job

    def results(self, job: Job, from_line: int) -> tuple[int, Iterator[bytes]]:
        """The finished prefix of the output from `from_line`, in order: (last finished line, its bytes)."""
        if job.output_key is not None and job.status in (JobStatus.COMPLETED, JobStatus.CANCELLED):
            return job.lines_done, parts.iter_output(self.objects, job.output_key, from_line)
        return job.checkpoint_line, self._finished_lines(job, job.checkpoint_line, from_line)

    def _finished_lines(self, job: Job, upto: int, from_line: int) -> Iterator[bytes]:
        """Lines from_line..upto from the part files, or from the output file once they were assembled into it."""
        next_line = from_line
        try:
            for chunk in parts.iter_finished_parts(self.objects, job.id, upto, from_line):
                next_line += chunk.count(b"\n")
                yield chunk
        except (NotFoundError, InternalError):  # the job finished meanwhile: its parts became the output file
            fresh = self.backend.get(job.id)
            if fresh is None or fresh.output_key is None:
                raise
            output = parts.iter_output(self.objects, fresh.output_key, next_line)
            yield from parts.take_lines(output, upto - next_line + 1)

    def list_owned(
        self, owner: str, statuses: list[JobStatus] | None, limit: int, after: str | None
    ) -> tuple[list[Job], bool]:
        """The owner's jobs newest first after the cursor job `after`, and whether more follow."""
        cursor = self.fetch_owned(after, owner) if after else None
        jobs = self.backend.list_jobs(owner, statuses, limit + 1, cursor)
        return jobs[:limit], len(jobs) > limit

    def delete(self, job: Job) -> None:
        """Delete a finished job and its files (409 while it can still change)."""
        if not is_terminal(job.status):
            raise ConflictError(f"Batch job {job.id} is {wire_status(job.status)}; cancel it before deleting it")
        delete_job_files(self.objects, job.id)
        if not self.backend.delete(job.id, job.status):
            raise ConflictError(f"Batch job {job.id} changed status while being deleted; retry")

    def retry(self, job: Job) -> Job:
        """Queue a completed job again to re-run its timeout and exception lines, merged into its output in place."""
        if job.status is not JobStatus.COMPLETED or job.output_key is None or job.files_deleted_at is not None:
            raise ConflictError(f"Batch job {job.id} is {wire_status(job.status)}; only a completed job can be retried")
        if job.count_timeout + job.count_exception == 0:
            raise ConflictError(f"Batch job {job.id} has no timeout or exception lines to retry")
        changes = {
            "checkpoint_line": 0,
            "checkpoint_offset": 0,
            "lines_done": 0,
            "lines_per_s": None,
            "completed_at": None,
            "error": None,
            "lease_owner": None,
            "lease_expires_at": None,
            "attempts": 0,
            "retries": job.retries + 1,
            "webhook_pending": False,  # the next terminal state is notified
            **LineCounts().columns(),
        }
        return self.backend.transition(job.id, JobStatus.COMPLETED, JobStatus.QUEUED, changes)

    def status(self, job: Job) -> dict[str, Any]:
        """The wire status of a job: estimate while running, fresh signed output URL when there is output."""
        now = self.clock()
        if job.status is JobStatus.PENDING and job.upload_expires_at < now:
            self.backend.fail_expired_uploads(now)
            job = self.backend.get(job.id) or job
        job = self._with_cancelled_output(job)
        active = None if is_terminal(job.status) else self.backend.active_jobs()
        return {
            "batch_id": job.id,
            "status": wire_status(job.status),
            "estimated_completion_time": iso(self.estimate(job, now, active)),
            "output_file_url": self._output_url(job, now),
            "created_at": iso(job.created_at),
            "started_at": iso(job.started_at),
            "completed_at": iso(job.completed_at),
            "error": job.error,
            "lines_total": job.lines_total,
            "lines_done": job.lines_done,
            "request_counts": request_counts(job),
            "phase": phase(job, now),
            "outcome": outcome(job),
            "lines_per_second": lines_per_second(job, now),
            "queue_position": queue_position(job, active or [], now),
            "snapshot_id": snapshot_id(job.snapshot_generation),
            "priority": job.priority,
            "retries": job.retries,
            "webhook": webhook_doc(job),
            "files_expire_at": iso(self._files_expire_at(job)),
            "files_deleted_at": iso(job.files_deleted_at),
        }

    def _files_expire_at(self, job: Job) -> datetime | None:
        """When workers delete the job's files (retention), once it finished."""
        if job.completed_at is None or job.files_deleted_at is not None:
            return None
        return job.completed_at + timedelta(days=self.settings.batch_retention_days)

    def _output_url(self, job: Job, now: datetime) -> str | None:
        """A signed GET URL of the output, for completed jobs and cancelled jobs with finished lines."""
        if job.output_key is None or job.status not in (JobStatus.COMPLETED, JobStatus.CANCELLED):
            return None
        expires = int((now + timedelta(seconds=self.settings.download_url_ttl_seconds)).timestamp())
        return self.objects.presign("GET", job.output_key, expires)

    def estimate(self, job: Job, now: datetime, active: list[Job] | None = None) -> datetime | None:
        """When the job should finish, from measured throughput and the work queued ahead of it."""
        if is_terminal(job.status):
            return None
        default_rate = self.settings.eta_default_lines_per_second
        if job.status is JobStatus.PROCESSING and job.lease_expires_at and job.lease_expires_at > now:
            seconds = eta.running_seconds(_remaining(job), job.lines_per_s, default_rate)
            return now + timedelta(seconds=seconds)
        active = self.backend.active_jobs() if active is None else active
        live = self.backend.live_workers(now - timedelta(seconds=self.settings.lease_seconds))
        rates = [w.lines_per_s for w in live if w.lines_per_s]
        default_rate = sum(rates) / len(rates) if rates else default_rate
        lanes = _lanes(active, live, now, default_rate)
        mine = claim_order(job)
        ahead = [_remaining(j) for j in active if _is_waiting(j, now) and claim_order(j) < mine]
        return now + timedelta(seconds=eta.queued_seconds(lanes, ahead, _remaining(job), default_rate))


def webhook_doc(job: Job) -> dict[str, Any] | None:
    """The job's webhook: URL, delivery state and every recorded attempt (None without a webhook)."""
    if job.webhook_url is None:
        return None
    return {"url": job.webhook_url, "state": webhooks.webhook_state(job), "deliveries": webhooks.deliveries(job)}


def request_counts(job: Job) -> dict[str, int]:
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
    """What the job does: awaiting_upload, queued, searching, finalizing (lines done, output being written), done."""
    if is_terminal(job.status):
        return "done"
    if job.status is JobStatus.PENDING:
        return "awaiting_upload"
    if _is_waiting(job, now):
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


def lines_per_second(job: Job, now: datetime) -> float | None:
    """Measured throughput: the current rate while running, the average over the run once finished."""
    if job.status is JobStatus.PROCESSING:
        return None if job.lines_per_s is None else round(job.lines_per_s, 3)
    if job.status is JobStatus.COMPLETED and job.started_at and job.completed_at:
        seconds = (job.completed_at - job.started_at).total_seconds()
        return round(job.counts.done / seconds, 3) if seconds > 0 else None
    return None


def queue_position(job: Job, active: list[Job], now: datetime) -> int | None:
    """1-based place among the jobs waiting for a worker (claim order); None unless the job waits."""
    if not _is_waiting(job, now):
        return None
    mine = claim_order(job)
    return 1 + sum(1 for j in active if j.id != job.id and _is_waiting(j, now) and claim_order(j) < mine)


def snapshot_id(generation: int | None) -> str | None:
    """The id of the index snapshot a job searches, as response metadata names it (Snapshot.id)."""
    return None if generation is None else f"gen-{generation}"


def _remaining(job: Job) -> int:
    """Lines of the job not yet done (0 while unknown)."""
    return max((job.lines_total or 0) - job.checkpoint_line, 0)


def _is_waiting(job: Job, now: datetime) -> bool:
    """Uploaded and waiting for a worker: queued, or processing under an expired lease."""
    expired = job.lease_expires_at is None or job.lease_expires_at <= now
    return job.status is JobStatus.QUEUED or (job.status is JobStatus.PROCESSING and expired)


def _lanes(active: list[Job], live: list[Any], now: datetime, default_rate: float) -> list[eta.Lane]:
    """One lane per live worker, busy for the rest of the job it holds."""
    held = {j.lease_owner: j for j in active if j.status is JobStatus.PROCESSING and not _is_waiting(j, now)}
    lanes = []
    for worker in live:
        job = held.get(worker.id)
        busy = eta.running_seconds(_remaining(job), job.lines_per_s, default_rate) if job else 0.0
        lanes.append(eta.Lane(busy, worker.lines_per_s))
    return lanes

