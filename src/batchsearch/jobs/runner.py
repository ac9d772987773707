"""Runs one claimed job: check the input, stream lines in micro-batches, write parts, checkpoint, finish."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import timedelta

from batchsearch.clock import Clock, utcnow
from batchsearch.errors import BatchSearchError, ConflictError, InternalError
from batchsearch.jobs import parts
from batchsearch.jobs.eta import moving_average
from batchsearch.jobs.execute import BatchExecutor, OutputLine
from batchsearch.jobs.finalize import Finalizer
from batchsearch.jobs.lines import RETRYABLE_STATUSES, InputInspector, Json, RawLine, iter_lines
from batchsearch.jobs.model import Checkpoint, Job, JobBackend
from batchsearch.jobs.states import JobStatus
from batchsearch.storage.protocol import ObjectStore

log = logging.getLogger(__name__)
UsageRecorder = Callable[[str, int, int], None]  # (owner, returned chunks, searches)
EarlierRow = tuple[str, int, bytes]  # status, attempts and bytes of a line's earlier output


@dataclass(frozen=True)
class RunnerConfig:
    """The settings a runner needs."""

    micro_batch_size: int
    lease_seconds: float
    max_bytes: int
    max_lines: int
    max_attempts: int


def micro_batches(lines: Iterable[RawLine], size: int) -> Iterator[list[RawLine]]:
    """Consecutive lists of at most `size` lines."""
    iterator = iter(lines)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class JobRunner:
    """Processes claimed jobs for one worker; every step is durable before the checkpoint that covers it."""

    def __init__(
        self,
        config: RunnerConfig,
        jobs: JobBackend,
        objects: ObjectStore,
        executor: BatchExecutor,
        worker_id: str,
        clock: Clock = utcnow,
        record_usage: UsageRecorder | None = None,
    ) -> None:
        self._config = config
        self._record_usage = record_usage
        self._jobs = jobs
        self._objects = objects
        self._executor = executor
        self._worker_id = worker_id
        self._clock = clock
        self._finalizer = Finalizer(jobs, objects, worker_id, config.lease_seconds, clock)
        self.lines_per_s: float | None = None

    def run(self, job: Job, stop: threading.Event) -> None:
        """Run the job from its checkpoint until done, cancelled, lease lost or asked to stop."""
        if job.attempts > self._config.max_attempts:
            self._fail(job, f"Batch job failed after {self._config.max_attempts} attempts: internal error")
            return
        checked = self._check_input(job)
        if checked is None:
            return
        parts.discard_parts_after(self._objects, job.id, checked.checkpoint_line)
        checked = self._pin_snapshot(checked)
        if self._run_lines(checked, stop):
            self._finalizer.complete(checked)
            return
        if stop.is_set():
            self._jobs.release(job.id, self._worker_id, self._clock())
        self._finalizer.after_stop(job.id)  # cancelled meanwhile: its finished lines become its output

    def _check_input(self, job: Job) -> Job | None:
        """The job with its line count, checking the file first if nobody did; None when the file is unusable."""
        if job.lines_total is not None:
            return job
        inspector = InputInspector(max_bytes=self._config.max_bytes, max_lines=self._config.max_lines)
        try:
            for chunk in self._objects.iter_bytes(job.input_key):
                inspector.feed(chunk)
            stats = inspector.finish()
        except BatchSearchError as exc:
            self._fail(job, exc.message)
            return None
        changes = {"lines_total": stats.lines, "input_bytes": stats.size}
        self._jobs.update_fields(job.id, JobStatus.PROCESSING, changes)
        return self._jobs.get(job.id)

    def _pin_snapshot(self, job: Job) -> Job:
        """The job with its index generation: pinned on first run, kept on every resume."""
        if job.snapshot_generation is not None:
            return job
        generation = self._executor.current_generation()
        if generation is None:
            return job
        self._jobs.update_fields(job.id, JobStatus.PROCESSING, {"snapshot_generation": generation})
        return replace(job, snapshot_generation=generation)

    def _run_lines(self, job: Job, stop: threading.Event) -> bool:
        """Process lines after the checkpoint; True when every line is done and checkpointed. The executor may
        run micro-batches ahead; their parts and checkpoints are written here, one after the other, in order."""
        chunks = self._objects.iter_bytes(job.input_key, start=job.checkpoint_offset)
        lines = iter_lines(chunks, first_number=job.checkpoint_line + 1, start_offset=job.checkpoint_offset)
        previous = self._previous_output(job)
        pending: deque[PlannedBatch] = deque()

        def searches() -> Iterator[list[RawLine]]:
            for batch in micro_batches(lines, self._config.micro_batch_size):
                if stop.is_set():
                    return
                plan = PlannedBatch(batch, self._earlier_rows(job, batch, previous))
                pending.append(plan)
                yield plan.to_search()

        started = time.monotonic()
        done, counts = job.checkpoint_line, job.counts
        results = self._executor.map(searches(), job.owner, job.snapshot_generation)
        with closing(lines), closing(previous), closing(results):  # closes the files if we stop early
            for searched in results:
                if stop.is_set():
                    return False
                plan = pending.popleft()
                rows = plan.rows(searched)
                first, last = plan.batch[0].number, plan.batch[-1].number
                self._objects.put_stream(parts.part_key(job.id, first, last), [b"".join(row for row, _ in rows)])
                now = time.monotonic()
                self.lines_per_s = moving_average(self.lines_per_s, len(plan.batch) / max(now - started, 1e-6))
                started = now
                counts = counts.plus([status for _, status in rows])
                checkpoint = Checkpoint(last, plan.batch[-1].end_offset, last, self.lines_per_s, counts)
                if not self._checkpoint(job, checkpoint):
                    return False
                self._spend(job, searched)
                done = last
        if stop.is_set():
            return False
        return done == job.lines_total or self._fail(job, f"Input has {done} lines, expected {job.lines_total}")

    def _previous_output(self, job: Job) -> Generator[RawLine, None, None]:
        """For a retry, the earlier output's lines after the checkpoint (whose timeouts and exceptions re-run)."""
        if job.retries == 0 or job.output_key is None:
            return _no_lines()
        chunks = parts.skip_lines(self._objects.iter_bytes(job.output_key), job.checkpoint_line)
        return iter_lines(chunks, first_number=job.checkpoint_line + 1)

    @staticmethod
    def _earlier_rows(job: Job, batch: list[RawLine], previous: Iterator[RawLine]) -> list[EarlierRow] | None:
        """On a retry, the earlier output of every line of the batch; None when every line is searched now."""
        if job.retries == 0 or job.output_key is None:
            return None
        return [_earlier_line(line, next(previous, None)) for line in batch]

    def _spend(self, job: Job, searched: list[OutputLine]) -> None:
        """Count the successful searches of a checkpointed micro-batch in the owner's usage (a line searched
        again after a crash before its checkpoint is counted once, at the checkpoint that covers it)."""
        ok = [line.chunks for line in searched if line.chunks is not None]
        if not ok or self._record_usage is None:
            return
        try:
            self._record_usage(job.owner, sum(ok), len(ok))
        except Exception:  # usage is bookkeeping: never stop a job for it
            log.exception("job %s: could not record the usage of %d lines", job.id, len(ok))

    def _checkpoint(self, job: Job, checkpoint: Checkpoint) -> bool:
        """Make progress durable; False when the job was cancelled or its lease went to another worker."""
        lease_until = self._clock() + timedelta(seconds=self._config.lease_seconds)
        if self._jobs.save_checkpoint(job.id, self._worker_id, checkpoint, lease_until):
            return True
        log.info("job %s: lease lost or job no longer processing; stopping", job.id)
        return False

    def _fail(self, job: Job, message: str) -> bool:
        """Mark the whole job failed with `message`; always False."""
        changes = {"error": message, "completed_at": self._clock(), "lease_owner": None, "lease_expires_at": None}
        try:
            self._jobs.transition(job.id, JobStatus.PROCESSING, JobStatus.FAILED, changes, lease_owner=self._worker_id)
        except ConflictError:
            log.info("job %s left processing before it could fail", job.id)
        return False


