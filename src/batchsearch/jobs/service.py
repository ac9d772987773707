"""Batch Search as the API sees it (the control plane): create (idempotent), upload, validate, status, results
while running, list, cancel, retry, delete.

The API only changes job state; workers own the data plane (jobs/finalize.py writes every output file).
Reads (status, list, results) never write anything.
"""

from __future__ import annotations

import hashlib

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from batchsearch.clock import Clock, utcnow
from batchsearch.config import Settings
from batchsearch.errors import (
    ConflictError,
    InternalError,
    NotFoundError,
    QuotaExceededError,
    ValidationError,
)
from batchsearch.jobs import parts, webhook_targets, webhooks
from batchsearch.jobs.intake import InputLimits, Intake, log_change, queued_lines_message
from batchsearch.jobs.lines import JsonObject
from batchsearch.jobs.model import Job, JobBackend, LineCounts
from batchsearch.jobs.progress import ProgressReader
from batchsearch.jobs.retention import delete_job_files
from batchsearch.jobs.states import JobStatus, is_terminal, wire_status
from batchsearch.index.snapshot_ids import snapshot_key
from batchsearch.jobs.status import QueueView, StatusContext, render_status
from batchsearch.jobs.store import SqlJobStore
from batchsearch.jobs.validation import ValidationReport
from batchsearch.models.batch import CREATE_TITLE
from batchsearch.storage import open_object_store
from batchsearch.storage.protocol import ObjectStore

CANCELLABLE = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.PROCESSING)
QUOTA_RETRY_SECONDS = 30.0  # Retry-After of a quota 429: jobs finish at their own pace, so a polite guess


@dataclass(frozen=True)
class CreatedBatch:
    """A new job and the URL its input goes to."""

    job: Job
    presigned_url: str


def scoped_idempotency_key(key_id: str, key: str) -> str:
    """What is stored for an Idempotency-Key sent with API key `key_id`: unique per key, within the column's 255
    characters whatever the client's key."""
    return f"{key_id}:{hashlib.sha256(key.encode()).hexdigest()}"


