"""The transition table of batch job states."""

from __future__ import annotations

import pytest

from batchsearch.errors import ConflictError
from batchsearch.jobs.states import TERMINAL, TRANSITIONS, JobStatus, check_transition, is_allowed, wire_status


def test_terminal_states_have_no_exit_but_a_retry_of_a_completed_job() -> None:
    assert TERMINAL == {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
    for status in TERMINAL:
        for new in JobStatus:
            assert is_allowed(status, new) == (status is JobStatus.COMPLETED and new is JobStatus.QUEUED)


def test_every_active_state_can_be_cancelled_and_happy_path_is_allowed() -> None:
    for status in (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.PROCESSING):
        assert is_allowed(status, JobStatus.CANCELLED)
    path = [JobStatus.PENDING, JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.COMPLETED]
    for current, new in zip(path, path[1:]):
        check_transition(current, new)


def test_disallowed_transition_raises_conflict() -> None:
    with pytest.raises(ConflictError, match="from pending to completed"):
        check_transition(JobStatus.PENDING, JobStatus.COMPLETED)
    with pytest.raises(ConflictError):
        check_transition(JobStatus.PROCESSING, JobStatus.QUEUED)


def test_wire_status_hides_internal_queued() -> None:
    assert wire_status(JobStatus.QUEUED) == "pending"
    assert {wire_status(s) for s in TRANSITIONS} == {"pending", "processing", "completed", "failed", "cancelled"}
