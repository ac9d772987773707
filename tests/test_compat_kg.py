"""Knowledge-graph compatibility: plain HTTP calls in the shapes of the spec (section 5), read the way vendor
scripts read them (`results[value].get(...)`, `in` on every entry), against a real app and the default graph."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from batchsearch.api.app import create_app
from batchsearch.config import Settings
from batchsearch.kg import KnowledgeGraph, load_entities

pytestmark = pytest.mark.anyio
LOOKUP = "/v1/knowledge-graph/companies/{kind}"
BATCH = 500  # what vendor scripts send per call


@pytest.fixture(scope="module")
def app_and_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, str]:
    """A real app on a fresh data folder: it builds the default graph into data_dir/kg itself."""
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("compat-kg")))
    _principal, key = app.state.keys.create("vendor")
    return app, key


@pytest.fixture
async def client(app_and_key: tuple[FastAPI, str]) -> AsyncIterator[httpx.AsyncClient]:
    app, key = app_and_key
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"X-API-KEY": key}) as c:
        yield c


def chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), BATCH):
        yield values[start:start + BATCH]


def vendor_parse(entry: dict[str, Any]) -> dict[str, Any] | None:
    """How vendor parsers read one lookup entry: fields directly, or nested under objects / object."""
    if "objects" in entry:
        return entry["objects"][0] if entry["objects"] else None
    if "object" in entry:
        return dict(entry["object"])
    return entry if entry.get("id") else None


async def resolve(client: httpx.AsyncClient, kind: str, values: list[str]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for chunk in chunks(values):
        response = await client.post(LOOKUP.format(kind=kind), json={"values": chunk})
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body["metadata"]) == {"request_id", "timestamp"}
        merged |= body["results"]
    return merged


async def test_unknown_values_answer_an_object_and_the_known_ones_still_resolve(client: httpx.AsyncClient) -> None:
    values = ["US5949181045", "XX0000000000", "US0378331005", "not an isin"]
    results = await resolve(client, "isin", values)
    assert list(results) == values  # every input value, in order
    parsed = {value: vendor_parse(entry) for value, entry in results.items()}  # would crash on a null entry
    assert parsed["XX0000000000"] is None and parsed["not an isin"] is None
    assert results["XX0000000000"] == {} and results["not an isin"] == {}
    assert parsed["US5949181045"] is not None and parsed["US5949181045"]["name"] == "Microsoft"
    assert parsed["US0378331005"] is not None and parsed["US0378331005"]["name"] == "Apple Inc."
    for kind, unknown in (("cusip", "000000000"), ("sedol", "0000000"), ("listing", "XNAS:NOPE")):
        assert (await resolve(client, kind, [unknown])) == {unknown: {}}


async def test_every_company_with_a_us_or_canadian_isin_resolves_by_cusip(
        client: httpx.AsyncClient, app_and_key: tuple[FastAPI, str]) -> None:
    graph: KnowledgeGraph = app_and_key[0].state.kg
    owners = {isin[2:11]: c.id for c in graph.companies() for isin in c.isins if isin[:2] in ("US", "CA")}
    us_listed = [c for c in graph.companies() if any(i[:2] == "US" for i in c.isins)
                 and any(listing.split(":")[0] in ("XNAS", "XNYS") for listing in c.listings)]
    assert len(owners) > 400 and len(us_listed) > 100  # the default graph's S&P/NASDAQ/Dow companies
    results = await resolve(client, "cusip", sorted(owners))
    wrong = {cusip: entry.get("id") for cusip, entry in results.items() if entry.get("id") != owners[cusip]}
    assert not wrong
    assert all(cusip in results[cusip]["cusip_values"] for cusip in owners)
    microsoft = (await resolve(client, "cusip", ["594918104"]))["594918104"]
    assert (microsoft["name"], microsoft["category"]) == ("Microsoft", "companies")


async def test_gb_isins_resolve_by_sedol_and_listings_by_mic_ticker(
        client: httpx.AsyncClient, app_and_key: tuple[FastAPI, str]) -> None:
    graph: KnowledgeGraph = app_and_key[0].state.kg
    owners = {isin[4:11]: c.id for c in graph.companies() for isin in c.isins if isin.startswith("GB00")}
    assert len(owners) > 20
    results = await resolve(client, "sedol", sorted(owners))
    assert {sedol: entry.get("id") for sedol, entry in results.items()} == owners
    listing = await resolve(client, "listing", ["XNAS:AAPL", "XNAS:MSFT"])
    assert [listing[v]["name"] for v in ("XNAS:AAPL", "XNAS:MSFT")] == ["Apple Inc.", "Microsoft"]


async def test_private_companies_loaded_beside_the_running_app_are_found(
        client: httpx.AsyncClient, app_and_key: tuple[FastAPI, str], tmp_path: Path) -> None:
    assert (await client.post("/v1/knowledge-graph/companies", json={"types": ["PRIVATE"]})).json()["results"] == []
    rows = tmp_path / "private.csv"
    rows.write_text("name,type,country,sector\nHollowbrook Ventures,PRIVATE,US,Financials\n", encoding="utf-8")
    # another process (`batchsearch kg load`) writes into the app's graph folder
    report = load_entities(KnowledgeGraph.open(app_and_key[0].state.kg.folder), rows)
    assert report.loaded == 1 and not report.errors
    found = (await client.post("/v1/knowledge-graph/companies", json={"types": ["PRIVATE"]})).json()["results"]
    assert [(c["id"], c["name"], c["type"], c["category"]) for c in found] == [
        (report.ids[0], "Hollowbrook Ventures", "PRIVATE", "companies")]
    by_query = await client.post("/v1/knowledge-graph/companies", json={"query": "Hollowbrook", "types": ["PRIVATE"],
                                                                        "countries": ["US"]})
    assert by_query.json()["results"][0]["id"] == report.ids[0]
    assert (await client.post("/v1/knowledge-graph/companies", json={"query": "Hollowbrook", "types": ["PUBLIC"]})
            ).json()["results"] == []
    by_id = (await client.post("/v1/knowledge-graph/entities/id", json={"values": [report.ids[0]]})).json()
    assert by_id["results"][report.ids[0]]["name"] == "Hollowbrook Ventures"
