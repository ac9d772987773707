"""Batch job states and the one table of allowed transitions (pure, no IO)."""

from __future__ import annotations

from enum import Enum

from batchsearch.errors import ConflictError


class JobStatus(str, Enum):
    """Where a batch job is; QUEUED is internal (input uploaded, waiting for a worker) and shows as pending."""

    PENDING = "pending"
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.QUEUED: frozenset({JobStatus.PROCESSING, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.PROCESSING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.COMPLETED: frozenset({JobStatus.QUEUED}),  # only by an explicit retry of its failed lines
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


def is_allowed(current: JobStatus, new: JobStatus) -> bool:
    """Whether the table allows moving from `current` to `new`."""
    return new in TRANSITIONS[current]


def check_transition(current: JobStatus, new: JobStatus) -> None:
    """Raise ConflictError unless the table allows moving from `current` to `new`."""
    if not is_allowed(current, new):
        raise ConflictError(f"Batch job cannot go from {wire_status(current)} to {wire_status(new)}")


def is_terminal(status: JobStatus) -> bool:
    """Whether the job finished (nothing runs; only a retry re-queues a completed job)."""
    return status in TERMINAL


def wire_status(status: JobStatus) -> str:
    """The status as the API shows it: pending, processing, completed, failed or cancelled."""
    return JobStatus.PENDING.value if status is JobStatus.QUEUED else status.value