@dataclass(frozen=True)
class PlannedBatch:
    """A micro-batch and, on a retry, its earlier output: then only its timed-out and crashed lines run again."""

    batch: list[RawLine]
    earlier: list[EarlierRow] | None

    def to_search(self) -> list[RawLine]:
        """The lines to search now."""
        if self.earlier is None:
            return self.batch
        return [line for line, (status, _, _) in zip(self.batch, self.earlier, strict=True)
                if status in RETRYABLE_STATUSES]

    def rows(self, searched: list[OutputLine]) -> list[tuple[bytes, str]]:
        """The output line and status of every line: searched now, or kept from the earlier output."""
        if self.earlier is None:
            return [(line.data, line.status) for line in searched]
        fresh = iter(searched)
        rows = []
        for status, attempts, data in self.earlier:
            if status in RETRYABLE_STATUSES:
                line = next(fresh).with_attempts(attempts + 1)
                rows.append((line.data, line.status))
            else:
                rows.append((data, status))
        return rows


def _no_lines() -> Generator[RawLine, None, None]:
    """An empty line stream (no earlier output)."""
    yield from ()


def _earlier_line(line: RawLine, earlier: RawLine | None) -> EarlierRow:
    """Status, attempts and bytes of the earlier output line of `line` (InternalError if misaligned)."""
    row: Json = json.loads(earlier.data) if earlier is not None else None
    if earlier is None or not isinstance(row, dict) or row.get("line_number") != line.number:
        raise InternalError(f"Earlier output does not match input line {line.number}")
    attempts = row.get("attempts", 1)
    return str(row.get("status")), attempts if isinstance(attempts, int) else 1, earlier.data + b"\n"
