"""`POST /v1/search/volume` and `POST /v1/search/co-mentions/{entities,topics}`: counts over the search's matches."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request

from batchsearch.annotate.topics import get_topic
from batchsearch.api.deps import CurrentPrincipal
from batchsearch.kg.store import KnowledgeGraph
from batchsearch.kg.wire import entity_to_wire
from batchsearch.models.analytics import (
    ENTITY_CATEGORIES,
    MAX_VOLUME_DAYS,
    AnalyticsQuery,
    CoMentionsRequest,
    EntityCoMentionsResponse,
    TopicCoMentionsResponse,
    VolumeRequest,
    VolumeResponse,
)
from batchsearch.search import analytics
from batchsearch.search.engine import SearchEngine

router = APIRouter(tags=["Search"])


def _parts(request: Request, query: AnalyticsQuery, owner: str | None) -> tuple[list[analytics.Part], str]:
    """The matching chunks of the newest snapshot, and the snapshot id shown."""
    engine: SearchEngine = request.app.state.engine
    snap = engine.snapshot()
    return analytics.matching_parts(engine, snap, query, owner), engine.shown_snapshot_id(snap)


def _envelope(request: Request, results: dict[str, Any], snapshot_id: str) -> dict[str, Any]:
    metadata = {"request_id": request.state.request_id, "timestamp": datetime.now(UTC).isoformat(),
                "snapshot_id": snapshot_id}
    return {"results": results, "metadata": metadata, "usage": {"api_query_units": 0.0}}


async def _in_thread(request: Request, run: partial[dict[str, Any]]) -> dict[str, Any]:
    """Count on a search thread (the same pool and bound as `POST /v1/search`)."""
    return await anyio.to_thread.run_sync(run, limiter=request.app.state.search_limiter)


def _volume(request: Request, body: VolumeRequest, owner: str | None) -> dict[str, Any]:
    parts, snapshot_id = _parts(request, body.query, owner)
    found = analytics.volume(parts, MAX_VOLUME_DAYS)
    series = [{"date": d.date.isoformat(), "documents": d.documents, "chunks": d.chunks,
               "sentiment": round(d.sentiment, 4)} for d in found.days]
    total = {"documents": found.documents, "chunks": found.chunks, "sentiment": round(found.sentiment, 4)}
    return _envelope(request, {"volume": series, "total": total}, snapshot_id)


def _entities(request: Request, body: CoMentionsRequest, owner: str | None) -> dict[str, Any]:
    parts, snapshot_id = _parts(request, body.query, owner)
    graph: KnowledgeGraph = request.app.state.kg
    wanted = set(body.query.entity_categories or ENTITY_CATEGORIES)
    limit = body.effective_limit()
    results: dict[str, list[dict[str, Any]]] = {category: [] for category in ENTITY_CATEGORIES}
    for entity_id, mentions in analytics.ranked(analytics.co_mentions(parts, "entity")):
        entity = graph.get_entity(entity_id)
        if entity is None or entity.category.value not in wanted or len(results[entity.category.value]) >= limit:
            continue  # an id the graph does not know has no category to be listed under
        results[entity.category.value].append(entity_to_wire(entity) | {
            "total_chunks_count": mentions.chunks, "total_headlines_count": mentions.headlines})
    return _envelope(request, dict(results), snapshot_id)


def _topics(request: Request, body: CoMentionsRequest, owner: str | None) -> dict[str, Any]:
    parts, snapshot_id = _parts(request, body.query, owner)
    topics = []
    for topic_id, mentions in analytics.ranked(analytics.co_mentions(parts, "topic"))[: body.effective_limit()]:
        topic = get_topic(topic_id)
        topics.append({"id": topic_id, "name": topic.name if topic else topic_id,
                       "description": topic.description if topic else "",
                       "total_chunks_count": mentions.chunks, "total_headlines_count": mentions.headlines})
    return _envelope(request, {"topics": topics}, snapshot_id)


@router.post("/v1/search/volume", summary="Search volume", response_model=VolumeResponse)
async def volume(body: VolumeRequest, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Daily counts of the documents and chunks matching the query, with their mean chunk sentiment.

    One entry per UTC day from the first to the last day with a match (days without one count zero), the
    newest 1,000 days at most; `total` counts every match.
    """
    return await _in_thread(request, partial(_volume, request, body, principal.owner))


@router.post("/v1/search/co-mentions/entities", summary="Co-mentioned entities",
             response_model=EntityCoMentionsResponse)
async def co_mentioned_entities(body: CoMentionsRequest, request: Request,
                                principal: CurrentPrincipal) -> dict[str, Any]:
    """The entities mentioned in the matching chunks, by category, most chunks first (`limit` per category)."""
    return await _in_thread(request, partial(_entities, request, body, principal.owner))


@router.post("/v1/search/co-mentions/topics", summary="Co-mentioned topics", response_model=TopicCoMentionsResponse)
async def co_mentioned_topics(body: CoMentionsRequest, request: Request,
                              principal: CurrentPrincipal) -> dict[str, Any]:
    """The topics carried by the matching chunks, most chunks first (at most `limit`)."""
    return await _in_thread(request, partial(_topics, request, body, principal.owner))
