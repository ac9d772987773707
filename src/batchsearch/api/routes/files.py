"""Signed GET/PUT of objects in the local object store (the presigned URLs of Batch Search); no API key."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from batchsearch.jobs.service import BatchService
from batchsearch.storage.local import LocalObjectStore
from batchsearch.storage.ranges import UnsatisfiableRangeError, parse_range, take

router = APIRouter(tags=["Files"])

Expires = Annotated[str | None, Query(description="Unix time the URL expires at.")]
Signature = Annotated[str | None, Query(description="HMAC-SHA256 of method, key and expiry.")]


def _verified(method: str) -> object:
    """A dependency that checks the signed URL for `method` (403 when tampered or expired)."""

    def check(key: str, request: Request, expires: Expires = None, signature: Signature = None) -> str:
        store: LocalObjectStore = request.app.state.object_store
        store.verify(method, key, expires, signature, time.time())
        return key

    return Depends(check)


def _blocking_chunks(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The request body as a blocking iterator, for code running in a worker thread."""

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


@router.put("/files/{key:path}", summary="Upload to a signed URL", status_code=200)
async def put_file(request: Request, key: Annotated[str, _verified("PUT")]) -> Response:
    """Stream the body into the object store; a batch input upload queues its job."""
    service: BatchService = request.app.state.batches
    length = request.headers.get("content-length")
    declared = int(length) if length and length.isdigit() else None
    chunks = _blocking_chunks(request.stream().__aiter__())
    await anyio.to_thread.run_sync(service.receive_upload, key, chunks, declared)
    return Response(status_code=200)


@router.get("/files/{key:path}", summary="Download from a signed URL")
def get_file(request: Request, key: Annotated[str, _verified("GET")]) -> Response:
    """Stream the object (404 when it is gone); a `Range: bytes=...` header gets 206 with just those bytes."""
    store: LocalObjectStore = request.app.state.object_store
    headers = {"Content-Disposition": f'attachment; filename="{key.rsplit("/", 1)[-1]}"', "Accept-Ranges": "bytes"}
    size = store.size(key)
    try:
        byte_range = parse_range(request.headers.get("range"), size) if size is not None else None
    except UnsatisfiableRangeError:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    if byte_range is not None:
        chunks = take(store.iter_bytes(key, start=byte_range.first), byte_range.length)
        headers |= {"Content-Length": str(byte_range.length), "Content-Range": byte_range.content_range()}
        return StreamingResponse(chunks, status_code=206, media_type="application/jsonl", headers=headers)
    chunks = store.iter_bytes(key)
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(chunks, media_type="application/jsonl", headers=headers)