class BatchService:
    """The batch operations behind the routes; owns the job backend and the object store."""

    def __init__(self, settings: Settings, backend: JobBackend, objects: ObjectStore, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.backend = backend
        self.objects = objects
        self.clock = clock
        self.limits = InputLimits(settings.batch_max_bytes, settings.batch_max_lines, settings.quota_queued_lines)
        self.snapshot_key = snapshot_key(settings.resolved_signing_secret())

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> BatchService:
        """The service over the app database and the configured object store."""
        return cls(settings, SqlJobStore(engine), open_object_store(settings))

    def create(
        self,
        owner: str,
        *,
        priority: int = 0,
        validate_first: bool = False,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        key_id: str | None = None,
    ) -> CreatedBatch:
        """A pending job and its presigned upload URL; the same Idempotency-Key sent with the same API key
        (`key_id`) gives back the same job (keys are scoped per API key, so two keys of one tenant never
        collide)."""
        if idempotency_key is not None and key_id is not None:
            idempotency_key = scoped_idempotency_key(key_id, idempotency_key)
        if idempotency_key is not None:
            existing = self._idempotent_job(owner, idempotency_key, request_hash)
            if existing is not None:
                return CreatedBatch(existing, self._upload_url(existing))
        if webhook_url is not None:
            self._check_webhook_address(webhook_url)
        self._check_active_jobs(owner)
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
        else:
            log_change(job, "job_created")
        return CreatedBatch(job, self._upload_url(job))

    def _check_webhook_address(self, url: str) -> None:
        """400 for a webhook URL whose host is an IP literal (or localhost) no delivery may reach; names that
        resolve are checked again at every delivery."""
        try:
            target = webhook_targets.parse_target(url)
        except webhook_targets.InvalidTargetError as exc:
            raise ValidationError.of(CREATE_TITLE, "webhook_url", f"webhook_url {exc}") from exc
        allowed = webhook_targets.parse_networks(self.settings.batch_webhook_allowed_networks)
        local = target.host == "localhost" or target.host.endswith(".localhost")
        if (target.ip is not None and not webhook_targets.is_allowed(target.ip, allowed)) or (local and not allowed):
            raise ValidationError.of(CREATE_TITLE, "webhook_url", "Address not allowed: webhooks go to public "
                                     "addresses unless batch_webhook_allowed_networks lists the network")

    def _check_active_jobs(self, owner: str) -> None:
        """429 when the owner already has quota_active_jobs jobs pending, queued or processing."""
        jobs, _ = self.backend.active_usage(owner)
        if jobs >= self.settings.quota_active_jobs:
            raise QuotaExceededError(
                f"Quota exceeded: quota_active_jobs allows {self.settings.quota_active_jobs} pending, queued or "
                f"processing batch jobs per tenant; wait for some to finish or cancel them", retry_after=QUOTA_RETRY_SECONDS)

    def _check_queued_lines(self, job: Job) -> int:
        """The lines the owner may still queue (quota_queued_lines less the lines of its active jobs); 429 at 0."""
        _, lines = self.backend.active_usage(job.owner)
        room = self.settings.quota_queued_lines - lines
        if room <= 0:
            raise QuotaExceededError(self._lines_message("upload again once earlier jobs finished"),
                                     retry_after=QUOTA_RETRY_SECONDS)
        return room

    def _lines_message(self, advice: str) -> str:
        """The 429 message of the queued-lines quota."""
        return queued_lines_message(self.settings.quota_queued_lines, advice)

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
                    raise ConflictError("This Idempotency-Key was already used with a different request body")
                return job
            if self.backend.update_fields(job.id, job.status, {"idempotency_key": None}):  # expired: free the key
                return None
        raise ConflictError("The batch job of this Idempotency-Key kept changing; retry")

    def fetch_owned(self, job_id: str, owner: str) -> Job:
        """The owner's job; NotFoundError when missing or someone else's."""
        job = self.backend.get(job_id)
        if job is None or job.owner != owner:
            raise NotFoundError(f"Batch job {job_id} not found")
        return job

    @property
    def intake(self) -> Intake:
        """Takes in uploads over the service's current store and clock."""
        return Intake(self.backend, self.objects, self.limits, self.clock)

    def receive_upload(self, key: str, chunks: Iterable[bytes], declared_size: int | None = None) -> Job:
        """Store an input uploaded to our own signed URL and queue the job; an unusable file fails the job
        (and raises)."""
        job = self.fetch_upload_job(key)
        room = self._check_queued_lines(job)  # before any byte is read: the job stays pending, the upload may retry
        return self.intake.receive(job, self._within_lines(chunks, room), declared_size)

    def _within_lines(self, chunks: Iterable[bytes], room: int) -> Iterator[bytes]:
        """The chunks, raising the queued-lines 429 as soon as they hold more than `room` lines."""
        lines, last = 0, b"\n"
        for chunk in chunks:
            lines += chunk.count(b"\n")
            last = chunk[-1:] or last
            if lines > room or (lines == room and last != b"\n"):
                advice = f"this file has more than the {room} lines left, so the job failed: create it again later"
                raise QuotaExceededError(self._lines_message(advice), retry_after=QUOTA_RETRY_SECONDS)
            yield chunk

    def validate(self, chunks: Iterable[bytes]) -> ValidationReport:
        """Check a batch file line by line as a worker would parse it; nothing is queued."""
        return self.limits.validate(chunks)

    def validate_job(self, job: Job) -> ValidationReport:
        """Validate the uploaded input of a job (409 while it waits for its upload)."""
        if job.status is JobStatus.PENDING or job.uploaded_at is None:
            raise ConflictError(f"Batch job {job.id} has no uploaded input file yet")
        return self.validate(self.objects.iter_bytes(job.input_key))

    def fetch_upload_job(self, key: str) -> Job:
        """The job an upload key belongs to, which must still wait for its input (404 or 409 otherwise)."""
        job_id = parts.job_id_from_upload_key(key)
        job = self.backend.get(job_id) if job_id else None
        if job is None:
            raise NotFoundError(f"No batch job takes uploads at {key}")
        if job.status is not JobStatus.PENDING:
            raise ConflictError(f"Batch job {job.id} is {wire_status(job.status)} and no longer takes an upload")
        return job

    def cancel(self, job: Job) -> Job:
        """Cancel a job that is not finished; a worker writes the output of the lines already done."""
        for _ in range(5):
            if job.status not in CANCELLABLE:
                raise ConflictError(f"Batch job {job.id} is already {wire_status(job.status)}")
            try:
                cancelled = self.backend.transition(job.id, job.status, JobStatus.CANCELLED, {"completed_at": self.clock()})
            except ConflictError:
                job = self.backend.get(job.id) or job
                continue
            log_change(cancelled, "job_cancelled")
            return cancelled
        raise ConflictError(f"Batch job {job.id} changed status while being cancelled; retry")

    def results(self, job: Job, from_line: int) -> tuple[int, Iterator[bytes]]:
        """The finished prefix of the output from `from_line`, in order: (last finished line, its bytes)."""
        if job.output_key is not None and job.status in (JobStatus.COMPLETED, JobStatus.CANCELLED) \
                and not job.output_pending:
            return job.lines_done, parts.iter_output(self.objects, job.output_key, from_line)
        return job.checkpoint_line, self._finished_lines(job, job.checkpoint_line, from_line)

    def _finished_lines(self, job: Job, upto: int, from_line: int) -> Iterator[bytes]:
        """Lines from_line..upto from the part files, or from the output file if a worker wrote it meanwhile."""
        next_line = from_line
        try:
            for chunk in parts.iter_finished_parts(self.objects, job.id, upto, from_line):
                next_line += chunk.count(b"\n")
                yield chunk
        except (NotFoundError, InternalError):  # the job finished meanwhile: its parts became the output file
            fresh = self.backend.get(job.id)
            if fresh is None or fresh.output_key is None or fresh.output_pending:
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
        if job.output_pending:
            raise ConflictError(f"Batch job {job.id} is still writing its output after the cancel; retry shortly")
        delete_job_files(self.objects, job.id)
        if not self.backend.delete(job.id, job.status):  # the status check also covers output_pending
            raise ConflictError(f"Batch job {job.id} changed status while being deleted; retry")
        log_change(job, "job_deleted")

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
        retried = self.backend.transition(job.id, JobStatus.COMPLETED, JobStatus.QUEUED, changes)
        log_change(retried, "job_retried")
        return retried

    def progress(self, now: datetime) -> ProgressReader:
        """A reader of queue views at `now`, shared by the jobs of one request."""
        return ProgressReader(self.backend, now, self.settings.lease_seconds, self.settings.eta_default_lines_per_second)

    def status(self, job: Job, progress: ProgressReader | None = None) -> JsonObject:
        """The wire status of a job: estimate while unfinished, fresh signed output URL once there is output."""
        now = progress.now if progress is not None else self.clock()
        reader = progress or self.progress(now)
        queue = QueueView() if is_terminal(job.status) else reader.view(job)
        url = parts.download_url(self.objects, job, now, self.settings.download_url_ttl_seconds)
        context = StatusContext(now, url, queue, self.settings.batch_retention_days, self.snapshot_key)
        return render_status(job, context)

    def statuses(self, jobs: list[Job]) -> list[JsonObject]:
        """The wire statuses of a page of jobs, read at one moment."""
        progress = self.progress(self.clock())
        return [self.status(job, progress) for job in jobs]
