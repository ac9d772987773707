"""`batchsearch kg load` end to end: a CSV with a private company and a bad row, documents ingested after it,
then the entity filter and `types: ["PRIVATE"]` find the company; ids stay the same on a second load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from batchsearch.api.app import create_app
from batchsearch.cli import app as cli
from batchsearch.config import Settings

pytestmark = pytest.mark.anyio
runner = CliRunner()
COMPANIES = ("name,category,type,country,aliases,sector\n"
             "Quillfeather Analytics,companies,,GB,Quillfeather,Technology\n"
             "Broken Row Ltd,companies,,Atlantis,,\n"
             "Orrin Vale,people,,,,\n")
DOCUMENTS = [
    {"id": "quill-1", "headline": "Quillfeather Analytics raises funding",
     "text": "Quillfeather Analytics, a London data start-up, raised new funding on Monday. Quillfeather said "
             "revenue doubled.", "timestamp": "2025-03-03T09:00:00Z"},
    {"id": "other-1", "headline": "Markets drift", "text": "European markets drifted lower as investors waited "
                                                           "for central bank news.", "timestamp": "2025-03-03T10:00:00Z"},
]


def invoke(*args: str) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def load(path: Path, data_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = invoke("kg", "load", str(path), "--data-dir", str(data_dir), "--json")
    return loaded


async def test_kg_load_then_ingest_then_the_entity_filter_finds_the_private_company(tmp_path: Path) -> None:
    data_dir, rows = tmp_path / "data", tmp_path / "companies.csv"
    rows.write_text(COMPANIES, encoding="utf-8")
    first = load(rows, data_dir)
    assert first["loaded"] == 2
    assert first["errors"] == [{"row": 3, "field": "country",
                                "message": "'Atlantis' is not an ISO 3166 alpha-2 code or a known country name"}]
    company = next(e for e in first["entities"] if e["name"] == "Quillfeather Analytics")
    assert (company["category"], company["type"]) == ("companies", "PRIVATE")
    again = load(rows, data_dir)
    assert again["entities"] == first["entities"]  # same ids on a second load of the same rows
    assert load(rows, tmp_path / "elsewhere")["entities"] == first["entities"]  # and in another data folder

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCUMENTS), encoding="utf-8")
    assert invoke("ingest", str(docs), "--data-dir", str(data_dir), "--json")["documents"] == 2

    api = create_app(Settings(data_dir=data_dir))
    _principal, key = api.state.keys.create("analyst")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://test",
                                 headers={"X-API-KEY": key}) as client:
        query = {"filters": {"entity": {"any_of": [company["id"]]}}, "max_chunks": 10}
        response = await client.post("/v1/search", json={"query": query})
        assert response.status_code == 200, response.text
        assert {doc["id"] for doc in response.json()["results"]} == {"quill-1"}
        private = await client.post("/v1/knowledge-graph/companies", json={"types": ["PRIVATE"]})
        assert [c["id"] for c in private.json()["results"]] == [company["id"]]


def test_kg_load_reports_bad_rows_by_row_and_field_in_text(tmp_path: Path) -> None:
    rows = tmp_path / "entities.jsonl"
    rows.write_text('{"name": "Good Co"}\n{"name": "Bad Type Co", "type": "MUTUAL"}\n{oops\n', encoding="utf-8")
    result = runner.invoke(cli, ["kg", "load", str(rows), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "row 2: type: 'MUTUAL': a company is PUBLIC or PRIVATE" in result.output
    assert "row 3: invalid JSON" in result.output
    assert "loaded 1 entities" in result.stdout and "Good Co" in result.stdout


def test_kg_load_refuses_an_unknown_format_and_a_missing_file(tmp_path: Path) -> None:
    missing = runner.invoke(cli, ["kg", "load", str(tmp_path / "nope.csv"), "--data-dir", str(tmp_path)])
    assert missing.exit_code == 1 and "file not found" in missing.output
    xml = tmp_path / "entities.xml"
    xml.write_text("<x/>", encoding="utf-8")
    unknown = runner.invoke(cli, ["kg", "load", str(xml), "--data-dir", str(tmp_path)])
    assert unknown.exit_code == 1 and "Unknown file format 'xml'" in unknown.output


def test_kg_load_sources(tmp_path: Path) -> None:
    rows = tmp_path / "sources.csv"
    rows.write_text("name,rank,categories\nOur Desk,RANK_1,research\nNo Rank,RANK_9,news\n", encoding="utf-8")
    loaded = invoke("kg", "load", str(rows), "--sources", "--data-dir", str(tmp_path / "d"), "--json")
    assert [(s["name"], s["rank"]) for s in loaded["sources"]] == [("Our Desk", "RANK_1")]
    assert [(e["row"], e["field"]) for e in loaded["errors"]] == [(3, "rank")]
