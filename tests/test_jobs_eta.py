"""Completion estimates, against hand-computed values."""

from __future__ import annotations

import pytest

from batchsearch.jobs.eta import Lane, moving_average, queued_seconds, running_seconds


def test_moving_average_starts_at_first_sample_and_moves_toward_new_ones() -> None:
    assert moving_average(None, 10.0) == 10.0
    assert moving_average(10.0, 20.0) == pytest.approx(13.0)


def test_running_job_uses_its_rate_or_the_default() -> None:
    assert running_seconds(100, 20.0, 5.0) == 5.0
    assert running_seconds(100, None, 5.0) == 20.0
    assert running_seconds(-3, 20.0, 5.0) == 0.0


def test_queued_job_waits_for_the_first_free_worker_after_the_jobs_ahead() -> None:
    lanes = [Lane(10.0, 10.0), Lane(2.0, 20.0)]
    # job ahead (40 lines) goes to lane 2 at t=2, done at t=4; our 100 lines go to lane 2 at t=4 -> 9
    assert queued_seconds(lanes, [40], 100, 1.0) == pytest.approx(9.0)
    # two jobs ahead: lane2 takes 40 (free at 4), then 200 (free at 14); lane1 free at 10 -> ours 10 + 100/10
    assert queued_seconds(lanes, [40, 200], 100, 1.0) == pytest.approx(20.0)


def test_no_live_worker_assumes_one_at_the_default_rate() -> None:
    assert queued_seconds([], [50], 50, 10.0) == pytest.approx(10.0)
