"""Auto-enrichment and smart search end to end: POST /v1/search through the real app (httpx.ASGITransport) and batch
lines through MicroBatchExecutor + PlanningSearcher, over a real index annotated by the real knowledge graph."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchsearch.api.app import create_app
from batchsearch.config import Settings
from batchsearch.index.records import ChunkRecord, DocumentRecord
from batchsearch.jobs.execute import MicroBatchExecutor, PlanningSearcher
from batchsearch.jobs.lines import RawLine
from batchsearch.jobs.worker import EngineLineSearcher
from batchsearch.kg import EntityDetector, KnowledgeGraph
from batchsearch.models.search import SMART_MODE_MESSAGE
from batchsearch.search.engine import SearchEngine
from search_fixtures import FakeEmbedder, build_store

DIM = 16
# (id, day, chunk text, reporting_entities, reporting_periods): mentions are found by the graph's detector
DOCS = [
    ("D1", "2025-11-10", "Microsoft cloud revenue rose strongly as demand grew.", (), ()),
    ("D2", "2025-11-12", "Apple cloud revenue rose strongly as demand grew.", (), ()),
    ("D3", "2025-11-15", "Cloud revenue rose strongly across the software industry as demand grew.", (), ()),
    ("D4", "2024-03-01", "Microsoft cloud revenue rose strongly in an older quarter.", (), ()),
    ("D5", "2026-01-29", "Results call: fourth quarter services revenue and margins.", ("apple",), ((2025, 4),)),
]


def _ids(detector: EntityDetector) -> dict[str, str]:
    found = {text[d.start:d.end].lower(): d.id for text in ("Microsoft and Apple",) for d in detector.detect(text)}
    assert set(found) == {"microsoft", "apple"}, found
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SearchEngine, dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("smart")
    detector = KnowledgeGraph.open_or_build(data_dir / "kg").detector()  # the graph create_app opens too
    ids = _ids(detector)
    embedder = FakeEmbedder(DIM)
    records = []
    for i, (doc_id, day, text, reporting, periods) in enumerate(DOCS):
        detections = detector.detect(text)
        chunk = ChunkRecord(cnum=1, text=text, vector=embedder.vector(text), detections=detections,
                            entities=sorted({d.id for d in detections}))
        stamp = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())
        records.append(DocumentRecord(
            id=f"{i:032X}", headline=f"{doc_id} headline", timestamp=stamp, url=f"https://example.com/{doc_id}",
            source_id="D4B903", source_name="Factset Transcripts", source_rank="RANK_1", doc_type="NEWS",
            doc_subtype=None, category="news", language="en", owner=None, tags=[], headline_entities=[],
            headline_topics=[], reporting_entities=[ids[r] for r in reporting], reporting_periods=list(periods),
            sentiment=None, chunks=[chunk]))
    engine = SearchEngine(build_store(data_dir / "index", [records], DIM), embedder)
    return data_dir, engine, ids


@pytest.fixture
async def client(world: tuple[Path, SearchEngine, dict[str, str]]) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    data_dir, engine, _ = world
    app = create_app(Settings(data_dir=data_dir), engine=engine)
    _, key = app.state.keys.create(f"k{uuid.uuid4().hex[:12]}")  # one data dir (and key table) for the module
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http, {"X-API-KEY": key}


def _docs(body: dict[str, Any]) -> list[str]:
    return [doc["headline"].split()[0] for doc in body["results"]]


async def _search(client: tuple[httpx.AsyncClient, dict[str, str]], body: dict[str, Any]) -> dict[str, Any]:
    http, key = client
    resp = await http.post("/v1/search", json=body, headers=key)
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


pytestmark = pytest.mark.anyio
RANKING = {"reranker": {"enabled": False}, "freshness_boost": 0, "source_boost": 0}


async def test_enrichment_is_on_by_default_and_keeps_to_the_named_company(
        client: tuple[httpx.AsyncClient, dict[str, str]], world: tuple[Path, SearchEngine, dict[str, str]]) -> None:
    query = {"text": "Microsoft cloud revenue", "ranking_params": RANKING}
    enriched = await _search(client, {"query": query, "include_audit": True})
    assert set(_docs(enriched)) == {"D1", "D4"}
    [audited] = enriched["metadata"]["audit"]["queries"]
    assert audited["filters"]["entity"]["any_of"] == [world[2]["microsoft"]] and audited["auto_enrich_filters"] is True
    plain = await _search(client, {"query": {**query, "auto_enrich_filters": False}, "include_audit": True})
    assert {"D2", "D3"} <= set(_docs(plain))
    assert "entity" not in plain["metadata"]["audit"]["queries"][0]["filters"]


async def test_a_request_that_filters_by_entity_is_not_enriched(
        client: tuple[httpx.AsyncClient, dict[str, str]], world: tuple[Path, SearchEngine, dict[str, str]]) -> None:
    apple = world[2]["apple"]
    body = await _search(client, {"query": {"text": "Microsoft cloud revenue", "ranking_params": RANKING,
                                            "filters": {"entity": {"any_of": [apple]}}}, "include_audit": True})
    assert _docs(body) == ["D2"]
    assert body["metadata"]["audit"]["queries"][0]["filters"]["entity"]["any_of"] == [apple]


async def test_smart_search_runs_a_sub_query_per_company_within_the_year_named(
        client: tuple[httpx.AsyncClient, dict[str, str]], world: tuple[Path, SearchEngine, dict[str, str]]) -> None:
    body = await _search(client, {"search_mode": "smart", "query": {"text": "Microsoft and Apple cloud revenue in 2025"}})
    assert set(_docs(body)) == {"D1", "D2"}  # D3 names neither, D4 is from 2024
    queries = body["metadata"]["audit"]["queries"]
    assert [q["filters"]["entity"]["any_of"] for q in queries] == [[world[2]["microsoft"]], [world[2]["apple"]]]
    assert all(q["text"] == "Microsoft and Apple cloud revenue" for q in queries)
    assert {q["filters"]["timestamp"]["start"][:10] for q in queries} == {"2025-01-01"}
    n_chunks = sum(len(doc["chunks"]) for doc in body["results"])
    assert body["usage"] == {"api_query_units": pytest.approx(n_chunks / 10)}


async def test_smart_search_finds_the_documents_reporting_on_a_period(
        client: tuple[httpx.AsyncClient, dict[str, str]], world: tuple[Path, SearchEngine, dict[str, str]]) -> None:
    body = await _search(client, {"search_mode": "smart", "query": {"text": "Apple revenue Q4 2025"}})
    assert "D5" in _docs(body)
    period = body["metadata"]["audit"]["queries"][1]["filters"]
    assert period["reporting_periods"] == [{"fiscal_year": 2025, "fiscal_quarter": 4}]
    assert period["reporting_entities"] == [world[2]["apple"]]


async def test_smart_search_refuses_other_filters_with_bigdatas_message(
        client: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    http, key = client
    resp = await http.post("/v1/search", headers=key, json={
        "search_mode": "smart", "query": {"text": "Apple", "filters": {"keyword": {"any_of": ["cloud"]}}}})
    assert resp.status_code == 400
    assert resp.json()["message"] == f"1 validation error for PublicSearchRequest\nquery.filters.keyword\n  {SMART_MODE_MESSAGE}"


def test_batch_lines_are_planned_too(world: tuple[Path, SearchEngine, dict[str, str]]) -> None:
    data_dir, engine, ids = world
    detector = KnowledgeGraph.open_or_build(data_dir / "kg").detector()
    searcher = PlanningSearcher(EngineLineSearcher(engine), detector, lambda: datetime(2026, 2, 1, tzinfo=UTC))
    executor = MicroBatchExecutor(searcher, timeout_seconds=60)
    query = {"text": "Microsoft and Apple cloud revenue last year"}
    lines = [
        {"search_mode": "smart", "query": query},
        {"query": {**query, "ranking_params": RANKING}, "include_audit": True},
        {"search_mode": "smart", "query": {**query, "filters": {"topic": {"any_of": ["x"]}}}},
    ]
    raw = [RawLine(i + 1, json.dumps(line).encode(), 0) for i, line in enumerate(lines)]
    smart, fast, bad = executor.run(raw, owner=None)
    executor.close()
    assert smart.status == "success" and smart.response is not None
    audit = smart.response["metadata"]["audit"]["queries"]  # type: ignore[index,call-overload]
    assert len(audit) == 2 and audit[0]["filters"]["timestamp"]["start"].startswith("2025-01-01")
    assert {doc["headline"].split()[0] for doc in smart.response["results"]} == {"D1", "D2"}  # type: ignore[union-attr]
    assert fast.status == "success" and fast.response is not None
    [enriched] = fast.response["metadata"]["audit"]["queries"]  # type: ignore[index,call-overload]
    assert enriched["filters"]["entity"]["any_of"] == [ids["microsoft"], ids["apple"]]
    assert bad.status == "error" and bad.code == 400 and bad.error is not None and SMART_MODE_MESSAGE in bad.error
