"""The data plane's last step, owned by workers: the only code that writes a job's output file.

A completed job's output is its part files in order. A cancelled job's output is the lines finished
before the cancel; a cancelled retry keeps the earlier output's lines after the ones it re-ran. The
worker holding a job finalises it; a sweep finalises cancelled jobs whose worker died.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

from batchsearch.clock import Clock
from batchsearch.errors import ConflictError
from batchsearch.jobs import parts
from batchsearch.jobs.lines import iter_lines
from batchsearch.jobs.model import Job, JobBackend, LineCounts
from batchsearch.jobs.states import JobStatus
from batchsearch.storage.protocol import ObjectStore

log = logging.getLogger(__name__)


class Finalizer:
    """Writes output files from part files and records them in the job store, for one worker."""

    def __init__(self, jobs: JobBackend, objects: ObjectStore, worker_id: str, lease_seconds: float,
                 clock: Clock) -> None:
        self._jobs = jobs
        self._objects = objects
        self._worker_id = worker_id
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock

    def complete(self, job: Job) -> None:
        """Write the output of a job whose lines are all checkpointed and mark it completed (if we still hold it)."""
        key = parts.output_key(job.id, job.retries)
        self._objects.put_stream(key, parts.chain_bytes(self._objects, job.id, job.lines_total or 0))
        changes = {
            "output_key": key,
            "completed_at": self._clock(),
            "lines_done": job.lines_total or 0,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        try:
            self._jobs.transition(job.id, JobStatus.PROCESSING, JobStatus.COMPLETED, changes,
                                  lease_owner=self._worker_id)
        except ConflictError:
            log.info("job %s left processing before it could complete", job.id)
            self.after_stop(job.id)
            return
        self._clean_up(job, key)

    def after_stop(self, job_id: str) -> bool:
        """A job we ran stopped being ours to run: if it was cancelled, write its output now; True if we did."""
        now = self._clock()
        job = self._jobs.claim_output(self._worker_id, now, now + self._lease, job_id)
        return job is not None and self._write_cancelled(job)

    def sweep(self) -> int:
        """Write the output of cancelled jobs that no live worker holds (their worker died); return how many."""
        done = 0
        while True:
            now = self._clock()
            job = self._jobs.claim_output(self._worker_id, now, now + self._lease)
            if job is None:
                return done
            done += self._write_cancelled(job)

    def _write_cancelled(self, job: Job) -> bool:
        """Write the output of a cancelled job we hold: its finished lines (merged with the earlier output on a
        retry); a job that never finished a line gets none. False when the lease was lost meanwhile."""
        changes: dict[str, object] = {}
        key = None
        if job.retries and job.output_key:
            key = parts.output_key(job.id, job.retries)
            counts = self._write_merged(job, key)
            changes = {"output_key": key, "lines_done": counts.done, **counts.columns()}
        elif job.checkpoint_line > 0:
            key = parts.output_key(job.id, job.retries)
            self._objects.put_stream(key, parts.chain_bytes(self._objects, job.id, job.checkpoint_line))
            changes = {"output_key": key, "lines_done": job.checkpoint_line}
        if not self._jobs.save_output(job.id, self._worker_id, changes):
            log.info("job %s: lost the lease while writing its output", job.id)
            return False
        if key is not None:
            self._clean_up(job, key)
        log.info("job %s: wrote the output of %s finished lines after its cancel", job.id, changes.get("lines_done", 0))
        return True

    def _write_merged(self, job: Job, key: str) -> LineCounts:
        """The output of a cancelled retry: re-run lines from the parts, then the earlier output's rest; the
        statuses of the merged lines, counted as they stream by."""
        assert job.output_key is not None
        statuses: list[str] = []

        def merged() -> Iterator[bytes]:
            rerun = parts.chain_bytes(self._objects, job.id, job.checkpoint_line)
            rest = parts.skip_lines(self._objects.iter_bytes(job.output_key or ""), job.checkpoint_line)
            for stream in (rerun, rest):
                for line in iter_lines(stream):
                    statuses.append(str(json.loads(line.data)["status"]))
                    yield line.data + b"\n"

        self._objects.put_stream(key, merged())
        return LineCounts().plus(statuses)

    def _clean_up(self, job: Job, key: str) -> None:
        """Delete what the recorded output replaced: the part files and an earlier output file."""
        parts.delete_parts(self._objects, job.id)
        if job.output_key and job.output_key != key:
            self._objects.delete(job.output_key)
