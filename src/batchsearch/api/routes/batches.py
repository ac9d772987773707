"""Batch Search routes: create, validate, list, status, cancel, results, retry, delete (thin: the service decides)."""

from __future__ import annotations

import json
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from batchsearch.api.bodies import STREAMED_BODY, SpooledBody, read_limited, spooled_body
from batchsearch.api.deps import CurrentPrincipal
from batchsearch.api.upload_gates import upload_gates
from batchsearch.errors import ValidationError
from batchsearch.jobs.lines import JsonObject
from batchsearch.jobs.model import Job
from batchsearch.jobs.service import BatchService
from batchsearch.jobs.states import JobStatus, wire_status
from batchsearch.models.batch import (
    BatchCreated,
    BatchCreateOptions,
    BatchDeleted,
    BatchList,
    BatchStatus,
    ValidationResult,
    idempotency_key,
    options_hash,
    parse_create_options,
)

router = APIRouter(prefix="/v1/search/batches", tags=["Batch Search"])
MAX_CREATE_BODY = 64 * 1024


def get_batch_service(request: Request) -> BatchService:
    """The app's batch service."""
    service: BatchService = request.app.state.batches
    return service


Batches = Annotated[BatchService, Depends(get_batch_service)]


def owned_job(batch_id: str, principal: CurrentPrincipal, service: Batches) -> Job:
    """The caller's job (404 when missing or another owner's): the one ownership check."""
    return service.fetch_owned(batch_id, principal.owner)


OwnedJob = Annotated[Job, Depends(owned_job)]


CREATE_BODY: dict[str, object] = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": BatchCreateOptions.model_json_schema()}},
    }
}
VALIDATE_BODY: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {
                "type": "object", "properties": {"batch_id": {"type": "string"}}, "required": ["batch_id"],
            }},
        },
    }
}


@router.post("", summary="Create a Batch Job", response_model=BatchCreated, response_model_exclude_none=True,
             openapi_extra=CREATE_BODY)
async def create_batch(request: Request, principal: CurrentPrincipal, service: Batches) -> JsonObject:
    """Create a job and a presigned URL to PUT its input to; an optional JSON body may set the extra options
    (validate_first, priority, webhook_url); other keys are ignored, as Bigdata ignores the body."""
    options = parse_create_options(await read_limited(request, MAX_CREATE_BODY, "Create body"))
    key = idempotency_key(request)
    created = await anyio.to_thread.run_sync(
        lambda: service.create(
            principal.owner,
            priority=options.priority,
            validate_first=options.validate_first,
            webhook_url=options.webhook_url,
            idempotency_key=key,
            request_hash=options_hash(options) if key else None,
            key_id=principal.key_id,
        )
    )
    answer: JsonObject = {"batch_id": created.job.id, "presigned_url": created.presigned_url}
    if created.job.webhook_secret is not None:
        answer["webhook_secret"] = created.job.webhook_secret
    return answer


@router.post("/validate", summary="Validate a batch file", response_model=ValidationResult, max_body_size=STREAMED_BODY,
             openapi_extra=VALIDATE_BODY)
async def validate_batch(request: Request, principal: CurrentPrincipal, service: Batches) -> JsonObject:
    """Check a .jsonl file sent as the body, or `{"batch_id": ...}` (an uploaded job's input), line by line.

    The body is spooled as it arrives (413 past batch_max_bytes, never held whole in memory) and counts as one
    of the caller's uploads in progress; the lines are then validated from the spool in a worker thread.
    """
    limit = service.settings.batch_max_bytes
    async with upload_gates(request).hold(principal.owner), \
            spooled_body(request, limit, "File", directory=service.settings.data_dir) as body:
        batch_id = _batch_id_of(body)
        if batch_id is not None:
            owner = principal.owner
            report = await anyio.to_thread.run_sync(lambda: service.validate_job(service.fetch_owned(batch_id, owner)))
        else:
            report = await anyio.to_thread.run_sync(service.validate, body.chunks())
    return report.to_wire()


def _batch_id_of(body: SpooledBody) -> str | None:
    """The batch_id of a `{"batch_id": "..."}` body; None when the body is a batch file."""
    data = body.in_memory() if body.size <= 1000 else None
    if data is None or b"batch_id" not in data:
        return None
    try:
        payload = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(payload, dict) and isinstance(payload.get("batch_id"), str) and "query" not in payload:
        return str(payload["batch_id"])
    return None


WIRE_STATUSES: dict[str, list[JobStatus]] = {
    "pending": [JobStatus.PENDING, JobStatus.QUEUED],
    **{s.value: [s] for s in (JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)},
}


@router.get("", summary="List Batch Jobs", response_model=BatchList)
def list_batches(
    principal: CurrentPrincipal,
    service: Batches,
    status: Annotated[str | None, Query(description="Only jobs in this status (pending, processing, ...).")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Jobs per page.")] = 20,
    after: Annotated[str | None, Query(description="The last batch_id of the previous page.")] = None,
) -> JsonObject:
    """The caller's jobs, newest first, paged with `after`."""
    if status is not None and status not in WIRE_STATUSES:
        choices = ", ".join(WIRE_STATUSES)
        raise ValidationError.of("request", "status", f"Input should be one of {choices}")
    jobs, has_more = service.list_owned(principal.owner, WIRE_STATUSES[status] if status else None, limit, after)
    return {"data": service.statuses(jobs), "has_more": has_more,
            "next_after": jobs[-1].id if has_more and jobs else None}


@router.delete("/{batch_id}", summary="Delete a Batch Job", response_model=BatchDeleted)
def delete_batch(job: OwnedJob, service: Batches) -> JsonObject:
    """Delete a finished job with its input and output files (409 while pending or processing)."""
    service.delete(job)
    return {"batch_id": job.id, "deleted": True}


@router.get("/{batch_id}", summary="Get Batch Job Info", response_model=BatchStatus)
def get_batch(job: OwnedJob, service: Batches) -> JsonObject:
    """The job's status, with an estimate while it runs and a fresh output URL once there is output."""
    return service.status(job)


@router.post("/{batch_id}/cancel", summary="Cancel a Batch Job", response_model=BatchStatus)
def cancel_batch(job: OwnedJob, service: Batches) -> JsonObject:
    """Stop the job at its next micro-batch; lines already finished stay downloadable."""
    return service.status(service.cancel(job))


@router.get("/{batch_id}/results", summary="Read finished results while the job runs", response_class=StreamingResponse)
def batch_results(
    job: OwnedJob,
    service: Batches,
    from_line: Annotated[int, Query(ge=1, description="First output line to return (1-based).")] = 1,
) -> StreamingResponse:
    """The finished, ordered prefix of the output from `from_line`; ask again from X-Batchsearch-Next-Line."""
    upto, chunks = service.results(job, from_line)
    headers = {
        "X-Batchsearch-Status": wire_status(job.status),
        "X-Batchsearch-Lines-Finished": str(upto),
        "X-Batchsearch-Next-Line": str(max(from_line, upto + 1)),
    }
    return StreamingResponse(chunks, media_type="application/jsonl", headers=headers)


@router.post("/{batch_id}/retry", summary="Retry the failed lines of a Batch Job", response_model=BatchStatus)
def retry_batch(job: OwnedJob, service: Batches) -> JsonObject:
    """Re-run the lines whose status was timeout or exception; they replace their lines in the same output."""
    return service.status(service.retry(job))
