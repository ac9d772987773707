"""Content records (the caller's uploaded files), their tags, and the status transition table (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from batchsearch.errors import ConflictError


class ContentStatus(str, Enum):
    """Where an uploaded file is: waiting for its bytes, being indexed, searchable, or failed."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


# pending -> failed: the upload itself was refused (too large); processing -> failed: unreadable file
TRANSITIONS: dict[ContentStatus, frozenset[ContentStatus]] = {
    ContentStatus.PENDING: frozenset({ContentStatus.PROCESSING, ContentStatus.FAILED}),
    ContentStatus.PROCESSING: frozenset({ContentStatus.COMPLETED, ContentStatus.FAILED}),
    ContentStatus.COMPLETED: frozenset(),
    ContentStatus.FAILED: frozenset(),
}


def check_transition(old: ContentStatus, new: ContentStatus) -> None:
    """Raise ConflictError unless the table allows `old` -> `new`."""
    if new not in TRANSITIONS[old]:
        raise ConflictError(f"A document cannot go from {old.value} to {new.value}")


@dataclass(frozen=True)
class Tag:
    """A tag of one owner: a UUID and the name used in the search `tag` filter."""

    id: str
    name: str


@dataclass(frozen=True)
class ContentRecord:
    """One uploaded file of one owner and what became of it."""

    id: str
    owner: str
    file_name: str
    status: ContentStatus
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None  # published_ts from the request, else the upload time
    raw_size: int = 0
    content_type: str | None = None
    share_with_org: bool = False
    object_key: str | None = None
    error_code: str | None = None
    error: str | None = None
    tags: tuple[Tag, ...] = field(default_factory=tuple)

    @property
    def is_indexed(self) -> bool:
        """True when the document is, or may be about to be, in the search index."""
        return self.status in (ContentStatus.PROCESSING, ContentStatus.COMPLETED)
