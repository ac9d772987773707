"""Time in one place: the Clock type collaborators take, the real clock, and UTC conversions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time in UTC (the default Clock)."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """An aware UTC datetime; databases such as SQLite hand back naive UTC values."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def iso(value: datetime | None, timespec: str = "milliseconds") -> str | None:
    """ISO 8601 in UTC with a Z, to the millisecond by default (None stays None)."""
    if value is None:
        return None
    aware = as_utc(value)
    assert aware is not None
    return aware.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
