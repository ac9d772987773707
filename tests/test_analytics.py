"""Search analytics (volume, co-mentions) against a brute-force count over the indexed records, and the HTTP shapes.

The corpus spans three segments and the last one re-publishes ids of the first (dead chunks are in play).
The oracle re-reads every filter (search_fixtures.oracle), matches the text word by word on the analysed
headline and chunk text, and counts in plain Python.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from search_fixtures import (
    ENTITIES,
    FakeEmbedder,
    Row,
    analyse,
    build_store,
    oracle,
    random_documents,
    snapshot_rows,
)

from batchsearch.annotate.topics import get_topic
from batchsearch.api.app import create_app
from batchsearch.config import Settings
from batchsearch.kg.model import Entity, EntityCategory
from batchsearch.models.analytics import AnalyticsQuery
from batchsearch.search import analytics
from batchsearch.search.engine import SearchEngine

DIM = 8
CATEGORY_OF = dict(zip(ENTITIES, [c for c in EntityCategory] + [EntityCategory.COMPANIES] * 2, strict=True))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rng = np.random.default_rng(13)
    first = random_documents(rng, 60, DIM, prefix="a")
    second = random_documents(rng, 40, DIM, prefix="b")
    third = random_documents(rng, 30, DIM, prefix="c")
    for i, doc in enumerate(third[:5]):  # new versions: the old chunks are dead
        doc.id = first[i * 3].id
    batches = [first, second, third]
    root = tmp_path_factory.mktemp("analytics")
    store = build_store(root / "index", batches, DIM)
    snap = store.snapshot()
    assert any(v.deleted is not None for v in snap.views)
    return {"engine": SearchEngine(store, FakeEmbedder(DIM)), "snap": snap, "rows": snapshot_rows(snap, batches),
            "root": root}


def query_of(raw: dict[str, Any]) -> AnalyticsQuery:
    return AnalyticsQuery.model_validate(raw)


def matching_rows(corpus: dict[str, Any], query: AnalyticsQuery, owner: str | None) -> list[Row]:
    """The brute-force matches: every filter by the oracle, every text word in the headline or the chunk."""
    words = analyse(query.text) if query.text else []
    out = []
    for row in corpus["rows"]:
        if not oracle(row, query.filters, owner):
            continue
        tokens = set(analyse(row.doc.headline)) | set(analyse(row.chunk.text))
        if all(w in tokens for w in words):
            out.append(row)
    return out


def brute_volume(rows: list[Row], max_days: int) -> tuple[list[tuple[date, int, int, float]], tuple[int, int, float]]:
    by_day: dict[date, list[Row]] = defaultdict(list)
    for row in rows:
        by_day[datetime.fromtimestamp(row.doc.timestamp, UTC).date()].append(row)
    series = []
    if by_day:
        day, last = min(by_day), max(by_day)
        while day <= last:
            hits = by_day.get(day, [])
            sentiments = [float(np.float32(r.chunk.sentiment)) for r in hits]
            series.append((day, len({r.doc.id for r in hits}), len(hits),
                           sum(sentiments) / len(sentiments) if sentiments else 0.0))
            day += timedelta(days=1)
    all_sent = [float(np.float32(r.chunk.sentiment)) for r in rows]
    total = (len({r.doc.id for r in rows}), len(rows), sum(all_sent) / len(all_sent) if all_sent else 0.0)
    return series[-max_days:], total


def brute_mentions(rows: list[Row], kind: str) -> dict[str, tuple[int, int]]:
    chunks: Counter[str] = Counter()
    headlines: Counter[str] = Counter()
    docs = {}
    for row in rows:
        chunks.update(set(row.chunk.entities if kind == "entity" else row.chunk.topics))
        docs[row.doc.id] = row.doc
    for doc in docs.values():
        headlines.update(set(doc.headline_entities if kind == "entity" else doc.headline_topics))
    return {key: (chunks[key], headlines[key]) for key in chunks.keys() | headlines.keys()}


CASES = [
    {},
    {"filters": {"timestamp": {"start": "2024-03-01", "end": "2024-09-30T12:00:00Z"}}},
    {"filters": {"entity": {"any_of": ["228D42", "D8442A"]}}},
    {"filters": {"entity": {"all_of": ["ACE54B"], "search_in": "BODY"}, "sentiment": {"ranges": [{"min": 0.0}]}}},
    {"filters": {"topic": {"any_of": ["economy,inflation,consumer-prices"]}, "category": {"values": ["news"]}}},
    {"filters": {"source": {"mode": "EXCLUDE", "values": ["D4B903"]}, "chunk": {"from": 2}}},
    {"filters": {"keyword": {"any_of": ["dividends"]}, "tag": {"any_of": ["alpha", "beta"]}}},
    {"text": "revenue growth"},
    {"text": "cloud computing", "filters": {"document_type": {"values": ["NEWS", "FILING"]}}},
    {"text": "Resignations!"},
    {"text": "nosuchwordanywhere"},
]


@pytest.mark.parametrize("owner", [None, "alice", "bob"])
@pytest.mark.parametrize("raw", CASES, ids=[str(c) for c in CASES])
def test_volume_equals_a_brute_force_count(corpus: dict[str, Any], raw: dict[str, Any], owner: str | None) -> None:
    query = query_of(raw)
    parts = analytics.matching_parts(corpus["engine"], corpus["snap"], query, owner)
    rows = matching_rows(corpus, query, owner)
    for max_days in (1000, 30):
        got = analytics.volume(parts, max_days)
        series, total = brute_volume(rows, max_days)
        assert [(d.date, d.documents, d.chunks) for d in got.days] == [s[:3] for s in series]
        assert [d.sentiment for d in got.days] == pytest.approx([s[3] for s in series], abs=1e-9)
        assert (got.documents, got.chunks) == total[:2]
        assert got.sentiment == pytest.approx(total[2], abs=1e-9)
    if raw in ({}, {"text": "revenue growth"}):
        assert len(rows) > 20  # the cases are not vacuous


@pytest.mark.parametrize("owner", [None, "alice"])
@pytest.mark.parametrize("raw", CASES, ids=[str(c) for c in CASES])
def test_co_mentions_equal_a_brute_force_count(corpus: dict[str, Any], raw: dict[str, Any], owner: str | None) -> None:
    query = query_of(raw)
    parts = analytics.matching_parts(corpus["engine"], corpus["snap"], query, owner)
    rows = matching_rows(corpus, query, owner)
    for kind in ("entity", "topic"):
        got = {k: (m.chunks, m.headlines) for k, m in analytics.co_mentions(parts, kind).items()}
        assert got == brute_mentions(rows, kind), kind


def test_ranked_puts_most_chunks_first_then_headlines_then_id() -> None:
    counts = {"B": analytics.Mentions(3, 0), "A": analytics.Mentions(3, 0), "C": analytics.Mentions(3, 5),
              "D": analytics.Mentions(9, 0), "E": analytics.Mentions(0, 7)}
    assert [k for k, _ in analytics.ranked(counts)] == ["D", "C", "A", "B", "E"]


def test_the_series_is_zero_filled_between_matching_days(corpus: dict[str, Any]) -> None:
    got = analytics.volume(analytics.matching_parts(corpus["engine"], corpus["snap"], query_of({}), None), 1000)
    dates = [d.date for d in got.days]
    assert dates == [dates[0] + timedelta(days=i) for i in range(len(dates))]
    assert any(d.chunks == 0 and d.documents == 0 and d.sentiment == 0.0 for d in got.days)
    assert got.days[0].chunks > 0 and got.days[-1].chunks > 0


# ---- HTTP ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(corpus: dict[str, Any]) -> Iterator[FastAPI]:
    app = create_app(Settings(data_dir=corpus["root"] / "data"), engine=corpus["engine"])
    app.state.kg.add_entities(Entity(e, f"Entity {e}", CATEGORY_OF[e]) for e in ENTITIES)
    app.state.test_keys = [{"X-API-KEY": app.state.keys.create(name)[1]} for name in ("alice", "bob")]
    yield app


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], dict[str, str]]]:
    alice, bob = app.state.test_keys
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client, alice, bob


def assert_envelope(body: dict[str, Any]) -> None:
    assert set(body) == {"results", "metadata", "usage"}
    assert set(body["metadata"]) == {"request_id", "timestamp", "snapshot_id"}
    assert body["usage"] == {"api_query_units": 0.0}


@pytest.mark.anyio
async def test_volume_over_http(corpus: dict[str, Any], http: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]]) -> None:
    client, alice, _ = http
    raw = {"text": "revenue", "filters": {"timestamp": {"start": "2024-02-01", "end": "2024-12-31"}}}
    response = await client.post("/v1/search/volume", json={"query": raw}, headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_envelope(body)
    series, total = brute_volume(matching_rows(corpus, query_of(raw), "alice"), 1000)
    assert body["results"]["volume"] == [
        {"date": d.isoformat(), "documents": n_docs, "chunks": n_chunks, "sentiment": round(s, 4)}
        for d, n_docs, n_chunks, s in series]
    assert body["results"]["total"] == {"documents": total[0], "chunks": total[1], "sentiment": round(total[2], 4)}


@pytest.mark.anyio
async def test_own_uploads_count_for_their_owner_only(
        corpus: dict[str, Any], http: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]]) -> None:
    client, alice, bob = http
    body = {"query": {"filters": {"category": {"values": ["my_files"]}}}}
    totals = {}
    for name, headers in (("alice", alice), ("bob", bob)):
        response = await client.post("/v1/search/volume", json=body, headers=headers)
        totals[name] = response.json()["results"]["total"]["chunks"]
        assert totals[name] == len(matching_rows(corpus, query_of(body["query"]), name))
    public = len(matching_rows(corpus, query_of(body["query"]), None))
    assert totals["alice"] > public and totals["bob"] > public and totals["alice"] != totals["bob"]


@pytest.mark.anyio
async def test_entity_co_mentions_over_http(
        corpus: dict[str, Any], http: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]]) -> None:
    client, alice, _ = http
    raw = {"filters": {"entity": {"any_of": ["228D42"]}}}
    response = await client.post("/v1/search/co-mentions/entities", json={"query": raw, "limit": 1}, headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_envelope(body)
    results = body["results"]
    assert set(results) == {"companies", "people", "places", "organizations", "products", "concepts"}
    expected = brute_mentions(matching_rows(corpus, query_of(raw), "alice"), "entity")
    by_category: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for entity_id, (chunks, headlines) in expected.items():
        by_category[CATEGORY_OF[entity_id].value].append((-chunks, -headlines, entity_id))
    for category, items in results.items():
        best = sorted(by_category[category])[:1]
        assert [(-i["total_chunks_count"], -i["total_headlines_count"], i["id"]) for i in items] == best, category
        for item in items:
            assert item["name"] == f"Entity {item['id']}" and item["category"] == category
    assert len(results["companies"]) == 1  # limit is per category


@pytest.mark.anyio
async def test_entity_categories_and_the_query_limit(
        http: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]]) -> None:
    client, alice, _ = http
    body = {"query": {"filters": {}, "entity_categories": ["companies"], "limit": 2}}
    results = (await client.post("/v1/search/co-mentions/entities", json=body, headers=alice)).json()["results"]
    assert len(results["companies"]) == 2
    assert all(results[c] == [] for c in ("people", "places", "organizations", "products", "concepts"))
    counts = [i["total_chunks_count"] for i in results["companies"]]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0


@pytest.mark.anyio
async def test_topic_co_mentions_over_http(
        corpus: dict[str, Any], http: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]]) -> None:
    client, alice, _ = http
    raw = {"text": "growth"}
    response = await client.post("/v1/search/co-mentions/topics", json={"query": raw}, headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_envelope(body)
    expected = sorted((-c, -h, t) for t, (c, h) in brute_mentions(matching_rows(corpus, query_of(raw), "alice"),
                                                                   "topic").items())[:10]
    topics = body["results"]["topics"]
    assert [(-t["total_chunks_count"], -t["total_headlines_count"], t["id"]) for t in topics] == expected
    assert all(set(t) == {"id", "name", "description", "total_chunks_count", "total_headlines_count"} for t in topics)
    for t in topics:  # taxonomy topics by their names; an id outside the taxonomy names itself
        known = get_topic(t["id"])
        assert (t["name"], t["description"]) == ((known.name, known.description) if known else (t["id"], ""))
    assert any(get_topic(t["id"]) for t in topics) and not all(get_topic(t["id"]) for t in topics)


@pytest.mark.anyio
@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/search/volume", {"query": {"max_chunks": 5}}, "query.max_chunks"),
    ("/v1/search/volume", {}, "query"),
    ("/v1/search/volume", {"query": {"filters": {"sentiment": {"ranges": [{"min": 2}]}}}},
     "query.filters.sentiment.ranges.0.min"),
    ("/v1/search/co-mentions/entities", {"query": {}, "limit": 1001}, "limit"),
    ("/v1/search/co-mentions/entities", {"query": {}, "limit": "5"}, "limit"),
    ("/v1/search/co-mentions/entities", {"query": {"entity_categories": ["planets"]}}, "query.entity_categories.0"),
    ("/v1/search/co-mentions/topics", {"query": {"limit": 0}}, "query.limit"),
])
async def test_bad_bodies_get_400_naming_the_field(
        http: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]], path: str, body: dict[str, Any],
        field: str) -> None:
    client, alice, _ = http
    response = await client.post(path, json=body, headers=alice)
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]


@pytest.mark.anyio
async def test_routes_need_a_key_and_are_in_the_openapi_schema(
        app: FastAPI, http: tuple[httpx.AsyncClient, dict[str, str], dict[str, str]]) -> None:
    client, _, _ = http
    for path in ("/v1/search/volume", "/v1/search/co-mentions/entities", "/v1/search/co-mentions/topics"):
        assert (await client.post(path, json={"query": {}})).status_code == 401
        operation = app.openapi()["paths"][path]["post"]
        assert operation["summary"] and "200" in operation["responses"]
        assert "$ref" in str(operation["responses"]["200"]["content"]["application/json"]["schema"])


def test_a_snapshot_published_later_is_counted(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    docs = random_documents(rng, 10, DIM, owners=(None,))
    store = build_store(tmp_path / "index", [docs[:5]], DIM)
    engine = SearchEngine(store, FakeEmbedder(DIM))
    before = analytics.volume(analytics.matching_parts(engine, engine.snapshot(), query_of({}), None), 1000)
    store.publish(docs[5:], DIM)
    after = analytics.volume(analytics.matching_parts(engine, engine.snapshot(), query_of({}), None), 1000)
    assert (before.documents, after.documents) == (5, 10)
    assert after.chunks == sum(len(d.chunks) for d in docs)
