"""Batch Search: create a job, read its status (estimate, output URL), cancel it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import anyio.to_thread

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from batchsearch.api.deps import CurrentPrincipal
from batchsearch.errors import PayloadTooLargeError, ValidationError
from batchsearch.jobs.model import Job
from batchsearch.jobs.service import BatchService
from batchsearch.jobs.states import JobStatus, wire_status
from batchsearch.models.batch import idempotency_key, options_hash, parse_create_options

router = APIRouter(prefix="/v1/search/batches", tags=["Batch Search"])
MAX_CREATE_BODY = 64 * 1024


class BatchCreated(BaseModel):
    """The answer to creating a batch job."""

    batch_id: str = Field(description="The job's id, for polling.")
    presigned_url: str = Field(description="PUT the .jsonl input file here (no API key); valid for a limited time.")
    webhook_secret: str | None = Field(
        None, description="Only with webhook_url: the secret that signs this job's webhook deliveries (HMAC-SHA256)."
    )


class RequestCounts(BaseModel):
    """A job's lines by outcome, as of its last checkpoint."""

    total: int = Field(description="Lines in the input file (0 before upload).")
    succeeded: int = Field(description="Lines with status success.")
    errored: int = Field(description="Lines with status error (4xx: the line was invalid).")
    timed_out: int = Field(description="Lines with status timeout (504).")
    failed: int = Field(description="Lines with status exception (5xx).")
    pending: int = Field(description="Lines not finished yet (or never run, for a cancelled job).")


class BatchStatus(BaseModel):
    """A batch job's status; the first four fields are the Bigdata wire format, the rest are additive."""

    batch_id: str
    status: str = Field(description="pending, processing, completed, failed or cancelled.")
    estimated_completion_time: str | None = Field(None, description="ISO 8601 UTC estimate while not finished.")
    output_file_url: str | None = Field(None, description="Signed GET URL of the results .jsonl, once there are any.")
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    error: str | None = Field(None, description="Why the whole job failed (unusable input file).")
    lines_total: int | None = None
    lines_done: int = 0
    request_counts: RequestCounts | None = None
    phase: str | None = Field(
        None, description="awaiting_upload, queued, searching, finalizing (lines done, output being written) or done."
    )
    outcome: str | None = Field(
        None, description="For completed jobs: all_succeeded, partially_succeeded or none_succeeded."
    )
    lines_per_second: float | None = Field(None, description="Measured rate while running; the average once completed.")
    queue_position: int | None = Field(None, description="1-based place among waiting jobs; null unless waiting.")
    snapshot_id: str | None = Field(None, description="The index snapshot every line of the job searches.")
    priority: int = Field(0, description="Higher runs first; FIFO within a priority.")
    retries: int = Field(0, description="How many times the job's failed lines were retried (POST .../retry).")
    webhook: dict[str, Any] | None = Field(
        None, description="With webhook_url: {url, state (pending, delivered, failed), deliveries: [attempts]}."
    )
    files_expire_at: str | None = Field(None, description="When retention will delete the input and output files.")
    files_deleted_at: str | None = Field(None, description="When retention deleted the files (no output URL after).")


def get_batch_service(request: Request) -> BatchService:
    """The app's batch service."""
    service: BatchService = request.app.state.batches
    return service


Batches = Annotated[BatchService, Depends(get_batch_service)]


def owned_job(batch_id: str, principal: CurrentPrincipal, service: Batches) -> Job:
    """The caller's job (404 when missing or another owner's): the one ownership check."""
    return service.fetch_owned(batch_id, principal.owner)


OwnedJob = Annotated[Job, Depends(owned_job)]


