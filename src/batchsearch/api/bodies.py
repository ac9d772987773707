"""Raw request bodies, read on the event loop as they arrive: every byte limit is enforced while the body
streams (whether or not Content-Length was sent), and a large body is never held in memory.

A body that goes to storage or to validation is spooled: kept in memory up to SPOOL_MEMORY_BYTES, then
written to an anonymous temporary file a batch of chunks at a time, each batch in a short worker-thread call.
A slow client therefore never holds a thread while it sends; the thread that stores or validates the body
runs only once the whole body is there, at disk speed.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, TypeVar

import anyio.to_thread
from fastapi import Request
from starlette.requests import ClientDisconnect

from batchsearch.errors import BatchSearchError, PayloadTooLargeError, ValidationError

SPOOL_MEMORY_BYTES = 1024 * 1024  # bodies up to this size never touch the disk
SPOOL_BATCH_BYTES = 1024 * 1024  # bytes gathered before one write to the spool file
READ_CHUNK_BYTES = 1024 * 1024
# every body the framework reads whole (JSON: search, knowledge graph, contents) stops at this (413 as the bytes
# arrive); a search request at every list cap fits well under it. Routes that stream their body under a limit
# of their own set STREAMED_BODY instead.
JSON_BODY_LIMIT = 4 * 1024 * 1024
STREAMED_BODY = 2**62
T = TypeVar("T")

OCTET_STREAM_BODY: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class ClientGoneError(ValidationError):
    """The client closed the connection before its body ended (400 that nobody reads; nothing is logged)."""


def too_large(what: str, limit: int) -> PayloadTooLargeError:
    """The 413 of a body over `limit` bytes."""
    return PayloadTooLargeError(f"{what} is larger than the limit of {limit} bytes")


def declared_length(request: Request) -> int | None:
    """The Content-Length the client declared, or None (chunked, or not a number)."""
    value = request.headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


async def limited_chunks(request: Request, limit: int, what: str) -> AsyncIterator[bytes]:
    """The body's non-empty chunks; 413 at once when the declared length is over `limit`, and as soon as the
    bytes received pass it."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise too_large(what, limit)
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(what, limit)
            if chunk:
                yield chunk
    except ClientDisconnect as exc:
        raise ClientGoneError(f"The connection closed after {size} bytes, before the body ended") from exc


async def read_limited(request: Request, limit: int, what: str) -> bytes:
    """A small body, whole (413 past `limit`; use a spool for anything that may be large)."""
    return b"".join([chunk async for chunk in limited_chunks(request, limit, what)])


class SpooledBody:
    """A request body as received: in memory while small, then in an anonymous temporary file."""

    def __init__(self, directory: Path | None) -> None:
        self.size = 0
        self._directory = directory
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._file: IO[bytes] | None = None

    async def fill(self, chunks: AsyncIterator[bytes], check: Callable[[bytes], None] | None = None) -> None:
        """Take every chunk of a body; `check` sees each one first and may raise to refuse the body."""
        async for chunk in chunks:
            if check is not None:
                check(chunk)
            await self.add(chunk)
        await self.finish()

    async def add(self, chunk: bytes) -> None:
        """Take the next chunk; past the memory budget, write the gathered batch in a worker thread."""
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        self.size += len(chunk)
        if self.size > SPOOL_MEMORY_BYTES and self._pending_bytes >= SPOOL_BATCH_BYTES:
            await self._flush()

    async def finish(self) -> None:
        """Write what is still pending once the body spilled to disk."""
        if self.size > SPOOL_MEMORY_BYTES and self._pending:
            await self._flush()

    def in_memory(self) -> bytes | None:
        """The whole body when it never left memory, else None."""
        return b"".join(self._pending) if self._file is None else None

    def chunks(self) -> Iterator[bytes]:
        """The body from its first byte, in chunks (blocking reads: call from a worker thread)."""
        if self._file is None:
            yield from self._pending
            return
        self._file.seek(0)
        while chunk := self._file.read(READ_CHUNK_BYTES):
            yield chunk

    def close(self) -> None:
        """Drop the temporary file (it has no name, so nothing is left behind even after a crash)."""
        if self._file is not None:
            self._file.close()

    async def _flush(self) -> None:
        batch, self._pending, self._pending_bytes = b"".join(self._pending), [], 0
        await anyio.to_thread.run_sync(self._write, batch)

    def _write(self, batch: bytes) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(dir=self._directory)
        self._file.write(batch)


@asynccontextmanager
async def spooled_body(request: Request, limit: int, what: str, *,
                       directory: Path | None = None) -> AsyncIterator[SpooledBody]:
    """The whole body, spooled as it arrives (413 past `limit`); the spool is removed when the block ends."""
    body = SpooledBody(directory)
    try:
        await body.fill(limited_chunks(request, limit, what))
        yield body
    finally:
        body.close()


def _refusing(error: BatchSearchError) -> Iterator[bytes]:
    """Chunks that raise `error` at once: how a receiver learns that the body was refused while it arrived."""
    raise error
    yield b""  # pragma: no cover - makes this a generator


async def stream_to(request: Request, receive: Callable[[Iterable[bytes], int], T], *, limit: int, what: str,
                    directory: Path | None = None, check: Callable[[bytes], None] | None = None) -> T:
    """Spool the body (413 past `limit`; `check` sees every chunk as it arrives and may raise to refuse the
    body at once), then run `receive(chunks, size)` in a worker thread.

    A body refused while it arrived is still handed to `receive`, as chunks that raise the refusal, so the
    receiver fails the upload the same way as when its own store refuses it.
    """
    body = SpooledBody(directory)
    try:
        try:
            await body.fill(limited_chunks(request, limit, what), check)
        except ClientGoneError:  # an upload cut short is no reason to fail it: the client may send it again
            raise
        except BatchSearchError as refusal:
            await anyio.to_thread.run_sync(receive, _refusing(refusal), 0)
            raise
        return await anyio.to_thread.run_sync(receive, body.chunks(), body.size)
    finally:
        body.close()
