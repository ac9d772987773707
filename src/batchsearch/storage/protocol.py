"""The ObjectStore seam: what jobs need from a blob store (local files now, S3 later)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol


class ObjectStore(Protocol):
    """An S3-shaped blob store: streamed atomic puts, ranged streamed gets, listing, deletes, presigned URLs."""

    def put_stream(self, key: str, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> int:
        """Store the chunks under `key` atomically and durably; return the size (413 past max_bytes)."""
        ...

    def iter_bytes(self, key: str, *, start: int = 0) -> Iterator[bytes]:
        """The object's bytes from offset `start`, in chunks (NotFoundError when missing)."""
        ...

    def list_keys(self, prefix: str) -> list[str]:
        """Keys that start with `prefix`, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key` if present."""
        ...

    def presign(self, method: str, key: str, expires_at: int) -> str:
        """A URL that lets anyone run `method` (GET or PUT) on `key` until the unix time `expires_at`."""
        ...
