"""Knowledge-graph routes over HTTP (httpx.ASGITransport into a real app with a real graph)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from batchsearch.api.app import create_app
from batchsearch.api.routes import kg
from batchsearch.config import Settings
from batchsearch.kg import KnowledgeGraph
from batchsearch.kg.wire import COMPANY_FIELDS

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def app_and_key(default_graph: KnowledgeGraph, tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, str]:
    """One app for the module (building one loads the search engine, which takes a while)."""
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("data")))
    app.state.kg = default_graph
    app.include_router(kg.router)
    _principal, key = app.state.keys.create("alice")
    return app, key


@pytest.fixture
async def client(app_and_key: tuple[FastAPI, str]) -> AsyncIterator[httpx.AsyncClient]:
    app, key = app_and_key
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers={"X-API-KEY": key}) as c:
        yield c


async def test_routes_require_an_api_key(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/knowledge-graph/companies", json={"query": "Microsoft"},
                                 headers={"X-API-KEY": ""})
    assert response.status_code == 401
    response = await client.get("/v1/knowledge-graph/companies/sectors", headers={"X-API-KEY": "bs_wrong"})
    assert response.status_code == 403


async def test_find_companies_microsoft_first_with_the_company_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/knowledge-graph/companies", json={"query": "Microsoft"})
    assert response.status_code == 200
    body = response.json()
    first = body["results"][0]
    assert first["name"] == "Microsoft"
    assert tuple(first) == COMPANY_FIELDS
    assert first["isin_values"] == ["US5949181045"] and "XNAS:MSFT" in first["listing_values"]
    assert first["category"] == "companies" and first["type"] == "PUBLIC"
    assert first["sedol_values"] == [] and first["cusip_values"] == ["594918104"]
    assert set(body["metadata"]) == {"request_id", "timestamp"}


async def test_find_companies_filters_limit_and_validation(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/knowledge-graph/companies",
                                 json={"types": ["PUBLIC"], "countries": ["DE"], "sectors": ["Technology"], "limit": 3})
    results = response.json()["results"]
    assert len(results) == 3 and all(r["country"] == "DE" and r["sector"] == "Technology" for r in results)
    response = await client.post("/v1/knowledge-graph/companies", json={})
    assert response.status_code == 400
    assert "At least one of" in response.json()["message"]


async def test_get_company_by_isin_listing_and_ticker(client: httpx.AsyncClient) -> None:
    by_isin = await client.get("/v1/knowledge-graph/companies/isin/US5949181045")
    assert by_isin.status_code == 200 and by_isin.json()["name"] == "Microsoft"
    by_listing = await client.get("/v1/knowledge-graph/companies/listing/XNAS:MSFT")
    assert by_listing.json()["id"] == by_isin.json()["id"]
    by_ticker = await client.get("/v1/knowledge-graph/companies/ticker/MSFT")
    assert by_ticker.json()["id"] == by_isin.json()["id"]
    missing = await client.get("/v1/knowledge-graph/companies/isin/XX0000000000")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "NOT_FOUND"
    bad_kind = await client.get("/v1/knowledge-graph/companies/figi/BBG000BPH459")
    assert bad_kind.status_code == 400


async def test_identifier_lookups_in_bulk(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/knowledge-graph/companies/isin",
                                 json={"values": ["US5949181045", "US0378331005", "XX0000000000"]})
    results = response.json()["results"]
    assert results["US5949181045"]["name"] == "Microsoft"
    assert results["US0378331005"]["name"] == "Apple Inc."
    assert results["XX0000000000"] == {}  # an object for every value, so clients can .get() on each
    response = await client.post("/v1/knowledge-graph/companies/listing", json={"values": ["XNAS:AAPL"]})
    assert response.json()["results"]["XNAS:AAPL"]["name"] == "Apple Inc."
    too_many = await client.post("/v1/knowledge-graph/companies/isin", json={"values": ["X"] * 501})
    assert too_many.status_code == 400


async def test_entities_by_id(client: httpx.AsyncClient, default_graph: KnowledgeGraph) -> None:
    microsoft = (await client.get("/v1/knowledge-graph/companies/isin/US5949181045")).json()
    nadella = next(e for e in default_graph.entities() if e.name == "Satya Nadella")
    values = [microsoft["id"], nadella.id, "ZZZZZZ"]
    response = await client.post("/v1/knowledge-graph/entities/id", json={"values": values})
    body = response.json()
    assert list(body["results"]) == [microsoft["id"], nadella.id]  # unknown ids are simply missing
    assert body["results"][microsoft["id"]] == microsoft
    person = body["results"][nadella.id]
    assert (person["category"], person["company_id"]) == ("people", microsoft["id"])
    assert set(body["metadata"]) == {"request_id", "timestamp"}


async def test_entities_by_id_limits(client: httpx.AsyncClient) -> None:
    ok = await client.post("/v1/knowledge-graph/entities/id", json={"values": ["ZZZZZZ"] * 100})
    assert ok.status_code == 200 and ok.json()["results"] == {}
    too_many = await client.post("/v1/knowledge-graph/entities/id", json={"values": ["ZZZZZZ"] * 101})
    assert too_many.status_code == 400
    assert "at most 100 items" in too_many.json()["message"]
    empty = await client.post("/v1/knowledge-graph/entities/id", json={"values": []})
    assert empty.status_code == 400


async def test_find_sources(client: httpx.AsyncClient) -> None:
    criteria = {"ranks": ["RANK_1"], "categories": ["transcripts"]}
    response = await client.post("/v1/knowledge-graph/sources", json=criteria)
    (source,) = response.json()["results"]
    assert source["rank"] == "RANK_1" and source["categories"] == ["transcripts"]
    assert set(source) == {"id", "name", "description", "country", "rank", "retention", "webpage", "categories",
                           "packages", "subscribed"}
    by_name = await client.post("/v1/knowledge-graph/sources", json={"query": source["name"][:8]})
    assert by_name.json()["results"][0]["id"] == source["id"]
    assert (await client.post("/v1/knowledge-graph/sources", json={})).status_code == 400


async def test_sectors(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/knowledge-graph/companies/sectors")
    assert response.status_code == 200
    assert "Technology" in response.json()["results"]


async def test_missing_graph_is_service_unavailable(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    app.state.kg = None  # a deployment whose graph could not be loaded
    _principal, key = app.state.keys.create("bob")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        response = await c.get("/v1/knowledge-graph/companies/sectors", headers={"X-API-KEY": key})
    assert response.status_code == 503
