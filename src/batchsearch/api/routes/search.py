"""`POST /v1/search`: one synchronous search (fast, auto-enriched, or smart: planned into sub-queries)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request

from batchsearch.api.deps import CurrentPrincipal
from batchsearch.errors import BatchSearchError
from batchsearch.models.search import SearchRequest, check_search_mode
from batchsearch.kg import KnowledgeGraph
from batchsearch.search.engine import SearchEngine
from batchsearch.search.planner import Answer, plan_search, run_plans
from batchsearch.usage import UsageStore, returned_chunks

router = APIRouter(tags=["Search"])


@router.post("/v1/search", summary="Search documents")
async def search(body: SearchRequest, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Hybrid search with every fast-mode filter, entities detected in `text` added to the entity filter
    (auto_enrich_filters), or smart mode; returns documents with their matching chunks."""
    check_search_mode(body)
    run = partial(_run, request.app.state.engine, request.app.state.kg, body, principal.owner, request.state.request_id)
    answer = await anyio.to_thread.run_sync(run, limiter=request.app.state.search_limiter)
    if isinstance(answer, BatchSearchError):
        raise answer
    usage = UsageStore(request.app.state.db)
    await anyio.to_thread.run_sync(partial(usage.record, principal.owner, chunks=returned_chunks(answer)))
    return dict(answer)


def _run(engine: SearchEngine, kg: KnowledgeGraph, body: SearchRequest, owner: str | None, request_id: str) -> Answer:
    """Plan the query (the detector is built on first use, off the event loop) and run its queries together."""
    plan = plan_search(body.query, kg.detector(), datetime.now(UTC))
    search_many = partial(engine.search_many, owner=owner, request_ids=[request_id] * len(plan.queries))
    [answer] = run_plans([plan], search_many)
    return answer
