"""Where the batch queue stands across every API and worker process: a few read-only aggregate queries on the
shared job tables (each returns at most one row per job status, however many jobs there are)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from batchsearch.jobs.states import JobStatus
from batchsearch.jobs.tables import batch_jobs, batch_workers

OUTCOMES = ("success", "error", "timeout", "exception")


@dataclass(frozen=True)
class QueueStats:
    """The batch queue at one moment."""

    jobs_by_status: dict[str, int]
    lines_by_outcome: dict[str, int]
    remaining_lines: int
    active_leases: int
    lines_per_second: float
    live_workers: int


def read_queue_stats(engine: Engine, now: datetime, lease_seconds: float) -> QueueStats:
    """Jobs by status (every status, 0 when none), lines by outcome over the jobs on record, the lines still to
    search, live leases with the summed measured rate of the jobs they hold, and the live workers."""
    c = batch_jobs.c
    by_status = select(
        c.status, func.count(), *(func.coalesce(func.sum(getattr(c, f"count_{o}")), 0) for o in OUTCOMES),
        func.coalesce(func.sum(c.lines_total - c.checkpoint_line), 0),
    ).group_by(c.status)
    live_lease = and_(c.lease_owner.is_not(None), c.lease_expires_at > now,
                      or_(c.status == JobStatus.PROCESSING.value, c.status == JobStatus.CANCELLED.value))
    leases = select(func.count(), func.coalesce(func.sum(c.lines_per_s), 0.0)).where(live_lease)
    workers = select(func.count()).select_from(batch_workers).where(
        batch_workers.c.heartbeat_at >= now - timedelta(seconds=lease_seconds))
    with engine.connect() as conn:
        rows: list[tuple[Any, ...]] = [tuple(row) for row in conn.execute(by_status)]
        lease_count, rate = tuple[Any, ...](conn.execute(leases).one())
        live_workers = conn.execute(workers).scalar_one()
    jobs = {status.value: 0 for status in JobStatus}
    lines = dict.fromkeys(OUTCOMES, 0)
    remaining = 0
    unfinished = {JobStatus.QUEUED.value, JobStatus.PROCESSING.value}
    for status, count, *sums in rows:
        jobs[status] = int(count)
        for outcome, total in zip(OUTCOMES, sums[:4], strict=True):
            lines[outcome] += int(total)
        if status in unfinished:
            remaining += max(int(sums[4]), 0)
    return QueueStats(jobs, lines, remaining, int(lease_count), float(rate), int(live_workers))
