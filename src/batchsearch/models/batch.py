"""Wire models of Batch Search: create options and answer, job status, list page, validation report."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from batchsearch import safejson
from batchsearch.errors import ValidationError
from batchsearch.jobs.webhook_targets import InvalidTargetError, parse_target
from batchsearch.models.search import pydantic_problems

MAX_URL_LENGTH = 2048
MAX_IDEMPOTENCY_KEY = 255
IDEMPOTENCY_HEADER = "Idempotency-Key"
CREATE_TITLE = "BatchCreateRequest"


class BatchCreateOptions(BaseModel):
    """Optional body of `POST /v1/search/batches`; unknown keys are ignored (Bigdata clients send their own)."""

    model_config = ConfigDict(extra="ignore")

    validate_first: StrictBool = Field(False, description="Run the job only if the whole file validates.")
    priority: StrictInt = Field(0, ge=-1000, le=1000, description="Higher runs first; FIFO within a priority.")
    webhook_url: str | None = Field(
        None, max_length=MAX_URL_LENGTH, description="http(s) URL that gets the signed status on every terminal state."
    )

    @field_validator("webhook_url")
    @classmethod
    def _valid_target(cls, value: str | None) -> str | None:
        """A plain http(s) URL with a host (its address is checked at every delivery)."""
        if value is not None:
            try:
                parse_target(value)
            except InvalidTargetError as exc:
                raise ValueError(f"webhook_url {exc}") from exc
        return value


def parse_create_options(body: bytes) -> BatchCreateOptions:
    """The options of a create body; an empty or non-object body means none (it used to be ignored), but JSON
    nested too deep or holding a huge integer, NaN or Infinity is refused (400 naming the field)."""
    try:
        payload: Any = safejson.loads(body) if body.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = {}
    except safejson.JsonInputError as exc:
        raise ValidationError.of(CREATE_TITLE, exc.field, exc.message) from exc
    if not isinstance(payload, dict):
        payload = {}
    try:
        return BatchCreateOptions.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise ValidationError(problems=pydantic_problems(exc), title=CREATE_TITLE) from exc


def options_hash(options: BatchCreateOptions) -> str:
    """A digest of the create options, to tell a retried create from a different one under the same key."""
    canonical = json.dumps(options.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key(request: Any) -> str | None:
    """The Idempotency-Key header of a create request (1-255 printable characters), or None."""
    value = request.headers.get(IDEMPOTENCY_HEADER)
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY or not value.isprintable():
        raise ValidationError.of(CREATE_TITLE, IDEMPOTENCY_HEADER,
                                 f"Header should be 1-{MAX_IDEMPOTENCY_KEY} printable characters")
    return str(value)


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
        None, description="awaiting_upload, queued, searching, finalizing (lines done or cancelled, output being "
        "written) or done."
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


class BatchList(BaseModel):
    """One page of the caller's batch jobs, newest first."""

    data: list[BatchStatus]
    has_more: bool
    next_after: str | None = Field(None, description="Pass as `after` for the next page (null on the last page).")


class BatchDeleted(BaseModel):
    """The answer to deleting a finished batch job."""

    batch_id: str
    deleted: bool


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
