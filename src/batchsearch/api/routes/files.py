"""Signed GET/PUT of objects in the local object store (the presigned URLs of Batch Search); no API key."""

from __future__ import annotations

import time
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from batchsearch.api.bodies import OCTET_STREAM_BODY, STREAMED_BODY, stream_to
from batchsearch.api.upload_gates import upload_gates
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


@router.put("/files/{key:path}", summary="Upload to a signed URL", status_code=200, openapi_extra=OCTET_STREAM_BODY,
            max_body_size=STREAMED_BODY)
async def put_file(request: Request, key: Annotated[str, _verified("PUT")]) -> Response:
    """Stream the body into the object store; a batch input upload queues its job.

    The body is read on the event loop and spooled (bodies.py), checked as it arrives (size, lines, UTF-8), so
    a slow client holds no worker thread; uploads count against the job owner's and the URL's upload limits.
    """
    service: BatchService = request.app.state.batches
    job = await anyio.to_thread.run_sync(service.fetch_upload_job, key)  # 404 or 409 before reading the body
    inspector = service.limits.inspector()
    async with upload_gates(request).hold(job.owner, f"files/{key}"):
        await stream_to(request, lambda chunks, size: service.receive_upload(key, chunks, size),
                        limit=service.limits.max_bytes, what="File", directory=service.settings.data_dir,
                        check=inspector.feed)
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
