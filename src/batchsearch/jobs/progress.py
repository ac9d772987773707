"""Where unfinished jobs stand, read from the job store with a few bounded queries (never by loading every job).

The estimate of a running job comes from its own measured rate; a waiting job's from the live workers
(each busy for the rest of the job it holds) and the waiting jobs ahead of it in claim order: the nearest
ones one by one, the rest as one sum, so the cost stays flat however long other tenants' queues are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from datetime import datetime, timedelta

from batchsearch.jobs import eta
from batchsearch.jobs.model import Job, JobQueue, WorkerInfo, WorkerRegistry
from batchsearch.jobs.states import JobStatus, is_terminal
from batchsearch.jobs.status import QueueView, is_waiting, remaining_lines, upload_expired

NEAREST_JOBS = 50


class QueueStore(JobQueue, WorkerRegistry, Protocol):
    """The store reads progress needs."""


@dataclass
class ProgressReader:
    """Queue views of jobs at one moment; worker and running-job reads are shared by every job of one request."""

    store: QueueStore
    now: datetime
    lease_seconds: float
    default_rate: float
    _lanes: tuple[list[eta.Lane], float] | None = field(default=None, init=False)

    def view(self, job: Job) -> QueueView:
        """The estimate (and queue position while waiting) of a job; empty once it finished."""
        if is_terminal(job.status) or (job.status is JobStatus.PENDING and upload_expired(job, self.now)):
            return QueueView()
        if job.status is JobStatus.PROCESSING and not is_waiting(job, self.now):
            seconds = eta.running_seconds(remaining_lines(job), job.lines_per_s, self.default_rate)
            return QueueView(self.now + timedelta(seconds=seconds))
        ahead = self.store.queue_ahead(job, self.now, NEAREST_JOBS)
        lanes, rate = self._live_lanes()
        rest = max(ahead.total_lines - sum(ahead.nearest_lines), 0)
        seconds = eta.queued_seconds(lanes, ahead.nearest_lines, remaining_lines(job), rate, rest)
        position = 1 + ahead.count if is_waiting(job, self.now) else None
        return QueueView(self.now + timedelta(seconds=seconds), position)

    def _live_lanes(self) -> tuple[list[eta.Lane], float]:
        """One lane per live worker, busy for the rest of the job it holds; and the rate to assume."""
        if self._lanes is None:
            live = self.store.live_workers(self.now - timedelta(seconds=self.lease_seconds))
            rates = [w.lines_per_s for w in live if w.lines_per_s]
            rate = sum(rates) / len(rates) if rates else self.default_rate
            self._lanes = (_lanes(live, self.store.running_jobs(self.now), rate), rate)
        return self._lanes


def _lanes(live: list[WorkerInfo], running: list[Job], default_rate: float) -> list[eta.Lane]:
    """One lane per live worker, busy for the rest of the job it holds."""
    held = {job.lease_owner: job for job in running}
    lanes = []
    for worker in live:
        job = held.get(worker.id)
        busy = eta.running_seconds(remaining_lines(job), job.lines_per_s, default_rate) if job else 0.0
        lanes.append(eta.Lane(busy, worker.lines_per_s))
    return lanes
