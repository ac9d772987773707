"""How many uploads each API key and each signed URL may stream at once (429 and 409 beyond).

The counts live in one API process (each process of a deployment counts its own uploads), on its event loop:
a check and its increment run with no await between them, so no lock is needed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request

from batchsearch.errors import ConflictError, RateLimitError

RETRY_AFTER_SECONDS = 5  # what a 429 for too many uploads at once asks the client to wait


class UploadGates:
    """Counts the uploads in progress per owner (API key) and per signed URL."""

    def __init__(self, per_key: int, per_url: int) -> None:
        self.per_key = per_key
        self.per_url = per_url
        self._owners: Counter[str] = Counter()
        self._urls: Counter[str] = Counter()

    @asynccontextmanager
    async def hold(self, owner: str, url: str | None = None) -> AsyncIterator[None]:
        """A place for one upload of `owner` (to `url`, for a signed URL) while the block runs: 409 when that URL
        already takes its limit of uploads, 429 with Retry-After when the owner streams its limit already."""
        if url is not None and self._urls[url] >= self.per_url:
            raise ConflictError("An upload to this URL is already in progress; wait for it to finish")
        if self._owners[owner] >= self.per_key:
            raise RateLimitError(f"Too many uploads at once for this API key (limit {self.per_key}); retry later",
                                 retry_after=RETRY_AFTER_SECONDS)
        self._owners[owner] += 1
        if url is not None:
            self._urls[url] += 1
        try:
            yield
        finally:
            _release(self._owners, owner)
            if url is not None:
                _release(self._urls, url)


def _release(counts: Counter[str], name: str) -> None:
    """One place fewer for `name`, forgetting names with none left."""
    counts[name] -= 1
    if counts[name] <= 0:
        del counts[name]


def upload_gates(request: Request) -> UploadGates:
    """The app's upload gates, made from its settings on first use (on the event loop, so made once)."""
    gates: UploadGates | None = getattr(request.app.state, "upload_gates", None)
    if gates is None:
        settings = request.app.state.settings
        gates = UploadGates(settings.upload_max_concurrent_per_key, settings.upload_max_concurrent_per_url)
        request.app.state.upload_gates = gates
    return gates
