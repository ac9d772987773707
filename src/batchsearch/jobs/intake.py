"""Taking in a job's uploaded input: check the whole file, validate every line first if asked, queue the job.

There are two ways in. With the local object store the presigned URL is the API's own, so the PUT streams
through `receive` and the client learns at once if the file is unusable. With an S3 store the client uploads
straight to S3 (the API never sees the bytes); a worker's `sweep` finds the object and takes it in the same way,
and a bad file fails the job with the same message.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from batchsearch.clock import Clock
from batchsearch.errors import BatchSearchError, ConflictError, PayloadTooLargeError, ValidationError
from batchsearch.jobs import parts
from batchsearch.jobs.lines import InputInspector, InputStats
from batchsearch.jobs.model import Job, JobBackend
from batchsearch.jobs.states import JobStatus
from batchsearch.jobs.validation import ValidationReport, validate_file
from batchsearch.storage.protocol import ObjectStore

log = logging.getLogger(__name__)
SWEEP_BATCH = 20


def log_change(job: Job, event: str) -> None:
    """One log line of a job's state change made on the control plane (structured fields for JSON logs)."""
    log.info("batch job %s: %s (%s)", job.id, event.removeprefix("job_"), job.status.value,
             extra={"batch_id": job.id, "event": event, "status": job.status.value})


def queued_lines_message(quota: int, advice: str) -> str:
    """The message of the queued-lines quota (a 429 to an uploader, the error of a job taken in by a sweep)."""
    return (f"Quota exceeded: quota_queued_lines allows {quota} input lines waiting or running in batch jobs per "
            f"tenant; {advice}")


@dataclass(frozen=True)
class InputLimits:
    """The largest batch file accepted, in bytes and in lines, and the lines one owner may have queued (None: no
    quota)."""

    max_bytes: int
    max_lines: int
    max_queued_lines: int | None = None

    def inspector(self) -> InputInspector:
        """A whole-file checker with these limits."""
        return InputInspector(max_bytes=self.max_bytes, max_lines=self.max_lines)

    def validate(self, chunks: Iterable[bytes]) -> ValidationReport:
        """Check a batch file line by line as a worker would parse it."""
        return validate_file(chunks, max_bytes=self.max_bytes, max_lines=self.max_lines)


class Intake:
    """Queues jobs whose input arrived, or fails them with what is wrong with the file."""

    def __init__(self, backend: JobBackend, objects: ObjectStore, limits: InputLimits, clock: Clock) -> None:
        self._backend = backend
        self._objects = objects
        self._limits = limits
        self._clock = clock
        self._cursor: Job | None = None

    def receive(self, job: Job, chunks: Iterable[bytes], declared_size: int | None) -> Job:
        """Stream an upload through the checks into the store and queue the job; an unusable file fails the
        job (and raises, so the uploader gets the 4xx)."""
        limit = self._limits.max_bytes
        key = parts.stored_input_key(job.id, uuid.uuid4().hex[:12])
        inspector = self._limits.inspector()
        try:
            if declared_size is not None and declared_size > limit:
                raise PayloadTooLargeError(f"File is larger than the limit of {limit} bytes")
            self._objects.put_stream(key, inspector.wrap(chunks), max_bytes=limit)
            stats = inspector.finish()
        except BatchSearchError as exc:
            self.fail(job, exc.message)
            raise
        return self.accept(job, key, stats)

    def sweep(self) -> int:
        """Take in inputs uploaded straight to the object store (a few pending jobs per call, in turn); return
        how many jobs it queued or failed."""
        jobs = self._backend.pending_jobs(self._cursor, SWEEP_BATCH)
        self._cursor = jobs[-1] if len(jobs) == SWEEP_BATCH else None  # wrap around after the last page
        taken = 0
        for job in jobs:
            key = parts.upload_key(job.id)
            if key not in self._objects.list_keys(key):
                continue
            try:
                taken += self._take_stored(job, key)
            except ConflictError:  # cancelled, or taken in by another worker meanwhile
                continue
        return taken

    def _take_stored(self, job: Job, key: str) -> bool:
        """Check an input already in the store and queue (or fail) its job; a job whose owner has no room left
        under the queued-lines quota stays pending until earlier jobs finish (False)."""
        room = self._line_room(job)
        if room is not None and room <= 0:
            return False
        inspector = self._limits.inspector()
        try:
            for chunk in self._objects.iter_bytes(key):
                inspector.feed(chunk)
            stats = inspector.finish()
        except BatchSearchError as exc:
            self.fail(job, exc.message)
            return True
        if room is not None and stats.lines > room:
            assert self._limits.max_queued_lines is not None
            advice = f"this file has more than the {room} lines left, so the job failed: create it again later"
            self.fail(job, queued_lines_message(self._limits.max_queued_lines, advice))
            return True
        try:
            self.accept(job, key, stats)
        except ValidationError:  # validate_first: the job failed with the problems
            pass
        log.info("took in the input of batch job %s (%d lines)", job.id, stats.lines)
        return True

    def _line_room(self, job: Job) -> int | None:
        """The lines the job's owner may still queue under the quota (None: no quota)."""
        if self._limits.max_queued_lines is None:
            return None
        return self._limits.max_queued_lines - self._backend.active_usage(job.owner)[1]

    def accept(self, job: Job, key: str, stats: InputStats) -> Job:
        """Queue a job whose input at `key` passed the whole-file checks (validating every line first for
        validate_first jobs: those fail with the problems, and ValidationError is raised)."""
        changes: dict[str, object] = {"input_key": key, "uploaded_at": self._clock(), "input_bytes": stats.size,
                                      "lines_total": stats.lines}
        if job.validate_first:
            report = self._limits.validate(self._objects.iter_bytes(key))
            if not report.is_valid:
                message = report.summary()
                self._transition(job, key, JobStatus.FAILED, changes | {"error": message, "completed_at": self._clock()})
                raise ValidationError(message)
        return self._transition(job, key, JobStatus.QUEUED, changes)

    def fail(self, job: Job, message: str) -> None:
        """Fail a job whose uploaded file is unusable (unless it left pending meanwhile)."""
        try:
            failed = self._backend.transition(job.id, JobStatus.PENDING, JobStatus.FAILED,
                                              {"error": message, "completed_at": self._clock()})
        except ConflictError:
            return
        log_change(failed, "job_upload_refused")

    def _transition(self, job: Job, key: str, new: JobStatus, changes: dict[str, object]) -> Job:
        """Leave pending; a stored copy nobody will read is removed when another request won."""
        try:
            moved = self._backend.transition(job.id, JobStatus.PENDING, new, changes)
        except ConflictError:
            if key != parts.upload_key(job.id):
                self._objects.delete(key)
            raise
        log_change(moved, "job_uploaded" if new is JobStatus.QUEUED else "job_upload_refused")
        return moved
