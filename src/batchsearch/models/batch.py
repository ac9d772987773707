"""Wire models of Batch Search beyond the Bigdata format: the optional create options."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from batchsearch.errors import ValidationError
from batchsearch.models.search import format_validation_error

MAX_URL_LENGTH = 2048
MAX_IDEMPOTENCY_KEY = 255
IDEMPOTENCY_HEADER = "Idempotency-Key"


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
    def _http_only(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("webhook_url must be an http:// or https:// URL")
        return value


def parse_create_options(body: bytes) -> BatchCreateOptions:
    """The options of a create body; an empty or non-object body means none (it used to be ignored)."""
    try:
        payload: Any = json.loads(body) if body.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    try:
        return BatchCreateOptions.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise ValidationError(format_validation_error(exc, "BatchCreateRequest")) from exc


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
        raise ValidationError(f"1 validation error for BatchCreateRequest\n{IDEMPOTENCY_HEADER}\n"
                              f"  Header should be 1-{MAX_IDEMPOTENCY_KEY} printable characters")
    return str(value)
