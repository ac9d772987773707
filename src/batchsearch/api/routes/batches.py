"""Batch Search: create a job, read its status (estimate, output URL), cancel it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from batchsearch.api.deps import CurrentPrincipal
from batchsearch.jobs.model import Job
from batchsearch.jobs.service import BatchService

router = APIRouter(prefix="/v1/search/batches", tags=["Batch Search"])


class BatchCreated(BaseModel):
    """The answer to creating a batch job."""

    batch_id: str = Field(description="The job's id, for polling.")
    presigned_url: str = Field(description="PUT the .jsonl input file here (no API key); valid for a limited time.")


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


def get_batch_service(request: Request) -> BatchService:
    """The app's batch service."""
    service: BatchService = request.app.state.batches
    return service


Batches = Annotated[BatchService, Depends(get_batch_service)]


def owned_job(batch_id: str, principal: CurrentPrincipal, service: Batches) -> Job:
    """The caller's job (404 when missing or another owner's): the one ownership check."""
    return service.fetch_owned(batch_id, principal.owner)


OwnedJob = Annotated[Job, Depends(owned_job)]


@router.post("", summary="Create a Batch Job", response_model=BatchCreated)
def create_batch(principal: CurrentPrincipal, service: Batches) -> dict[str, Any]:
    """Create a job and a presigned URL to PUT its input to; any request body is ignored."""
    created = service.create(principal.owner)
    return {"batch_id": created.job.id, "presigned_url": created.presigned_url}


@router.get("/{batch_id}", summary="Get Batch Job Info", response_model=BatchStatus)
def get_batch(job: OwnedJob, service: Batches) -> dict[str, Any]:
    """The job's status, with an estimate while it runs and a fresh output URL once there is output."""
    return service.status(job)


@router.post("/{batch_id}/cancel", summary="Cancel a Batch Job", response_model=BatchStatus)
def cancel_batch(job: OwnedJob, service: Batches) -> dict[str, Any]:
    """Stop the job at its next micro-batch; lines already finished stay downloadable."""
    return service.status(service.cancel(job))
