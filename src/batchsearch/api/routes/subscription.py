"""`GET /v1/subscription/quotas` (spec 4.7): the caller's tenant's spending this month and the limits it runs under.

Not billed, and not rate limited as a search. Query units come from batchsearch.usage (what searches and batch lines
returned), batch usage from the job store, limits from the settings (the same for every tenant).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from batchsearch import clock
from batchsearch.api.deps import CurrentPrincipal
from batchsearch.config import Settings
from batchsearch.usage import UsageStore, period_bounds, period_of

router = APIRouter(tags=["Subscription"])

PERIOD_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"  # 1900-01 .. 2099-12: both ends of the month exist


class Allowance(BaseModel):
    """What was used, and the limit (null: none)."""

    used: float
    limit: float | None


class Period(BaseModel):
    """The usage period: a calendar month in UTC, start inclusive, end exclusive."""

    id: str = Field(description='The month, "YYYY-MM".')
    start: str
    end: str


class RateLimit(BaseModel):
    """A per-key request rate (each API process): sustained per second, and burst."""

    per_second: float
    burst: int
    setting: str


class Quotas(BaseModel):
    """The tenant's usage and limits."""

    subscription_type: Literal["quota"] = Field(description="Always quota: limits, no prepaid credits.")
    period: Period
    api_query_units: Allowance = Field(description="Query units spent in the period (returned chunks / 10); no limit.")
    searches: Allowance = Field(description="Searches and successful batch lines in the period; no limit.")
    quota_active_jobs: Allowance = Field(description="Batch jobs pending, queued or processing now.")
    quota_queued_lines: Allowance = Field(description="Input lines waiting or running in batch jobs now.")
    rate_search: RateLimit
    rate_poll: RateLimit
    upload_max_concurrent_per_key: int


class QuotasMetadata(BaseModel):
    """Request id and time, as on search responses."""

    request_id: str
    timestamp: str


class QuotasResponse(BaseModel):
    """The quotas envelope: results, errors (null) and metadata."""

    results: Quotas
    errors: list[dict[str, str]] | None
    metadata: QuotasMetadata


Month = Annotated[str | None, Query(pattern=PERIOD_PATTERN, description='A past month, "YYYY-MM"; default: this one.')]


@router.get("/v1/subscription/quotas", summary="Get your quotas and usage", response_model=QuotasResponse)
async def get_quotas(request: Request, principal: CurrentPrincipal, period: Month = None) -> dict[str, Any]:
    """Query units and searches of the month, batch jobs and lines in flight, and the limits that apply."""
    settings: Settings = request.app.state.settings
    month = period or period_of(datetime.now(UTC))
    usage = await anyio.to_thread.run_sync(UsageStore(request.app.state.db).get_usage, principal.owner, month)
    jobs, lines = await anyio.to_thread.run_sync(request.app.state.batches.backend.active_usage, principal.owner)
    start, end = period_bounds(month)
    results = {
        "subscription_type": "quota",
        "period": {"id": month, "start": clock.iso(start, "seconds"), "end": clock.iso(end, "seconds")},
        "api_query_units": {"used": usage.query_units, "limit": None},
        "searches": {"used": usage.searches, "limit": None},
        "quota_active_jobs": {"used": jobs, "limit": settings.quota_active_jobs},
        "quota_queued_lines": {"used": lines, "limit": settings.quota_queued_lines},
        "rate_search": {"per_second": settings.rate_search_per_second, "burst": settings.rate_search_burst,
                        "setting": "rate_search_per_second"},
        "rate_poll": {"per_second": settings.rate_poll_per_second, "burst": settings.rate_poll_burst,
                      "setting": "rate_poll_per_second"},
        "upload_max_concurrent_per_key": settings.upload_max_concurrent_per_key,
    }
    metadata = {"request_id": request.state.request_id, "timestamp": datetime.now(UTC).isoformat()}
    return {"results": results, "errors": None, "metadata": metadata}
