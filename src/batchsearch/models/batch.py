"""Wire models of Batch Search beyond the Bigdata format: the optional create options."""

from __future__ import annotations

import json
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from batchsearch.errors import ValidationError
from batchsearch.models.search import format_validation_error

MAX_URL_LENGTH = 2048


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
