"""`POST /v1/search`: one synchronous search."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request

from batchsearch.api.deps import CurrentPrincipal
from batchsearch.models.search import SearchRequest
from batchsearch.search.engine import SearchEngine

router = APIRouter(tags=["Search"])


@router.post("/v1/search", summary="Search documents")
async def search(body: SearchRequest, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Hybrid search with every fast-mode filter; returns documents with their matching chunks."""
    engine: SearchEngine = request.app.state.engine
    run = partial(engine.search, body.query, owner=principal.owner, request_id=request.state.request_id,
                  audit=body.include_audit)
    return await anyio.to_thread.run_sync(run, limiter=request.app.state.search_limiter)
