"""Completion estimates from measured throughput and the queue ahead (pure)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

EMA_ALPHA = 0.3


def moving_average(previous: float | None, sample: float, *, alpha: float = EMA_ALPHA) -> float:
    """Exponential moving average of lines/s; the first sample stands alone."""
    return sample if previous is None or previous <= 0 else alpha * sample + (1 - alpha) * previous


@dataclass(frozen=True)
class Lane:
    """One live worker: seconds until it is free and its measured lines/s (None before any measurement)."""

    busy_seconds: float
    rate: float | None


def _rate(rate: float | None, default_rate: float) -> float:
    """A usable positive rate."""
    return rate if rate is not None and rate > 0 else default_rate


def running_seconds(remaining_lines: int, rate: float | None, default_rate: float) -> float:
    """Seconds left for a job a worker is running now."""
    return max(remaining_lines, 0) / _rate(rate, default_rate)


def queued_seconds(
    lanes: Sequence[Lane], ahead: Sequence[int], own_lines: int, default_rate: float, rest_lines: int = 0
) -> float:
    """Seconds until a waiting job is done: the jobs ahead (FIFO, `ahead` one by one, then `rest_lines` more
    spread over the workers) go to whichever worker frees up first."""
    heap = [(lane.busy_seconds, i, _rate(lane.rate, default_rate)) for i, lane in enumerate(lanes)]
    if not heap:
        heap = [(0.0, 0, default_rate)]
    heapq.heapify(heap)
    for lines in ahead:
        free_at, i, rate = heapq.heappop(heap)
        heapq.heappush(heap, (free_at + max(lines, 0) / rate, i, rate))
    if rest_lines > 0:
        heap = _spread(heap, rest_lines)
    free_at, _, rate = min(heap)
    return free_at + max(own_lines, 0) / rate


def _spread(lanes: list[tuple[float, int, float]], lines: int) -> list[tuple[float, int, float]]:
    """Lanes after `lines` more work is shared out so that they all finish it together (water filling): the
    many-jobs limit of giving each job to the first free worker."""
    ordered = sorted(lanes)
    capacity, weighted, level = 0.0, 0.0, 0.0
    for k, (free_at, _, rate) in enumerate(ordered):
        capacity += rate
        weighted += rate * free_at
        level = (lines + weighted) / capacity
        if k + 1 == len(ordered) or level <= ordered[k + 1][0]:
            break
    return [(max(free_at, level), i, rate) for free_at, i, rate in ordered]