@router.post("", summary="Create a Batch Job", response_model=BatchCreated, response_model_exclude_none=True)
async def create_batch(request: Request, principal: CurrentPrincipal, service: Batches) -> dict[str, Any]:
    """Create a job and a presigned URL to PUT its input to; an optional JSON body may set the extra options
    (validate_first, priority, webhook_url); other keys are ignored, as Bigdata ignores the body."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_CREATE_BODY:
        raise PayloadTooLargeError(f"Create body is larger than {MAX_CREATE_BODY} bytes")
    options = parse_create_options(await request.body())
    key = idempotency_key(request)
    created = await anyio.to_thread.run_sync(
        lambda: service.create(
            principal.owner,
            priority=options.priority,
            validate_first=options.validate_first,
            webhook_url=options.webhook_url,
            idempotency_key=key,
            request_hash=options_hash(options) if key else None,
        )
    )
    answer = {"batch_id": created.job.id, "presigned_url": created.presigned_url}
    if created.job.webhook_secret is not None:
        answer["webhook_secret"] = created.job.webhook_secret
    return answer


class ValidationProblem(BaseModel):
    """One problem of a batch file: the line (null: the whole file), the field and what is wrong."""

    line: int | None
    field: str
    message: str


class DuplicateCustomId(BaseModel):
    """A custom_id used on more than one line."""

    custom_id: str
    lines: list[int]


class ValidationResult(BaseModel):
    """What POST /v1/search/batches/validate found; nothing is queued."""

    valid: bool = Field(description="True when no line would become an error line and custom ids are unique.")
    lines_total: int
    lines_valid: int
    lines_invalid: int
    problems: list[ValidationProblem] = Field(description="Per-line problems (the first 1000).")
    problems_truncated: bool
    duplicate_custom_ids: list[DuplicateCustomId]
    max_query_units: float = Field(description="The most query units the file can cost: sum of max_chunks / 10.")


@router.post("/validate", summary="Validate a batch file", response_model=ValidationResult)
async def validate_batch(request: Request, principal: CurrentPrincipal, service: Batches) -> dict[str, Any]:
    """Check a .jsonl file sent as the body, or `{"batch_id": ...}` (an uploaded job's input), line by line."""
    length = request.headers.get("content-length")
    limit = service.settings.batch_max_bytes
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLargeError(f"File is larger than the limit of {limit} bytes")
    body = await request.body()
    batch_id = _batch_id_of(body)
    if batch_id is not None:
        job = service.fetch_owned(batch_id, principal.owner)
        report = await anyio.to_thread.run_sync(service.validate_job, job)
    else:
        report = await anyio.to_thread.run_sync(service.validate, [body])
    return report.to_wire()


def _batch_id_of(body: bytes) -> str | None:
    """The batch_id of a `{"batch_id": "..."}` body; None when the body is a batch file."""
    if len(body) > 1000 or b"batch_id" not in body:
        return None
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(payload, dict) and isinstance(payload.get("batch_id"), str) and "query" not in payload:
        return str(payload["batch_id"])
    return None


class BatchList(BaseModel):
    """One page of the caller's batch jobs, newest first."""

    data: list[BatchStatus]
    has_more: bool
    next_after: str | None = Field(None, description="Pass as `after` for the next page (null on the last page).")


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
) -> dict[str, Any]:
    """The caller's jobs, newest first, paged with `after`."""
    if status is not None and status not in WIRE_STATUSES:
        choices = ", ".join(WIRE_STATUSES)
        raise ValidationError(f"1 validation error for request\nstatus\n  Input should be one of {choices}")
    jobs, has_more = service.list_owned(principal.owner, WIRE_STATUSES[status] if status else None, limit, after)
    return {"data": [service.status(job) for job in jobs], "has_more": has_more,
            "next_after": jobs[-1].id if has_more and jobs else None}


@router.delete("/{batch_id}", summary="Delete a Batch Job")
def delete_batch(job: OwnedJob, service: Batches) -> dict[str, Any]:
    """Delete a finished job with its input and output files (409 while pending or processing)."""
    service.delete(job)
    return {"batch_id": job.id, "deleted": True}


@router.get("/{batch_id}", summary="Get Batch Job Info", response_model=BatchStatus)
def get_batch(job: OwnedJob, service: Batches) -> dict[str, Any]:
    """The job's status, with an estimate while it runs and a fresh output URL once there is output."""
    return service.status(job)


@router.post("/{batch_id}/cancel", summary="Cancel a Batch Job", response_model=BatchStatus)
def cancel_batch(job: OwnedJob, service: Batches) -> dict[str, Any]:
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
def retry_batch(job: OwnedJob, service: Batches) -> dict[str, Any]:
    """Re-run the lines whose status was timeout or exception; they replace their lines in the same output."""
    return service.status(service.retry(job))
