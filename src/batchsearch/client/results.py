"""Reading a finished batch: its downloaded results file (one JSON object per input line) and its timing."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

from batchsearch.client._shared import parse_time
from batchsearch.errors import ValidationError


def iter_results(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Each output line as a dict: `line_number`, `status`, `code`, `query`, then `response` or `error`."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"{os.fspath(path)} line {number} is not JSON: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise ValidationError(f"{os.fspath(path)} line {number} is not a JSON object")
            yield row


def count_statuses(path: str | os.PathLike[str]) -> dict[str, int]:
    """How many lines of a results file have each status (success, error, timeout, exception)."""
    counts = Counter(str(row.get("status")) for row in iter_results(path))
    return dict(counts.most_common())


def processing_seconds(status: dict[str, Any]) -> float | None:
    """Seconds from a job's start to its end, from a status body (None while unknown)."""
    started, completed = parse_time(status.get("started_at")), parse_time(status.get("completed_at"))
    if started is None or completed is None:
        return None
    return max((completed - started).total_seconds(), 0.0)
