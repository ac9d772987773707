"""POST /v1/search through the real app (httpx.ASGITransport): response shape, auth, and 400s that name the field."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from batchsearch.api.app import create_app
from batchsearch.config import Settings
from batchsearch.search.engine import SearchEngine
from search_fixtures import FakeEmbedder, build_store, random_documents

pytestmark = pytest.mark.anyio

DIM = 16
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

# spec 4.4: required keys, plus the documented optional ones
DOC_KEYS = {"id", "headline", "timestamp", "source", "url", "document_type", "chunks"}
DOC_OPTIONAL = {"language", "sentiment", "reporting_entities", "tags"}
CHUNK_KEYS = {"cnum", "text", "relevance", "sentiment", "detections"}
METADATA_KEYS = {"request_id", "timestamp"}
METADATA_OPTIONAL = {"audit", "snapshot_id"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> SearchEngine:
    rng = np.random.default_rng(41)
    batches = [random_documents(rng, 40, DIM, prefix="a"), random_documents(rng, 30, DIM, prefix="b")]
    return SearchEngine(build_store(tmp_path_factory.mktemp("api") / "index", batches, DIM), FakeEmbedder(DIM))


@pytest.fixture
async def app_and_key(tmp_path: Path, engine: SearchEngine) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    app = create_app(Settings(data_dir=tmp_path), engine=engine)
    _, alice = app.state.keys.create("alice")
    _, bob = app.state.keys.create("bob")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client, alice, bob


@pytest.fixture
def client(app_and_key: tuple[httpx.AsyncClient, str, str]) -> httpx.AsyncClient:
    return app_and_key[0]


@pytest.fixture
def alice(app_and_key: tuple[httpx.AsyncClient, str, str]) -> dict[str, str]:
    return {"X-API-KEY": app_and_key[1]}


@pytest.fixture
def bob(app_and_key: tuple[httpx.AsyncClient, str, str]) -> dict[str, str]:
    return {"X-API-KEY": app_and_key[2]}


EXAMPLE = {
    "search_mode": "fast",
    "query": {
        "text": "bank loans revenue growth",
        "auto_enrich_filters": False,
        "filters": {"timestamp": {"start": "2024-01-01T00:00:00Z", "end": "2025-12-31T23:59:59Z"},
                    "sentiment": {"ranges": [{"min": -1.0, "max": -0.01}, {"min": 0.01, "max": 1.0}]}},
        "ranking_params": {"freshness_boost": 0, "source_boost": 1, "content_diversification": {"enabled": False},
                           "reranker": {"enabled": True, "threshold": 0.0}},
        "max_chunks": 20,
    },
}


def assert_search_response(body: dict[str, Any]) -> int:
    """The 200 body has exactly the shape of spec 4.4; returns the number of chunks."""
    assert set(body) == {"results", "metadata", "usage"}
    assert METADATA_KEYS <= set(body["metadata"]) <= METADATA_KEYS | METADATA_OPTIONAL
    uuid.UUID(body["metadata"]["request_id"])
    assert body["metadata"]["timestamp"].endswith("+00:00")
    n_chunks = 0
    for doc in body["results"]:
        assert DOC_KEYS <= set(doc) <= DOC_KEYS | DOC_OPTIONAL, set(doc)
        assert re.fullmatch(r"[0-9A-F]{32}", doc["id"])
        assert isinstance(doc["headline"], str) and isinstance(doc["url"], str) and isinstance(doc["document_type"], str)
        assert ISO_Z.match(doc["timestamp"])
        assert set(doc["source"]) == {"id", "name", "rank"} and doc["source"]["rank"] in {f"RANK_{i}" for i in range(1, 6)}
        assert doc["chunks"]
        for chunk in doc["chunks"]:
            assert set(chunk) == CHUNK_KEYS
            assert isinstance(chunk["cnum"], int) and chunk["cnum"] >= 1
            assert isinstance(chunk["text"], str) and chunk["text"]
            assert 0.0 <= chunk["relevance"] <= 1.0
            assert -1.0 <= chunk["sentiment"] <= 1.0
            for det in chunk["detections"]:
                assert set(det) == {"id", "start", "end", "type"} and det["type"] in ("entity", "topic")
                assert 0 <= det["start"] < det["end"] <= len(chunk["text"])
            n_chunks += 1
    assert body["usage"] == {"api_query_units": pytest.approx(n_chunks / 10)}
    return n_chunks


async def test_search_response_shape(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    resp = await client.post("/v1/search", json=EXAMPLE, headers=alice)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    n = assert_search_response(body)
    assert 0 < n <= 20
    assert "audit" not in body["metadata"]
    assert any(ch["detections"] for doc in body["results"] for ch in doc["chunks"])


async def test_lowercase_header_and_audit(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    resp = await client.post("/v1/search", json={**EXAMPLE, "include_audit": True},
                             headers={"x-api-key": alice["X-API-KEY"]})
    assert resp.status_code == 200
    body = resp.json()
    assert_search_response(body)
    [audited] = body["metadata"]["audit"]["queries"]
    assert audited["max_chunks"] == 20 and audited["filters"]["sentiment"]["ranges"][0]["max"] == -0.01


async def test_top_level_max_chunks_and_ranking_params_apply_and_the_query_field_wins(
        client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    query = {"text": "bank loans revenue growth", "auto_enrich_filters": False}
    ranking = {"reranker": {"enabled": True, "threshold": 0.0}, "content_diversification": {"enabled": False}}
    top = await client.post("/v1/search", json={"query": query, "max_chunks": 3, "ranking_params": ranking,
                                                "include_audit": True}, headers=alice)
    assert top.status_code == 200, top.text
    assert assert_search_response(top.json()) == 3
    [audited] = top.json()["metadata"]["audit"]["queries"]
    assert audited["max_chunks"] == 3 and audited["ranking_params"]["reranker"] == {"enabled": True, "threshold": 0.0}
    inner = await client.post("/v1/search", json={"query": {**query, "max_chunks": 5}, "max_chunks": 3}, headers=alice)
    assert assert_search_response(inner.json()) == 5


async def test_filter_only_and_empty_results(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    resp = await client.post("/v1/search", json={"query": {"filters": {"chunk": {"from": 2, "to": 2}}, "max_chunks": 7}},
                             headers=alice)
    assert resp.status_code == 200
    assert assert_search_response(resp.json()) == 7
    assert {ch["cnum"] for doc in resp.json()["results"] for ch in doc["chunks"]} == {2}
    resp = await client.post("/v1/search", json={"query": {"text": "x", "filters": {"source": {"values": ["NOSUCH"]}}}},
                             headers=alice)
    assert resp.status_code == 200 and resp.json()["results"] == [] and resp.json()["usage"] == {"api_query_units": 0.0}


async def test_uploads_are_visible_only_to_their_owner(client: httpx.AsyncClient, alice: dict[str, str],
                                                        bob: dict[str, str]) -> None:
    query = {"query": {"filters": {"category": {"mode": "EXCLUDE", "values": ["regulatory"]}}, "max_chunks": 1000}}
    mine = (await client.post("/v1/search", json=query, headers=alice)).json()["results"]
    theirs = (await client.post("/v1/search", json=query, headers=bob)).json()["results"]
    assert any("tags" in d for d in mine) and any("tags" in d for d in theirs)
    assert {d["id"] for d in mine if "tags" in d}.isdisjoint({d["id"] for d in theirs if "tags" in d})


def assert_error(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["statusCode"] == status and isinstance(body["errorCode"], str)
    assert body["errors"] == [{"message": body["message"]}]
    uuid.UUID(body["requestId"])
    return body["message"]


async def test_missing_key_is_401_json(client: httpx.AsyncClient) -> None:
    message = assert_error(await client.post("/v1/search", json=EXAMPLE), 401)
    assert "X-API-KEY" in message
    assert_error(await client.post("/v1/search", json=EXAMPLE, headers={"X-API-KEY": ""}), 401)


async def test_unknown_key_is_403_json(client: httpx.AsyncClient) -> None:
    message = assert_error(await client.post("/v1/search", json=EXAMPLE, headers={"X-API-KEY": "bs_nope"}), 403)
    assert "Invalid API key" in message


async def test_auth_is_checked_before_the_body(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v1/search", json={"query": {"max_chunks": 0}}), 401)
    assert_error(await client.post("/v1/search", content=b"not json"), 401)


def _q(**query: Any) -> dict[str, Any]:
    return {"query": {"text": "bank", **query}}


# (body, the field the message must name, words of the reason)
BAD: list[tuple[Any, str, str]] = [
    (_q(filters={"entities": {"any_of": ["228D42"]}}), "query.filters.entities", "Extra inputs are not permitted"),
    (_q(filters={"keyword": {"any_of": ["x"], "match": "exact"}}), "query.filters.keyword.match", "Extra inputs"),
    (_q(max_chunks=0), "query.max_chunks", "greater than or equal to 1"),
    (_q(max_chunks=1001), "query.max_chunks", "Input should be less than or equal to 1000"),
    (_q(filters={"entity": {"any_of": [f"E{i:05d}" for i in range(501)]}}), "query.filters.entity.any_of",
     "Your query is too complex. Simplify your query."),
    (_q(filters={"source": {"values": ["D4B903"] * 501}}), "query.filters.source.values", "List should have at most 500 items"),
    (_q(filters={"chunk": {"from": 8, "to": 3}}), "query.filters.chunk", "`from` must be lower than or equal to `to`"),
    (_q(filters={"chunk": {"from": 0}}), "query.filters.chunk.from", "greater than or equal to 1"),
    (_q(filters={"timestamp": {"start": "2024-02-30"}}), "query.filters.timestamp.start", "Invalid ISO 8601"),
    (_q(filters={"timestamp": {"start": "01/02/2024"}}), "query.filters.timestamp.start", "Invalid ISO 8601"),
    (_q(max_chunks="ten"), "query.max_chunks", "valid integer"),
    (_q(max_chunks="10"), "query.max_chunks", "valid integer"),
    (_q(ranking_params={"freshness_boost": True}), "query.ranking_params.freshness_boost", "valid number"),
    ({"query": {"text": ["bank", "loans"]}}, "query.text", "valid string"),
    (_q(filters={"category": {"values": ["NEWS"]}}), "query.filters.category.values", "Unknown category"),
    (_q(filters={"sentiment": {"values": ["POSITIVE"]}}), "query.filters.sentiment.values.0", "positive"),
    (_q(filters={"reporting_periods": [{"fiscal_year": 2024, "fiscal_quarter": 5}]}),
     "query.filters.reporting_periods.0.fiscal_quarter", "less than or equal to 4"),
    (_q(filters={"document_type": {"values": [{"type": "TRANSCRIPT", "subtypes": ["SEC_10_K"]}]}}),
     "query.filters.document_type.values.0", "Unknown subtype"),
    ({"query": {"text": "bank", "filters": {"entity": {"any_of": ["228D42"]}}}, "search_mode": "smart"},
     "query.filters.entity", "Search filter not supported in smart search mode. They will be defined automatically. "
     "Please remove them from the request."),
    ({"query": {"text": "bank"}, "ranking_params": {"reranker": {"enabled": True}}, "search_mode": "smart"},
     "ranking_params", "Search filter not supported in smart search mode"),
    ({"query": {"text": "bank"}, "search_mode": "slow"}, "search_mode", "'fast' or 'smart'"),
    ({"query": {"text": "bank"}, "max_chunks": 1001}, "max_chunks", "Input should be less than or equal to 1000"),
    ({"query": {}}, "query", "Give a `text`, at least one filter, or both"),
    ({}, "query", "Field required"),
    ([], "body", "valid dictionary"),
    ("query", "body", "valid dictionary"),
]


@pytest.mark.parametrize(("body", "field", "reason"), BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
async def test_bad_requests_are_400_naming_the_field(client: httpx.AsyncClient, alice: dict[str, str], body: Any,
                                                     field: str, reason: str) -> None:
    message = assert_error(await client.post("/v1/search", json=body, headers=alice), 400)
    lines = message.split("\n")
    assert re.fullmatch(r"\d+ validation errors? for PublicSearchRequest", lines[0]), message
    fields, reasons = lines[1::2], lines[2::2]
    assert field in fields, message
    assert reason in reasons[fields.index(field)], message
    assert "Value error," not in message


@pytest.mark.parametrize("raw", [
    b"not json", b"{\"query\": ", b"", b"\xff\xfe{}", b"{\"query\": {\"text\": \"x\", \"max_chunks\": 10,}}",
    b"{\"query\": {\"text\": \"x\", \"ranking_params\": {\"freshness_boost\": NaN}}}",
    b"[" * 100_000 + b"]" * 100_000,
])
async def test_malformed_bodies_are_400_not_500(client: httpx.AsyncClient, alice: dict[str, str], raw: bytes) -> None:
    resp = await client.post("/v1/search", content=raw, headers={**alice, "content-type": "application/json"})
    message = assert_error(resp, 400)
    assert "PublicSearchRequest" in message or "body" in message.lower()


async def test_wrong_content_type_is_400(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    resp = await client.post("/v1/search", content=json.dumps(EXAMPLE), headers={**alice, "content-type": "text/plain"})
    assert_error(resp, 400)


async def test_openapi_lists_search(client: httpx.AsyncClient) -> None:
    resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    spec = resp.json()
    op = spec["paths"]["/v1/search"]["post"]
    assert op["summary"] == "Search documents" and "Search" in op["tags"]
    assert {"200", "400", "401", "403"} <= set(op["responses"])
    assert any(p["name"].lower() == "x-api-key" and p["in"] == "header" for p in op.get("parameters", []))
    assert "/healthz" in spec["paths"]


async def test_healthz(client: httpx.AsyncClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


async def test_framework_errors_use_the_same_error_shape(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    assert_error(await client.get("/v1/search", headers=alice), 405)
    assert assert_error(await client.post("/v1/nowhere", json=EXAMPLE, headers=alice), 404) == "Not Found"
